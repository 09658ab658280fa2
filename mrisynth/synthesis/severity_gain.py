"""The severity path's gain, fit on a fold's validation subjects before imputing (``severity_gain``).

A generator with a severity path (:mod:`mrisynth.zoo.nets.severity`) outputs map0 + s(x) map1. Trained, the
subject-level term comes out too weak: on the benchmark cohort the truth's meta-ROI SUVR varies 1.6-1.7 times
as much along the predictions as the predictions do on the training subjects (1.9-2.3 on held-out ones), with
or without the encoder's dropout and the MRI augmentation (``benchmarks/results/generator-learning.md``). One
gain c on the term, s -> s_bar + c (s - s_bar) about the validation subjects' mean severity s_bar, is fit here
by least squares against the validation subjects' real PET (closed form: the prediction is linear in c), on
their meta-ROI means (``metaroi``: the score the checkpoint is chosen by) or on every brain voxel
(``brain``). The test subjects are never seen. c stays 1 when the term has no spread (a path that did not
learn); it is limited to [0, MAX_GAIN] so that a handful of validation subjects cannot blow it up.

``metaroi_regional`` adds a second reader of the MRI (:mod:`mrisynth.synthesis.regional_reader`: a ridge of
the disease stage on regional T1 means, fit on the fold's labelled training MRIs) and fits both gains at once
on the validation meta-ROI means, each in [0, MAX_GAIN]: s -> s_bar + c (s - s_bar) + c_r (r - r_bar), r_bar
the validation subjects' mean of r. Benchmark cohort, Pix2Pix's imputations: pooled test meta-ROI RMSE 0.0985
with c alone, 0.0897 with both (share of the oracle's gain 0.49 -> 0.57; ``benchmarks/results/benchmark-cohort.md``).
"""

from __future__ import annotations

import numpy as np
import torch

from mrisynth.errors import InputError
from mrisynth.io.nifti import load_array
from mrisynth.synthesis.inference import predict
from mrisynth.synthesis.intensity import IntensityMapping

MODES = ("none", "metaroi", "brain", "metaroi_regional")
MAX_GAIN = 3.0


