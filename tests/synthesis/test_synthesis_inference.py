"""Whole-volume vs sliding-window inference, and the bf16 + channels_last_3d fast path vs fp32."""

import torch

from mrisynth.synthesis.inference import InferenceConfig, predict, sliding_window, whole_volume
from mrisynth.synthesis.models import to_fast_layout
from mrisynth.zoo.nets import ResnetGenerator


def _generator(norm="batch"):
    torch.manual_seed(0)
    net = ResnetGenerator(ngf=4, n_blocks=1, norm=norm, spatial_dims=3).eval()
    return net


def _volume():
    torch.manual_seed(1)
    x = torch.nn.functional.avg_pool3d(torch.randn(1, 1, 36, 36, 36), 5, stride=1)  # smooth, 32^3
    return (x / x.abs().max()).contiguous()


def test_whole_volume_and_sliding_window_agree():
    # batch norm in eval mode is local, so windows see the same function; only window borders differ
    net, x = _generator(), _volume()
    cfg = InferenceConfig(multiple=4, roi_size=24, overlap=0.5, sw_batch_size=2, fast=False)
    whole = whole_volume(net, x, cfg)
    sliding = sliding_window(net, x, cfg)
    assert whole.shape == sliding.shape == x.shape
    diff = (whole - sliding).abs()
    assert diff.mean() < 2e-3, diff.mean()
    assert diff[..., 6:-6, 6:-6, 6:-6].max() < 2e-2  # interior: blended windows, far from the volume border
    assert whole.std() > 10 * diff.mean()  # the output is not trivially flat


def test_single_window_equals_whole_volume():
    net, x = _generator(norm="instance"), _volume()
    cfg = InferenceConfig(multiple=4, roi_size=32, overlap=0.25, fast=False)
    torch.testing.assert_close(sliding_window(net, x, cfg), whole_volume(net, x, cfg), atol=1e-5, rtol=0)


def test_predict_switches_by_size():
    net, x = _generator(), _volume()
    _, method = predict(net, x, InferenceConfig(multiple=4, max_whole_voxels=32**3, fast=False))
    assert method == "whole"
    _, method = predict(net, x, InferenceConfig(multiple=4, max_whole_voxels=32**3 - 1, roi_size=24, fast=False))
    assert method == "sliding"


def test_fast_path_matches_fp32():
    """bf16 autocast + channels_last_3d vs fp32 contiguous, same weights (tolerance on the tanh output:
    mean |diff| < 0.01, max < 0.06 of the [-1, 1] range)."""
    net, x = _generator(norm="instance"), _volume()
    ref = whole_volume(net, x, InferenceConfig(multiple=4, fast=False))
    fast = whole_volume(to_fast_layout(net), x, InferenceConfig(multiple=4, fast=True))
    diff = (fast - ref).abs()
    assert fast.dtype == torch.float32
    assert diff.mean() < 0.01 and diff.max() < 0.06, (diff.mean(), diff.max())
    assert diff.max() > 0  # bf16 really ran


def test_intensity_mapping_round_trip_absolute_and_residual():
    import numpy as np

    from mrisynth.synthesis.intensity import IntensityMapping

    rng = np.random.default_rng(0)
    pets = [rng.uniform(0.5, 2.0, (6, 6, 6)).astype(np.float32) for _ in range(3)]
    t1s = [rng.uniform(0, 1, (6, 6, 6)).astype(np.float32) for _ in range(3)]
    masks = [np.ones((6, 6, 6), bool)] * 3
    for residual in (False, True):
        m = IntensityMapping.fit(t1s, pets, masks, percentile=100.0, residual=residual)
        net = m.pet_to_net(pets[0])
        assert net.min() >= -1 and net.max() <= 1
        torch.testing.assert_close(m.net_to_pet(net), torch.from_numpy(pets[0]), atol=1e-5, rtol=0)
        again = IntensityMapping.from_dict(m.to_dict())
        torch.testing.assert_close(again.net_to_pet(net), m.net_to_pet(net))
    torch.testing.assert_close(m.net_to_pet(torch.zeros(6, 6, 6)), torch.from_numpy(np.mean(pets, 0)))  # 0 = template


def test_linear_residual_base_is_the_voxelwise_linear_t1_map():
    """base="linear": output 0 is the evaluation's linear-regression baseline (fit on network-range T1);
    round trip exact with the subject's T1; net_to_pet refuses to guess without it."""
    import numpy as np
    import pytest

    from mrisynth.synthesis.evaluate import Baselines
    from mrisynth.synthesis.intensity import IntensityMapping

    rng = np.random.default_rng(1)
    t1s = [rng.uniform(0, 1, (6, 6, 6)).astype(np.float32) for _ in range(5)]
    pets = [(0.8 + 0.6 * t + rng.normal(0, 0.05, t.shape)).astype(np.float32) for t in t1s]
    masks = [np.ones((6, 6, 6), bool)] * 5
    m = IntensityMapping.fit(t1s, pets, masks, percentile=100.0, residual=True, base="linear")
    t1_net = [m.t1_to_net(t) for t in t1s]
    lr = Baselines.fit(np.stack([t.numpy() for t in t1_net]), np.stack(pets))
    start = m.net_to_pet(torch.zeros(6, 6, 6), t1_net[2])
    np.testing.assert_allclose(start.numpy(), lr.predict("linear_regression", t1_net[2].numpy()), atol=1e-5)
    assert float(m.slope.mean()) == pytest.approx(0.3, abs=0.05)  # 0.6 SUVR per unit T1 = 0.3 per network unit
    net = m.pet_to_net(pets[2], t1_net[2])
    assert net.abs().max() <= 1 and net.abs().mean() < m.pet_to_net(pets[2]).abs().mean()  # smaller than over the mean
    torch.testing.assert_close(m.net_to_pet(net, t1_net[2]), torch.from_numpy(pets[2]), atol=1e-5, rtol=0)
    again = IntensityMapping.from_dict(m.to_dict())
    torch.testing.assert_close(again.net_to_pet(net, t1_net[2]), m.net_to_pet(net, t1_net[2]))
    assert again.describe()["base"] == "linear"
    with pytest.raises(ValueError, match="linear in T1"):
        m.net_to_pet(net)
