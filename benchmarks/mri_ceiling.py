"""How much of a subject's meta-ROI PET could a reader of its MRI know? Data or model at fault (issue 16).

On a phantom results tree (every subject's true PET: real or the phantom's hidden truth, preprocessed), the
meta-ROI mean SUVR of ``mrisynth.synthesis.regional`` is predicted by cross-validated regressions (5 folds over
all subjects with a true PET; ridge on a cubic spline basis) from:

- nothing (the population mean: the linear T1 map is no better in the meta-ROI),
- the severity (what the evaluation's oracle knows, with the unpredictable noise at its mean),
- the phantom's MRI-visible latents (regional grey-matter loss, ventricle size, age: a perfect reader of the MRI),
- the preprocessed T1's mean in each ``mrisynth.anatomy`` region (ridge: a simple reader of the actual images).

Then, per fold of the run's splits, the simple reader fit on the fold's training subjects with real PET only
(what a generator trains on), scored on the fold's test subjects, next to the population mean of those subjects.

    .venv/bin/python benchmarks/mri_ceiling.py --results results --truth data/phantom_truth
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=Path("results"))
    ap.add_argument("--truth", type=Path, default=Path("data/phantom_truth"), help="the phantom's truth folder (latents.csv)")
    args = ap.parse_args()

    import yaml
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import SplineTransformer, StandardScaler

    from mrisynth.anatomy import REGIONS, region_mask
    from mrisynth.cohort.splits import split_path
    from mrisynth.io.nifti import load_array
    from mrisynth.synthesis.regional import Regions
    from mrisynth.synthesis.subjects import fold_subjects, reference_pet

    cfg = yaml.safe_load((args.results / "config" / "effective.yaml").read_text())
    manifest, res = args.results / "manifest" / "manifest.csv", cfg["preprocess"]["resolution_mm"]
    folds = [fold_subjects(args.results, manifest, split_path(args.results, k), res) for k in range(len(list((args.results / "splits").glob("fold-*.json"))))]
    everyone = {s.participant_id: s for fs in folds for s in fs.train + fs.val + fs.impute + fs.test}
    subjects = [s for s in everyone.values() if reference_pet(s) is not None]
    affine, shape = load_array(subjects[0].paths.t1)[1], load_array(subjects[0].paths.t1)[0].shape
    roi = Regions.on_grid(affine, shape).meta_roi
    masks = [region_mask(n, affine, shape) for n in sorted(REGIONS)]
    metaroi = {s.participant_id: float(load_array(reference_pet(s)[0])[0][roi].mean()) for s in subjects}
    def region_means(path) -> list[float]:
        t1 = load_array(path)[0]
        return [float(t1[m].mean()) for m in masks]

    t1_means = {s.participant_id: region_means(s.paths.t1) for s in everyone.values()}

    latents = pd.read_csv(args.truth / "latents.csv").set_index("participant_id").loc[[s.participant_id for s in subjects]]
    mri = [c for c in latents if c.startswith("gm_loss_")] + ["ventricle_mm", "age"]
    y = np.array([metaroi[s.participant_id] for s in subjects])
    rmse = lambda p, t=y: float(np.sqrt(np.mean((np.asarray(p) - t) ** 2)))  # noqa: E731
    spline = lambda: make_pipeline(StandardScaler(), SplineTransformer(4, 3), RidgeCV(np.logspace(-3, 3, 20)))  # noqa: E731
    ridge = lambda: make_pipeline(StandardScaler(), RidgeCV(np.logspace(-3, 4, 30)))  # noqa: E731
    cv = KFold(5, shuffle=True, random_state=0)
    pop = rmse(cross_val_predict(RidgeCV(), np.zeros((len(y), 1)), y, cv=cv))
    rows = [("population mean", pop)]
    for label, X, model in (("severity (the oracle's knowledge)", latents[["severity"]], spline),
                            ("MRI-visible latents (a perfect reader of the MRI)", latents[mri], spline),
                            ("T1 region means, ridge (a simple reader of the images)",
                             np.array([t1_means[s.participant_id] for s in subjects]), ridge)):
        rows.append((label, rmse(cross_val_predict(model(), np.asarray(X, float), y, cv=cv))))
    print(f"{len(y)} subjects with a true PET; meta-ROI mean SUVR, 5-fold CV RMSE (share of the severity's gain):")
    for label, r in rows:
        print(f"  {label:58s} {r:.4f}  {(pop - r) / (pop - rows[1][1]):+.2f}")

    print("Per fold: fit on the training subjects with real PET, scored on the test subjects with a true PET")
    for k, fs in enumerate(folds):
        train, test = fs.train, [s for s in fs.test if reference_pet(s) is not None]
        fit = ridge().fit(np.array([t1_means[s.participant_id] for s in train]), [metaroi[s.participant_id] for s in train])
        t = np.array([metaroi[s.participant_id] for s in test])
        pred = fit.predict(np.array([t1_means[s.participant_id] for s in test]))
        base = np.mean([metaroi[s.participant_id] for s in train])
        print(f"  fold {k}: {len(train)} train, {len(test)} test; training mean {rmse(np.full(len(t), base), t):.4f}, "
              f"T1 region means ridge {rmse(pred, t):.4f}")


if __name__ == "__main__":
    main()
