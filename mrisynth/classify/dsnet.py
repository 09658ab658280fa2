"""The DSNet classifier: whole-brain volumes, one DSNet branch per modality (T1, PET), spatial cosine
module and specificity-map pooling (:mod:`mrisynth.zoo.nets.dsnet`) restricted to the brain mask, plus a
linear path on the subject's ROI means (the regional baseline's features). Training starts at the
class-balanced logistic regression on those ROI means of the training subjects (the DSNet's output layer
zeroed), so epoch 0 is that regression and a candidate for early stopping on the validation loss, as for
the landmark network (:func:`mrisynth.classify.train.init_linear_path`): with ~40 training subjects a
whole-brain CNN alone overfit within 2-3 epochs and ranked test subjects near chance (issue 17). Trained
with class-balanced sampling and early stopping on the validation split, its logits calibrated on the
validation subjects (:func:`mrisynth.classify.train.fit_calibration`), then refit on training + validation
subjects for the chosen number of epochs. Writes the model, the per-epoch
history, the share of the specificity mass inside the brain (``specificity.json``: per branch, over the
test subjects) and a figure of the PET-branch (or T1-branch) specificity maps of a few test subjects."""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from mrisynth.io.atomic import atomic_path, save_figure, write_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DSNetConfig:
    channels: int
    n_stages: int
    input_pool: int
    temperature: float
    dropout: float
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    patience: int
    mask_threshold: float
    inner_folds: int = 0

    @classmethod
    def from_config(cls, c: dict) -> DSNetConfig:
        return cls(c["channels"], c["n_stages"], c["input_pool"], c["temperature"], c["dropout"], c["epochs"],
                   c["batch_size"], c["lr"], c["weight_decay"], c["patience"], c["mask_threshold"], c["inner_folds"])


