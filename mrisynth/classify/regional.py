"""The non-deep baseline: mean T1 (and PET) in each template ROI, standardised, L2 logistic regression.

Wen et al. (MedIA 2020) found that CNNs often do not beat such simple models, so it sits in the same table.
ROIs are the ellipsoids of ``mrisynth.anatomy.REGIONS`` intersected with each subject's brain mask.
"""

from __future__ import annotations

import numpy as np

from mrisynth.anatomy import region_mask


def regional_features(volumes: np.ndarray, masks: np.ndarray, affine: np.ndarray, regions: list[str]) -> np.ndarray:
    """(N, M * R) means of each modality (volumes: N, M, X, Y, Z) in each region within the brain mask."""
    n, m = volumes.shape[:2]
    out = np.zeros((n, m, len(regions)), np.float64)
    for r, name in enumerate(regions):
        roi = region_mask(name, affine, volumes.shape[2:])
        inside = masks & roi  # (N, X, Y, Z)
        counts = np.maximum(inside.reshape(n, -1).sum(1), 1)
        for c in range(m):
            out[:, c, r] = (volumes[:, c] * inside).reshape(n, -1).sum(1) / counts
    return out.reshape(n, m * len(regions))


def fit_predict(features: np.ndarray, labels: np.ndarray, train_idx: np.ndarray, C: float, seed: int):
    """Fit scaler + class-balanced logistic regression on ``train_idx``; return (model, probabilities for all)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=seed))
    model.fit(features[train_idx], labels[train_idx])
    return model, model.predict_proba(features)[:, 1]
