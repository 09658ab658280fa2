"""f-GAN on vector data with small MLPs, and the mode-collapse remedies as options.

``FDivergenceGAN`` minimises any f-divergence of :mod:`mrisynth.zoo.losses.fdiv` (``divergence="gan"`` with the
``alternative`` generator objective is the non-saturating GAN, ``saddle`` the minimax one). Options:

* ``pack``: PacGAN, the discriminator judges ``pack`` samples at once;
* ``minibatch_features``: minibatch discrimination; ``minibatch_stddev``: the minibatch std feature;
* ``feature_matching``: the generator matches the mean of the discriminator's last hidden features on
  real data instead of fooling it (Salimans et al. 2016), ``||E f(x) - E f(G(z))||^2``.

The unrolled GAN and InfoGAN (``unrolled.py``, ``infogan.py``) build on this class.
"""

from __future__ import annotations

import torch

from mrisynth.zoo.base import AdversarialModel
from mrisynth.zoo.losses import fdiv
from mrisynth.zoo.nets.mlp import MLPDiscriminator, mlp
from mrisynth.zoo.registry import register


@register("f-gan")
class FDivergenceGAN(AdversarialModel):
    def __init__(
        self,
        divergence: str = "js",
        generator_objective: str = "alternative",
        data_dim: int = 2,
        latent_dim: int = 2,
        hidden: int = 128,
        depth: int = 3,
        lr_g: float = 1e-4,
        lr_d: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        n_critic: int = 1,
        pack: int = 1,
        minibatch_features: int = 0,
        minibatch_stddev: bool = False,
        feature_matching: bool = False,
        seed: int | None = None,
    ):
        super().__init__(n_critic=n_critic, seed=seed)
        fdiv.get_divergence(divergence)
        if generator_objective not in fdiv.GENERATOR_OBJECTIVES:
            raise ValueError(f"generator_objective must be one of {fdiv.GENERATOR_OBJECTIVES}, got {generator_objective!r}")
        self.divergence, self.generator_objective = divergence, generator_objective
        self.data_dim, self.latent_dim, self.feature_matching = data_dim, latent_dim, feature_matching
        self.nets["G"] = mlp(self.generator_input_dim(), data_dim, hidden, depth, slope=0.0)
        self.nets["D"] = MLPDiscriminator(data_dim, hidden, depth, 1, pack, minibatch_features, minibatch_stddev)
        self.optimizers["G"] = torch.optim.Adam(self.nets["G"].parameters(), lr=lr_g, betas=tuple(betas))
        self.optimizers["D"] = torch.optim.Adam(self.nets["D"].parameters(), lr=lr_d, betas=tuple(betas))

    def generator_input_dim(self) -> int:
        return self.latent_dim

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = generator.device if generator is not None else self.device
        return torch.randn(n, self.latent_dim, generator=generator, device=device).to(self.device)

    def d_loss(self, real, *_):
        fake = self.nets["G"](self.noise(real.shape[0]))
        D = self.nets["D"]
        loss = fdiv.fgan_d_loss(self.divergence, D(real), D(fake))
        return loss, {"d_loss": loss.detach(), "bound": -loss.detach()}

    def g_loss(self, real, *_):
        fake = self.nets["G"](self.noise(real.shape[0]))
        if self.feature_matching:
            D = self.nets["D"]
            loss = (D.features(real).float().mean(0) - D.features(fake).float().mean(0)).pow(2).sum()
        else:
            loss = fdiv.fgan_g_loss(self.divergence, self.nets["D"](fake), self.generator_objective)
        return loss, {"g_loss": loss.detach()}

    @torch.no_grad()
    def sample(self, n, generator=None, **_):
        return self.net_for_sampling("G")(self.noise(n, generator))