def _wide_dsnet(net, n_features: int):
    """The DSNet plus a linear path on ROI means: one logit, the DSNet's log-odds plus the linear term."""
    import torch
    from torch import nn

    class WideDSNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net
            self.linear = nn.Linear(n_features, 1)

        def forward(self, inputs: list, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            out = self.net(*inputs, mask=mask)
            return out[:, 1] - out[:, 0] + self.linear(features).squeeze(-1)

    return WideDSNet()


def in_brain_mass(specificity, mask) -> np.ndarray:
    """Share of each subject's specificity mass (N, 1, *S) inside its brain ``mask`` (N, 1, *S_in): the
    mass of every cell times the share of the cell's voxels in the mask."""
    from mrisynth.zoo.nets.dsnet import DSNet

    frac = DSNet.mask_fraction(mask, specificity.shape[2:])
    return (specificity * frac).flatten(1).sum(1).numpy().astype(float)


def train_predict(volumes: np.ndarray, labels: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray,
                  dc: DSNetConfig, seed: int, out_dir: Path, figure_idx: np.ndarray, masks: np.ndarray,
                  test_idx: np.ndarray, roi_features: np.ndarray, roi_C: float = 1.0) -> np.ndarray:
    """Train on normalised ``volumes`` (N, M, X, Y, Z) of ``train_idx``, choose the epoch (0: the regression
    start) by the balanced validation loss and the calibration on ``val_idx``, then refit the same recipe on
    train + val for that many epochs (as the landmark network: ~50 subjects cannot spare a validation
    fifth); return its P(positive) for every subject. ``masks`` (N, X, Y, Z): the brain masks the
    specificity maps are restricted to; ``roi_features`` (N, F): the linear path's input."""
    import torch

    from mrisynth.classify.train import calibrated, fit_calibration
    from mrisynth.seeding import seed_everything

    full = torch.from_numpy(np.ascontiguousarray(volumes, dtype=np.float32))  # for the figure
    x, brain = _net_inputs(full, torch.from_numpy(np.ascontiguousarray(masks[:, None], dtype=np.float32)), dc)
    feats = torch.as_tensor(roi_features, dtype=torch.float32)

    def logits_of(model, idx) -> torch.Tensor:  # log-odds of the positive class, batched, no gradient
        model.eval()
        with torch.no_grad():
            return torch.cat([_forward(model, x, feats, brain, idx[i:i + dc.batch_size])
                              for i in range(0, len(idx), dc.batch_size)])

    dev = np.concatenate([train_idx, val_idx])
    inner = min(dc.inner_folds, int(np.bincount(labels[dev], minlength=2).min()))  # every inner fold holds both classes
    if inner >= 2:
        roi_C = _start_C(feats.double().numpy()[dev], labels[dev], inner, seed)
        history, best_epoch, calibration = _inner_cv(x, feats, brain, labels, dev, replace(dc, inner_folds=inner), seed,
                                                     roi_C, logits_of)
    else:
        seed_everything(seed)
        model, history, best_epoch = _fit(x, feats, brain, labels, train_idx, val_idx, dc, dc.epochs, seed, roi_C,
                                          logits_of)
        calibration = fit_calibration(logits_of(model, val_idx).numpy().astype(float), labels[val_idx])
    log.info("DSNet: %d epochs", best_epoch)
    with atomic_path(out_dir / "history.csv") as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)
    seed_everything(seed)
    model, _, _ = _fit(x, feats, brain, labels, dev, None, dc, best_epoch, seed, roi_C, logits_of)
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save({"state": model.state_dict(), "config": dc.__dict__, "epochs": best_epoch,
                    "refit_subjects": len(dev)}, tmp)
    net = model.net
    logits = logits_of(model, np.arange(len(x))).numpy().astype(float)
    with torch.no_grad():
        masses = []
        for i in range(0, len(test_idx), dc.batch_size):
            idx = test_idx[i:i + dc.batch_size]
            _, branches = net.explain(*[x[idx, m:m + 1] for m in range(x.shape[1])], mask=brain[idx])
            masses.append(np.stack([in_brain_mass(b.specificity, brain[idx]) for b in branches], 1))
        mass = np.concatenate(masses)  # (test subjects, branches)
        write_text(out_dir / "specificity.json", json.dumps({
            "in_brain_mass": {"mean": float(mass.mean()), "min": float(mass.min()),
                              "per_branch_mean": mass.mean(0).round(6).tolist()},
            "branches": ["T1", "PET"][: x.shape[1]], "subjects": "test", "calibration": list(calibration),
            "epochs": best_epoch, "start_C": roi_C}) + "\n")
        if len(figure_idx):
            batch = x[figure_idx]
            _, branches = net.explain(*[batch[:, m:m + 1] for m in range(x.shape[1])], mask=brain[figure_idx])
            save_specificity_figure(full[figure_idx, -1].numpy(), branches[-1].specificity[:, 0].numpy(),
                                    labels[figure_idx], out_dir / "specificity.png",
                                    "PET" if x.shape[1] > 1 else "T1")
    log.info("DSNet: specificity mass in the brain %.3f (mean over test subjects and branches)", mass.mean())
    return calibrated(logits, calibration)


def _net_inputs(x, brain, dc: DSNetConfig):
    """(inputs, mask) as every forward pass uses them, computed once per job instead of per batch (the two
    poolings were 17% of a DSNet job): the branches' input average pooling (``input_pool``), and the brain
    mask as the share of each cell of the last feature map inside it (:meth:`DSNet.mask_fraction`; pooling
    that share again to its own size returns it exactly). Both pool each subject on its own, so the values
    are those of the per-batch pooling bit for bit; the nets are then built with ``input_pool`` 1."""
    import torch
    import torch.nn.functional as F

    from mrisynth.zoo.nets.dsnet import DSNet

    if dc.input_pool > 1:
        x = torch.cat([F.avg_pool3d(x[i:i + 8], dc.input_pool) for i in range(0, len(x), 8)])
    with torch.random.fork_rng(devices=[]), torch.no_grad():  # a throw-away net for the feature map's size
        probe = _dsnet(x.shape[1], dc)
        size = probe.branches[0](x[:1, :1])[-1].shape[2:]
    return x, DSNet.mask_fraction(brain, size)


