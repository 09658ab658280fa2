"""f-GAN (Nowozin, Cseke, Tomioka 2016): GAN training as variational f-divergence minimisation.

For convex f with f(1) = 0, ``D_f(P||Q) = E_Q f(p/q)`` (P = data, Q = generator; the seed's convention).
Fenchel duality gives the bound the critic maximises::

    D_f(P||Q) >= sup_T  E_P T(x) - E_Q f*(T(x)),      equality at  T*(x) = f'(p(x) / q(x)),

with f* the convex conjugate. The critic outputs a raw value v; the output activation g_f maps it into the
domain of f*, T = g_f(v). Table (u = p/q):

===========  ==============================  ===================  ======================  ============
name         f(u)                            f*(t)                g_f(v)                  D_f(P||Q)
===========  ==============================  ===================  ======================  ============
kl           u log u                         exp(t - 1)           v                       KL(P||Q)
reverse_kl   -log u                          -1 - log(-t)         -exp(-v)                KL(Q||P)
js           (u log u - (u+1)log((u+1)/2))/2  -log(2 - e^{2t})/2  (log 2 - softplus(-v))/2 JS(P||Q)
pearson      (u - 1)^2                       t^2 / 4 + t          v                       chi2(P||Q)
hellinger    (sqrt u - 1)^2                  t / (1 - t)          1 - exp(-v)             sum (sqrt p - sqrt q)^2
tv           |u - 1| / 2                     t  (|t| <= 1/2)      tanh(v) / 2             TV(P, Q)
gan          u log u - (u+1) log(u+1)        -log(1 - e^t)        -softplus(-v)           2 JS - log 4
===========  ==============================  ===================  ======================  ============

Notes against the seed's list: its KL generator ``x log x - x + 1`` gives the same divergence between
probability measures; its chi2 ``(x-1)^2/2`` is half of Pearson's; its JS generator
``x log x - (x+1) log((x+1)/2)`` is 2 JS (as is the JS row of Nowozin et al.'s table), so the one here is
halved; its Hellinger ``2(sqrt x - 1)`` is not convex and is replaced by ``(sqrt x - 1)^2``; its L1
``|x - 1|`` is 2 TV. The ``gan`` row (whose f(1) = -log 4, so D_f(P||P) = -log 4) is the original GAN: with D = sigmoid(v), the bound is exactly the
minimax value V(D, G) and at D* = p / (p + q) it equals 2 JS(P||Q) - log 4.

Generator objectives: ``saddle`` minimises -E_Q f*(g_f(v)) (the same saddle point; for ``gan`` this is
the saturating minimax loss), ``alternative`` minimises -E_Q g_f(v) (Nowozin et al. Sec. 3.2, the
non-saturating heuristic; for ``gan`` this is -log D).

LSGAN (Mao et al. 2017): D minimises ``(E_P (D - b)^2 + E_Q (D - a)^2) / 2``, G minimises
``(E_P (D - c)^2 + E_Q (D - c)^2) / 2``. At D* = (b p + a q) / (p + q) and b - c = 1, b - a = 2 (e.g.
a, b, c = -1, 1, 0), twice G's objective is ``sum (2q - (p + q))^2 / (p + q)``, the Pearson chi2 of Mao et
al. (``divergence("pearson", 2q, p + q)`` here). For any a != b, with chi2 = chi2_Pearson(p + q || 2q),
G's objective at D* is ``(b-c)^2 - (b-c)(b-a) + (b-a)^2 (chi2 / 8 + 1/4)``: an increasing affine function of
chi2. So the seed's a, b, c = 0, 1, 1 gives chi2 / 8 + 1/4 (1/4, not 0, at P = Q): it minimises the same
Pearson chi2, up to scale and offset, and equals it exactly only for Mao et al.'s condition (all tested).

All losses are computed in fp32 (upcast) and averaged over every element.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

Tensor = torch.Tensor
LOG2 = math.log(2.0)


@dataclasses.dataclass(frozen=True)
class FDivergence:
    name: str
    f: Callable[[Tensor], Tensor]  # generator function, f(1) = 0
    conjugate: Callable[[Tensor], Tensor]  # f*(t)
    activation: Callable[[Tensor], Tensor]  # g_f: R -> dom f*
    conjugate_of_activation: Callable[[Tensor], Tensor]  # f*(g_f(v)), written stably
    derivative: Callable[[Tensor], Tensor]  # f'(u): the optimal critic T*(x) = f'(p/q)


DIVERGENCES: dict[str, FDivergence] = {
    d.name: d
    for d in (
        FDivergence(
            "kl",
            f=lambda u: u * torch.log(u),
            conjugate=lambda t: torch.exp(t - 1),
            activation=lambda v: v,
            conjugate_of_activation=lambda v: torch.exp(v - 1),
            derivative=lambda u: 1 + torch.log(u),
        ),
        FDivergence(
            "reverse_kl",
            f=lambda u: -torch.log(u),
            conjugate=lambda t: -1 - torch.log(-t),
            activation=lambda v: -torch.exp(-v),
            conjugate_of_activation=lambda v: v - 1,
            derivative=lambda u: -1 / u,
        ),
        FDivergence(
            "js",
            f=lambda u: 0.5 * (u * torch.log(u) - (u + 1) * torch.log((u + 1) / 2)),
            conjugate=lambda t: -0.5 * torch.log(2 - torch.exp(2 * t)),
            activation=lambda v: 0.5 * (LOG2 - F.softplus(-v)),
            conjugate_of_activation=lambda v: -0.5 * (LOG2 - F.softplus(v)),
            derivative=lambda u: 0.5 * torch.log(2 * u / (1 + u)),
        ),
        FDivergence(
            "pearson",
            f=lambda u: (u - 1) ** 2,
            conjugate=lambda t: t**2 / 4 + t,
            activation=lambda v: v,
            conjugate_of_activation=lambda v: v**2 / 4 + v,
            derivative=lambda u: 2 * (u - 1),
        ),
        FDivergence(
            "hellinger",
            f=lambda u: (torch.sqrt(u) - 1) ** 2,
            conjugate=lambda t: t / (1 - t),
            activation=lambda v: 1 - torch.exp(-v),
            conjugate_of_activation=lambda v: torch.expm1(v),
            derivative=lambda u: 1 - 1 / torch.sqrt(u),
        ),
        FDivergence(
            "tv",
            f=lambda u: 0.5 * (u - 1).abs(),
            conjugate=lambda t: t,
            activation=lambda v: 0.5 * torch.tanh(v),
            conjugate_of_activation=lambda v: 0.5 * torch.tanh(v),
            derivative=lambda u: 0.5 * torch.sign(u - 1),
        ),
        FDivergence(
            "gan",
            f=lambda u: u * torch.log(u) - (u + 1) * torch.log(u + 1),
            conjugate=lambda t: -torch.log(1 - torch.exp(t)),
            activation=lambda v: -F.softplus(-v),
            conjugate_of_activation=lambda v: F.softplus(v),
            derivative=lambda u: torch.log(u / (1 + u)),
        ),
    )
}
GENERATOR_OBJECTIVES = ("saddle", "alternative")


def get_divergence(name: str) -> FDivergence:
    if name not in DIVERGENCES:
        raise ValueError(f"unknown f-divergence {name!r}; one of {sorted(DIVERGENCES)}")
    return DIVERGENCES[name]


def divergence(name: str, p: Tensor, q: Tensor) -> Tensor:
    """``D_f(P||Q) = sum_x q(x) f(p(x) / q(x))`` for discrete (possibly unnormalised) positive p, q."""
    return (q * get_divergence(name).f(p / q)).sum()


def fgan_bound(name: str, v_real: Tensor, v_fake: Tensor) -> Tensor:
    """The variational lower bound ``E_P g_f(v) - E_Q f*(g_f(v))`` on raw critic outputs."""
    d = get_divergence(name)
    return d.activation(v_real.float()).mean() - d.conjugate_of_activation(v_fake.float()).mean()


def fgan_d_loss(name: str, v_real: Tensor, v_fake: Tensor) -> Tensor:
    """What the critic minimises: minus the bound."""
    return -fgan_bound(name, v_real, v_fake)


def fgan_g_loss(name: str, v_fake: Tensor, objective: str = "alternative") -> Tensor:
    """What the generator minimises (``saddle`` or ``alternative``, see the module docstring)."""
    d = get_divergence(name)
    if objective == "saddle":
        return -d.conjugate_of_activation(v_fake.float()).mean()
    if objective == "alternative":
        return -d.activation(v_fake.float()).mean()
    raise ValueError(f"generator objective must be one of {GENERATOR_OBJECTIVES}, got {objective!r}")
