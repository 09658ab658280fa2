"""Sample-quality metrics computed from feature arrays ``(n_samples, n_features)`` or class probabilities.

No network is involved: the caller supplies features from an extractor the project trains or ships.
Inputs may be numpy arrays or torch tensors; everything is computed in float64 numpy. Conventions follow
torch-fidelity where it has the metric (``real`` = its ``input1``, ``fake`` = ``input2``).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

_CHUNK = 2048  # rows of a distance matrix held in memory at once


def _features(x, name: str) -> np.ndarray:
    arr = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
    if arr.ndim != 2 or len(arr) < 2:
        raise ValueError(f"{name}: expected (n_samples >= 2, n_features), got shape {arr.shape}")
    return arr


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2}).

    tr((S1 S2)^{1/2}) is the sum of the square roots of the eigenvalues of S1 S2 (real and >= 0 for PSD
    S1, S2; round-off negatives are clipped to 0)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    eig = np.linalg.eigvals(sigma1 @ sigma2).real
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def fid(real, fake) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (unbiased covariance, as torch-fidelity)."""
    real, fake = _features(real, "real"), _features(fake, "fake")
    return frechet_distance(real.mean(0), np.cov(real, rowvar=False), fake.mean(0), np.cov(fake, rowvar=False))


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None, coef0: float = 1.0):
    """k(x, y) = (gamma <x, y> + coef0)^degree; gamma defaults to 1 / n_features."""
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return (x @ y.T * gamma + coef0) ** degree


def mmd2_unbiased(x, y, degree: int = 3, gamma: float | None = None, coef0: float = 1.0) -> float:
    """Unbiased MMD^2 estimate: within-set kernel means exclude the diagonal (i != j), the cross term uses
    all m * n pairs."""
    x, y = _features(x, "x"), _features(y, "y")
    kxx, kyy = polynomial_kernel(x, x, degree, gamma, coef0), polynomial_kernel(y, y, degree, gamma, coef0)
    kxy = polynomial_kernel(x, y, degree, gamma, coef0)
    m, n = len(x), len(y)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * kxy.mean())


def kid(real, fake, n_subsets: int = 100, subset_size: int = 1000, seed: int = 0, degree: int = 3,
        gamma: float | None = None, coef0: float = 1.0) -> tuple[float, float]:
    """Kernel Inception Distance: mean and (population) sd of the unbiased polynomial MMD^2 over random
    subsets drawn without replacement. ``subset_size`` is capped at the smaller set size. Subsets are drawn
    as torch-fidelity draws them (``RandomState(seed).choice``, real then fake), so equal seeds give equal
    subsets."""
    real, fake = _features(real, "real"), _features(fake, "fake")
    size = min(subset_size, len(real), len(fake))
    rng = np.random.RandomState(seed)
    values = np.empty(n_subsets)
    for i in range(n_subsets):
        r = real[rng.choice(len(real), size, replace=False)]
        f = fake[rng.choice(len(fake), size, replace=False)]
        values[i] = mmd2_unbiased(r, f, degree, gamma, coef0)
    return float(values.mean()), float(values.std())


def _kth_neighbour_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of x to its k-th nearest other row of x."""
    if not 1 <= k < len(x):
        raise ValueError(f"k={k} needs 1 <= k < number of samples ({len(x)})")
    # index k because the 0-th smallest distance is the point itself
    return np.concatenate([np.partition(cdist(x[i:i + _CHUNK], x), k, axis=1)[:, k]
                           for i in range(0, len(x), _CHUNK)])


def _ball_counts(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """For each point, the number of closed balls B(centre_i, radius_i) that contain it."""
    return np.concatenate([(cdist(points[i:i + _CHUNK], centres) <= radii).sum(1)
                           for i in range(0, len(points), _CHUNK)])


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., 2019), closed k-NN balls as torch-fidelity.

    precision: fraction of fake samples inside the real manifold (union of balls around real samples with
    radius = distance to their k-th nearest real neighbour); recall: the same with the roles swapped."""
    real, fake = _features(real, "real"), _features(fake, "fake")
    precision = (_ball_counts(fake, real, _kth_neighbour_radii(real, k)) > 0).mean()
    recall = (_ball_counts(real, fake, _kth_neighbour_radii(fake, k)) > 0).mean()
    return float(precision), float(recall)


def density_coverage(real, fake, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al., 2020), balls around real samples only (closed balls).

    density = sum over fake samples of the number of real k-NN balls containing it / (k * n_fake);
    coverage = fraction of real samples whose ball contains at least one fake sample."""
    real, fake = _features(real, "real"), _features(fake, "fake")
    radii = _kth_neighbour_radii(real, k)
    density = _ball_counts(fake, real, radii).sum() / (k * len(fake))
    nearest_fake = np.concatenate([cdist(real[i:i + _CHUNK], fake).min(1) for i in range(0, len(real), _CHUNK)])
    coverage = (nearest_fake <= radii).mean()
    return float(density), float(coverage)


def inception_score(probs, splits: int = 1) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) from class probabilities ``(n_samples, n_classes)``.

    The rows are cut into ``splits`` contiguous chunks (shuffle beforehand if their order matters); returns
    the mean and population sd of the per-chunk scores. 0 log 0 is taken as 0."""
    p = _features(probs, "probs")
    if (p < 0).any() or not np.allclose(p.sum(1), 1.0, atol=1e-6):
        raise ValueError("probs must be non-negative rows that sum to 1")
    scores = []
    for chunk in np.array_split(p, splits):
        marginal = chunk.mean(0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(chunk > 0, chunk * (np.log(chunk) - np.log(marginal)), 0.0).sum(1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
