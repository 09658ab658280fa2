"""Derivative names (the contract with later stages) and the fixed template grid."""

import numpy as np
import pytest

from mrisynth.anatomy import TEMPLATE_SPACE
from mrisynth.config import load_config
from mrisynth.preprocess.images import OutputGrid
from mrisynth.preprocess.outputs import qc_summary_paths, resolution_label, strip_prefix, subject_paths


def test_subject_paths_names():
    p = subject_paths("res", "sub-01", "bl", 3)
    assert str(p.dir) == "res/preprocess/sub-01/ses-bl"
    assert p.t1.name == f"sub-01_ses-bl_space-{TEMPLATE_SPACE}_res-3mm_desc-preproc_T1w.nii.gz"
    assert p.t1_json.name == f"sub-01_ses-bl_space-{TEMPLATE_SPACE}_res-3mm_desc-preproc_T1w.json"
    assert p.mask.name == f"sub-01_ses-bl_space-{TEMPLATE_SPACE}_res-3mm_desc-brain_mask.nii.gz"
    assert p.pet.name == f"sub-01_ses-bl_trc-FDG_space-{TEMPLATE_SPACE}_res-3mm_desc-suvr_pet.nii.gz"
    assert p.truth_pet == p.truth_dir / p.pet.name
    assert str(p.truth_dir) == "res/preprocess_truth/sub-01/ses-bl"
    assert p.qc_json.name == "sub-01_ses-bl_desc-qc.json"
    # the same subject with or without BIDS prefixes has the same paths
    assert subject_paths("res", "01", "ses-bl", 3.0) == p
    assert set(p.t1_outputs).isdisjoint(p.pet_outputs)
    assert qc_summary_paths("res")["tsv"].as_posix() == "res/preprocess/qc_summary.tsv"


@pytest.mark.parametrize("res, label", [(3, "3mm"), (2.0, "2mm"), (1.5, "1p5mm"), (1, "1mm")])
def test_resolution_label(res, label):
    assert resolution_label(res) == label


def test_strip_prefix():
    assert strip_prefix("sub-007", "sub") == "007"
    assert strip_prefix("007", "sub") == "007"
    assert strip_prefix("ses-m12", "ses") == "m12"


@pytest.mark.parametrize("res, shape", [(1, (152, 192, 168)), (2, (80, 96, 88)), (3, (56, 64, 56)), (4, (40, 48, 48))])
def test_output_grid_is_fixed_and_divisible(res, shape):
    cfg = load_config(overrides={"preprocess": {"resolution_mm": res}})["preprocess"]
    grid = OutputGrid.from_config(cfg)
    assert grid.shape == shape
    assert all(s % 8 == 0 for s in grid.shape)
    # RAS-aligned, centred on the configured box, which it contains
    box = np.asarray(cfg["crop_box_mm"], float)
    np.testing.assert_allclose(np.diag(grid.affine)[:3], res)
    centre = grid.affine[:3, :3] @ ((np.asarray(shape) - 1) / 2) + grid.affine[:3, 3]
    np.testing.assert_allclose(centre, box.mean(1))
    assert np.all(np.asarray(grid.origin_ras) - res / 2 <= box[:, 0] + 1e-9)
