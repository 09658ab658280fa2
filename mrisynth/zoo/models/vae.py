"""Variational autoencoder (Kingma & Welling 2014), beta-VAE (Higgins et al. 2017), conditional VAE
(Sohn et al. 2015) and the importance-weighted bound (Burda et al. 2016) as a likelihood estimate.

q(z | x, y) = N(mu(x, y), diag sigma^2(x, y)), p(z) = N(0, I), p(x | z, y) Bernoulli (images read as
probabilities in [0, 1]) or Gaussian (mean in [-1, 1] space, one learned log-std per pixel).
Loss = -E_q[log p(x | z)] + beta KL(q || p) per example (beta = 1: the negative ELBO). A conditional VAE
(``n_classes`` > 0) feeds a one-hot label to encoder and decoder; batches are then (images, labels).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mrisynth.zoo.base import ZooModel
from mrisynth.zoo.models._pixels import from_unit, image_shape_of, split_batch, to_unit
from mrisynth.zoo.registry import register

DECODERS = ("bernoulli", "gaussian")


class VAENet(nn.Module):
    def __init__(self, n_visible: int, n_latent: int, n_hidden: int, decoder: str, n_classes: int = 0):
        super().__init__()
        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
        self.decoder_kind, self.n_classes, self.n_latent = decoder, n_classes, n_latent
        self.enc = nn.Sequential(nn.Linear(n_visible + n_classes, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_hidden), nn.ReLU())
        self.enc_mu, self.enc_logvar = nn.Linear(n_hidden, n_latent), nn.Linear(n_hidden, n_latent)
        self.dec = nn.Sequential(
            nn.Linear(n_latent + n_classes, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_visible)
        )
        if decoder == "gaussian":
            self.log_std = nn.Parameter(torch.full((n_visible,), math.log(0.3)))

    def _with_label(self, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.n_classes == 0:
            return t
        if y is None:
            raise ValueError("a conditional VAE needs labels")
        return torch.cat([t, F.one_hot(y.long(), self.n_classes).to(t.dtype)], 1)

    def encode(self, x, y=None):
        """x: data vectors (Bernoulli: [0, 1]; Gaussian: [-1, 1]) -> (mu, logvar)."""
        h = self.enc(self._with_label(x, y))
        return self.enc_mu(h), self.enc_logvar(h).clamp(-12, 8)

    def decode(self, z, y=None) -> torch.Tensor:
        """Decoder output: Bernoulli logits or Gaussian means."""
        return self.dec(self._with_label(z, y))

    def log_px(self, x, z, y=None) -> torch.Tensor:
        """log p(x | z) per row (nats)."""
        out = self.decode(z, y)
        if self.decoder_kind == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1)
        log_std = self.log_std.clamp(-7, 2)
        return (-0.5 * math.log(2 * math.pi) - log_std - 0.5 * ((x - out) / log_std.exp()) ** 2).sum(1)

    def mean_image(self, z, y=None) -> torch.Tensor:
        out = self.decode(z, y)
        return torch.sigmoid(out) if self.decoder_kind == "bernoulli" else out


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per row, in closed form."""
    return 0.5 * (logvar.exp() + mu**2 - 1.0 - logvar).sum(1)


@register("vae")
class VAE(ZooModel):
    def __init__(
        self,
        image_shape: tuple[int, ...] = (1, 8, 8),
        image_size: int | None = None,
        n_latent: int = 8,
        n_hidden: int = 256,
        decoder: str = "bernoulli",
        beta: float = 1.0,
        n_classes: int = 0,
        lr: float = 1e-3,
        seed: int | None = None,
    ):
        super().__init__(seed=seed)
        self.image_shape, self.beta = image_shape_of(image_shape, image_size), beta
        self.nets["vae"] = VAENet(math.prod(self.image_shape), n_latent, n_hidden, decoder, n_classes)
        self.optimizers["vae"] = torch.optim.Adam(self.nets["vae"].parameters(), lr=lr)

    @property
    def net(self) -> VAENet:
        return self.nets["vae"]

    def data_vectors(self, x: torch.Tensor) -> torch.Tensor:
        return to_unit(x) if self.net.decoder_kind == "bernoulli" else x.flatten(1).float()

    def train_step(self, batch) -> dict[str, float]:
        x, y = split_batch(self.prepare(batch))
        self.train()
        inputs = (self.data_vectors(x),) if self.net.n_classes == 0 else (self.data_vectors(x), y)
        return self.optimize("vae", self.loss, *inputs)

    def loss(self, x, y=None, generator=None):
        mu, logvar = self.net.encode(x, y)
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        rec = -self.net.log_px(x, z, y).mean()
        kl = gaussian_kl(mu, logvar).mean()
        loss = rec + self.beta * kl
        return loss, {"loss": loss.detach(), "neg_elbo": (rec + kl).detach(), "kl": kl.detach()}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder means at z ~ N(0, I); a conditional VAE cycles the labels 0..n_classes-1 unless given."""
        z = torch.randn(n, self.net.n_latent, generator=generator, device=self.device)
        if self.net.n_classes and labels is None:
            labels = torch.arange(n, device=self.device) % self.net.n_classes
        mean = self.net.mean_image(z, labels)
        if self.net.decoder_kind == "bernoulli":
            return from_unit(mean, self.image_shape)
        return mean.clamp(-1, 1).reshape(n, *self.image_shape)
