"""Negative control: a results tree whose training pairs are shuffled between subjects."""

import numpy as np
import pytest

from mrisynth.io.nifti import load_array
from mrisynth.synthesis.control import derangement, shuffled_results
from mrisynth.synthesis.subjects import fold_subjects


def test_derangement_has_no_fixed_point():
    rng = np.random.default_rng(0)
    for n in (2, 3, 10):
        for _ in range(20):
            p = derangement(n, rng)
            assert sorted(p) == list(range(n)) and not np.any(p == np.arange(n))
    with pytest.raises(ValueError):
        derangement(1, rng)


def test_derangement_can_keep_a_covariate_uncorrelated():
    stages = np.repeat([-0.5, -1 / 6, 1 / 6, 0.5], 6)
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = derangement(len(stages), rng, stages, max_corr=0.05)
        assert not np.any(p == np.arange(len(stages))) and abs(np.corrcoef(stages, stages[p])[0, 1]) <= 0.05
    with pytest.raises(ValueError, match="no derangement"):
        derangement(2, rng, np.array([0.0, 1.0]), max_corr=0.5)  # the only derangement of 2 has r = -1


def test_shuffled_tree_swaps_only_training_pet(cohort, tmp_path):
    results, manifest = cohort
    split = results / "splits" / "fold-0.json"
    out = tmp_path / "shuffled"
    partner = shuffled_results(results, manifest, split, 3.0, out, seed=1)
    original = fold_subjects(results, manifest, split, 3.0)
    shuffled = fold_subjects(out, out / "manifest" / "manifest.csv", out / "splits" / "fold-0.json", 3.0)
    assert sorted(partner) == sorted(s.participant_id for s in original.train)
    assert all(partner[k] != k for k in partner) and sorted(partner.values()) == sorted(partner)
    by_id = {s.participant_id: s for s in original.train + original.val + original.test}
    for s in shuffled.train:  # PET of the partner, T1 of the subject itself
        np.testing.assert_array_equal(load_array(s.paths.pet)[0], load_array(by_id[partner[s.participant_id]].paths.pet)[0])
        np.testing.assert_array_equal(load_array(s.paths.t1)[0], load_array(by_id[s.participant_id].paths.t1)[0])
    for s in shuffled.val + [t for t in shuffled.test if t.has_pet]:  # validation and test keep their own PET
        np.testing.assert_array_equal(load_array(s.paths.pet)[0], load_array(by_id[s.participant_id].paths.pet)[0])
