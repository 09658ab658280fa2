"""Unrolled GAN (Metz, Poole, Pfau, Sohl-Dickstein 2017).

The discriminator trains as usual. The generator's loss is evaluated with the discriminator's
parameters after ``unroll_steps`` further gradient steps on the current batch,
theta_D^k = theta_D - lr * grad(...) repeated k times, and its gradient flows THROUGH those steps
(``torch.func.grad`` inside the outer autograd graph; second-order terms included). So the generator
anticipates how the discriminator will react, which is what stops it hopping between modes. The
unrolled steps are plain SGD with ``unroll_lr`` (Metz et al. unroll Adam; SGD keeps the surrogate simple).
"""

from __future__ import annotations

import torch
from torch.func import functional_call, grad

from mrisynth.zoo.losses import fdiv
from mrisynth.zoo.models.f_gan import FDivergenceGAN
from mrisynth.zoo.registry import register


@register("unrolled-gan")
class UnrolledGAN(FDivergenceGAN):
    def __init__(self, unroll_steps: int = 5, unroll_lr: float = 1e-2, divergence: str = "gan", **cfg):
        if unroll_steps < 0:
            raise ValueError(f"unroll_steps must be >= 0, got {unroll_steps}")
        if cfg.get("minibatch_features") or cfg.get("feature_matching"):
            raise ValueError("the unrolled GAN takes no minibatch discrimination or feature matching")
        self.unroll_steps, self.unroll_lr = unroll_steps, unroll_lr
        super().__init__(divergence=divergence, **cfg)

    def unrolled_parameters(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """theta_D after ``unroll_steps`` SGD steps on (real, fake); differentiable w.r.t. ``fake``."""
        D = self.nets["D"]
        buffers = dict(D.named_buffers())
        params = {k: p.detach() for k, p in D.named_parameters()}

        def d_loss(params, real, fake):
            call = lambda x: functional_call(D, (params, buffers), (x,))  # noqa: E731
            return fdiv.fgan_d_loss(self.divergence, call(real), call(fake))

        for _ in range(self.unroll_steps):
            grads = grad(d_loss)(params, real, fake)
            params = {k: params[k] - self.unroll_lr * grads[k] for k in params}
        return params

    def g_loss(self, real, *_):
        fake = self.nets["G"](self.noise(real.shape[0]))
        D = self.nets["D"]
        params = self.unrolled_parameters(real, fake)
        v_fake = functional_call(D, (params, dict(D.named_buffers())), (fake,))
        loss = fdiv.fgan_g_loss(self.divergence, v_fake, self.generator_objective)
        return loss, {"g_loss": loss.detach()}
