"""FID / KID / precision-recall against references that run in every ``make test`` (torch-fidelity cannot
be installed beside torch 2.13.0+cpu: it requires torchvision, whose PyPI wheels either pull another torch
or fail to import, see test_distribution_metrics.test_agrees_with_torch_fidelity):

- FID of feature sets whose sample mean and unbiased covariance are exactly those of two known Gaussians
  equals the closed-form Frechet distance (by hand for diagonal covariances, via scipy.linalg.sqrtm as
  torch-fidelity computes it otherwise);
- KID: the unbiased polynomial MMD^2 by hand on a 1D example with an exact rational value, and the subset
  mean / sd against a loop that draws the subsets as torch-fidelity does (RandomState(seed).choice, real then fake);
- precision / recall (closed k-NN balls) on a 1D example counted by hand."""

import numpy as np
import pytest
from scipy.linalg import sqrtm

from mrisynth.metrics.distribution import fid, kid, precision_recall


def _with_moments(rng, n, mu, sigma):
    """n samples whose sample mean is ``mu`` and unbiased sample covariance is ``sigma`` (to rounding)."""
    z = rng.standard_normal((n, len(mu)))
    z -= z.mean(0)
    white = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    return mu + white @ np.linalg.cholesky(sigma).T


def test_fid_of_known_gaussians_is_the_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    x = _with_moments(rng, 50, mu1, np.diag([1.0, 4.0, 9.0]))
    y = _with_moments(rng, 40, mu2, np.diag([4.0, 1.0, 1.0]))
    # |mu1 - mu2|^2 + sum (sqrt(s1) - sqrt(s2))^2 = 5 + (1 - 2)^2 + (2 - 1)^2 + (3 - 1)^2
    assert fid(x, y) == pytest.approx(11.0, rel=1e-9)
    # correlated covariances: trace(S1 + S2 - 2 sqrtm(S1 S2)) as torch-fidelity evaluates it
    a, b = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    s1, s2 = a @ a.T + np.eye(4), b @ b.T + 0.5 * np.eye(4)
    m1, m2 = rng.standard_normal(4), rng.standard_normal(4)
    x, y = _with_moments(rng, 30, m1, s1), _with_moments(rng, 25, m2, s2)
    expected = (m1 - m2) @ (m1 - m2) + np.trace(s1 + s2 - 2 * sqrtm(s1 @ s2).real)
    assert fid(x, y) == pytest.approx(expected, rel=1e-8)


def test_kid_exact_one_dimensional_value():
    # k(u, v) = (u v / d + 1)^3, d = 1: k(0, 1) = 1, k(2, 3) = 343; cross terms 1, 1, 27, 64
    x, y = np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]])
    expected = 1.0 + 343.0 - 2 * (1 + 1 + 27 + 64) / 4
    assert expected == 297.5  # every subset of 2 is the whole set: sd 0
    assert kid(x, y, n_subsets=3, subset_size=2) == pytest.approx((expected, 0.0), abs=1e-12)


def _mmd2_by_hand(x, y):
    k = lambda u, v: (float(u @ v) / len(u) + 1.0) ** 3  # noqa: E731
    m = len(x)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kxy = sum(k(u, v) for u in x for v in y) / (m * m)
    return kxx + kyy - 2 * kxy


def test_kid_subsets_as_torch_fidelity_draws_them():
    rng = np.random.default_rng(1)
    real, fake = rng.standard_normal((9, 3)), 0.5 + rng.standard_normal((7, 3))
    draws = np.random.RandomState(5)
    values = []
    for _ in range(6):
        r = real[draws.choice(len(real), 4, replace=False)]
        f = fake[draws.choice(len(fake), 4, replace=False)]
        values.append(_mmd2_by_hand(r, f))
    assert kid(real, fake, n_subsets=6, subset_size=4, seed=5) == pytest.approx((np.mean(values), np.std(values)), rel=1e-12)


def test_precision_recall_counted_by_hand():
    real, fake = np.array([[0.0], [1.0], [2.0]]), np.array([[3.0], [5.0]])
    # real 1-NN radii 1, 1, 1: fake 3 lies on the closed ball of 2, fake 5 in none -> precision 1/2;
    # fake 1-NN radii 2, 2: real 1 and 2 lie within 2 of fake 3, real 0 does not -> recall 2/3
    assert precision_recall(real, fake, k=1) == pytest.approx((0.5, 2 / 3), abs=1e-15)
    far = real + 100.0
    assert precision_recall(real, far, k=1) == (0.0, 0.0)
