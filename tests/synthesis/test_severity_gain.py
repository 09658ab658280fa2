"""The severity path's gain (``severity_gain``): the exact composition, the closed-form least squares, and a
known-signal case where the validation PET is the generator's own output at a known gain, which the fit
must recover."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mrisynth.cohort.splits import split_path
from mrisynth.errors import InputError
from mrisynth.io.nifti import load_array, save_nifti
from mrisynth.synthesis.inference import predict
from mrisynth.synthesis.intensity import IntensityMapping
from mrisynth.synthesis.severity_gain import MAX_GAIN, fit_severity_gain, gain_from
from mrisynth.synthesis.subjects import fold_subjects
from mrisynth.synthesis.train import inference_config
from mrisynth.zoo.nets import UnetGenerator
from mrisynth.zoo.nets.severity import SeverityPath
from tests.synthesis.conftest import make_cohort, tiny_config


def test_gain_scales_the_subject_term_about_the_centre():
    torch.manual_seed(0)
    net = SeverityPath(UnetGenerator(1, 2, 2, 4, "instance", False, 3), 1, 4, 3).eval()
    x = torch.randn(2, 1, 16, 16, 16)
    maps, s = net.maps(x), net.severity(x)
    net.gain, net.centre = 2.5, 0.1
    expected = maps[:, :1] + (0.1 + 2.5 * (s - 0.1)).view(2, 1, 1, 1, 1) * maps[:, 1:]
    assert torch.allclose(net(x), expected, atol=1e-6)


def test_gain_from_is_the_least_squares_solution():
    rng = np.random.default_rng(0)
    a, b = [rng.normal(size=50) for _ in range(2)], [rng.normal(size=50) for _ in range(2)]
    truth = [ai + 1.75 * bi for ai, bi in zip(a, b)]
    assert gain_from(list(zip(a, b, truth))) == pytest.approx(1.75, abs=1e-12)
    noise = [rng.normal(size=50) for _ in range(2)]
    noisy = [t + n for t, n in zip(truth, noise)]
    b_all, r_all = np.concatenate(b), np.concatenate([t - ai for t, ai in zip(noisy, a)])
    assert gain_from(list(zip(a, b, noisy))) == pytest.approx(float(b_all @ r_all / (b_all @ b_all)), abs=1e-12)
    assert gain_from([(np.ones(3), np.zeros(3), np.ones(3))]) is None  # a term that did not learn


@pytest.mark.parametrize("true_gain", [2.0, 0.5, 4.0])
def test_fit_recovers_the_gain_that_made_the_validation_pet(tmp_path, true_gain):
    results, manifest = make_cohort(tmp_path, n=12)
    cfg = tiny_config(results, fast=False)  # fp32: the prediction is exactly linear in the gain
    fs = fold_subjects(results, manifest, split_path(results, 0), 3.0)
    train = [[load_array(p)[0] for p in (s.paths.t1, s.paths.pet, s.paths.mask)] for s in fs.train]
    val = fs.train  # the fit's subjects (with real PET; this tiny fold's validation split has one)
    mapping = IntensityMapping.fit(*zip(*train), percentile=99.0)
    icfg = inference_config(cfg, 8)
    torch.manual_seed(0)
    net = SeverityPath(UnetGenerator(1, 2, 3, 4, "instance", False, 3), 1, 4, 3).eval()
    with torch.no_grad():
        net.encoder[-1].weight.mul_(30.0)  # subjects whose severities differ
    ts = [mapping.t1_to_net(load_array(s.paths.t1)[0])[None, None] for s in val]  # 24^3: no padding to 8
    with torch.no_grad():
        severities = [float(net.severity(t)) for t in ts]
    centre = float(np.mean(severities))
    net.gain, net.centre = true_gain, centre  # the "truth": the generator's own output at the true gain
    for s, t in zip(val, ts):
        pet = mapping.net_to_pet(predict(net, t, icfg)[0][0, 0], t[0, 0]).numpy()
        save_nifti(pet, load_array(s.paths.pet)[1], s.paths.pet, dtype=np.float32)
    assert np.std(severities) > 1e-3, severities  # subjects differ in s
    fitted = fit_severity_gain(net, val, mapping, icfg, "brain")
    assert fitted["fitted"] == pytest.approx(true_gain, rel=1e-3)
    assert fitted["gain"] == pytest.approx(min(true_gain, MAX_GAIN), rel=1e-3) and net.gain == fitted["gain"]
    assert fitted["centre"] == pytest.approx(centre, abs=1e-6)
    assert fit_severity_gain(net, val, mapping, icfg, "none") is None
    assert fit_severity_gain(UnetGenerator(1, 1, 3, 4, "instance", False, 3), fs.val, mapping, icfg, "brain") is None
    with pytest.raises(ValueError, match="severity_gain"):
        fit_severity_gain(net, val, mapping, icfg, "cortex")
    with pytest.raises(InputError, match="validation subjects with real PET"):
        fit_severity_gain(net, [s for s in fs.impute if not s.has_pet], mapping, icfg, "metaroi")

