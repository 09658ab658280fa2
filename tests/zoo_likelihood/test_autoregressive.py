"""PixelCNN / PixelRNN: causality (exact zero gradients), normalisation (exact), sampling."""

import itertools
import math

import pytest
import torch

from mrisynth.metrics.likelihood import exact_log_likelihood
from mrisynth.zoo.models.pixelcnn import level_log_probs
from mrisynth.zoo.registry import build

VARIANTS = [
    ("pixelcnn", {}),
    ("pixelcnn", {"gated": True}),
    ("pixelcnn", {"output": "logistic_mixture", "n_mixtures": 3}),
    ("pixelrnn", {"variant": "row"}),
    ("pixelrnn", {"variant": "diagonal"}),
]


def _tiny(name, kw, size, n_levels, lr=1e-3):
    width = {"channels": 8, "n_layers": 2}
    return build(name, image_shape=(1, size, size), n_levels=n_levels, seed=0, lr=lr, **width, **kw)


@pytest.mark.parametrize("name,kw", VARIANTS)
def test_output_i_has_zero_gradient_wrt_inputs_at_and_after_i(name, kw):
    model = _tiny(name, kw, 5, 4)
    x = torch.randn(1, 1, 5, 5, requires_grad=True)
    out = model.nets["ar"](x)
    for i in range(25):
        (grad,) = torch.autograd.grad(out[0, :, i // 5, i % 5].sum(), x, retain_graph=True)
        grad = grad.flatten()
        assert torch.count_nonzero(grad[i:]) == 0, f"pixel {i} sees pixels {torch.nonzero(grad[i:]).flatten() + i}"
        row, col = divmod(i, 5)  # the receptive field is not empty: the pixels left and above matter
        assert (col == 0 or grad[i - 1] != 0) and (row == 0 or grad[i - 5] != 0)


@pytest.mark.parametrize("name,kw", VARIANTS)
def test_probabilities_of_all_images_sum_to_one(name, kw):
    model = _tiny(name, kw, 2, 3)
    levels = torch.tensor(list(itertools.product(range(3), repeat=4)), dtype=torch.float32)
    images = (levels / 2 * 2 - 1).view(-1, 1, 2, 2)
    log_p = exact_log_likelihood(model, images)
    assert abs(float(torch.logsumexp(log_p, 0))) < 1e-5


def test_logistic_mixture_levels_are_a_distribution_and_match_a_direct_computation():
    torch.manual_seed(0)
    out = torch.randn(2, 6, 3, 3, dtype=torch.float64)  # 2 mixture components
    lp = level_log_probs(out, "logistic_mixture", 256)
    assert torch.allclose(lp.exp().sum(1), torch.ones(2, 3, 3, dtype=torch.float64), atol=1e-12)
    # direct: sum_m pi_m [sigmoid((x + 1/255 - mu)/s) - sigmoid((x - 1/255 - mu)/s)] at an interior level
    pi, mu, log_s = out[:, 0:2].softmax(1), out[:, 2:4], out[:, 4:6]
    x = torch.linspace(-1, 1, 256, dtype=torch.float64)[100]
    cdf = lambda t: torch.sigmoid((t - mu) / log_s.exp())  # noqa: E731
    direct = (pi * (cdf(x + 1 / 255) - cdf(x - 1 / 255))).sum(1)
    assert torch.allclose(lp[:, 100].exp(), direct, rtol=1e-9)


@pytest.mark.parametrize("name,kw", [VARIANTS[1], VARIANTS[4]])
def test_training_lowers_the_nll_and_samples_lie_on_the_level_grid(name, kw):
    model = _tiny(name, kw, 4, 2, lr=1e-2)
    g = torch.Generator().manual_seed(0)
    data = (torch.rand(32, 1, 4, 4, generator=g) < torch.linspace(0.1, 0.9, 16).view(1, 1, 4, 4)).float() * 2 - 1
    before = -float(exact_log_likelihood(model, data).mean())
    for _ in range(30):
        logs = model.train_step(data)
        model.end_step()
    after = -float(exact_log_likelihood(model, data).mean())
    assert after < before - 1.0
    assert math.isclose(logs["nll_bits_per_dim"], logs["nll_nats_per_dim"] / math.log(2), rel_tol=1e-6)
    s = model.sample(6, generator=torch.Generator().manual_seed(1))
    assert s.shape == (6, 1, 4, 4) and set(s.unique().tolist()) <= {-1.0, 1.0}
