"""Conditional GAN (Mirza & Osindero 2014): G(z, y) and D(x, y) with a one-hot class label."""

from __future__ import annotations

import torch

from mrisynth.zoo.losses import discriminator_loss, generator_loss
from mrisynth.zoo.models.gan import GAN
from mrisynth.zoo.registry import register


@register("cgan")
class ConditionalGAN(GAN):
    """Batches are ``(images, labels)``; fakes get labels drawn uniformly. ``sample(n, labels=...)``
    (default: classes 0, 1, ..., n_classes - 1 repeated)."""

    def __init__(self, n_classes: int = 10, **cfg):
        if n_classes < 2:
            raise ValueError(f"cgan needs n_classes >= 2, got {n_classes}")
        super().__init__(n_classes=n_classes, **cfg)

    def random_labels(self, n: int) -> torch.Tensor:
        return torch.randint(self.n_classes, (n,), device=self.device)

    def d_loss(self, real, labels, *_):
        fake_labels = self.random_labels(real.shape[0])
        fake = self.nets["G"](self.noise(real.shape[0]), fake_labels)
        loss = discriminator_loss(self.loss, self.nets["D"](real, labels), self.nets["D"](fake, fake_labels))
        return loss, {"d_loss": loss.detach()}

    def g_loss(self, real, *_):
        labels = self.random_labels(real.shape[0])
        loss = generator_loss(self.loss, self.nets["D"](self.nets["G"](self.noise(real.shape[0]), labels), labels))
        return loss, {"g_loss": loss.detach()}

    @torch.no_grad()
    def sample(self, n, generator=None, labels: torch.Tensor | None = None, **_):
        if labels is None:
            labels = torch.arange(n, device=self.device) % self.n_classes
        return self.net_for_sampling("G")(self.noise(n, generator), labels.to(self.device))
