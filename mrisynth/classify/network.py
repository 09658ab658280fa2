"""Landmark-based multi-scale multi-modal multi-instance network (after LDMIL, Liu et al. MedIA 2018, and
LM3IL, Pan et al. MICCAI 2018).

For every landmark, cubic patches of several sizes are cut around it from each modality and resampled to
one size (area averaging). Per modality and per scale a small 3D CNN (weights shared by all landmarks;
the CNNs run together as grouped convolutions) turns a patch into a vector; the scales are concatenated, the modalities fused by a linear layer, a
learned landmark embedding is added, and the instances (landmarks) are pooled by gated attention (Ilse
et al. 2018) or max. A linear head gives one logit (positive class: pMCI / AD).

The papers use one CNN branch per landmark; sharing the branch and adding a landmark embedding keeps the
parameter count independent of the number of landmarks, which is what a small cohort can afford.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def extract_patches(volumes: torch.Tensor, centres: torch.Tensor, size: int, out: int) -> torch.Tensor:
    """Patches (B, L, C, out, out, out) of ``size`` voxels around ``centres`` (B, L, 3) voxel indices of
    ``volumes`` (B, C, X, Y, Z); trilinear sampling at unit steps (zeros outside), then area averaging."""
    b, c = volumes.shape[:2]
    dims = torch.tensor(volumes.shape[2:], dtype=volumes.dtype, device=volumes.device)
    offs = torch.arange(size, dtype=volumes.dtype, device=volumes.device) - (size - 1) / 2
    grid = torch.stack(torch.meshgrid(offs, offs, offs, indexing="ij"), -1)  # (s, s, s, 3)
    pts = centres.to(volumes.dtype)[:, :, None, None, None, :] + grid  # (B, L, s, s, s, 3)
    norm = 2 * pts / (dims - 1) - 1
    norm = norm.flip(-1)  # grid_sample wants (z, y, x) order = (last, middle, first array axis)
    n_l = centres.shape[1]
    sampled = F.grid_sample(volumes, norm.reshape(b, n_l * size, size, size, 3), mode="bilinear",
                            padding_mode="zeros", align_corners=True)  # (B, C, L*s, s, s)
    sampled = sampled.reshape(b, c, n_l, size, size, size).permute(0, 2, 1, 3, 4, 5)
    if size != out:
        sampled = F.adaptive_avg_pool3d(sampled.reshape(b * n_l * c, 1, size, size, size), out)
        sampled = sampled.reshape(b, n_l, c, out, out, out)
    return sampled


class PatchEncoder(nn.Module):
    """Small 3D CNN, one independent copy per input channel (a modality at a scale), run as grouped
    convolutions so all copies cost one call: (N, G, s, s, s) -> (N, G * 2 * channels * (s // 2)^3).

    The last feature map is flattened, not averaged: a patch is centred on its landmark, so where in the
    patch a feature sits matters (LDMIL's sub-networks end in fully connected layers for the same reason;
    global average pooling made the network blind to whether the change is at the landmark)."""

    def __init__(self, groups: int, channels: int, size: int):
        super().__init__()
        g, c = groups, channels
        self.out_features = g * 2 * c * (size // 2) ** 3
        self.net = nn.Sequential(
            nn.Conv3d(g, g * c, 3, padding=1, groups=g), nn.BatchNorm3d(g * c), nn.ReLU(inplace=True),
            nn.Conv3d(g * c, g * c, 3, padding=1, groups=g), nn.BatchNorm3d(g * c), nn.ReLU(inplace=True),
            nn.MaxPool3d(2),
            nn.Conv3d(g * c, g * 2 * c, 3, padding=1, groups=g), nn.BatchNorm3d(g * 2 * c), nn.ReLU(inplace=True),
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class LandmarkMIL(nn.Module):
    """Input: patches (B, L, S * M, s, s, s), channel = scale * M + modality. Output: logits (B,) and
    attention / selection weights over landmarks (B, L)."""

    def __init__(self, n_landmarks: int, n_modalities: int, n_scales: int, channels: int = 8, features: int = 32,
                 pooling: str = "attention", dropout: float = 0.3, patch_out: int = 4):
        super().__init__()
        if pooling not in ("attention", "max", "concat"):
            raise ValueError(f"pooling must be 'attention', 'max' or 'concat', not {pooling!r}")
        self.pooling = pooling
        groups = n_modalities * n_scales
        self.encoder = PatchEncoder(groups, channels, patch_out)
        # modality (and scale) fusion: one linear layer over the concatenated per-channel features
        self.fuse = nn.Sequential(nn.Linear(self.encoder.out_features, features), nn.ReLU(inplace=True))
        self.embedding = nn.Embedding(n_landmarks, features)
        nn.init.normal_(self.embedding.weight, std=0.1)
        self.att_v = nn.Linear(features, features)
        self.att_u = nn.Linear(features, features)
        self.att_w = nn.Linear(features, 1)
        # concat: the landmarks' features side by side, one linear head (LDMIL's fully connected fusion)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(features * (n_landmarks if pooling == "concat" else 1), 1))
        # the linear path: a logistic regression on the centre-weighted mean of every patch (landmark x scale
        # x modality; Gaussian weights, sd a quarter of the patch), added to the CNN's logit, so the network
        # learns at least what that regression on the landmarks' intensities learns (wide & deep)
        offs = torch.arange(patch_out, dtype=torch.float32) - (patch_out - 1) / 2
        g1 = torch.exp(-0.5 * (offs / (patch_out / 4)) ** 2)
        centre = g1[:, None, None] * g1[None, :, None] * g1[None, None, :]
        self.register_buffer("centre_weights", centre / centre.sum(), persistent=False)
        self.linear = nn.Linear(n_landmarks * groups, 1, bias=False)
        nn.init.zeros_(self.linear.weight)

    def instances(self, patches: torch.Tensor) -> torch.Tensor:
        """Per-landmark features (B, L, features)."""
        b, n_l = patches.shape[:2]
        h = self.fuse(self.encoder(patches.flatten(0, 1)).reshape(b, n_l, -1))
        return h + self.embedding.weight[None]

    def forward(self, patches: torch.Tensor, centred: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``centred``: the same patches at the exact landmarks, for the linear path, when ``patches`` are
        jittered (augmentation is for the CNN; the regression's features must stay the ones it was fit on)."""
        h = self.instances(patches)
        if self.pooling == "attention":
            a = self.att_w(torch.tanh(self.att_v(h)) * torch.sigmoid(self.att_u(h))).squeeze(-1)
            weights = torch.softmax(a, dim=1)
            bag = (weights[..., None] * h).sum(1)
        elif self.pooling == "concat":
            bag = h.flatten(1)
            weights = torch.full(h.shape[:2], 1.0 / h.shape[1], dtype=h.dtype, device=h.device)
        else:
            bag, idx = h.max(1)
            weights = F.one_hot(idx, h.shape[1]).float().mean(1)  # share of features each landmark won
        linear = self.linear(self.patch_means(patches if centred is None else centred))
        return (self.head(bag) + linear).squeeze(-1), weights

    def patch_means(self, patches: torch.Tensor) -> torch.Tensor:
        """Centre-weighted mean of every patch, the linear path's input: (B, L * S * M)."""
        return (patches * self.centre_weights).sum(dim=(3, 4, 5)).flatten(1)
