"""Paired two-sided Wilcoxon signed-rank test (scipy), as used to compare a synthesis model with a
baseline on the same subjects."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.stats import wilcoxon


class PairedTest(NamedTuple):
    statistic: float
    p_value: float
    n: int
    median_difference: float


def paired_wilcoxon(a, b) -> PairedTest:
    """Wilcoxon signed-rank test of a - b (two-sided; scipy picks the exact distribution for small n
    without ties). Pairs with a NaN are dropped. If every difference is 0 there is no evidence of a
    difference: statistic 0, p = 1."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {len(a)} vs {len(b)}")
    d = (a - b)[~(np.isnan(a) | np.isnan(b))]
    if len(d) == 0:
        raise ValueError("no complete pairs")
    if not d.any():
        return PairedTest(0.0, 1.0, len(d), 0.0)
    res = wilcoxon(d, alternative="two-sided")
    return PairedTest(float(res.statistic), float(res.pvalue), len(d), float(np.median(d)))