def _dsnet(n_branches: int, dc: DSNetConfig):
    from mrisynth.zoo.nets.dsnet import DSNet

    return DSNet(n_branches=n_branches, in_channels=1, n_classes=2, channels=dc.channels, n_stages=dc.n_stages,
                 temperature=dc.temperature, dropout=dc.dropout, spatial_dims=3, input_pool=1,
                 mask_threshold=dc.mask_threshold)


def _inner_cv(x, feats, brain, labels: np.ndarray, dev: np.ndarray, dc: DSNetConfig, seed: int, roi_C: float,
              logits_of) -> tuple[list[dict], int, tuple[float, float]]:
    """(history, epochs, calibration) from a stratified ``dc.inner_folds``-fold cross-validation over ``dev``:
    every fold trains all ``dc.epochs`` epochs; per epoch the held-out logits of all folds are pooled into one
    balanced loss; the epochs are the argmin of that curve and the calibration is the Platt fit of the pooled
    held-out logits at that epoch."""
    import torch
    from sklearn.model_selection import StratifiedKFold

    from mrisynth.classify.train import _balanced_loss, fit_calibration
    from mrisynth.seeding import seed_everything

    held = np.full((dc.epochs + 1, len(labels)), np.nan)
    train_losses = np.zeros((dc.inner_folds, dc.epochs + 1))
    folds = StratifiedKFold(dc.inner_folds, shuffle=True, random_state=seed).split(dev, labels[dev])
    for k, (a, b) in enumerate(folds):
        seed_everything(seed + k)
        _, history, _ = _fit(x, feats, brain, labels, dev[a], dev[b], dc, dc.epochs, seed + k, roi_C, logits_of,
                             held_out=held)
        train_losses[k] = [np.nan if h["train_loss"] is None else h["train_loss"] for h in history]
    y = torch.tensor(labels[dev], dtype=torch.float32)
    curve = [_balanced_loss(torch.as_tensor(held[e, dev], dtype=torch.float32), y).item() for e in range(dc.epochs + 1)]
    epochs = int(np.argmin(curve))
    history = [{"epoch": e, "train_loss": None if e == 0 else float(train_losses[:, e].mean()), "val_loss": curve[e]}
               for e in range(dc.epochs + 1)]
    return history, epochs, fit_calibration(held[epochs, dev], labels[dev])


