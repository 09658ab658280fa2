"""A small digits classifier trained here (no hub weights): its penultimate layer is the feature space
of the zoo's FID / KID / precision-recall, and its softmax the Inception-Score classifier."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DigitsClassifier(nn.Module):
    def __init__(self, size: int = 16, width: int = 32, n_features: int = 64, n_classes: int = 10):
        super().__init__()
        self.config = {"size": size, "width": width, "n_features": n_features, "n_classes": n_classes}
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * width * (size // 4) ** 2, n_features), nn.ReLU(),
        )
        self.head = nn.Linear(n_features, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def train_classifier(x: torch.Tensor, y: torch.Tensor, epochs: int = 15, width: int = 32, seed: int = 0, batch_size: int = 64) -> DigitsClassifier:
    """Adam, small random shifts (+-1 px) as augmentation; deterministic given ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = DigitsClassifier(size=x.shape[-1], width=width, n_classes=int(y.max()) + 1)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch_size):
            idx = perm[i : i + batch_size]
            shift = torch.randint(-1, 2, (2,), generator=gen).tolist()
            xb = torch.roll(x[idx], shifts=shift, dims=(-2, -1))
            loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def embed(model: DigitsClassifier, x: torch.Tensor, batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, class probabilities) of images ``x`` in [-1, 1]."""
    model.eval()
    feats = torch.cat([model.features(x[i : i + batch_size].float()) for i in range(0, len(x), batch_size)])
    return feats, model.head(feats).softmax(1)


@torch.no_grad()
def accuracy(model: DigitsClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((embed(model, x)[1].argmax(1) == y).float().mean())


def save_classifier(model: DigitsClassifier, path) -> None:
    from mrisynth.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        torch.save({"config": model.config, "state": model.state_dict()}, tmp)


def load_classifier(path) -> DigitsClassifier:
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = DigitsClassifier(**state["config"])
    model.load_state_dict(state["state"])
    return model.eval()
