"""InfoGAN (Chen et al. 2016): latent codes c next to the noise z, and a mutual-information term.

G(z, c) with c = (one categorical code of ``n_categories``, ``n_continuous`` codes ~ U[-1, 1]). A head Q on
the discriminator's features predicts c from G(z, c): categorical logits and the means of unit-variance
Gaussians. The variational lower bound (Barber & Agakov)

    I(c; G(z, c)) >= L_I = H(c) + E log Q(c | G(z, c)),
    H(c) = log K + n_continuous * log 2  (uniform categorical and U[-1, 1] codes),

is maximised by D/Q (in their step) and by G (in its step), weighted by ``info_weight``. ``L_I`` is logged
as ``mi_bound`` (nats); it cannot exceed H(c).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mrisynth.zoo.losses import fdiv
from mrisynth.zoo.models.f_gan import FDivergenceGAN
from mrisynth.zoo.registry import register

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@register("infogan")
class InfoGAN(FDivergenceGAN):
    def __init__(self, n_categories: int = 8, n_continuous: int = 0, info_weight: float = 1.0, divergence: str = "gan", **cfg):
        if cfg.get("pack", 1) != 1:
            raise ValueError("InfoGAN's Q head reads one sample at a time: pack must be 1")
        if n_categories < 1 or n_continuous < 0:
            raise ValueError(f"need n_categories >= 1 and n_continuous >= 0, got {n_categories}, {n_continuous}")
        self.n_categories, self.n_continuous, self.info_weight = n_categories, n_continuous, info_weight
        super().__init__(divergence=divergence, **cfg)
        # Q shares D's trunk and trains with D's optimizer
        self.nets["Q"] = nn.Linear(self.nets["D"].feature_dim, n_categories + n_continuous)
        self.optimizers["D"].add_param_group({"params": self.nets["Q"].parameters()})

    def generator_input_dim(self) -> int:
        return self.latent_dim + self.n_categories + self.n_continuous

    @property
    def code_entropy(self) -> float:
        return math.log(self.n_categories) + self.n_continuous * math.log(2.0)

    def codes(self, n: int, generator: torch.Generator | None = None, category: int | None = None):
        device = generator.device if generator is not None else self.device
        if category is None:
            cat = torch.randint(self.n_categories, (n,), generator=generator, device=device).to(self.device)
        else:
            cat = torch.full((n,), int(category), dtype=torch.long, device=self.device)
        cont = (torch.rand(n, self.n_continuous, generator=generator, device=device) * 2 - 1).to(self.device)
        return cat, cont

    def generate(self, z, cat, cont, G: nn.Module | None = None):
        return (G if G is not None else self.nets["G"])(torch.cat([z, F.one_hot(cat, self.n_categories).to(z.dtype), cont], 1))

    def mi_bound(self, fake, cat, cont) -> torch.Tensor:
        """L_I = H(c) + E log Q(c | x) on generated x."""
        q = self.nets["Q"](self.nets["D"].features(fake)).float()
        log_q = -F.cross_entropy(q[:, : self.n_categories], cat)
        if self.n_continuous:
            mu = q[:, self.n_categories :]
            log_q = log_q + (-0.5 * (cont - mu) ** 2 - HALF_LOG_2PI).sum(1).mean()
        return self.code_entropy + log_q

    def _fake(self, n):
        cat, cont = self.codes(n)
        return self.generate(self.noise(n), cat, cont), cat, cont

    def d_loss(self, real, *_):
        fake, cat, cont = self._fake(real.shape[0])
        D = self.nets["D"]
        adv = fdiv.fgan_d_loss(self.divergence, D(real), D(fake))
        mi = self.mi_bound(fake, cat, cont)
        return adv - self.info_weight * mi, {"d_loss": adv.detach(), "mi_bound": mi.detach()}

    def g_loss(self, real, *_):
        fake, cat, cont = self._fake(real.shape[0])
        adv = fdiv.fgan_g_loss(self.divergence, self.nets["D"](fake), self.generator_objective)
        mi = self.mi_bound(fake, cat, cont)
        return adv - self.info_weight * mi, {"g_loss": adv.detach(), "g_mi_bound": mi.detach()}

    @torch.no_grad()
    def sample(self, n, generator=None, category: int | None = None, **_):
        cat, cont = self.codes(n, generator, category)
        return self.generate(self.noise(n, generator), cat, cont, self.net_for_sampling("G"))