def _start_C(features: np.ndarray, labels: np.ndarray, folds: int, seed: int) -> float:
    """The L2 strength of the start regression by cross-validated log-loss over the development subjects
    (C = 1 was overconfident out of sample: held-out loss 0.82-0.91 > ln 2 at epoch 0 on the demo)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    z = (features - features.mean(0)) / (features.std(0) + 1e-6)
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    grid = np.logspace(-3, 1, 9)
    scores = [cross_val_score(LogisticRegression(C=c, class_weight="balanced", max_iter=2000), z, labels, cv=cv,
                              scoring="neg_log_loss").mean() for c in grid]
    return float(grid[int(np.argmax(scores))])


def smoothed_argmin(losses: list[float]) -> int:
    """Index of the lowest mean of each loss and its neighbours (one each side, where they exist)."""
    v = np.asarray(losses, float)
    means = [v[max(0, i - 1):i + 2].mean() for i in range(len(v))]
    return int(np.argmin(means))


def _forward(model, x, feats, brain, idx):
    """One (B, 1, X, Y, Z) input per modality / branch -> the log-odds of the positive class."""
    batch = x[idx]
    return model([batch[:, m:m + 1] for m in range(x.shape[1])], feats[idx], brain[idx])


def _fit(x, feats, brain, labels: np.ndarray, fit_idx: np.ndarray, val_idx: np.ndarray | None, dc: DSNetConfig,
         epochs: int, seed: int, roi_C: float, logits_of, held_out: np.ndarray | None = None):
    """(model, history, chosen epoch): started at the regression on ``fit_idx``'s ROI means, trained ``epochs``
    epochs on ``fit_idx``; with ``val_idx`` the weights of the epoch of the lowest balanced validation loss
    averaged with its neighbours' (epoch 0, the regression alone, a candidate: the network must earn its
    place; the average because single epochs' losses on ~11 subjects jumped 0.37 -> 0.76 -> 0.53), without
    it the last epoch's. With ``held_out`` (epochs + 1, N) every epoch runs (no early stopping) and each
    epoch's validation logits are written into its row."""
    import torch

    from mrisynth.classify.train import _balanced_loss, linear_start

    y = torch.tensor(np.asarray(labels), dtype=torch.float32)
    net = _dsnet(x.shape[1], dc)  # x already pooled (_net_inputs)
    model = _wide_dsnet(net, feats.shape[1])
    with torch.no_grad():  # start at the regression on the ROI means: the DSNet's output layer adds nothing yet
        w, b = linear_start(feats.double().numpy()[fit_idx], labels[fit_idx], roi_C)
        model.linear.weight.copy_(torch.as_tensor(w, dtype=torch.float32)[None])
        model.linear.bias.fill_(b)
        net.head[-1].weight.zero_()
        net.head[-1].bias.zero_()
    opt = torch.optim.AdamW(model.parameters(), lr=dc.lr, weight_decay=dc.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    counts = np.bincount(labels[fit_idx], minlength=2)
    weights = torch.as_tensor(1.0 / counts[labels[fit_idx]], dtype=torch.float64)

    def val_loss():
        if val_idx is None:
            return None
        logits = logits_of(model, val_idx)
        if held_out is not None:
            held_out[len(history), val_idx] = logits.numpy()  # the epoch about to be appended
        return _balanced_loss(logits, y[val_idx]).item()

    history: list[dict] = []
    best = {"loss": val_loss(), "epoch": 0}
    states = [copy.deepcopy(model.state_dict())]
    history, bad = [{"epoch": 0, "train_loss": None, "val_loss": best["loss"]}], 0
    for epoch in range(1, epochs + 1):
        model.train()
        order = fit_idx[torch.multinomial(weights, len(fit_idx), replacement=True, generator=gen).numpy()]
        losses = []
        for i in range(0, len(order), dc.batch_size):
            b = order[i:i + dc.batch_size]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(_forward(model, x, feats, brain, b), y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        loss_val = val_loss()
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_loss": loss_val})
        states.append(copy.deepcopy(model.state_dict()))
        if loss_val is None or loss_val < best["loss"] - 1e-6:
            best, bad = {"loss": loss_val, "epoch": epoch}, 0
        else:
            bad += 1
            if bad > dc.patience and held_out is None:
                break
    chosen = len(states) - 1 if val_idx is None else smoothed_argmin([h["val_loss"] for h in history])
    model.load_state_dict(states[chosen])
    model.eval()
    return model, history, chosen


def save_specificity_figure(images: np.ndarray, maps: np.ndarray, labels: np.ndarray, path: Path, modality: str) -> None:
    """Mid axial slice of each subject's image with its branch's specificity map (upsampled) on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.ndimage import zoom

    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.8), squeeze=False)
    for ax, img, m, lab in zip(axes[0], images, maps, labels):
        up = zoom(m, [a / b for a, b in zip(img.shape, m.shape)], order=1)
        z = img.shape[2] // 2
        ax.imshow(np.rot90(img[:, :, z]), cmap="gray")
        ax.imshow(np.rot90(up[:, :, z]), cmap="hot", alpha=0.5)
        ax.set_title(f"label {int(lab)}", fontsize=8)
        ax.axis("off")
    fig.suptitle(f"DSNet {modality}-branch specificity maps (test subjects)", fontsize=9)
    save_figure(fig, path)
