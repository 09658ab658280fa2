"""ONE gradient penalty for WGAN-GP, DRAGAN and R1: ``weight * mean_i (||grad_x D(x_i)||_2 - target)^2``
with the norm taken per sample over ALL of its elements (channels and every spatial axis).

The three differ only in where the gradient is taken and the target norm:

* WGAN-GP (Gulrajani et al. 2017): ``interpolates(real, fake)``, one alpha per sample, target 1;
* DRAGAN (Kodali et al. 2017): ``dragan_points(real)``, real data perturbed by noise, target 1;
* R1 (Mescheder et al. 2018): real data, target 0, weight gamma / 2 (``r1_penalty``).

For a linear critic D(x) = <w, x> the gradient is w everywhere, so the penalty is exactly
``weight * (||w|| - target)^2`` whatever the batch size, shape or dimensionality (tested). The common
bugs it rules out: one alpha per pixel, a norm over channels only, one norm for the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Tensor = torch.Tensor


def gradient_penalty(critic: Callable[..., Tensor], points: Tensor, *critic_args, target: float = 1.0, weight: float = 10.0) -> Tensor:
    """The penalty at ``points`` (detached here; extra ``critic_args`` such as labels are passed through).
    The graph is kept (create_graph) so the penalty trains the critic."""
    points = points.detach().requires_grad_(True)
    out = critic(points, *critic_args)
    (grad,) = torch.autograd.grad(out.float().sum(), points, create_graph=True)
    norms = grad.float().flatten(1).norm(2, dim=1)
    return weight * ((norms - target) ** 2).mean()


def _per_sample(shape, like: Tensor, generator: torch.Generator | None) -> Tensor:
    u = torch.rand(shape[0], *([1] * (len(shape) - 1)), generator=generator, device="cpu" if generator is not None else like.device)
    return u.to(like.device, like.dtype)


def interpolates(real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """WGAN-GP points: ``alpha * real + (1 - alpha) * fake``, alpha ~ U[0, 1) per sample."""
    alpha = _per_sample(real.shape, real, generator)
    return alpha * real.detach() + (1 - alpha) * fake.detach()


def dragan_points(real: Tensor, scale: float = 0.5, generator: torch.Generator | None = None) -> Tensor:
    """DRAGAN points: ``real + alpha * scale * std(real) * u``, u ~ U[0, 1) per element, alpha per sample
    (the authors' reference code: a random point between x and its perturbation)."""
    real = real.detach()
    u = torch.rand(real.shape, generator=generator, device="cpu" if generator is not None else real.device).to(real)
    alpha = _per_sample(real.shape, real, generator)
    return real + alpha * scale * real.std() * u


def r1_penalty(critic: Callable[..., Tensor], real: Tensor, *critic_args, gamma: float = 10.0) -> Tensor:
    """R1: ``gamma / 2 * E ||grad D(real)||^2``."""
    return gradient_penalty(critic, real, *critic_args, target=0.0, weight=gamma / 2)
