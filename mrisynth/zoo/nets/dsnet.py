"""DSNet: a multi-branch residual CNN whose pooling is driven by a spatial cosine module.

After the disease-image-specific network of Pan, Liu, Xia, Shen (TPAMI 2022): one branch per input
(modality), each an optional input average pooling (cheaper whole-volume input), a strided stem and
residual stages; on the last feature map a :class:`SpatialCosine`
module compares every location's feature vector with learned class prototypes (cosine similarity). A
location whose similarities differ most between classes is "specific"; the softmax over space of that
contrast is the specificity map, which pools the branch's feature map into one vector. The pooled vectors
of all branches are concatenated (fusion) and a linear head gives the class logits.

The net exposes every stage's feature map and the specificity map of each branch (:meth:`DSNet.branch`),
e.g. for a feature-consistency loss between a synthetic and a real image. 2D or 3D (``spatial_dims``).

An optional ``mask`` of the input's valid region (e.g. the foreground; background and padding outside)
restricts the specificity map to the last feature map's cells that lie at least ``mask_threshold`` (share of
their voxels; default half) inside it: without
it the softmax can put all its mass on featureless background, where the zero padding of the convolutions
makes corners distinct from everything else.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mrisynth.zoo.nets.layers import check_dims, conv, uses_bias
from mrisynth.zoo.nets.layers import norm as make_norm


class ResidualBlock(nn.Module):
    """conv3-norm-ReLU-conv3-norm plus the (1x1 strided when the shape changes) shortcut, then ReLU."""

    def __init__(self, spatial_dims: int, cin: int, cout: int, stride: int, norm: str):
        super().__init__()
        bias = uses_bias(norm)
        self.body = nn.Sequential(
            conv(spatial_dims, cin, cout, 3, stride=stride, padding=1, bias=bias), make_norm(norm, spatial_dims, cout),
            nn.ReLU(inplace=True),
            conv(spatial_dims, cout, cout, 3, padding=1, bias=bias), make_norm(norm, spatial_dims, cout),
        )
        self.skip = (nn.Identity() if stride == 1 and cin == cout else
                     nn.Sequential(conv(spatial_dims, cin, cout, 1, stride=stride, bias=bias), make_norm(norm, spatial_dims, cout)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.skip(x))


class SpatialCosine(nn.Module):
    """Cosine similarity of each location's feature vector to ``n_classes`` learned prototypes.

    ``forward(f)`` with ``f`` (N, C, *S) returns ``(similarity, specificity)``: similarity (N, K, *S) in
    [-1, 1]; specificity (N, 1, *S), the softmax over all locations of ``temperature * (max_k - min_k)``
    of the similarities (sums to 1 per sample). Computed in fp32 (it normalises vectors).
    """

    def __init__(self, channels: int, n_classes: int = 2, temperature: float = 10.0, eps: float = 1e-6):
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        self.prototypes = nn.Parameter(torch.randn(n_classes, channels))
        self.temperature = temperature
        self.eps = eps

    def forward(self, features: torch.Tensor, allowed: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``allowed`` (N, 1, *S) bool: locations the specificity map may use (the rest get 0)."""
        f = F.normalize(features.float(), dim=1, eps=self.eps)
        p = F.normalize(self.prototypes.float(), dim=1, eps=self.eps)
        similarity = torch.einsum("nc...,kc->nk...", f, p)
        contrast = similarity.amax(1) - similarity.amin(1)
        logits = self.temperature * contrast
        if allowed is not None:
            logits = logits.masked_fill(~allowed[:, 0], float("-inf"))
        specificity = torch.softmax(logits.flatten(1), dim=1).view_as(contrast)
        return similarity, specificity.unsqueeze(1)


@dataclass
class BranchOutput:
    features: list[torch.Tensor]  # stem, then one map per residual stage (coarser each time)
    similarity: torch.Tensor  # (N, K, *S) of the last feature map
    specificity: torch.Tensor  # (N, 1, *S), sums to 1 over space
    pooled: torch.Tensor  # (N, C): the last feature map pooled with the specificity map


