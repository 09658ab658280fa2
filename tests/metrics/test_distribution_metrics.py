"""FID/KID/precision-recall/density-coverage/IS: exact values, brute-force references, torch-fidelity."""

import itertools

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm

from mrisynth.metrics.distribution import (
    density_coverage, fid, frechet_distance, inception_score, kid, mmd2_unbiased, precision_recall,
)


def _spd(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T + d * np.eye(d)


def test_frechet_identical_gaussians_is_zero():
    rng = np.random.default_rng(0)
    mu, sigma = rng.standard_normal(6), _spd(rng, 6)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9)
    x = rng.standard_normal((50, 6))
    assert fid(x, x.copy()) == pytest.approx(0.0, abs=1e-9)


def test_frechet_two_known_gaussians_closed_form():
    # diagonal covariances: d = |mu1 - mu2|^2 + sum_i (sqrt(s1_i) - sqrt(s2_i))^2
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    expected = 5.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 1) ** 2
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-12)
    # general SPD covariances against the matrix square root
    rng = np.random.default_rng(1)
    a, b = _spd(rng, 5), _spd(rng, 5)
    reference = np.trace(a + b - 2 * sqrtm(a @ b).real)
    assert frechet_distance(np.zeros(5), a, np.zeros(5), b) == pytest.approx(reference, rel=1e-9)


def test_fid_uses_sample_mean_and_unbiased_covariance():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((40, 3)), 2 + 0.5 * rng.standard_normal((30, 3))
    expected = frechet_distance(x.mean(0), np.cov(x.T), y.mean(0), np.cov(y.T))
    assert fid(torch.from_numpy(x), y) == pytest.approx(expected, rel=1e-12)
    assert fid(x, y) > 10 * fid(x, rng.standard_normal((30, 3)))


def _mmd2_loops(x, y, kernel):
    m, n = len(x), len(y)
    kxx = sum(kernel(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(kernel(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(kernel(a, b) for a, b in itertools.product(x, y)) / (m * n)
    return kxx + kyy - 2 * kxy


def test_mmd2_unbiased_matches_direct_computation():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((9, 4)), rng.standard_normal((7, 4)) + 0.3
    kernel = lambda a, b: (a @ b / 4 + 1) ** 3  # noqa: E731 (degree 3, gamma = 1/d, coef0 = 1)
    assert mmd2_unbiased(x, y) == pytest.approx(_mmd2_loops(x, y, kernel), rel=1e-12)


def test_kid_subsets_and_sign():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((60, 4))
    same = rng.standard_normal((60, 4))
    shifted = same + 1.0
    # one subset of the full size reduces to the full-sample unbiased estimate
    assert kid(x, shifted, n_subsets=1, subset_size=60)[0] == pytest.approx(mmd2_unbiased(x, shifted), rel=1e-12)
    kid_same = kid(x, same, n_subsets=20, subset_size=30)[0]
    kid_shifted = kid(x, shifted, n_subsets=20, subset_size=30)[0]
    assert abs(kid_same) < 0.05 and kid_shifted > 5
    assert kid(x, shifted, n_subsets=5, subset_size=20, seed=7) == kid(x, shifted, n_subsets=5, subset_size=20, seed=7)


def test_precision_recall_hand_computed():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])  # 1-NN radii all 1
    fake = np.array([[0.5], [10.0]])  # 1-NN radii both 9.5
    assert precision_recall(real, fake, k=1) == (0.5, 1.0)
    assert precision_recall(real, real.copy(), k=1) == (1.0, 1.0)


def test_density_coverage_hand_computed():
    real = np.array([[0.0], [1.0], [2.0], [10.0]])  # 1-NN radii 1, 1, 1, 8
    fake = np.array([[0.5], [20.0]])
    # 0.5 lies in the balls of 0 and 1 only (|2 - 0.5| > 1, |10 - 0.5| > 8), 20 in none; covered: 0 and 1
    assert density_coverage(real, fake, k=1) == (2 / (1 * 2), 2 / 4)


def _brute_force(real, fake, k):
    def radii(x):
        return np.array([sorted(np.linalg.norm(x - p, axis=1))[k] for p in x])

    def inside(points, centres, r):
        return np.array([[np.linalg.norm(p - c) <= rc for c, rc in zip(centres, r)] for p in points])

    rr, rf = radii(real), radii(fake)
    in_real = inside(fake, real, rr)
    return (in_real.any(1).mean(), inside(real, fake, rf).any(1).mean(),
            in_real.sum() / (k * len(fake)), in_real.any(0).mean())


def test_manifold_metrics_match_brute_force():
    rng = np.random.default_rng(5)
    real, fake = rng.standard_normal((40, 3)), 0.5 + 1.5 * rng.standard_normal((35, 3))
    precision, recall, density, coverage = _brute_force(real, fake, k=3)
    assert precision_recall(real, fake, k=3) == pytest.approx((precision, recall), abs=1e-12)
    assert density_coverage(real, fake, k=3) == pytest.approx((density, coverage), abs=1e-12)


def test_inception_score_exact_values():
    n = 7
    assert inception_score(np.full((20, n), 1 / n)) == pytest.approx((1.0, 0.0), abs=1e-12)
    assert inception_score(np.eye(n))[0] == pytest.approx(n, rel=1e-12)
    two_splits = inception_score(np.vstack([np.eye(4), np.full((4, 4), 0.25)]), splits=2)
    assert two_splits == pytest.approx((2.5, 1.5), rel=1e-12)
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score(np.ones((3, 3)))


def test_agrees_with_torch_fidelity():
    # torch-fidelity requires torchvision, and PyPI's torchvision either replaces torch 2.13.0+cpu or fails to
    # import beside it; test_distribution_reference.py holds the references that always run
    pytest.importorskip("torch_fidelity", reason="optional extra 'fidelity' (torch-fidelity) not installed")
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric
    from torch_fidelity.metric_prc import prc_features_to_metric

    rng = np.random.default_rng(6)
    real, fake = rng.standard_normal((200, 8)), 0.3 + rng.standard_normal((150, 8))
    rt, ft = torch.from_numpy(real), torch.from_numpy(fake)
    ref_fid = fid_statistics_to_metric(fid_features_to_statistics(rt), fid_features_to_statistics(ft), False)
    assert fid(real, fake) == pytest.approx(ref_fid["frechet_inception_distance"], rel=1e-3)
    ref_kid = kid_features_to_metric(rt, ft, kid_subsets=10, kid_subset_size=100, rng_seed=3, verbose=False)
    ours = kid(real, fake, n_subsets=10, subset_size=100, seed=3)
    assert ours == pytest.approx((ref_kid["kernel_inception_distance_mean"], ref_kid["kernel_inception_distance_std"]),
                                 rel=1e-3)
    ref_prc = prc_features_to_metric(rt, ft, prc_neighborhood=3, verbose=False)
    assert precision_recall(real, fake, k=3) == pytest.approx((ref_prc["precision"], ref_prc["recall"]), rel=1e-3)
