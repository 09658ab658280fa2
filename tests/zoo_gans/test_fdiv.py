"""Exact f-divergence identities on discrete distributions (float64, closed forms from scipy).

A discrete P with rational masses is represented by repeating each atom count times, so a loss's plain
``.mean()`` is the exact expectation.
"""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr

from mrisynth.zoo.losses import adversarial as A
from mrisynth.zoo.losses import fdiv


# Mao et al.'s LSGAN objectives with general targets (the zoo's least_squares loss is the (0, 1, 1) case)
def lsgan_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor, a: float = -1.0, b: float = 1.0) -> torch.Tensor:
    """LSGAN discriminator with targets b (real) and a (fake)."""
    return 0.5 * ((d_real.float() - b) ** 2).mean() + 0.5 * ((d_fake.float() - a) ** 2).mean()


def lsgan_g_value(d_real: torch.Tensor, d_fake: torch.Tensor, c: float = 0.0) -> torch.Tensor:
    """Mao et al.'s full generator objective (the real term does not depend on G but fixes the value)."""
    return 0.5 * ((d_real.float() - c) ** 2).mean() + 0.5 * ((d_fake.float() - c) ** 2).mean()

P_COUNTS = np.array([1, 2, 3, 4, 6, 4])  # out of 20
Q_COUNTS = np.array([5, 4, 3, 2, 1, 5])
p_np, q_np = P_COUNTS / P_COUNTS.sum(), Q_COUNTS / Q_COUNTS.sum()
p, q = torch.tensor(p_np), torch.tensor(q_np)

JS = jensenshannon(p_np, q_np, base=math.e) ** 2
CLOSED_FORM = {
    "kl": rel_entr(p_np, q_np).sum(),
    "reverse_kl": rel_entr(q_np, p_np).sum(),
    "js": JS,
    "pearson": ((p_np - q_np) ** 2 / q_np).sum(),
    "hellinger": ((np.sqrt(p_np) - np.sqrt(q_np)) ** 2).sum(),
    "tv": 0.5 * np.abs(p_np - q_np).sum(),
    "gan": 2 * JS - math.log(4),
}


def atoms(values: torch.Tensor, counts: np.ndarray) -> torch.Tensor:
    """A value per atom -> one entry per unit of mass (so that .mean() is E over the distribution)."""
    return torch.repeat_interleave(values, torch.tensor(counts))


def test_table_covers_every_divergence():
    assert set(CLOSED_FORM) == set(fdiv.DIVERGENCES)
    with pytest.raises(ValueError, match="unknown f-divergence"):
        fdiv.get_divergence("wasserstein")


@pytest.mark.parametrize("name", sorted(CLOSED_FORM))
def test_divergence_from_f_equals_closed_form(name):
    assert fdiv.divergence(name, p, q).item() == pytest.approx(CLOSED_FORM[name], abs=1e-12)
    at_equal = -math.log(4) if name == "gan" else 0.0  # f(1) = 0 except for the 'gan' row: f(1) = -log 4
    assert fdiv.divergence(name, p, p).item() == pytest.approx(at_equal, abs=1e-12)


@pytest.mark.parametrize("name", sorted(CLOSED_FORM))
def test_fgan_bound_at_optimal_critic_equals_divergence(name):
    """T* = f'(p/q) attains the bound; v* = g_f^{-1}(T*) through the output activation attains it too."""
    d = fdiv.get_divergence(name)
    t_star = d.derivative(p / q)
    bound_t = (p * t_star).sum() - (q * d.conjugate(t_star)).sum()
    assert bound_t.item() == pytest.approx(CLOSED_FORM[name], abs=1e-6)
    inverse = {  # g_f^{-1}(t), written by hand per activation
        "kl": lambda t: t,
        "pearson": lambda t: t,
        "reverse_kl": lambda t: -torch.log(-t),
        "hellinger": lambda t: -torch.log(1 - t),
        "tv": lambda t: torch.atanh(2 * t),  # +-inf where T* = +-1/2: tanh saturates exactly
        "js": lambda t: -torch.log(torch.expm1(math.log(2) - 2 * t)),
        "gan": lambda t: -torch.log(torch.expm1(-t)),
    }[name]
    v_star = inverse(t_star)
    torch.testing.assert_close(d.activation(v_star), t_star, rtol=1e-12, atol=1e-12)
    bound = fdiv.fgan_bound(name, atoms(v_star, P_COUNTS), atoms(v_star, Q_COUNTS))
    # fgan_bound upcasts to fp32 for training; the identity holds to fp32 precision
    assert bound.item() == pytest.approx(CLOSED_FORM[name], abs=1e-6)
    assert fdiv.fgan_d_loss(name, atoms(v_star, P_COUNTS), atoms(v_star, Q_COUNTS)).item() == pytest.approx(-bound.item())


