"""Does a regional reader of the T1 add to the severity path's subject-level term? (issue 16; not a test)

Per fold, on a trained model's best.pt: the severity path's meta-ROI prediction at the validation subjects'
centre severity (a) and its subject-level term at gain 1 (b) (``benchmarks/severity_gain_ceiling.py``), and a
ridge regression of the disease stage on the T1 means of the 18 ``mrisynth.anatomy`` regions, fit on the
fold's labelled training MRIs (PET or not, the stage labels the encoder is trained with): r. On the validation
subjects with PET, the meta-ROI truth minus a is regressed on b, on r, or on both (no intercept, as the
pipeline's gains; ``--intercept`` adds one); the fits are scored on the test subjects (never used to fit).
Both readers together are what ``severity_gain: metaroi_regional`` does inside the pipeline.

    .venv/bin/python benchmarks/severity_plus_regional.py results-benchmark pix2pix
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.linear_model import LinearRegression, RidgeCV

from severity_gain_ceiling import fold_model, term_parts  # benchmarks/, the script's own folder

from mrisynth.anatomy import REGIONS, region_mask
from mrisynth.cohort.table import DISEASE_STAGE
from mrisynth.io.nifti import load_array
from mrisynth.synthesis.regional import Regions
from mrisynth.synthesis.subjects import reference_pet

READERS = ("severity term", "regional ridge", "both")


def fold_errors(results: Path, cfg: dict, model: str, fold: int, intercept: bool = False) -> dict[str, np.ndarray]:
    fs, path, mapping, icfg = fold_model(results, cfg, model, fold)  # the centre is the validation subjects'
    pet, affine = load_array(fs.train[0].paths.pet)
    roi = Regions.on_grid(affine, pet.shape).meta_roi
    masks = [region_mask(name, affine, pet.shape) for name in sorted(REGIONS)]

    def features(subjects) -> np.ndarray:
        return np.array([[t1[m].mean() for m in masks] for t1 in (load_array(s.paths.t1)[0] for s in subjects)])

    labelled = fs.train + [s for s in fs.impute if s.split == "train"]
    ridge = RidgeCV(alphas=np.logspace(-2, 4, 30)).fit(features(labelled), [DISEASE_STAGE[s.diagnosis] for s in labelled])
    val = [s for s in fs.val if s.has_pet]
    test = [s for s in fs.test if reference_pet(s) is not None]
    av, bv, tv = term_parts(path, mapping, icfg, val, roi)
    at, bt, tt = term_parts(path, mapping, icfg, test, roi)
    rv, rt = ridge.predict(features(val)), ridge.predict(features(test))
    inputs = {"severity term": (bv[:, None], bt[:, None]), "regional ridge": (rv[:, None], rt[:, None]),
              "both": (np.c_[bv, rv], np.c_[bt, rt])}
    fits = {name: LinearRegression(fit_intercept=intercept).fit(xv, tv - av) for name, (xv, _) in inputs.items()}
    return {name: at + fits[name].predict(xt) - tt for name, (_, xt) in inputs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("model")
    ap.add_argument("--intercept", action="store_true", help="fit an intercept too (the pipeline's gains have none)")
    args = ap.parse_args()
    cfg = yaml.safe_load((args.results / "config/effective.yaml").read_text())
    summary = pd.read_csv(args.results / "synthesis/evaluation/summary.csv").set_index("method")["metaroi_rmse"]
    linear, oracle = summary["linear_regression"], summary["oracle"]
    pooled = {name: [] for name in READERS}
    for fold in range(cfg["split"]["k"]):
        errors = fold_errors(args.results, cfg, args.model, fold, args.intercept)
        for name in READERS:
            pooled[name].append(errors[name])
        print(f"fold {fold}: " + ", ".join(f"{n} {np.sqrt(np.mean(errors[n] ** 2)):.4f}" for n in READERS), flush=True)
    for name, errors in pooled.items():
        r = float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))
        print(f"pooled, {name}: meta-ROI RMSE {r:.4f}, share of the oracle's gain {(linear - r) / (linear - oracle):.2f}")


if __name__ == "__main__":
    main()
