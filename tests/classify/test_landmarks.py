"""Landmarks: t-test + local extrema with minimum distance; never computed from test subjects."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mrisynth.classify.landmarks import local_extrema, t_map
from mrisynth.cohort.splits import load_split
from mrisynth.cli import main
from mrisynth.io.nifti import save_nifti
from mrisynth.preprocess.outputs import subject_paths


def test_t_map_matches_scipy_and_extrema_keep_distance():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (5, 6, 6, 6)), rng.normal(0, 1, (7, 6, 6, 6))
    mask = np.ones((6, 6, 6), bool)
    mask[0] = False
    t, p = t_map(a, b, mask)
    ref = stats.ttest_ind(a[:, 3, 2, 1], b[:, 3, 2, 1], equal_var=False)
    assert t[3, 2, 1] == pytest.approx(ref.statistic, rel=1e-5) and p[3, 2, 1] == pytest.approx(ref.pvalue, rel=1e-5)
    assert t[0].max() == 0 and p[0].min() == 1
    stat = np.zeros((10, 10, 10))
    stat[2, 2, 2], stat[2, 2, 4], stat[7, 7, 7], stat[5, 5, 0] = 5.0, 4.0, -6.0, 1.0
    # (2,2,4) is 2 voxels = 4 mm from the strongest positive peak: suppressed by a 5 mm minimum distance
    got = local_extrema(stat, np.ones_like(stat, bool), n=10, min_distance_mm=5, voxel_mm=np.array([2.0, 2, 2]))
    assert got.tolist() == [[7, 7, 7], [2, 2, 2], [5, 5, 0]]
    assert local_extrema(stat, np.ones_like(stat, bool), 2, 5, np.array([2.0, 2, 2])).tolist() == [[7, 7, 7], [2, 2, 2]]


def test_landmarks_find_planted_atrophy_and_ignore_test_subjects(cohort):
    c = cohort
    AFFINE = c["affine"]
    args = ["landmarks", "--fold", "0", "--config", str(c["config"])]
    assert main(args) == 0
    out = c["results"] / "classify" / "landmarks" / "fold-0"
    table = pd.read_csv(out / "landmarks.csv")
    assert len(table) == 6 and (out / "landmarks.png").stat().st_size > 1000 and (out / "tmap.nii.gz").exists()
    # AD < NC in the hippocampus: the strongest landmarks are negative-t hippocampal ones
    assert table["t"].iloc[0] < -5 and set(table["region"].iloc[:2]) <= {"hippocampus_L", "hippocampus_R"}
    xyz = table[["x", "y", "z"]].to_numpy()
    assert np.allclose(xyz, table[["i", "j", "k"]].to_numpy() @ AFFINE[:3, :3].T + AFFINE[:3, 3])
    before = (out / "landmarks.csv").read_bytes()
    # overwrite every test subject's T1 with noise: the landmarks must not move
    split = load_split(c["results"] / "splits" / "fold-0.json")
    rng = np.random.default_rng(1)
    for pid in split.test:
        save_nifti(rng.normal(0, 5, c["shape"]).astype(np.float32), AFFINE, subject_paths(c["results"], pid, "bl", 7.5).t1)
    assert main(args) == 0
    assert (out / "landmarks.csv").read_bytes() == before
    # ... while the same change to a training subject does move the statistics
    save_nifti(rng.normal(0, 5, c["shape"]).astype(np.float32), AFFINE,
               subject_paths(c["results"], [p for p in split.train if p.startswith("AD")][0], "bl", 7.5).t1)
    assert main(args) == 0
    assert (out / "landmarks.csv").read_bytes() != before


def test_t_map_falls_back_to_student_for_a_single_subject_group():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, (1, 4, 4, 4)), rng.normal(0, 1, (3, 4, 4, 4))
    t, _ = t_map(a, b, np.ones((4, 4, 4), bool))
    assert t[1, 2, 3] == pytest.approx(stats.ttest_ind(a[:, 1, 2, 3], b[:, 1, 2, 3], equal_var=True).statistic, rel=1e-5)
    with pytest.raises(ValueError, match="needs"):
        t_map(a, b[:1], np.ones((4, 4, 4), bool))