@pytest.mark.parametrize("name", sorted(CLOSED_FORM))
def test_any_other_critic_gives_a_smaller_bound(name):
    d = fdiv.get_divergence(name)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        v = torch.randn(len(p), generator=g, dtype=torch.float64)
        bound = (p * d.activation(v)).sum() - (q * d.conjugate_of_activation(v)).sum()
        assert bound.item() <= CLOSED_FORM[name] + 1e-12


@pytest.mark.parametrize("name", sorted(CLOSED_FORM))
def test_stable_composition_equals_conjugate_of_activation(name):
    d = fdiv.get_divergence(name)
    v = torch.linspace(-3, 3, 13, dtype=torch.float64)
    torch.testing.assert_close(d.conjugate_of_activation(v), d.conjugate(d.activation(v)), rtol=1e-10, atol=1e-12)


def test_minimax_value_at_optimal_discriminator_is_2js_minus_log4():
    """V(D*, G) = E_P log D* + E_Q log(1 - D*) with D* = p / (p + q); the zoo's minimax loss is -V."""
    d_star = p / (p + q)
    value = (p * torch.log(d_star)).sum() + (q * torch.log(1 - d_star)).sum()
    assert value.item() == pytest.approx(2 * JS - math.log(4), abs=1e-12)
    logits = torch.log(d_star / (1 - d_star))
    loss = A.minimax_d(atoms(logits, P_COUNTS).double(), atoms(logits, Q_COUNTS).double())
    assert -loss.item() == pytest.approx(2 * JS - math.log(4), abs=1e-6)
    # the f-GAN 'gan' row with the same logits is the same number
    assert fdiv.fgan_bound("gan", atoms(logits, P_COUNTS), atoms(logits, Q_COUNTS)).item() == pytest.approx(-loss.item(), abs=1e-6)
    # and P = Q gives the global minimum -log 4
    half = torch.zeros(4, dtype=torch.float64)
    assert fdiv.fgan_bound("gan", half, half).item() == pytest.approx(-math.log(4))


def test_lsgan_with_mao_abc_is_pearson_chi2():
    a, b, c = -1.0, 1.0, 0.0  # b - c = 1, b - a = 2
    d_star = (b * p + a * q) / (p + q)
    # D* minimises the discriminator loss: perturbing it only increases the loss
    d_loss = lsgan_d_loss(atoms(d_star, P_COUNTS), atoms(d_star, Q_COUNTS), a, b)
    for eps in (1e-3, -1e-3):
        assert lsgan_d_loss(atoms(d_star + eps, P_COUNTS), atoms(d_star + eps, Q_COUNTS), a, b) > d_loss
    value = 2 * lsgan_g_value(atoms(d_star, P_COUNTS), atoms(d_star, Q_COUNTS), c)
    chi2 = ((2 * q - (p + q)) ** 2 / (p + q)).sum()  # Mao et al.'s chi2_Pearson(p + q || 2q)
    assert value.item() == pytest.approx(chi2.item(), abs=1e-6)
    assert fdiv.divergence("pearson", 2 * q, p + q).item() == pytest.approx(chi2.item(), abs=1e-12)


@pytest.mark.parametrize("a, b, c", [(0.0, 1.0, 1.0), (-1.0, 1.0, 0.0), (0.0, 1.0, 0.5), (1.0, -2.0, 3.0)])
def test_lsgan_at_optimal_d_is_affine_in_pearson_chi2(a, b, c):
    """Any a != b: G's value at D* is (b-c)^2 - (b-c)(b-a) + (b-a)^2 (chi2 / 8 + 1/4). The seed's a, b, c =
    0, 1, 1 gives chi2 / 8 + 1/4: the seed's "LSGAN minimises Pearson chi2" holds up to scale and offset."""
    chi2 = fdiv.divergence("pearson", 2 * q, p + q).item()
    expected = (b - c) ** 2 - (b - c) * (b - a) + (b - a) ** 2 * (chi2 / 8 + 0.25)
    for pp, qq, target in ((p, q, expected), (p, p, expected - (b - a) ** 2 * chi2 / 8)):  # P = Q: chi2 = 0
        d_star = (b * pp + a * qq) / (pp + qq)
        value = lsgan_g_value(atoms(d_star, P_COUNTS), atoms(d_star, Q_COUNTS if qq is q else P_COUNTS), c)
        assert value.item() == pytest.approx(target, abs=1e-6)
    if (a, b, c) == (0.0, 1.0, 1.0):
        assert expected == pytest.approx(chi2 / 8 + 0.25) and expected - chi2 / 8 == 0.25


def test_generator_objectives():
    v = torch.tensor([0.3, -1.2])
    # 'gan' saddle = saturating minimax, alternative = non-saturating
    torch.testing.assert_close(fdiv.fgan_g_loss("gan", v, "saddle"), A.minimax_g(v))
    torch.testing.assert_close(fdiv.fgan_g_loss("gan", v, "alternative"), A.non_saturating_g(v))
    assert fdiv.fgan_g_loss("kl", v, "alternative").item() == pytest.approx(-v.mean().item())
    with pytest.raises(ValueError, match="generator objective"):
        fdiv.fgan_g_loss("kl", v, "hinge")
