"""BEGAN (Berthelot et al. 2017): autoencoder discriminator, equilibrium term k_t, convergence measure."""

from __future__ import annotations

import torch

from mrisynth.zoo.base import AdversarialModel
from mrisynth.zoo.losses import began_d_loss, began_g_loss, began_recon_error, began_update_k
from mrisynth.zoo.nets import init_weights
from mrisynth.zoo.nets.autoencoder import ConvAutoencoder, ConvDecoder
from mrisynth.zoo.registry import register


@register("began")
class BEGAN(AdversarialModel):
    """Logs l_real, l_fake, k (the equilibrium weight, checkpointed) and the convergence measure M."""

    def __init__(
        self,
        image_size: int = 16,
        channels: int = 1,
        spatial_dims: int = 2,
        latent_dim: int = 32,
        nf: int = 32,
        hidden: int = 32,
        gamma: float = 0.5,
        lambda_k: float = 1e-3,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        init: str = "xavier",
        init_gain: float = 1.0,
        g_tanh: bool = True,
        seed: int | None = None,
    ):
        super().__init__(n_critic=1, seed=seed)
        self.latent_dim, self.gamma, self.lambda_k, self.k = latent_dim, gamma, lambda_k, 0.0
        # Xavier (the reference TensorFlow code's default): with torch's default conv init the eight
        # conv + ELU layers shrink the signal so much that G(z) barely depends on z at the start
        # (per-pixel sd over z 0.008 vs 0.16), and nothing in BEGAN's loss pushes G apart again.
        self.nets["G"] = init_weights(ConvDecoder(latent_dim, channels, image_size, nf, spatial_dims, tanh=g_tanh), init, init_gain)
        self.nets["D"] = init_weights(ConvAutoencoder(channels, image_size, nf, hidden, spatial_dims), init, init_gain)
        self.optimizers = {k: torch.optim.Adam(net.parameters(), lr=lr, betas=tuple(betas)) for k, net in self.nets.items()}

    def noise(self, n, generator=None):
        device = generator.device if generator is not None else self.device
        return torch.rand(n, self.latent_dim, generator=generator, device=device).to(self.device) * 2 - 1

    def d_loss(self, real, *_):
        fake = self.nets["G"](self.noise(real.shape[0]))
        l_real = began_recon_error(real, self.nets["D"](real))
        l_fake = began_recon_error(fake, self.nets["D"](fake))
        loss = began_d_loss(l_real, l_fake, self.k)
        return loss, {"d_loss": loss.detach(), "l_real": l_real.detach(), "l_fake": l_fake.detach()}

    def g_loss(self, real, *_):
        fake = self.nets["G"](self.noise(real.shape[0]))
        loss = began_g_loss(began_recon_error(fake, self.nets["D"](fake)))
        return loss, {"g_loss": loss.detach()}

    def train_step(self, batch):
        logs = super().train_step(batch)
        self.k, logs["convergence"] = began_update_k(self.k, logs["l_real"], logs["l_fake"], self.gamma, self.lambda_k)
        logs["k"] = self.k
        return logs

    @torch.no_grad()
    def sample(self, n, generator=None, **_):
        return self.net_for_sampling("G")(self.noise(n, generator))

    def extra_state(self):
        return {"k": self.k}

    def load_extra_state(self, state):
        self.k = float(state["k"])
