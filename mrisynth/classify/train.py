"""Training of the landmark network: class-balanced sampling, jittered patch centres, early stopping on the
validation split, full-state checkpoints (resume gives the same result as an uninterrupted run), and a
calibration of the logits fit on the validation subjects (Platt scaling, class-balanced), so that the
probability 0.5 is a threshold chosen on validation subjects and the folds' probabilities are comparable
when their out-of-fold predictions are pooled."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mrisynth.classify.network import LandmarkMIL, extract_patches

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NetConfig:
    patch_sizes: tuple[int, ...]
    patch_out: int
    channels: int
    features: int
    pooling: str
    dropout: float
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    patience: int
    jitter: int

    @classmethod
    def from_config(cls, c: dict) -> NetConfig:
        return cls(tuple(c["patch_sizes"]), c["patch_out"], c["channels"], c["features"], c["pooling"], c["dropout"],
                   c["epochs"], c["batch_size"], c["lr"], c["weight_decay"], c["patience"], c["jitter_vox"])


def make_model(nc: NetConfig, n_landmarks: int, n_modalities: int) -> LandmarkMIL:
    return LandmarkMIL(n_landmarks, n_modalities, len(nc.patch_sizes), nc.channels, nc.features, nc.pooling, nc.dropout,
                       nc.patch_out)


def _patches(volumes: torch.Tensor, centres: torch.Tensor, nc: NetConfig, gen: torch.Generator | None) -> torch.Tensor:
    """(B, L, S * M, o, o, o): every scale's patches of every modality, jittered when ``gen`` is given."""
    c = centres.to(volumes.dtype).expand(volumes.shape[0], -1, -1)
    if gen is not None and nc.jitter > 0:
        c = c + torch.randint(-nc.jitter, nc.jitter + 1, c.shape, generator=gen).to(c.dtype)
    return torch.cat([extract_patches(volumes, c, s, nc.patch_out) for s in nc.patch_sizes], dim=2)


@torch.no_grad()
def centred_patches(volumes: torch.Tensor, centres: torch.Tensor, nc: NetConfig) -> torch.Tensor:
    """Unjittered patches of every volume, (N, L, S * M, o, o, o): cut once, not once per batch and epoch
    (a subject's patches do not depend on the batch it is cut with)."""
    return torch.cat([_patches(volumes[i:i + nc.batch_size], centres, nc, None) for i in range(0, len(volumes), nc.batch_size)])


@torch.no_grad()
def init_linear_path(model: LandmarkMIL, centred: torch.Tensor, labels: np.ndarray, train_idx: np.ndarray,
                     nc: NetConfig) -> None:
    """Start the network at the logistic regression on the training subjects' centre-weighted patch means
    (class-balanced, L2, C = 1, on standardised features): its weights go to the linear path, its intercept
    to the head's bias, and the head's weights to zero, so epoch 0 is exactly that regression and the CNN
    learns what the landmarks' intensities do not already say (a residual on the simplest baseline).
    ``centred``: ``centred_patches`` of all volumes."""
    model.eval()
    means = torch.cat([model.patch_means(centred[train_idx[i:i + nc.batch_size]])
                       for i in range(0, len(train_idx), nc.batch_size)]).double().numpy()
    w, b = linear_start(means, labels[train_idx])
    model.linear.weight.copy_(torch.as_tensor(w, dtype=torch.float32)[None])
    model.head[-1].weight.zero_()
    model.head[-1].bias.fill_(b)


def linear_start(features: np.ndarray, labels: np.ndarray, C: float = 1.0) -> tuple[np.ndarray, float]:
    """(weights, intercept) on the raw ``features`` (N, F) of the class-balanced L2 logistic regression fit
    on the standardised features: the start of a network's linear path."""
    from sklearn.linear_model import LogisticRegression

    mu, sd = features.mean(0), features.std(0) + 1e-6
    lr = LogisticRegression(C=C, class_weight="balanced", max_iter=2000).fit((features - mu) / sd, labels)
    w = lr.coef_[0] / sd
    return w, float(lr.intercept_[0] - (w * mu).sum())


