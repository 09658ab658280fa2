"""GCDS conditional sampler on two laws with a known Y | X: conditional moments and quantiles at held-out
x, the probability-integral transform's KS distance from uniform and an MMD two-sample test on held-out X,
and a negative control (samples paired with the wrong x) that both must tell apart. The KS part bounds a
distance on 4000 draws rather than testing exact equality at 5% on a few hundred: a trained sampler is
close to the law, not equal to it (heteroscedastic: D = 0.054 on 4000 draws, where 400 draws gave p-values
from 0.003 to 0.5 with the draw seed), so a p-value threshold passed or failed by the machine's rounding."""

import numpy as np
import pytest
import torch
from scipy import stats
from torch.utils.data import TensorDataset

from mrisynth.zoo.registry import build
from mrisynth.zoo.train import TrainConfig, Trainer

X_GRID = (-0.75, -0.25, 0.25, 0.75)  # held-out conditioning values (training X is continuous)
SD_MIX = 0.3


def hetero_sd(x):
    return 0.1 + 0.2 * np.abs(x)


def mixture_weight(x):  # P(component at +1 | x)
    return 1 / (1 + np.exp(-3 * x))


LAWS = {
    # Y | X = x ~ N(x^2, (0.1 + 0.2|x|)^2)
    "heteroscedastic": dict(
        draw=lambda x, g: x**2 + hetero_sd(x) * g.standard_normal(x.shape),
        cdf=lambda y, x: stats.norm.cdf(y, x**2, hetero_sd(x)),
        mean=lambda x: x**2,
        sd=hetero_sd,
    ),
    # Y | X = x ~ w(x) N(1, 0.3^2) + (1 - w(x)) N(-1, 0.3^2), w(x) = sigmoid(3x)
    "mixture": dict(
        draw=lambda x, g: np.where(g.random(x.shape) < mixture_weight(x), 1.0, -1.0) + SD_MIX * g.standard_normal(x.shape),
        cdf=lambda y, x: mixture_weight(x) * stats.norm.cdf(y, 1, SD_MIX) + (1 - mixture_weight(x)) * stats.norm.cdf(y, -1, SD_MIX),
        mean=lambda x: 2 * mixture_weight(x) - 1,
        sd=lambda x: np.sqrt(SD_MIX**2 + 1 - (2 * mixture_weight(x) - 1) ** 2),
    ),
}


def quantile(law, level, x):
    from scipy.optimize import brentq

    return brentq(lambda y: law["cdf"](y, x) - level, -5, 5)


def joint(law, n, g):
    x = g.uniform(-1, 1, size=(n, 1))
    return x, law["draw"](x, g)


@pytest.fixture(scope="module", params=sorted(LAWS))
def trained(request):
    law = LAWS[request.param]
    x, y = joint(law, 4096, np.random.default_rng(0))
    model = build("gcds", seed=0)  # the defaults
    data = TensorDataset(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
    Trainer(model, data, TrainConfig(steps=3000, batch_size=256, seed=0, ema_decay=0.99, progress=False)).fit()
    return request.param, law, model


def draw(model, x, seed):
    gen = torch.Generator().manual_seed(seed)
    return model.sample(len(x), generator=gen, x=torch.tensor(x, dtype=torch.float32)).numpy()


def test_conditional_mean_sd_quantiles(trained):
    """Tolerances at each held-out x: mean within 0.05 (0.2-0.3 conditional sd), sd within 25%, and each
    sample quantile q_t at a true level within 0.1 of t, |F(q_t | x) - t| (level space: a mixture's
    quantile in the valley between components moves a lot for a tiny change of weight; a sampler that
    ignores x is off by about 0.4 at x = -0.75)."""
    name, law, model = trained
    for x0 in X_GRID:
        y = draw(model, np.full((4000, 1), x0), seed=1).ravel()
        assert abs(y.mean() - law["mean"](x0)) < 0.05, (name, x0, y.mean(), law["mean"](x0))
        assert abs(y.std() / law["sd"](x0) - 1) < 0.25, (name, x0, y.std(), law["sd"](x0))
        for level in (0.1, 0.25, 0.5, 0.75, 0.9):
            q = np.quantile(y, level)
            assert abs(law["cdf"](q, x0) - level) < 0.1, (name, x0, level, q, quantile(law, level, x0))


def mmd_permutation_pvalue(a, b, n_perm=100, seed=0):
    """Gaussian-kernel MMD^2 (median bandwidth) two-sample permutation test."""
    z = torch.tensor(np.concatenate([a, b]), dtype=torch.float64)
    d2 = torch.cdist(z, z) ** 2
    k = torch.exp(-d2 / d2.median())
    n = len(a)
    g = torch.Generator().manual_seed(seed)

    def stat(idx):
        kx, ky = k[idx[:n]][:, idx[:n]], k[idx[n:]][:, idx[n:]]
        return kx.mean() + ky.mean() - 2 * k[idx[:n]][:, idx[n:]].mean()

    observed = stat(torch.arange(2 * n))
    perms = torch.stack([stat(torch.randperm(2 * n, generator=g)) for _ in range(n_perm)])
    return float((1 + (perms >= observed).sum()) / (n_perm + 1))


KS_TOLERANCE = 0.08  # sup |PIT CDF - uniform| on 4000 draws (5% critical value of exact equality: 0.0215)


def test_two_sample_tests_on_held_out_x(trained):
    name, law, model = trained
    g = np.random.default_rng(123)  # held-out X, never seen in training
    x_ks = g.uniform(-1, 1, size=(4000, 1))
    y_ks = draw(model, x_ks, seed=2)
    distance = stats.kstest(law["cdf"](y_ks, x_ks).ravel(), "uniform").statistic  # PIT: uniform iff G(eta, x) ~ Y | x
    assert distance < KS_TOLERANCE, (name, distance)
    # negative control: the same draws paired with shuffled x are at least twice as far from uniform
    control = stats.kstest(law["cdf"](y_ks, g.permutation(x_ks)).ravel(), "uniform").statistic
    assert control > 2 * distance, (name, distance, control)
    x, y_true = joint(law, 400, g)
    y_gen = draw(model, x, seed=2)
    assert mmd_permutation_pvalue(np.hstack([x, y_gen]), np.hstack([x, y_true])) > 0.05, name
    shuffled = g.permutation(x)
    if name == "heteroscedastic":  # the mixture's X-dependence is too weak for MMD at n = 400
        assert mmd_permutation_pvalue(np.hstack([shuffled, y_gen]), np.hstack([x, y_true])) < 0.05


def test_sample_needs_matching_x():
    model = build("gcds", seed=0)
    with pytest.raises(ValueError, match="needs x of shape"):
        model.sample(3)
    assert model.sample(3, x=torch.zeros(3, 1)).shape == (3, 1)
