"""Image metrics against scikit-image on the same arrays, with and without a mask."""

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from mrisynth.metrics.image import mae, psnr, ssim

SKIMAGE_SSIM = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)


def _pair(shape, seed=0):
    rng = np.random.default_rng(seed)
    target = rng.random(shape)
    return target + 0.1 * rng.standard_normal(shape), target


def _ball_mask(shape):
    dist2 = sum((axis - (n - 1) / 2) ** 2 for axis, n in zip(np.indices(shape), shape))
    return dist2 <= (min(shape) / 3) ** 2


@pytest.mark.parametrize("shape", [(24, 24, 24), (32, 28)])
def test_unmasked_metrics_match_skimage(shape):
    pred, target = _pair(shape)
    assert ssim(pred, target, data_range=1.0) == pytest.approx(
        structural_similarity(target, pred, data_range=1.0, **SKIMAGE_SSIM), abs=1e-5)
    assert psnr(pred, target, data_range=1.0) == pytest.approx(
        peak_signal_noise_ratio(target, pred, data_range=1.0), rel=1e-12)
    assert mae(pred, target) == pytest.approx(np.abs(pred - target).mean(), rel=1e-12)


@pytest.mark.parametrize("shape", [(24, 24, 24), (32, 28)])
def test_masked_metrics_match_skimage_restricted_to_mask(shape):
    pred, target = _pair(shape, seed=1)
    pred, target = 3 * pred, 3 * target  # a data range other than 1 must enter both PSNR and SSIM
    mask = _ball_mask(shape)
    _, smap = structural_similarity(target, pred, data_range=3.0, full=True, **SKIMAGE_SSIM)
    inner = tuple(slice(5, n - 5) for n in shape)  # skimage's map is valid 5 voxels (window 11) from the border
    assert ssim(pred, target, mask, data_range=3.0) == pytest.approx(smap[inner][mask[inner]].mean(), abs=1e-5)
    assert psnr(pred, target, mask, data_range=3.0) == pytest.approx(
        peak_signal_noise_ratio(target[mask], pred[mask], data_range=3.0), rel=1e-12)
    assert mae(pred, target, mask) == pytest.approx(np.abs(pred - target)[mask].mean(), rel=1e-12)
    # voxels outside the mask do not count
    spoiled = pred.copy()
    spoiled[~mask] = 100.0
    assert mae(spoiled, target, mask) == mae(pred, target, mask)
    assert psnr(spoiled, target, mask, data_range=3.0) == psnr(pred, target, mask, data_range=3.0)


def test_identical_images_and_torch_inputs():
    _, target = _pair((20, 20, 20))
    t = torch.from_numpy(target)
    assert ssim(t, t, data_range=1.0) == pytest.approx(1.0, abs=1e-6)
    assert mae(t, t) == 0.0
    assert psnr(t, t, data_range=1.0) == float("inf")


def test_data_range_is_required_and_validated():
    pred, target = _pair((16, 16, 16))
    with pytest.raises(TypeError):
        ssim(pred, target)
    with pytest.raises(TypeError):
        psnr(pred, target)
    with pytest.raises(ValueError, match="data_range"):
        psnr(pred, target, data_range=0.0)
    with pytest.raises(ValueError, match="mask"):
        mae(pred, target, np.zeros((16, 16, 16), bool))
    border_only = np.zeros((16, 16, 16), bool)
    border_only[0] = True
    with pytest.raises(ValueError, match="border"):
        ssim(pred, target, border_only, data_range=1.0)
