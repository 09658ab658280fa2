"""Every fit of the diagnosis stage sees the fold's training subjects only (as the landmark test shows for
the landmarks): replace test subjects' images with noise and the fit is byte-identical; do the same to one
training subject and it moves. Fits: the regional classifier (its StandardScaler and logistic regression),
the mean-PET template of ``mri+mean_pet``, the z-score input normalisation of the landmark CNN and of DSNet
(and the networks trained on it)."""

import numpy as np
import pandas as pd
import pytest
import torch

from mrisynth.classify.data import subject_images
from mrisynth.cohort.table import read_cohort
from mrisynth.classify.run import _load_volumes
from mrisynth.classify.scenarios import pet_plan
from mrisynth.cohort.splits import load_split
from mrisynth.cli import main
from mrisynth.io.nifti import save_nifti
from mrisynth.preprocess.outputs import subject_paths

FOLD = 0
TINY = {
    "landmarks": {"n": 4, "min_distance_mm": 15, "smooth_fwhm_mm": 0},
    "network": {"patch_sizes": [4], "patch_out": 4, "channels": 2, "features": 4, "epochs": 2, "batch_size": 4,
                "patience": 3, "jitter_vox": 1, "lr": 0.01},
    "dsnet": {"channels": 2, "epochs": 2, "batch_size": 4, "figure_subjects": 0},
    "regional": {"regions": ["hippocampus_L", "hippocampus_R", "posterior_cingulate", "precuneus", "motor_L"]},
    "n_bootstrap": 100,
}


@pytest.fixture
def tiny(make_cohort):
    c = make_cohort(n_per_group=4, k=2, classify=TINY)
    manifest = pd.read_csv(c["manifest"], dtype={"participant_id": str})
    c["has_pet"] = dict(zip(manifest["participant_id"], manifest["pet"].notna()))
    c["split"] = load_split(c["results"] / "splits" / f"fold-{FOLD}.json")
    return c


def _noise(c, pid: str, seed: int) -> None:
    """Overwrite a subject's T1 and (if any) real PET with noise."""
    rng = np.random.default_rng(seed)
    sp = subject_paths(c["results"], pid, "bl", 7.5)
    for path in [sp.t1] + ([sp.pet] if c["has_pet"][pid] else []):
        save_nifti(rng.normal(1, 3, c["shape"]).astype(np.float32), c["affine"], path)


def _classify(c, scenario: str, classifier: str, out) -> pd.DataFrame:
    """A fresh output folder each time: the landmark CNN resumes a finished checkpoint of the same data."""
    assert main(["classify", "--fold", str(FOLD), "--scenario", scenario, "--classifier", classifier,
                 "--out-dir", str(out), "--config", str(c["config"])]) == 0
    return pd.read_csv(out / "predictions.csv", dtype={"participant_id": str}).set_index("participant_id")


def _train_with_pet(c) -> str:
    return next(p for p in c["split"].train if c["has_pet"][p])


def test_regional_fit_and_mean_pet_template_ignore_test_subjects(tiny, tmp_path):
    c = tiny
    test_with_pet = [p for p in c["split"].test if c["has_pet"][p]]
    test_without = [p for p in c["split"].test if not c["has_pet"][p]]
    assert test_with_pet and test_without
    before = _classify(c, "mri+mean_pet", "regional", tmp_path / "before")
    for i, pid in enumerate(test_with_pet):
        _noise(c, pid, i)
    after = _classify(c, "mri+mean_pet", "regional", tmp_path / "test-changed")
    # scaler + logistic regression unchanged (its coefficients live in the scaled space) ...
    assert (tmp_path / "test-changed" / "coefficients.csv").read_bytes() == (tmp_path / "before" / "coefficients.csv").read_bytes()
    # ... and so is the template the PET-less test subjects bring: their predictions are bit-identical
    assert after.loc[test_without, "prob"].equals(before.loc[test_without, "prob"])
    assert not after.loc[test_with_pet, "prob"].equals(before.loc[test_with_pet, "prob"])  # their own inputs changed
    _noise(c, _train_with_pet(c), 99)
    moved = _classify(c, "mri+mean_pet", "regional", tmp_path / "train-changed")
    assert (tmp_path / "train-changed" / "coefficients.csv").read_bytes() != (tmp_path / "before" / "coefficients.csv").read_bytes()
    assert not moved.loc[test_without, "prob"].equals(after.loc[test_without, "prob"])


def _template(c) -> tuple[np.ndarray, np.ndarray]:
    """(PET channel of the PET-less subjects, real PET of the training subjects) as classify loads them."""
    cohort = read_cohort(c["manifest"])
    images = subject_images(c["results"], cohort, 7.5)
    cohort, sources = pet_plan("mri+mean_pet", cohort, images, c["results"], FOLD, 7.5)
    train = cohort["participant_id"].map(c["split"].split_of).eq("train").to_numpy()
    volumes, _, _, _ = _load_volumes(cohort, images, sources, train)
    has_pet = cohort["has_pet"].to_numpy()
    return volumes[~has_pet, 1], volumes[train & has_pet, 1]


def test_mean_pet_template_is_the_training_mean(tiny):
    c = tiny
    filled, train_pet = _template(c)
    assert np.array_equal(filled, np.broadcast_to(train_pet.mean(0), filled.shape))  # one template, exact
    for i, pid in enumerate(p for p in c["split"].val + c["split"].test if c["has_pet"][p]):
        _noise(c, pid, i)  # validation and test subjects with real PET
    assert filled.tobytes() == _template(c)[0].tobytes()
    _noise(c, _train_with_pet(c), 99)
    assert not np.array_equal(filled, _template(c)[0])


@pytest.mark.parametrize("classifier, scenario", [("landmark", "mri+zero_fill"), ("dsnet", "mri+zero_fill")])
def test_input_normalisation_and_network_ignore_test_subjects(tiny, tmp_path, classifier, scenario):
    """The z-score statistics (T1 over training subjects, PET over training subjects with a real PET) and the
    network trained on them: byte-identical weights when test subjects change, moved by a training subject."""
    c = tiny
    if classifier == "landmark":
        assert main(["landmarks", "--fold", str(FOLD), "--config", str(c["config"])]) == 0  # train-only (test_landmarks)

    def fit(name):
        _classify(c, scenario, classifier, tmp_path / name)
        if classifier == "landmark":
            ck = torch.load(tmp_path / name / "checkpoint.pt", weights_only=True)
            return ck["extra_state"]["normalisation"], ck["model"]
        return None, torch.load(tmp_path / name / "model.pt", weights_only=True)["state"]

    def same(a, b):
        return a[0] == b[0] and a[1].keys() == b[1].keys() and all(torch.equal(a[1][k], b[1][k]) for k in a[1])

    before = fit("before")
    for i, pid in enumerate(c["split"].test):
        _noise(c, pid, i)
    assert same(fit("test-changed"), before)
    _noise(c, _train_with_pet(c), 99)
    moved = fit("train-changed")
    assert not same(moved, before)
    if classifier == "landmark":  # the statistics themselves moved (T1 and PET)
        assert moved[0] != before[0]
