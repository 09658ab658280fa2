"""The shared error field of multiple imputation: unit variance by construction, centred over the draws, exactly
invertible, and a (c, tau) fit that recovers a known law where a voxelwise factor alone cannot."""

import numpy as np
import pytest

from mrisynth.metrics.calibration import coverage, interval_half_width, predictive_sd, spread_and_field_scale, spread_scale
from mrisynth.synthesis import error_field


def test_unit_field_has_unit_variance_and_the_requested_smoothness():
    rng = np.random.default_rng(0)
    fields = np.stack([error_field.unit_field((24, 24, 24), (3.0, 3.0, 3.0), 12.0, rng) for _ in range(40)])
    assert fields.var() == pytest.approx(1.0, abs=0.05)
    # Gaussian smoothing with sd s voxels: neighbour correlation exp(-1 / (4 s^2)), s = 12 / 2.3548 / 3
    s = 12.0 * error_field.FWHM_TO_SIGMA / 3.0
    neighbour = np.mean(fields[:, 1:] * fields[:, :-1]) / fields.var()
    assert neighbour == pytest.approx(np.exp(-1 / (4 * s * s)), abs=0.02)


def test_error_fields_are_centred_reproducible_and_apply_is_inverted_exactly():
    shape, k = (12, 14, 10), 5
    g = error_field.error_fields(42, "0007", k, shape, (3.0, 3.0, 3.0), 8.0)
    np.testing.assert_allclose(g.mean(-1), 0.0, atol=1e-6)
    np.testing.assert_array_equal(g, error_field.error_fields(42, "0007", k, shape, (3.0, 3.0, 3.0), 8.0))
    assert not np.allclose(g, error_field.error_fields(42, "0008", k, shape, (3.0, 3.0, 3.0), 8.0))
    stack = np.random.default_rng(1).normal(1.0, 0.1, (*shape, k)).astype(np.float32)
    out = error_field.apply(stack, 1.7, 0.05, g)
    np.testing.assert_allclose(out.mean(-1), stack.mean(-1), atol=1e-6)  # the imputed mean does not move
    np.testing.assert_allclose(error_field.raw_draws(out, 1.7, 0.05, g), stack, atol=1e-5)


def _law(rng, n_subjects, n_regions=10, n_voxels=50, k=10, s=0.1, offset_sd=0.05):
    """Reference = mu + s z + o (o shared by a region's voxels); draws = mu + s z_k (no shared part); the field
    is constant within a region (unit variance), so the exact answer is c = 1, tau = offset_sd."""
    shape = (n_subjects, n_regions, n_voxels)
    o = offset_sd * rng.normal(size=(n_subjects, n_regions, 1))
    ref = s * rng.normal(size=shape) + o
    draws = s * rng.normal(size=(*shape, k))
    g = rng.normal(size=(n_subjects, n_regions, 1, k)) * np.ones((1, 1, n_voxels, 1))
    g -= g.mean(-1, keepdims=True)
    voxel = error_field._moments(draws.reshape(-1, k), g.reshape(-1, k), ref.reshape(-1))
    region = error_field._moments(draws.mean(2).reshape(-1, k), g.mean(2).reshape(-1, k), ref.mean(2).reshape(-1))
    return voxel, region


def test_field_fit_recovers_a_known_shared_error():
    k, level = 10, 0.9
    voxel, region = _law(np.random.default_rng(3), 300)
    # a voxelwise factor alone: voxels covered, regional means far from it (their shared offset is missed)
    c0 = spread_scale(voxel[0], 0.0, np.sqrt(voxel[1]), k, level)
    assert np.mean(np.abs(region[0]) <= interval_half_width(c0 * np.sqrt(region[1]), k, level)) < 0.6
    c, tau = spread_and_field_scale(voxel, region, k, level)
    assert tau == pytest.approx(0.05, rel=0.15) and c == pytest.approx(1.0, abs=0.08)
    # on new subjects from the same law both levels are covered
    voxel, region = _law(np.random.default_rng(4), 300)
    for err, *moments in (voxel, region):
        covered = np.mean(np.abs(err) <= interval_half_width(predictive_sd(c, tau, *moments), k, level))
        assert covered == pytest.approx(level, abs=0.03)


def test_no_shared_error_needs_no_field():
    k, level = 10, 0.9
    voxel, region = _law(np.random.default_rng(5), 200, offset_sd=0.0)
    c, tau = spread_and_field_scale(voxel, region, k, level)
    assert tau == 0.0 and c == pytest.approx(1.0, abs=0.05)
    assert coverage(voxel[0], 0.0, c * np.sqrt(voxel[1]), k, level) == pytest.approx(level, abs=1e-3)


def test_amplitude_map_is_the_residual_sd_scaled_to_mean_one_in_the_brain():
    rng = np.random.default_rng(6)
    masks = np.zeros((5, 6, 6, 6), bool)
    masks[:, 1:5, 1:5, 1:5] = True
    masks[0, 1, 1, 1] = False  # the union counts
    residuals = rng.normal(size=(5, 6, 6, 6)) * np.linspace(0.5, 2.0, 6)[None, :, None, None]
    a = error_field.amplitude_map(zip(residuals, masks))
    sd = residuals.std(0, ddof=1)
    inside = masks.any(0)
    np.testing.assert_allclose(a[inside], sd[inside] / sd[inside].mean(), rtol=1e-5)
    assert a[inside].mean() == pytest.approx(1.0) and not a[~inside].any()
    g = error_field.error_fields(1, "01", 4, (6, 6, 6), (3.0, 3.0, 3.0), 6.0, a)
    np.testing.assert_allclose(g, error_field.error_fields(1, "01", 4, (6, 6, 6), (3.0, 3.0, 3.0), 6.0) * a[..., None],
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        error_field.amplitude_map(zip(residuals[:1], masks[:1]))
