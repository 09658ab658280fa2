"""Losses against hand-computed values, and the one gradient penalty's exact value for a linear critic."""

import math

import pytest
import torch

from mrisynth.zoo import losses as L
from mrisynth.zoo.losses import adversarial as A

R = torch.tensor([2.0, -1.0])  # D(real) logits
F_ = torch.tensor([0.5, -3.0])  # D(fake) logits


def sp(x):  # softplus by hand
    return math.log1p(math.exp(x))


@pytest.mark.parametrize(
    "name, d_expected, g_expected",
    [
        ("minimax", (sp(-2) + sp(1)) / 2 + (sp(0.5) + sp(-3)) / 2, -(sp(0.5) + sp(-3)) / 2),
        ("non_saturating", (sp(-2) + sp(1)) / 2 + (sp(0.5) + sp(-3)) / 2, (sp(-0.5) + sp(3)) / 2),
        ("least_squares", 0.5 * (1 + 4) / 2 + 0.5 * (0.25 + 9) / 2, 0.5 * (0.25 + 16) / 2),
        ("wasserstein", (0.5 - 3) / 2 - (2 - 1) / 2, -(0.5 - 3) / 2),
        ("hinge", (0 + 2) / 2 + (1.5 + 0) / 2, -(0.5 - 3) / 2),
    ],
)
def test_adversarial_losses_exact(name, d_expected, g_expected):
    assert L.discriminator_loss(name, R, F_).item() == pytest.approx(d_expected, rel=1e-6)
    assert L.generator_loss(name, F_).item() == pytest.approx(g_expected, rel=1e-6)


def test_minimax_is_log_of_sigmoid_and_upcasts_bf16():
    s = torch.sigmoid
    expected = -(torch.log(s(R)).mean() + torch.log(1 - s(F_)).mean())
    torch.testing.assert_close(A.minimax_d(R, F_), expected)
    assert A.minimax_d(R.bfloat16(), F_.bfloat16()).dtype == torch.float32
    with pytest.raises(ValueError, match="unknown adversarial loss"):
        L.generator_loss("vanilla", F_)


@pytest.mark.parametrize("shape", [(5, 7), (3, 2, 4, 4), (2, 1, 3, 4, 5)])
@pytest.mark.parametrize("kind", ["wgan-gp", "dragan", "r1"])
def test_gradient_penalty_of_linear_critic_is_exact(shape, kind):
    """D(x) = <w, x> has gradient w at every point: penalty = lambda * (||w|| - target)^2 exactly."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(shape[1:], generator=g, dtype=torch.float64)

    def critic(x):
        return (x * w).flatten(1).sum(1)

    real = torch.randn(shape, generator=g, dtype=torch.float64)
    fake = torch.randn(shape, generator=g, dtype=torch.float64)
    norm = w.norm().item()
    if kind == "wgan-gp":
        got, expected = L.gradient_penalty(critic, L.interpolates(real, fake, g), weight=10.0), 10.0 * (norm - 1) ** 2
    elif kind == "dragan":
        got, expected = L.gradient_penalty(critic, L.dragan_points(real, generator=g), weight=7.0), 7.0 * (norm - 1) ** 2
    else:
        got, expected = L.r1_penalty(critic, real, gamma=4.0), 2.0 * norm**2
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_penalty_is_per_sample_and_differentiable():
    """Critic with a different slope per sample: a batch-wide norm would give another value."""
    scales = torch.tensor([0.5, 2.0, 3.0])

    def critic(x):
        return (x.flatten(1) * scales[:, None]).sum(1)  # grad of sample i = scales[i] * ones

    x = torch.zeros(3, 1, 2, 2)  # 4 elements per sample -> grad norm = 2 * scale
    expected = 10.0 * sum((2 * s - 1) ** 2 for s in scales.tolist()) / 3
    assert L.gradient_penalty(critic, x).item() == pytest.approx(expected, rel=1e-6)
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    gp = L.gradient_penalty(lambda x: x @ w, torch.ones(2, 2), weight=1.0)
    gp.backward()  # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    torch.testing.assert_close(w.grad, 2 * 4 * torch.tensor([3.0, 4.0]) / 5)


def test_interpolates_use_one_alpha_per_sample():
    real, fake = torch.ones(4, 2, 3, 3), torch.zeros(4, 2, 3, 3)
    x = L.interpolates(real, fake, torch.Generator().manual_seed(1))
    per_sample = x.flatten(1)
    assert torch.equal(per_sample, per_sample[:, :1].expand_as(per_sample))
    assert per_sample[:, 0].unique().numel() == 4


def test_began_terms():
    x, rec = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0])
    assert L.began_recon_error(x, rec).item() == 1.5
    assert L.began_d_loss(torch.tensor(1.0), torch.tensor(2.0), 0.25).item() == 0.5
    assert L.began_g_loss(torch.tensor(2.0)).item() == 2.0
    k, m = L.began_update_k(0.1, l_real=1.0, l_fake=0.2, gamma=0.5, lambda_k=0.01)
    assert k == pytest.approx(0.1 + 0.01 * 0.3) and m == pytest.approx(1.3)
    assert L.began_update_k(0.0, 0.0, 1.0)[0] == 0.0 and L.began_update_k(1.0, 10.0, 0.0, lambda_k=1.0)[0] == 1.0


def test_reconstruction_losses():
    a, b = torch.tensor([1.0, -1.0]), torch.tensor([0.0, 1.0])
    assert L.l1_loss(a, b).item() == 1.5 and L.l2_loss(a, b).item() == 2.5
    assert L.cycle_loss(a, b, lam=10.0).item() == 15.0 and L.identity_loss(a, b, lam=5.0).item() == 7.5