def class_balanced_mean(loss: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over the classes present of the mean per-sample loss within each class (prevalence-free)."""
    return torch.stack([loss[labels == v].mean() for v in labels.unique()]).mean()


def _balanced_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Class-balanced BCE: the validation criterion of the landmark network."""
    return class_balanced_mean(F.binary_cross_entropy_with_logits(logits, labels, reduction="none"), labels)


def fit_calibration(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Platt scaling (a, b): P(positive) = sigmoid(a * logit + b), a class-balanced, L2-regularised (C = 1)
    logistic regression of the labels on the logits of validation subjects. When the validation subjects
    rank the wrong way round (a <= 0) or hold one class, the logits keep their scale (a = 1) and are only
    shifted so that 0 falls midway between the class means (of the subjects at hand)."""
    from sklearn.linear_model import LogisticRegression

    logits, labels = np.asarray(logits, float), np.asarray(labels, int)
    if len(set(labels.tolist())) == 2:
        lr = LogisticRegression(C=1.0, class_weight="balanced").fit(logits[:, None], labels)
        a, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        if a > 0:
            return a, b
    centre = np.mean([logits[labels == v].mean() for v in set(labels.tolist())]) if len(labels) else 0.0
    return 1.0, float(-centre)


def calibrated(logits: np.ndarray, calibration: tuple[float, float]) -> np.ndarray:
    a, b = calibration
    return 1.0 / (1.0 + np.exp(-(a * np.asarray(logits, float) + b)))


@torch.no_grad()
def predict_logits(model: LandmarkMIL, centred: torch.Tensor, nc: NetConfig) -> np.ndarray:
    """Logits of every volume from its ``centred_patches`` (no jitter)."""
    model.eval()
    out = [model(centred[i:i + nc.batch_size])[0] for i in range(0, len(centred), nc.batch_size)]
    return torch.cat(out).numpy().astype(float)


def predict(model: LandmarkMIL, volumes: torch.Tensor, centres: torch.Tensor, nc: NetConfig,
            calibration: tuple[float, float] = (1.0, 0.0)) -> np.ndarray:
    """Probabilities of the positive class for every volume, no jitter (calibrated with ``calibration``)."""
    return calibrated(predict_logits(model, centred_patches(volumes, centres, nc), nc), calibration)


def train(volumes: torch.Tensor, labels: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray | None,
          centres: torch.Tensor, nc: NetConfig, seed: int, checkpoint: Path, extra_state: dict,
          centred: torch.Tensor | None = None) -> tuple[LandmarkMIL, list[dict]]:
    """Train on ``volumes[train_idx]`` (already normalised, (N, M, X, Y, Z)), early-stop on ``val_idx``;
    with ``val_idx`` None (the refit) all ``nc.epochs`` epochs run and the last weights are returned.
    ``centred``: ``centred_patches(volumes, centres, nc)`` when the caller has them (cut here otherwise).

    ``checkpoint`` is rewritten atomically after every epoch with the full state; if it exists with the
    same ``extra_state`` (data and config fingerprint) training resumes from it. Returns the model with
    the best validation weights and the per-epoch history.
    """
    from tqdm import tqdm

    from mrisynth.io.atomic import atomic_path

    model = make_model(nc, centres.shape[0], volumes.shape[1])
    opt = torch.optim.AdamW(model.parameters(), lr=nc.lr, weight_decay=nc.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    y = torch.tensor(labels, dtype=torch.float32)
    counts = np.bincount(labels[train_idx], minlength=2)
    if counts.min() == 0:
        raise ValueError(f"training split has a single class (counts {counts.tolist()})")
    weights = torch.as_tensor(1.0 / counts[labels[train_idx]], dtype=torch.float64)
    state = {"epoch": 0, "best_loss": float("inf"), "best_epoch": -1, "bad_epochs": 0, "history": [],
             "best_model": copy.deepcopy(model.state_dict())}
    if centred is None:
        centred = centred_patches(volumes, centres, nc)
    init_linear_path(model, centred, labels, train_idx, nc)

    @torch.no_grad()
    def val_loss() -> float | None:
        if val_idx is None:
            return None
        model.eval()
        logits = torch.cat([model(centred[val_idx[i:i + nc.batch_size]])[0] for i in range(0, len(val_idx), nc.batch_size)])
        return _balanced_loss(logits, y[val_idx]).item()

    # epoch 0, the regression alone, is a candidate for early stopping too
    state.update(best_loss=val_loss(), best_epoch=0, best_model=copy.deepcopy(model.state_dict()))
    state["history"].append({"epoch": 0, "train_loss": None, "val_loss": state["best_loss"]})
    if checkpoint.exists():
        ck = torch.load(checkpoint, weights_only=True)
        if ck.get("extra_state") == extra_state:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            gen.set_state(ck["generator"])
            torch.set_rng_state(ck["torch_rng"])
            state = ck["state"]
            log.info("resuming from %s at epoch %d", checkpoint, state["epoch"])
    bar = tqdm(range(state["epoch"], nc.epochs), desc="train", leave=False, initial=state["epoch"], total=nc.epochs)
    for epoch in bar:
        if val_idx is not None and state["bad_epochs"] > nc.patience:
            break
        model.train()
        order = train_idx[torch.multinomial(weights, len(train_idx), replacement=True, generator=gen).numpy()]
        losses = []
        for i in range(0, len(order), nc.batch_size):
            b = order[i:i + nc.batch_size]
            if len(b) < 2:  # batch norm needs two bags
                continue
            # jittered patches for the CNN; the linear path keeps the exact landmarks: with jittered patch means
            # the start regression's training loss was 0.8-1.6 (0.6 without jitter) and the gradient moved it
            # away from its fit, so validation loss only rose from epoch 0 (issue 17)
            logits, _ = model(_patches(volumes[b], centres, nc, gen), centred[b])
            loss = F.binary_cross_entropy_with_logits(logits, y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        loss_val = val_loss()
        state["history"].append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_loss": loss_val})
        if loss_val is None or loss_val < state["best_loss"] - 1e-6:  # the refit keeps its last epoch
            state.update(best_loss=loss_val, best_epoch=epoch + 1, bad_epochs=0,
                         best_model=copy.deepcopy(model.state_dict()))
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        bar.set_postfix(train=f"{np.mean(losses):.3f}", val=f"{loss_val}")
        with atomic_path(checkpoint) as tmp:
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "generator": gen.get_state(),
                        "torch_rng": torch.get_rng_state(), "state": state, "extra_state": extra_state}, tmp)
    model.load_state_dict(state["best_model"])
    model.eval()
    return model, state["history"]
