"""Known-signal cohort: a lesion in the right hippocampus sets the label, a decoy lesion in the left one does
not (``conftest.build_cohort(lesion=True)``). Through the real commands, on every fold: the landmarks must
find the lesion from the training subjects, and the landmark CNN must separate held-out subjects.
"""

import pandas as pd
from sklearn.metrics import roc_auc_score

from mrisynth.cli import main

from .conftest import build_cohort

CLASSIFY = {
    "landmarks": {"n": 4, "min_distance_mm": 15, "smooth_fwhm_mm": 7.5, "grey_matter": 0},
    "network": {"patch_sizes": [4, 6], "patch_out": 4, "channels": 4, "features": 8, "epochs": 60,
                "batch_size": 8, "patience": 60, "jitter_vox": 1, "lr": 0.003},
}


def _pooled(c, classifier: str) -> pd.DataFrame:
    frames = []
    for fold in range(3):
        assert main(["classify", "--fold", str(fold), "--scenario", "mri_only", "--classifier", classifier,
                     "--config", str(c["config"])]) == 0
        frames.append(pd.read_csv(c["results"] / "classify" / classifier / "mri_only" / f"fold-{fold}" / "predictions.csv"))
    return pd.concat(frames)


def test_landmarks_find_the_lesion_and_the_landmark_cnn_learns_it(tmp_path):
    c = build_cohort(tmp_path, n_per_group=16, lesion=True, classify=CLASSIFY)
    for fold in range(3):
        assert main(["landmarks", "--fold", str(fold), "--config", str(c["config"])]) == 0
        table = pd.read_csv(c["results"] / "classify" / "landmarks" / f"fold-{fold}" / "landmarks.csv")
        assert table["region"].iloc[0] == "hippocampus_R" and table["t"].iloc[0] < 0, (fold, table)
        assert "hippocampus_L" not in set(table["region"].iloc[:2])
    pred = _pooled(c, "landmark")
    assert roc_auc_score(pred["label"], pred["prob"]) >= 0.95  # pooled over the 3 folds' test subjects
    hat = pred["prob"] >= 0.5  # threshold chosen on validation subjects: no one-class collapse
    assert hat[pred["label"] == 1].mean() >= 0.8 and (~hat[pred["label"] == 0]).mean() >= 0.8

