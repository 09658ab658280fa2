"""Regional metrics: exact values on hand-made arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mrisynth.metrics.regional import (bias, deviation_sums, dice, oracle_share, r2_from_sums, region_mean, rmse,
                                       zmap)


def test_region_mean_rmse_bias():
    img = np.arange(8, dtype=np.float32).reshape(2, 2, 2)
    mask = np.zeros((2, 2, 2), bool)
    mask[0, 0, :] = True  # values 0 and 1
    assert region_mean(img, mask) == 0.5
    assert rmse([1.0, 2.0], [0.0, 4.0]) == pytest.approx(math.sqrt((1 + 4) / 2))
    assert bias([1.0, 2.0], [0.0, 4.0]) == -0.5


def test_deviation_r2():
    mean = np.zeros(4)
    mask = np.array([True, True, True, False])
    truths = [np.array([1.0, -1.0, 2.0, 9.0]), np.array([0.0, 1.0, 0.0, 9.0])]
    # the population mean: R² 0; the truth: R² 1; half the deviation: 1 - 1/4
    for scale, expected in ((0.0, 0.0), (1.0, 1.0), (0.5, 0.75)):
        sums = [deviation_sums(scale * t, t, mean, mask) for t in truths]
        assert r2_from_sums([s[0] for s in sums], [s[1] for s in sums]) == pytest.approx(expected)
    # SS = 1 + 1 + 4 + 1 = 7 over the masked voxels of both subjects; the 9s (outside) never count
    assert deviation_sums(mean, truths[0], mean, mask) == (6.0, 6.0)
    assert math.isnan(r2_from_sums([0.0], [0.0]))


def test_zmap_and_dice():
    z = zmap(np.array([0.5, 1.0, 2.0]), np.array([1.0, 1.0, 1.0]), np.array([0.25, 0.0, 0.5]), min_sd=0.1)
    np.testing.assert_allclose(z, [-2.0, 0.0, 2.0])
    a = np.array([1, 1, 0, 0], bool)
    b = np.array([1, 0, 1, 0], bool)
    assert dice(a, b) == 0.5
    assert dice(a, a) == 1.0
    assert dice(np.zeros(3, bool), np.zeros(3, bool)) == 1.0


def test_oracle_share():
    assert oracle_share(model=0.08, linear=0.10, oracle=0.06) == pytest.approx(0.5)  # an error
    assert oracle_share(model=0.5, linear=0.3, oracle=0.7) == pytest.approx(0.5)  # a score: same formula
    assert oracle_share(model=0.12, linear=0.10, oracle=0.06) == pytest.approx(-0.5)
    assert math.isnan(oracle_share(0.1, 0.1, 0.1))
