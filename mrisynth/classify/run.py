"""One classifier, one scenario, one fold: assemble the inputs, train on the fold's training population,
predict every test subject, write the predictions (and model state)."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mrisynth.classify.data import in_population, load_stack, subject_images
from mrisynth.classify.scenarios import LINEAR, MEAN, MULTI_PREFIX, ZERO, pet_plan
from mrisynth.cohort.splits import load_split
from mrisynth.cohort.table import read_cohort
from mrisynth.errors import InputError
from mrisynth.io.atomic import atomic_path, write_text

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = ["participant_id", "session_id", "diagnosis", "task", "label", "prob", "has_pet",
                      "fold", "scenario", "classifier"]


def _mri(cohort: pd.DataFrame, images: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T1 stack, brain masks, affine), read-only: every scenario of a fold reads the same files, so the process
    keeps them for its next scenario (each file's mtime is in the key: a rewritten file is read again)."""
    files = [f for i in cohort["participant_id"] for f in (images[i].t1, images[i].mask)]
    return _read_mri(tuple((str(f), Path(f).stat().st_mtime_ns if Path(f).exists() else None) for f in files))


@functools.lru_cache(maxsize=2)  # the fold's cohort and its real-PET subset (mri+real_pet)
def _read_mri(files: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t1, affine = load_stack([f for f, _ in files[0::2]], "preprocessed T1")
    masks = load_stack([f for f, _ in files[1::2]], "brain mask")[0] > 0.5
    for a in (t1, masks, affine):
        a.flags.writeable = False
    return t1, masks, affine


def _load_volumes(cohort: pd.DataFrame, images: dict, sources: list | None, train_mask: np.ndarray):
    """Raw stacks: volumes (N, M, X, Y, Z), brain masks (N, X, Y, Z), affine, zero-filled subjects (N,)."""
    t1, masks, affine = _mri(cohort, images)
    zero = np.zeros(len(cohort), bool)
    if sources is None:
        return t1[:, None], masks, affine, zero
    files = [k for k, s in enumerate(sources) if s not in (ZERO, MEAN, LINEAR)]
    pet_files, pet_affine = load_stack([sources[k] for k in files], "PET")
    if pet_files.shape[1:] != t1.shape[1:] or not np.allclose(pet_affine, affine, atol=1e-3):
        raise InputError("PET and T1 are not on the same template grid")
    pet = np.zeros_like(t1)
    pet[files] = pet_files
    mean_for = [k for k, s in enumerate(sources) if s == MEAN]
    linear_for = [k for k, s in enumerate(sources) if s == LINEAR]
    if mean_for or linear_for:
        # population template / voxelwise T1 -> PET line from the fold's training subjects with a real PET only
        real_train = [k for k in files if train_mask[k] and cohort["has_pet"].iloc[k]]
        if len(real_train) < (2 if linear_for else 1):
            raise InputError(f"PET imputed from the training subjects: only {len(real_train)} have a real PET")
        if mean_for:
            pet[mean_for] = pet[real_train].mean(0)
        if linear_for:
            from mrisynth.synthesis.evaluate import Baselines

            line = Baselines.fit(t1[real_train], pet[real_train])
            pet[linear_for] = line.predict("linear_regression", t1[linear_for]) * masks[linear_for]
    zero[[k for k, s in enumerate(sources) if s == ZERO]] = True
    return np.stack([t1, pet], 1), masks, affine, zero


def _normalise(volumes: np.ndarray, masks: np.ndarray, zero: np.ndarray, real_pet: np.ndarray,
               train_idx: np.ndarray) -> tuple[np.ndarray, list]:
    """z-score each modality with brain-voxel statistics of the training subjects (for PET: those with a
    real PET, so every scenario shares one mapping), zero outside the brain; zero-filled PET is all zero."""
    out = np.empty_like(volumes)
    stats = []
    for m in range(volumes.shape[1]):
        ref = [k for k in train_idx if m == 0 or real_pet[k]]
        vox = volumes[ref, m][masks[ref]]
        mean, std = float(vox.mean()), float(vox.std() + 1e-6)
        o = out[:, m]  # in place: three whole-cohort temporaries cost more than the arithmetic
        np.subtract(volumes[:, m], mean, out=o)
        o /= std
        o *= masks
        stats.append({"mean": mean, "std": std})
    if volumes.shape[1] > 1:
        out[zero, 1] = 0.0
    return out, stats


def classify_fold(cfg: dict, *, fold: int, scenario: str, classifier: str, results: Path, manifest: Path,
                  split_path: Path, landmarks_csv: Path | None, out_dir: Path, threads: int = 1) -> pd.DataFrame:
    cc = cfg["classify"]
    seed = cfg["seed"] + fold
    split = load_split(split_path)
    cohort = read_cohort(manifest)
    cohort = cohort[cohort["participant_id"].isin(split.train + split.val + split.test)].reset_index(drop=True)
    missing = sorted(set(split.train + split.val + split.test) - set(cohort["participant_id"]))
    if missing:
        raise InputError(f"split {split_path} names subjects absent from {manifest}: {missing[:5]}")
    res = cfg["preprocess"]["resolution_mm"]
    images = subject_images(results, cohort, res)
    cohort, sources = pet_plan(scenario, cohort, images, results, fold, res)
    cohort = cohort.reset_index(drop=True)
    part = cohort["participant_id"].map(split.split_of).to_numpy()
    pop = in_population(cohort, cc["population"]).to_numpy()
    train_idx = np.flatnonzero((part == "train") & pop)
    val_idx = np.flatnonzero((part == "val") & pop)
    test_idx = np.flatnonzero(part == "test")
    labels = cohort["label"].to_numpy()
    # validation only early-stops the network (the regional model fits on train + val), so one class will do
    for name, idx in (("train", train_idx), ("val", val_idx), ("test", test_idx)):
        if len(idx) == 0 or (name == "train" and len(set(labels[idx])) < 2):
            raise InputError(f"fold {fold}, scenario {scenario}: the {name} split of population {cc['population']!r} "
                             f"has too few subjects (per class {np.bincount(labels[idx], minlength=2).tolist()})")
    if scenario.startswith(MULTI_PREFIX):  # K regional fits, one per imputation, pooled by summarize
        from mrisynth.classify.multiple import classify_over_imputations

        pred = classify_over_imputations(cfg, cohort, images, sources, labels, np.concatenate([train_idx, val_idx]),
                                         test_idx, classifier, seed)
        pred["fold"], pred["scenario"], pred["classifier"] = fold, scenario, classifier
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(out_dir / "predictions.csv") as tmp:
            pred[PREDICTION_COLUMNS + ["imputation"]].to_csv(tmp, index=False, float_format="%.6f")
        return pred
    volumes, masks, affine, zero = _load_volumes(cohort, images, sources, part == "train")
    log.info("fold %d %s %s: %d train, %d val, %d test subjects, %d modalities", fold, scenario, classifier,
             len(train_idx), len(val_idx), len(test_idx), volumes.shape[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    if classifier == "regional":
        prob = _regional(cfg, volumes, masks, affine, labels, np.concatenate([train_idx, val_idx]), seed, out_dir)
    elif classifier == "landmark":
        if landmarks_csv is None:
            raise InputError("the landmark classifier needs --landmarks")
        fingerprint = {"fold": fold, "scenario": scenario, "split": split.content_hash, "n": len(cohort)}
        prob = _landmark(cfg, volumes, masks, zero, cohort["has_pet"].to_numpy(), labels, train_idx, val_idx,
                         landmarks_csv, seed, out_dir, fingerprint, threads)
    elif classifier == "dsnet":
        prob = _dsnet(cfg, volumes, masks, affine, zero, cohort["has_pet"].to_numpy(), labels, train_idx, val_idx, test_idx,
                      seed, out_dir, threads)
    else:
        raise InputError(f"unknown classifier {classifier!r}; use landmark, regional or dsnet")
    pred = cohort.iloc[test_idx][["participant_id", "session_id", "diagnosis", "task", "label", "has_pet"]].copy()
    pred["prob"] = prob[test_idx]
    pred["fold"], pred["scenario"], pred["classifier"] = fold, scenario, classifier
    with atomic_path(out_dir / "predictions.csv") as tmp:
        pred[PREDICTION_COLUMNS].to_csv(tmp, index=False, float_format="%.6f")
    return pred


def _regional(cfg, volumes, masks, affine, labels, fit_idx, seed, out_dir: Path) -> np.ndarray:
    from mrisynth.classify.regional import fit_predict, regional_features

    rc = cfg["classify"]["regional"]
    features = regional_features(volumes, masks, affine, rc["regions"])
    model, prob = fit_predict(features, labels, fit_idx, rc["C"], seed)
    names = [f"{mod}:{r}" for mod in ("T1", "PET")[: volumes.shape[1]] for r in rc["regions"]]
    coef = model[-1].coef_[0]
    write_text(out_dir / "coefficients.csv", "feature,coefficient\n" + "".join(f"{n},{c:.6f}\n" for n, c in zip(names, coef)))
    return prob


def _dsnet(cfg, volumes, masks, affine, zero, real_pet, labels, train_idx, val_idx, test_idx, seed, out_dir: Path,
           threads: int) -> np.ndarray:
    import torch

    from mrisynth.classify.dsnet import DSNetConfig, train_predict
    from mrisynth.classify.regional import regional_features

    torch.set_num_threads(threads)
    normed, _ = _normalise(volumes, masks, zero, real_pet, train_idx)
    figure_idx = test_idx[: cfg["classify"]["dsnet"]["figure_subjects"]]
    rc = cfg["classify"]["regional"]  # the linear path: the regional baseline's ROI means of the DSNet's input
    roi = regional_features(normed, masks, affine, rc["regions"])
    return train_predict(normed, labels, train_idx, val_idx, DSNetConfig.from_config(cfg["classify"]["dsnet"]), seed,
                         out_dir, figure_idx, masks, test_idx, roi, rc["C"])


def _landmark(cfg, volumes, masks, zero, real_pet, labels, train_idx, val_idx, landmarks_csv: Path, seed, out_dir: Path,
              fingerprint: dict, threads: int) -> np.ndarray:
    import torch

    from mrisynth.classify.train import NetConfig, calibrated, centred_patches, fit_calibration, predict_logits, train
    from mrisynth.seeding import seed_everything

    seed_everything(seed)  # torch and MONAI load only here: the regional baseline needs neither
    torch.set_num_threads(threads)

    nc = NetConfig.from_config(cfg["classify"]["network"])
    if not Path(landmarks_csv).exists():
        raise InputError(f"landmarks {landmarks_csv} do not exist (run `mrisynth landmarks` first)")
    lm = pd.read_csv(landmarks_csv)
    centres = torch.as_tensor(lm[["i", "j", "k"]].to_numpy(), dtype=torch.float32)
    normed, stats = _normalise(volumes, masks, zero, real_pet, train_idx)
    x = torch.from_numpy(normed)
    centred = centred_patches(x, centres, nc)  # the patches at the exact landmarks: cut once for both fits
    fingerprint = {**fingerprint, "landmarks": lm[["i", "j", "k"]].to_numpy().ravel().tolist(),
                   "network": json.dumps(cfg["classify"]["network"], sort_keys=True), "normalisation": json.dumps(stats)}
    # 1. train on the training subjects, choose the epoch (0: the regression start) and the calibration on the
    # validation subjects; 2. refit the same recipe on training + validation subjects for that many epochs
    # (the validation fifth of ~50 subjects is too many to leave out: fold 0's start regression on the 12
    # landmarks ranked AD vs NC test subjects at AUC 0.60 fit on 42 subjects, 0.94 on 53; issue 17)
    model, history = train(x, labels, train_idx, val_idx, centres, nc, seed, out_dir / "checkpoint.pt", fingerprint,
                           centred)
    with atomic_path(out_dir / "history.csv") as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)
    calibration = fit_calibration(predict_logits(model, centred, nc)[val_idx], labels[val_idx])
    best = pd.DataFrame(history).dropna(subset=["val_loss"])
    epochs = int(best.loc[best["val_loss"].idxmin(), "epoch"])
    fit_idx = np.concatenate([train_idx, val_idx])
    model, _ = train(x, labels, fit_idx, None, centres, dataclasses.replace(nc, epochs=epochs), seed,
                     out_dir / "checkpoint-refit.pt", {**fingerprint, "refit_epochs": epochs}, centred)
    write_text(out_dir / "calibration.json", json.dumps({"a": calibration[0], "b": calibration[1],
                                                         "fit_on": "validation subjects", "epochs": epochs,
                                                         "refit_subjects": len(fit_idx)}) + "\n")
    return calibrated(predict_logits(model, centred, nc), calibration)