class Branch(nn.Module):
    """Optional average pooling of the input (``input_pool``), a strided stem (conv3, stride 2) and
    ``n_stages`` residual blocks (stride 2, channels doubled)."""

    def __init__(self, spatial_dims: int, in_channels: int, channels: int, n_stages: int, norm: str, input_pool: int = 1):
        super().__init__()
        self.pool = (nn.AvgPool3d if spatial_dims == 3 else nn.AvgPool2d)(input_pool) if input_pool > 1 else nn.Identity()
        self.stem = nn.Sequential(conv(spatial_dims, in_channels, channels, 3, stride=2, padding=1, bias=uses_bias(norm)),
                                  make_norm(norm, spatial_dims, channels), nn.ReLU(inplace=True))
        self.stages = nn.ModuleList(ResidualBlock(spatial_dims, channels * 2**i, channels * 2 ** (i + 1), 2, norm)
                                    for i in range(n_stages))
        self.out_channels = channels * 2**n_stages

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.stem(self.pool(x))]
        for stage in self.stages:
            feats.append(stage(feats[-1]))
        return feats


class DSNet(nn.Module):
    """``n_branches`` inputs (one per modality) -> class logits; see the module docstring."""

    def __init__(self, n_branches: int = 2, in_channels: int = 1, n_classes: int = 2, channels: int = 8,
                 n_stages: int = 2, norm: str = "instance", temperature: float = 10.0, dropout: float = 0.0,
                 spatial_dims: int = 3, input_pool: int = 1, mask_threshold: float = 0.5):
        super().__init__()
        check_dims(spatial_dims)
        self.mask_threshold = mask_threshold
        if n_branches < 1:
            raise ValueError(f"n_branches must be >= 1, got {n_branches}")
        self.branches = nn.ModuleList(Branch(spatial_dims, in_channels, channels, n_stages, norm, input_pool)
                                      for _ in range(n_branches))
        width = self.branches[0].out_channels
        self.cosine = nn.ModuleList(SpatialCosine(width, n_classes, temperature) for _ in range(n_branches))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(n_branches * width, n_classes))

    @property
    def n_layers(self) -> int:
        """Feature maps per branch (stem + stages): valid layer indices are 0 .. n_layers - 1."""
        return 1 + len(self.branches[0].stages)

    @staticmethod
    def mask_fraction(mask: torch.Tensor, size) -> torch.Tensor:
        """Share of each cell of a feature map of spatial ``size`` inside ``mask`` (N, 1, *S_in): area average."""
        pool = F.adaptive_avg_pool3d if mask.dim() == 5 else F.adaptive_avg_pool2d
        return pool(mask.float(), tuple(size))

    def allowed_cells(self, fraction: torch.Tensor) -> torch.Tensor:
        """Cells at least ``mask_threshold`` inside the mask; for a subject with none (a coarse map of a small
        volume), its most-inside cells, so that the specificity map never becomes 0/0 (NaN)."""
        allowed = fraction >= self.mask_threshold
        shape = (-1,) + (1,) * (fraction.dim() - 1)
        none = ~allowed.flatten(1).any(1).view(shape)
        return allowed | (none & (fraction >= fraction.flatten(1).amax(1).view(shape)))

    def branch(self, index: int, x: torch.Tensor, mask: torch.Tensor | None = None) -> BranchOutput:
        """One branch's output; ``mask`` (N, 1, *S_in) of the input's valid region (see the module doc), or
        already :meth:`mask_fraction` at the last feature map's size (pooling it again returns it exactly)."""
        feats = self.branches[index](x)
        allowed = None if mask is None else self.allowed_cells(self.mask_fraction(mask, feats[-1].shape[2:]))
        similarity, specificity = self.cosine[index](feats[-1], allowed)
        pooled = (feats[-1].float() * specificity).flatten(2).sum(2)
        return BranchOutput(feats, similarity, specificity, pooled)

    def explain(self, *inputs: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, list[BranchOutput]]:
        """(logits, the output of every branch); ``mask``: the inputs' valid region, shared by all branches."""
        if len(inputs) != len(self.branches):
            raise ValueError(f"DSNet has {len(self.branches)} branch(es), got {len(inputs)} input(s)")
        outs = [self.branch(i, x, mask) for i, x in enumerate(inputs)]
        return self.head(torch.cat([o.pooled for o in outs], 1)), outs

    def forward(self, *inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.explain(*inputs, mask=mask)[0]
