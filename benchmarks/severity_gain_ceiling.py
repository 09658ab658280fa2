"""How much does the validation fit of the severity gain leave on the table? (issue 16; not a test)

A generator with a severity path predicts map0 + s(x) map1; ``severity_gain`` rescales the subject-level term
about the validation subjects' mean severity by one gain c fit on their meta-ROI (``mrisynth.synthesis.
severity_gain``). This asks, for each fold's best.pt of a trained model: what would the gain that is best *on the
test subjects* give (a diagnostic bound, never used to choose anything), against the gain fit on validation and
against no gain (c = 1)? Everything here is the severity path's mean prediction (no noise draws), so the
numbers are a little off the imputations' (the mean of K draws) in ``evaluation/summary.csv``; the shares use
that table's linear-map and oracle meta-ROI RMSE.

    .venv/bin/python benchmarks/severity_gain_ceiling.py results-benchmark pix2pix fgan
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mrisynth.cohort.splits import split_path
from mrisynth.io.nifti import load_array
from mrisynth.synthesis import models as zoo_models
from mrisynth.synthesis import paths
from mrisynth.synthesis.impute import read_best
from mrisynth.synthesis.inference import predict
from mrisynth.synthesis.intensity import IntensityMapping
from mrisynth.synthesis.regional import Regions
from mrisynth.synthesis.severity_gain import fit_severity_gain, gain_from
from mrisynth.synthesis.subjects import fold_subjects, reference_pet
from mrisynth.synthesis.train import inference_config
from mrisynth.zoo.nets.severity import severity_path


def fold_model(results: Path, cfg: dict, model: str, fold: int):
    """(fold subjects, severity path, intensity mapping, inference config) of the fold's best.pt, the gain fit on
    the validation subjects as impute fits it (``path.gain``, ``path.centre``)."""
    fs = fold_subjects(results, results / "manifest/manifest.csv", split_path(results, fold),
                       cfg["preprocess"]["resolution_mm"])
    best = read_best(paths.best_checkpoint(results, model, fold))
    net, _ = zoo_models.load_generator(best)
    mapping = IntensityMapping.from_dict(best["mapping"])
    icfg = inference_config(cfg, int(best["multiple"]))
    if icfg.fast:
        zoo_models.to_fast_layout(net)
    path = severity_path(net)
    if path is None:
        raise SystemExit(f"{model} has no severity path")
    fit_severity_gain(net, fs.val, mapping, icfg, "metaroi")
    return fs, path, mapping, icfg


def term_parts(path, mapping, icfg, subjects, roi) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, truth) of each subject's meta-ROI mean: a at the centre severity, b the subject-level term at gain 1,
    so that the prediction at gain c is a + c b."""
    rows = []
    for s in subjects:
        t1 = mapping.t1_to_net(load_array(s.paths.t1)[0])[None, None]

        def meta_roi(c: float) -> float:
            path.gain = c
            return float(mapping.net_to_pet(predict(path, t1, icfg)[0][0, 0], t1[0, 0]).numpy()[roi].mean())

        centre = meta_roi(0.0)
        rows.append((centre, meta_roi(1.0) - centre, float(load_array(reference_pet(s)[0])[0][roi].mean())))
    a, b, t = map(np.array, zip(*rows))
    return a, b, t


def fold_parts(results: Path, cfg: dict, model: str, fold: int):
    """(validation gain, a, b, truth) of the fold's test subjects (``term_parts``)."""
    fs, path, mapping, icfg = fold_model(results, cfg, model, fold)
    gain = path.gain
    test = [s for s in fs.test if reference_pet(s) is not None]
    pet, affine = load_array(reference_pet(test[0])[0])
    return (gain, *term_parts(path, mapping, icfg, test, Regions.on_grid(affine, pet.shape).meta_roi))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("models", nargs="+")
    args = ap.parse_args()
    cfg = yaml.safe_load((args.results / "config/effective.yaml").read_text())
    summary = pd.read_csv(args.results / "synthesis/evaluation/summary.csv").set_index("method")["metaroi_rmse"]
    linear, oracle = summary["linear_regression"], summary["oracle"]
    share = lambda r: (linear - r) / (linear - oracle)  # noqa: E731
    print(f"linear map {linear:.4f}, oracle {oracle:.4f} (evaluation/summary.csv)")
    for model in args.models:
        pooled = {"c = 1": [], "validation gain": [], "test-optimal gain": []}
        for fold in range(cfg["split"]["k"]):
            gain, a, b, t = fold_parts(args.results, cfg, model, fold)
            best = gain_from([(a, b, t)])
            for name, c in (("c = 1", 1.0), ("validation gain", gain), ("test-optimal gain", best)):
                pooled[name].append(a + c * b - t)
            rmse = lambda c: float(np.sqrt(np.mean((a + c * b - t) ** 2)))  # noqa: E731
            print(f"{model} fold {fold} ({len(t)} test): c = 1 {rmse(1):.4f}; validation gain {gain:.2f} -> "
                  f"{rmse(gain):.4f}; test-optimal gain {best:.2f} -> {rmse(best):.4f}", flush=True)
        for name, errors in pooled.items():
            r = float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))
            print(f"{model} pooled, {name}: meta-ROI RMSE {r:.4f}, share of the oracle's gain {share(r):.2f}")


if __name__ == "__main__":
    main()
