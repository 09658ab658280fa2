"""The DSNet classifier: whole-brain volumes, one DSNet branch per modality (T1, PET), spatial cosine
module and specificity-map pooling (:mod:`mrisynth.zoo.nets.dsnet`) restricted to the brain mask, plus a
linear path on the subject's ROI means (the regional baseline's features). Training starts at the
class-balanced logistic regression on those ROI means of the training subjects (the DSNet's output layer
zeroed), so epoch 0 is that regression and a candidate for early stopping on the validation loss, as for
the landmark network (:func:`mrisynth.classify.train.init_linear_path`): with ~40 training subjects a
whole-brain CNN alone overfit within 2-3 epochs and ranked test subjects near chance (issue 17). Trained
with class-balanced sampling and early stopping on the validation split, its logits calibrated on the
validation subjects (:func:`mrisynth.classify.train.fit_calibration`). Writes the model, the per-epoch
history, the share of the specificity mass inside the brain (``specificity.json``: per branch, over the
test subjects) and a figure of the PET-branch (or T1-branch) specificity maps of a few test subjects."""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass
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

    @classmethod
    def from_config(cls, c: dict) -> DSNetConfig:
        return cls(c["channels"], c["n_stages"], c["input_pool"], c["temperature"], c["dropout"], c["epochs"],
                   c["batch_size"], c["lr"], c["weight_decay"], c["patience"], c["mask_threshold"])


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
    """Train on normalised ``volumes`` (N, M, X, Y, Z) of ``train_idx``, keep the weights of the best balanced
    validation loss; return P(positive) for every subject, calibrated on ``val_idx``. ``masks`` (N, X, Y, Z):
    the brain masks the specificity maps are restricted to; ``roi_features`` (N, F): the linear path's input."""
    import torch

    from mrisynth.seeding import seed_everything
    from mrisynth.zoo.nets.dsnet import DSNet

    seed_everything(seed)
    x = torch.from_numpy(np.ascontiguousarray(volumes, dtype=np.float32))
    brain = torch.from_numpy(np.ascontiguousarray(masks[:, None], dtype=np.float32))
    y = torch.tensor(np.asarray(labels), dtype=torch.float32)
    feats = torch.as_tensor(roi_features, dtype=torch.float32)
    net = DSNet(n_branches=x.shape[1], in_channels=1, n_classes=2, channels=dc.channels, n_stages=dc.n_stages,
                temperature=dc.temperature, dropout=dc.dropout, spatial_dims=3, input_pool=dc.input_pool,
                mask_threshold=dc.mask_threshold)
    model = _wide_dsnet(net, feats.shape[1])
    with torch.no_grad():  # start at the regression on the ROI means: the DSNet's output layer adds nothing yet
        from mrisynth.classify.train import linear_start

        w, b = linear_start(np.asarray(roi_features, np.float64)[train_idx], labels[train_idx], roi_C)
        model.linear.weight.copy_(torch.as_tensor(w, dtype=torch.float32)[None])
        model.linear.bias.fill_(b)
        net.head[-1].weight.zero_()
        net.head[-1].bias.zero_()
    opt = torch.optim.AdamW(model.parameters(), lr=dc.lr, weight_decay=dc.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    counts = np.bincount(labels[train_idx], minlength=2)
    weights = torch.as_tensor(1.0 / counts[labels[train_idx]], dtype=torch.float64)

    def forward(idx):  # the log-odds of the positive class; one (B, 1, X, Y, Z) input per modality / branch
        batch = x[idx]
        return model([batch[:, m:m + 1] for m in range(x.shape[1])], feats[idx], brain[idx])

    from mrisynth.classify.train import _balanced_loss

    def val_loss():
        model.eval()
        with torch.no_grad():
            return _balanced_loss(torch.cat([forward(val_idx[i:i + dc.batch_size])
                                             for i in range(0, len(val_idx), dc.batch_size)]), y[val_idx]).item()

    # epoch 0, the regression alone, is a candidate too: the network must earn its place on validation
    best = {"loss": val_loss(), "epoch": 0, "state": copy.deepcopy(model.state_dict())}
    history, bad = [{"epoch": 0, "train_loss": None, "val_loss": best["loss"]}], 0
    for epoch in range(1, dc.epochs + 1):
        model.train()
        order = train_idx[torch.multinomial(weights, len(train_idx), replacement=True, generator=gen).numpy()]
        losses = []
        for i in range(0, len(order), dc.batch_size):
            b = order[i:i + dc.batch_size]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(forward(b), y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        loss_val = val_loss()
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "val_loss": loss_val})
        if loss_val < best["loss"] - 1e-6:
            best, bad = {"loss": loss_val, "epoch": epoch, "state": copy.deepcopy(model.state_dict())}, 0
        else:
            bad += 1
            if bad > dc.patience:
                break
    model.load_state_dict(best["state"])
    model.eval()
    log.info("DSNet: best epoch %d (balanced val loss %.4f)", best["epoch"], best["loss"])
    with atomic_path(out_dir / "history.csv") as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save({"state": best["state"], "config": dc.__dict__, "best_epoch": best["epoch"]}, tmp)
    from mrisynth.classify.train import calibrated, fit_calibration

    with torch.no_grad():
        logits = torch.cat([forward(np.arange(i, min(i + dc.batch_size, len(x))))
                            for i in range(0, len(x), dc.batch_size)]).numpy().astype(float)
        calibration = fit_calibration(logits[val_idx], labels[val_idx])
        masses = []
        for i in range(0, len(test_idx), dc.batch_size):
            idx = test_idx[i:i + dc.batch_size]
            _, branches = net.explain(*[x[idx, m:m + 1] for m in range(x.shape[1])], mask=brain[idx])
            masses.append(np.stack([in_brain_mass(b.specificity, brain[idx]) for b in branches], 1))
        mass = np.concatenate(masses)  # (test subjects, branches)
        write_text(out_dir / "specificity.json", json.dumps({
            "in_brain_mass": {"mean": float(mass.mean()), "min": float(mass.min()),
                              "per_branch_mean": mass.mean(0).round(6).tolist()},
            "branches": ["T1", "PET"][: x.shape[1]], "subjects": "test", "calibration": list(calibration)}) + "\n")
        if len(figure_idx):
            batch = x[figure_idx]
            _, branches = net.explain(*[batch[:, m:m + 1] for m in range(x.shape[1])], mask=brain[figure_idx])
            save_specificity_figure(x[figure_idx, -1].numpy(), branches[-1].specificity[:, 0].numpy(),
                                    labels[figure_idx], out_dir / "specificity.png",
                                    "PET" if x.shape[1] > 1 else "T1")
    log.info("DSNet: specificity mass in the brain %.3f (mean over test subjects and branches)", mass.mean())
    return calibrated(logits, calibration)


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