def gain_from(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> float | None:
    """Least-squares c of ``truth - a = c * b`` over every (a, b, truth) array triple; None when b is all 0."""
    bb = sum(float(np.sum(b.astype(np.float64) ** 2)) for _, b, _ in parts)
    if bb <= 1e-12:
        return None
    return sum(float(np.sum(b.astype(np.float64) * (t.astype(np.float64) - a))) for a, b, t in parts) / bb


def fit_severity_gain(net: torch.nn.Module, subjects, mapping: IntensityMapping, icfg, mode: str,
                      labelled: tuple[list, list[float]] | None = None) -> dict | None:
    """Fit and set the gain of ``net``'s severity path on ``subjects`` (validation, real PET); returns what
    was fit (for the imputations' sidecars), or None without a severity path or with ``mode`` none.
    ``labelled``: (training subjects, their disease stages) for the regional reader of ``metaroi_regional``."""
    from mrisynth.synthesis.regional import Regions
    from mrisynth.synthesis.subjects import require_files
    from mrisynth.zoo.nets.severity import severity_path

    if mode not in MODES:
        raise ValueError(f"severity_gain must be one of {MODES}, got {mode!r}")
    path = severity_path(net)
    if path is None or mode == "none":
        return None
    subjects = [s for s in subjects if s.has_pet]
    if not subjects:
        raise InputError("severity_gain needs validation subjects with real PET; the fold has none "
                         "(set the model's severity_gain: none)")
    require_files(subjects, "t1", "mask", "pet")
    t1s = [mapping.t1_to_net(load_array(s.paths.t1)[0])[None, None] for s in subjects]

    def suvr(t1: torch.Tensor) -> np.ndarray:
        return mapping.net_to_pet(predict(path, t1, icfg)[0][0, 0], t1[0, 0]).numpy()

    severities: list[float] = []  # the encoder's output, one per whole-volume forward
    hook = path.encoder.register_forward_hook(lambda _m, _i, out: severities.append(float(out[0, 0])))
    try:
        path.gain, path.centre, path.reader = 1.0, 0.0, None
        full = [suvr(t1) for t1 in t1s]
        centre = float(np.mean(severities))
        path.gain, path.centre = 0.0, centre  # every subject at the mean severity
        at_centre = [suvr(t1) for t1 in t1s]
    finally:
        hook.remove()
    meta_roi = None
    if mode != "brain":  # one grid for every preprocessed image (as the training's validation assumes)
        pet, affine = load_array(subjects[0].paths.pet)
        meta_roi = Regions.on_grid(affine, pet.shape).meta_roi
    parts = [_region_parts(s, f, a, meta_roi) for s, f, a in zip(subjects, full, at_centre)]
    if mode == "metaroi_regional":
        return _fit_with_reader(path, t1s, suvr, at_centre, parts, meta_roi, labelled, mapping, icfg, subjects)
    fitted = gain_from(parts)
    gain = 1.0 if fitted is None else float(np.clip(fitted, 0.0, MAX_GAIN))
    path.gain, path.centre = gain, centre
    return {"mode": mode, "gain": gain, "fitted": fitted, "centre": centre, "max_gain": MAX_GAIN,
            "fit_subjects": [s.participant_id for s in subjects]}


def _fit_with_reader(path, t1s, suvr, at_centre, parts, meta_roi, labelled, mapping, icfg, subjects) -> dict:
    """``metaroi_regional``: both gains by bounded least squares on the validation meta-ROI means; sets the
    path's gain and its regional reader (``parts``: the severity term's (a, b, truth) of each subject)."""
    from scipy.optimize import lsq_linear

    from mrisynth.synthesis.data import pad_to_multiple
    from mrisynth.synthesis.regional_reader import fit_reader

    if labelled is None or not labelled[0]:
        raise InputError("severity_gain metaroi_regional needs the fold's labelled training MRIs")
    reader, ridge = fit_reader(*labelled, mapping, icfg.multiple)
    reader.centre = float(np.mean([float(reader.stage(pad_to_multiple(t1, icfg.multiple)[0])[0]) for t1 in t1s]))
    path.reader = reader  # at gain 0: the centre severity plus the regional term at gain 1
    # the regional term's meta-ROI mean per subject (as _region_parts computes b; the PET was read for parts)
    d = [float((w[meta_roi] - a[meta_roi]).mean()) for w, a in zip((suvr(t1) for t1 in t1s), at_centre)]
    design = np.array([[b[0], di] for (_, b, _), di in zip(parts, d)], dtype=np.float64)
    target = np.array([t[0] - a[0] for a, _, t in parts], dtype=np.float64)
    gains = np.array([1.0, 0.0])  # a term with no spread keeps these: the trained term as is, no regional term
    spread = np.linalg.norm(design, axis=0) > 1e-9
    if spread.any():
        gains[spread] = lsq_linear(design[:, spread], target, bounds=(0.0, MAX_GAIN)).x
    gain, regional_gain = float(gains[0]), float(gains[1])
    path.gain, reader.gain = gain, regional_gain
    return {"mode": "metaroi_regional", "gain": gain, "regional_gain": regional_gain, "centre": path.centre,
            "regional_centre": reader.centre, "ridge": ridge, "max_gain": MAX_GAIN,
            "fit_subjects": [s.participant_id for s in subjects]}


def _region_parts(subject, full: np.ndarray, at_centre: np.ndarray, meta_roi: np.ndarray | None):
    """(a, b, truth) of one subject: its meta-ROI means (one value each), or without ``meta_roi`` every brain voxel."""
    pet = load_array(subject.paths.pet)[0]
    roi = meta_roi if meta_roi is not None else load_array(subject.paths.mask)[0] > 0
    if not roi.any():
        raise InputError(f"severity_gain: no {'meta-ROI' if meta_roi is not None else 'brain'} voxel on the grid "
                         f"of {subject.paths.pet}")
    a, b, t = at_centre[roi], full[roi] - at_centre[roi], pet[roi]
    if meta_roi is None:
        return a, b, t
    return np.array([a.mean()]), np.array([b.mean()]), np.array([t.mean()])
