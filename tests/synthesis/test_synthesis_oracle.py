"""The oracle: a phantom subject re-simulated without the parts no MRI shows, through its saved transforms."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import SimpleITK as sitk

from mrisynth.config import load_config
from mrisynth.errors import InputError
from mrisynth.preprocess.images import OutputGrid
from mrisynth.preprocess.pet import preprocess_pet
from mrisynth.preprocess.t1 import prepare_t1, register_t1, template_on_grid
from mrisynth.synthesis.oracle import PhantomOracle


@pytest.fixture(scope="module")
def preprocessed(phantom_cohort, tmp_path_factory):
    """One phantom subject with PET, preprocessed at 4 mm; its transforms saved as the pipeline saves them."""
    cfg = load_config(overrides={"preprocess": {"resolution_mm": 4}})
    with open(phantom_cohort, newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["pet"])
    root, pp, seed = phantom_cohort.parent, cfg["preprocess"], cfg["seed"]
    grid = OutputGrid.from_config(pp)
    t1 = prepare_t1(root / row["t1w"], pp)
    reg = register_t1(t1, pp, seed)
    pet = preprocess_pet(root / row["pet"], t1, reg.transform, grid, pp, seed)
    folder = tmp_path_factory.mktemp("oracle")
    sitk.WriteTransform(reg.transform, str(folder / "t1.tfm"))
    sitk.WriteTransform(pet.rigid, str(folder / "pet.tfm"))
    return {"cfg": cfg, "row": row, "pet": pet.image, "grid": grid, "t1_xfm": folder / "t1.tfm", "pet_xfm": folder / "pet.tfm"}


def test_oracle_is_the_subjects_pet_without_its_unpredictable_parts(preprocessed, phantom_cohort):
    oracle = PhantomOracle(preprocessed["cfg"], phantom_cohort)
    achievable = oracle.pet(preprocessed["row"]["participant_id"], preprocessed["t1_xfm"], preprocessed["pet_xfm"])
    real = preprocessed["pet"]
    assert achievable.shape == real.shape == preprocessed["grid"].shape
    brain = template_on_grid("brain_mask", preprocessed["grid"]) > 0.5
    corr = np.corrcoef(achievable[brain], real[brain])[0, 1]
    rel = np.abs(achievable - real)[brain].mean() / real[brain].mean()
    print(f"oracle vs real PET in the brain: correlation {corr:.4f}, mean |difference| {rel:.3f} of the mean")
    assert corr > 0.95  # the same subject, geometry and SUVR scaling
    assert 0.005 < rel < 0.15  # without its noise, uptake field and regional noise


def test_oracle_refuses_a_manifest_that_is_not_this_phantom(preprocessed, phantom_cohort, tmp_path):
    rows = list(csv.DictReader(open(phantom_cohort, newline="")))
    rows[1]["age"] = "50.0"
    other = tmp_path / "manifest.csv"
    with open(other, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(InputError, match="not the phantom cohort"):
        PhantomOracle(preprocessed["cfg"], other)
