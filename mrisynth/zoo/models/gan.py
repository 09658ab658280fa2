"""The unconditional DCGAN-architecture family: GAN with any adversarial loss by name, LSGAN, WGAN
(weight clipping), WGAN-GP and DRAGAN (gradient penalties). All 2D or 3D (``spatial_dims``)."""

from __future__ import annotations

import torch

from mrisynth.zoo.base import AdversarialModel
from mrisynth.zoo.losses import discriminator_loss, dragan_points, generator_loss, gradient_penalty, interpolates
from mrisynth.zoo.nets import DCGANDiscriminator, DCGANGenerator, init_weights
from mrisynth.zoo.registry import register


@register("gan")
class GAN(AdversarialModel):
    """Goodfellow et al. 2014 on DCGAN nets; ``loss`` one of minimax, non_saturating (default),
    least_squares, wasserstein, hinge (see ``zoo.losses.adversarial``)."""

    def __init__(
        self,
        loss: str = "non_saturating",
        image_size: int = 16,
        channels: int = 1,
        spatial_dims: int = 2,
        latent_dim: int = 64,
        ngf: int = 32,
        ndf: int = 32,
        d_norm: str = "batch",
        lr_g: float = 2e-4,
        lr_d: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        n_critic: int = 1,
        init: str = "normal",
        init_gain: float = 0.02,
        n_classes: int = 0,
        seed: int | None = None,
    ):
        super().__init__(n_critic=n_critic, seed=seed)
        discriminator_loss(loss, torch.zeros(1), torch.zeros(1))  # fail early on an unknown name
        self.loss, self.latent_dim, self.n_classes = loss, latent_dim, n_classes
        self.nets["G"] = init_weights(DCGANGenerator(latent_dim, channels, image_size, ngf, spatial_dims, n_classes), init, init_gain)
        self.nets["D"] = init_weights(DCGANDiscriminator(channels, image_size, ndf, spatial_dims, n_classes, norm=d_norm), init, init_gain)
        self.optimizers["G"] = self.make_optimizer(self.nets["G"].parameters(), lr_g, tuple(betas))
        self.optimizers["D"] = self.make_optimizer(self.nets["D"].parameters(), lr_d, tuple(betas))

    def make_optimizer(self, params, lr, betas):
        return torch.optim.Adam(params, lr=lr, betas=betas)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = generator.device if generator is not None else self.device
        return torch.randn(n, self.latent_dim, generator=generator, device=device).to(self.device)

    def penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | None:
        return None

    def d_loss(self, real, *_):
        fake = self.nets["G"](self.noise(real.shape[0]))
        loss = discriminator_loss(self.loss, self.nets["D"](real), self.nets["D"](fake))
        logs = {"d_loss": loss.detach()}
        gp = self.penalty(real, fake)
        if gp is not None:
            logs["penalty"] = gp.detach()
            loss = loss + gp
        return loss, logs

    def g_loss(self, real, *_):
        loss = generator_loss(self.loss, self.nets["D"](self.nets["G"](self.noise(real.shape[0]))))
        return loss, {"g_loss": loss.detach()}

    @torch.no_grad()
    def sample(self, n, generator=None, **_):
        return self.net_for_sampling("G")(self.noise(n, generator))


@register("lsgan")
class LSGAN(GAN):
    """Mao et al. 2017: least-squares loss (a=0, b=c=1), no activation on D."""

    def __init__(self, **cfg):
        super().__init__(**{"loss": "least_squares", **cfg})


@register("wgan")
class WGAN(GAN):
    """Arjovsky et al. 2017: Wasserstein loss, critic weights clipped to [-clip, clip] after each
    critic step, RMSprop, 5 critic steps per generator step."""

    def __init__(self, clip: float = 0.01, lr_g: float = 5e-5, lr_d: float = 5e-5, n_critic: int = 5, **cfg):
        self.clip = clip
        super().__init__(**{"loss": "wasserstein", "lr_g": lr_g, "lr_d": lr_d, "n_critic": n_critic, **cfg})

    def make_optimizer(self, params, lr, betas):
        return torch.optim.RMSprop(params, lr=lr)

    @torch.no_grad()
    def after_d_step(self):
        for p in self.nets["D"].parameters():
            p.clamp_(-self.clip, self.clip)


@register("wgan-gp")
class WGANGP(GAN):
    """Gulrajani et al. 2017: Wasserstein loss + lambda * (||grad D(x_hat)|| - 1)^2 at per-sample
    interpolates; no batch norm in the critic; Adam (0.5, 0.9), 5 critic steps."""

    def __init__(self, gp_weight: float = 10.0, lr_g: float = 1e-4, lr_d: float = 1e-4, betas=(0.5, 0.9), n_critic: int = 5, d_norm: str = "none", **cfg):
        self.gp_weight = gp_weight
        super().__init__(**{"loss": "wasserstein", "lr_g": lr_g, "lr_d": lr_d, "betas": betas, "n_critic": n_critic, "d_norm": d_norm, **cfg})

    def penalty(self, real, fake):
        return gradient_penalty(self.nets["D"], interpolates(real, fake), weight=self.gp_weight)


@register("dragan")
class DRAGAN(GAN):
    """Kodali et al. 2017: non-saturating loss + lambda * (||grad D|| - 1)^2 around perturbed real data."""

    def __init__(self, gp_weight: float = 10.0, d_norm: str = "none", **cfg):
        self.gp_weight = gp_weight
        super().__init__(**{"d_norm": d_norm, **cfg})

    def penalty(self, real, fake):
        return gradient_penalty(self.nets["D"], dragan_points(real), weight=self.gp_weight)
