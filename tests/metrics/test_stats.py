"""Paired Wilcoxon wrapper: exact p-values for small samples."""

import numpy as np
import pytest

from mrisynth.metrics.stats import paired_wilcoxon


def test_exact_p_value_all_differences_positive():
    a = np.array([1.1, 2.3, 3.2, 4.5, 5.1, 6.6])
    res = paired_wilcoxon(a, a - np.arange(1, 7) * 0.1)
    # all 6 signed ranks positive: one of 2^6 sign patterns in each tail
    assert res.p_value == pytest.approx(2 / 64, rel=1e-12) and res.n == 6
    assert res.median_difference == pytest.approx(0.35)


def test_nan_pairs_dropped_and_identical_samples():
    a = np.array([1.0, 2.0, np.nan, 4.0])
    assert paired_wilcoxon(a, a).p_value == 1.0
    assert paired_wilcoxon(a, a).n == 3
    with pytest.raises(ValueError, match="length"):
        paired_wilcoxon([1.0, 2.0], [1.0])
