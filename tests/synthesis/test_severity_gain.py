"""The severity path's gain (``severity_gain``): the exact composition, the closed-form least squares, the
regional reader, and known-signal cases where the validation PET is the generator's own output at known
gains, which the fit must recover."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mrisynth.cohort.splits import split_path
from mrisynth.cohort.table import DISEASE_STAGE
from mrisynth.errors import InputError
from mrisynth.io.nifti import load_array, save_nifti
from mrisynth.synthesis.data import pad_to_multiple
from mrisynth.synthesis.inference import predict
from mrisynth.synthesis.intensity import IntensityMapping
from mrisynth.synthesis.regional import Regions
from mrisynth.synthesis.regional_reader import ALPHAS, fit_reader, region_masks, regional_means
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
    net.reader = lambda v: v.mean((1, 2, 3, 4))  # a second reader's term is added to s after the gain
    expected = maps[:, :1] + (0.1 + 2.5 * (s - 0.1) + x.mean((1, 2, 3, 4))).view(2, 1, 1, 1, 1) * maps[:, 1:]
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


def test_regional_reader_is_the_ridge_on_regional_means(tmp_path):
    results, manifest = make_cohort(tmp_path, n=12)
    fs = fold_subjects(results, manifest, split_path(results, 0), 3.0)
    train = [[load_array(p)[0] for p in (s.paths.t1, s.paths.pet, s.paths.mask)] for s in fs.train]
    mapping = IntensityMapping.fit(*zip(*train), percentile=99.0)
    stages = [DISEASE_STAGE[s.diagnosis] for s in fs.labelled]
    reader, fitted = fit_reader(fs.labelled, stages, mapping, 16)
    t1, affine = load_array(fs.labelled[0].paths.t1)
    masks = region_masks(affine, t1.shape)
    assert 0 < fitted["regions_off_grid"] < len(masks)  # a toy grid, not MNI space: some regions miss it
    features = np.stack([regional_means(mapping.t1_to_net(load_array(s.paths.t1)[0]).numpy(), masks) for s in fs.labelled])
    expected = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS)).fit(features, stages).predict(features)
    x = torch.stack([pad_to_multiple(mapping.t1_to_net(load_array(s.paths.t1)[0])[None, None], 16)[0][0] for s in fs.labelled])
    assert reader.stage(x).numpy() == pytest.approx(expected, abs=1e-4)
    reader.gain, reader.centre = 2.0, 0.25
    torch.testing.assert_close(reader(x), 2.0 * (reader.stage(x) - 0.25))
    with pytest.raises(ValueError, match="reads whole volumes"):
        reader(x[:, :, :8])


@pytest.mark.parametrize("true_gains", [(2.0, 1.5), (0.5, 0.0)])
def test_fit_recovers_both_gains_that_made_the_validation_pet(tmp_path, monkeypatch, true_gains):
    """``metaroi_regional``: the validation PET is the generator's own output with the severity term at gain
    c and the regional reader (the same ridge the fit makes, from the same training MRIs) at gain c_r."""
    results, manifest = make_cohort(tmp_path, n=12)
    cfg = tiny_config(results, fast=False)
    fs = fold_subjects(results, manifest, split_path(results, 0), 3.0)
    train = [[load_array(p)[0] for p in (s.paths.t1, s.paths.pet, s.paths.mask)] for s in fs.train]
    mapping = IntensityMapping.fit(*zip(*train), percentile=99.0)
    icfg = inference_config(cfg, 16)  # the 24^3 toy volumes are padded to 32^3
    labelled = (fs.labelled, [DISEASE_STAGE[s.diagnosis] for s in fs.labelled])
    val = fs.train + fs.val  # every subject with real PET (the fit's "validation" subjects)
    torch.manual_seed(0)
    net = SeverityPath(UnetGenerator(1, 2, 3, 4, "instance", False, 3), 1, 4, 3).eval()
    with torch.no_grad():
        net.encoder[-1].weight.mul_(300.0)  # severity terms as large as the regional ones: a well-posed fit
    ts = [mapping.t1_to_net(load_array(s.paths.t1)[0])[None, None] for s in val]
    with torch.no_grad():
        centre = float(np.mean([float(net.severity(pad_to_multiple(t, 16)[0])) for t in ts]))  # as predict pads
    reader, _ = fit_reader(*labelled, mapping, 16)
    reader.centre = float(np.mean([float(reader.stage(pad_to_multiple(t, 16)[0])) for t in ts]))
    # the stand-in meta-ROI (the toy grid is not MNI space): voxels the SUVR mapping does not clamp in any
    # forward the fit makes (gain 1; gain 0; gain 0 + reader), nor in the truth's, so the fit is exactly linear
    roi = np.ones(train[0][0].shape, bool)
    for gain, centre_at, regional in ((1.0, 0.0, None), (0.0, centre, None), (0.0, centre, 1.0),
                                      (true_gains[0], centre, true_gains[1])):
        net.gain, net.centre, net.reader = gain, centre_at, reader if regional is not None else None
        reader.gain = regional or 0.0
        with torch.no_grad():
            roi &= np.all([predict(net, t, icfg)[0][0, 0].abs().numpy() < 0.99 for t in ts], 0)
    assert roi.sum() > 100
    monkeypatch.setattr(Regions, "on_grid", classmethod(lambda cls, affine, shape: Regions(roi, roi, roi)))
    for s, t in zip(val, ts):
        pet = mapping.net_to_pet(predict(net, t, icfg)[0][0, 0], t[0, 0]).numpy()
        save_nifti(pet, load_array(s.paths.pet)[1], s.paths.pet, dtype=np.float32)
    fitted = fit_severity_gain(net, val, mapping, icfg, "metaroi_regional", labelled)
    assert (fitted["gain"], fitted["regional_gain"]) == pytest.approx(true_gains, abs=2e-3)
    assert net.gain == fitted["gain"] and net.reader.gain == fitted["regional_gain"]
    assert fitted["regional_centre"] == pytest.approx(reader.centre, abs=1e-6)
    with pytest.raises(InputError, match="labelled training MRIs"):
        fit_severity_gain(net, val, mapping, icfg, "metaroi_regional")
