"""How much of a phantom cohort's PET an MRI can predict: cross-validated regressions on the true PET.

For every subject with a true PET (real, or the phantom's hidden truth) in a preprocessed results tree,
K-fold cross-validation (the test subjects of each fold are predicted from the others):

- ``population_mean``: the training subjects' mean PET;
- ``linear``: per voxel, PET = a + b * T1 (the evaluation's linear map);
- ``linear+regional``: per voxel, PET = a + b * T1 + c * r, where r is the subject's meta-ROI SUVR predicted
  by ridge regression from regional T1 means (hippocampus, entorhinal, temporal, ventricles) and age, all
  fit on the training subjects only: a disease-severity estimate read from the MRI;
- ``oracle`` (phantom only): the subject's achievable PET (``mrisynth.synthesis.oracle``), no fitting.

Printed per method: R² of the between-subject deviation from the training mean (brain, cortex, meta-ROI;
pooled over subjects and voxels), RMSE of the meta-ROI mean SUVR, and the meta-ROI's share of brain voxels.

    .venv/bin/python benchmarks/synthesis_signal.py --config configs/demo.yaml --results results --folds 5
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

FEATURE_REGIONS = ["hippocampus_L", "hippocampus_R", "entorhinal_L", "entorhinal_R", "temporal_L", "temporal_R",
                   "ventricle_L", "ventricle_R"]


def load(results: Path, res_mm: float):
    from mrisynth.cohort.table import read_cohort
    from mrisynth.io.nifti import load_array
    from mrisynth.preprocess.outputs import subject_paths

    import pandas as pd

    cohort = read_cohort(results / "manifest" / "manifest.csv")
    table = pd.read_csv(results / "manifest" / "manifest.csv", dtype={"participant_id": str})
    age = dict(zip(table["participant_id"], table["age"].astype(float)))  # the manifest's age (MRI-side information)
    subjects, t1, pet, mask, affine = [], [], [], [], None
    for r in cohort.itertuples():
        p = subject_paths(results, r.participant_id, r.session_id, res_mm)
        ref = p.pet if r.has_pet else p.truth_pet
        if not Path(ref).exists():
            continue
        img, affine = load_array(ref)
        pet.append(img)
        t1.append(load_array(p.t1)[0])
        mask.append(load_array(p.mask)[0] > 0)
        subjects.append({"id": r.participant_id, "diagnosis": r.diagnosis, "age": age[r.participant_id], "has_pet": bool(r.has_pet),
                         "t1_xfm": p.t1_xfm, "pet_xfm": p.pet_xfm if r.has_pet else p.truth_pet_xfm})
    return subjects, np.stack(t1), np.stack(pet), np.stack(mask), affine


def regional_features(t1: np.ndarray, ages: np.ndarray, affine: np.ndarray) -> np.ndarray:
    from mrisynth.anatomy import region_mask

    masks = [region_mask(n, affine, t1.shape[1:]) for n in FEATURE_REGIONS]
    cols = [t1[:, m].mean(1) for m in masks if m.any()]  # regions off the grid are left out
    return np.column_stack([*cols, ages])


def ridge_predict(x_train, y_train, x_test, alpha: float = 1.0) -> np.ndarray:
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 3, 12)))
    return model.fit(x_train, y_train).predict(x_test)


def voxel_regression(design_train: list[np.ndarray], y_train: np.ndarray, design_test: list[np.ndarray]) -> np.ndarray:
    """Per voxel least squares of y on [1, *design] (each design (N, X, Y, Z)); the prediction for the test rows."""
    n = y_train.shape[0]
    x = np.stack([np.ones_like(y_train), *design_train], -1).reshape(n, -1, 1 + len(design_train))  # (N, V, P)
    y = y_train.reshape(n, -1)
    xtx = np.einsum("nvp,nvq->vpq", x, x) + 1e-6 * np.eye(x.shape[-1])
    xty = np.einsum("nvp,nv->vp", x, y)
    coef = np.linalg.solve(xtx, xty[..., None])[..., 0]  # (V, P)
    m = design_test[0].shape[0]
    xt = np.stack([np.ones_like(design_test[0]), *design_test], -1).reshape(m, -1, 1 + len(design_test))
    return np.einsum("nvp,vp->nv", xt, coef).reshape(design_test[0].shape)


def main() -> None:
    from mrisynth.config import load_config
    from mrisynth.metrics.regional import deviation_sums, r2_from_sums, region_mean, rmse
    from mrisynth.synthesis.regional import Regions

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="configs/demo.yaml")
    ap.add_argument("--results", default="results")
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    cfg = load_config(args.config)
    results = Path(args.results)
    subjects, t1, pet, mask, affine = load(results, cfg["preprocess"]["resolution_mm"])
    regions = Regions.on_grid(affine, pet.shape[1:])
    brain = mask.all(0)
    print(f"{len(subjects)} subjects with a true PET; meta-ROI {regions.meta_roi.sum()} voxels = "
          f"{regions.meta_roi[brain].mean():.2%} of the brain ({brain.sum()} voxels), cortex {regions.cortex[brain].mean():.1%}")
    oracle = None
    if cfg["cohort"] == "phantom":
        from mrisynth.synthesis.oracle import PhantomOracle

        po = PhantomOracle(cfg, results / "manifest" / "manifest.csv")
        oracle = np.stack([po.pet(s["id"], s["t1_xfm"], s["pet_xfm"]) for s in subjects])
    roi = np.array([region_mean(p, regions.meta_roi) for p in pet])
    ages = np.array([s["age"] for s in subjects])
    feats = regional_features(t1, ages, affine)
    rng = np.random.default_rng(int(cfg["seed"]))
    fold_of = rng.permutation(np.arange(len(subjects)) % args.folds)
    preds = {m: np.zeros_like(pet) for m in ("population_mean", "linear", "linear+regional")}
    means = np.zeros_like(pet)
    for k in range(args.folds):
        tr, te = fold_of != k, fold_of == k
        means[te] = pet[tr].mean(0)
        preds["population_mean"][te] = pet[tr].mean(0)
        preds["linear"][te] = voxel_regression([t1[tr]], pet[tr], [t1[te]])
        r_train = ridge_predict(feats[tr], roi[tr], feats[tr])  # in-sample estimate for the voxel fit
        r_test = ridge_predict(feats[tr], roi[tr], feats[te])
        preds["linear+regional"][te] = voxel_regression([t1[tr], np.broadcast_to(r_train[:, None, None, None], t1[tr].shape)],
                                                        pet[tr], [t1[te], np.broadcast_to(r_test[:, None, None, None], t1[te].shape)])
    if oracle is not None:
        preds["oracle"] = oracle
    print(f"\n{args.folds}-fold CV over {len(subjects)} subjects (about {len(subjects) * (args.folds - 1) // args.folds} training subjects per fold)\n")
    print("| method | R² brain | R² cortex | R² meta-ROI | meta-ROI RMSE (SUVR) |")
    print("|---|---:|---:|---:|---:|")
    for name, p in preds.items():
        r2 = []
        for region in (brain, brain & regions.cortex, brain & regions.meta_roi):
            sums = [deviation_sums(p[i], pet[i], means[i], region) for i in range(len(subjects))]
            r2.append(r2_from_sums([s[0] for s in sums], [s[1] for s in sums]))
        err = rmse([region_mean(x, regions.meta_roi) for x in p], roi)
        print(f"| {name} | {r2[0]:.3f} | {r2[1]:.3f} | {r2[2]:.3f} | {err:.4f} |")


if __name__ == "__main__":
    main()
