"""Training data: MONAI datasets of (T1, PET) volumes in the networks' range, cached, then random 3D
patches (or whole padded volumes) with optional intensity augmentation of the MRI.

Loading (deterministic, cached): ``LoadImaged`` -> ``ScaleIntensityRanged`` with the fold's intensity
mapping -> plain tensors. ``cache="memory"`` keeps them in a ``CacheDataset``; ``cache="disk"`` uses a
``PersistentDataset`` whose key includes the sha256 of the image files and the mapping, so a changed
preprocessing (or mapping) never reuses a stale cache entry.

Sampling (random): crops, the unpaired partner for CycleGAN and augmentation draw from the GLOBAL torch
RNG, which the trainer checkpoints, so a resumed run draws the same patches as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mrisynth.synthesis.intensity import IntensityMapping


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_dataset(pairs: list[tuple[Path, Path]], mapping: IntensityMapping, cache: str = "memory",
                 cache_dir: str | Path | None = None) -> Dataset:
    """MONAI dataset of ``{"t1", "pet"}`` tensors (1, X, Y, Z) in [-1, 1] for (T1 path, PET path) pairs."""
    from monai.data import CacheDataset, PersistentDataset
    from monai.transforms import Compose, EnsureTyped, Lambda, LoadImaged, ScaleIntensityRanged

    transform = Compose([
        LoadImaged(keys=["t1", "pet"], image_only=True, ensure_channel_first=True),
        EnsureTyped(keys=["t1", "pet"], dtype=torch.float32, track_meta=False),
        ScaleIntensityRanged(keys="t1", a_min=0.0, a_max=mapping.t1_high, b_min=-1.0, b_max=1.0, clip=True),
        Lambda(func=lambda d: {**d, "pet": mapping.pet_to_net(d["pet"], d["t1"])}),  # absolute or residual (intensity.py)
        EnsureTyped(keys=["t1", "pet"], track_meta=False),  # ScaleIntensityRanged re-wraps as MetaTensor
    ])
    items = [{"t1": str(t1), "pet": str(pet)} for t1, pet in pairs]
    if cache == "memory":
        return CacheDataset(items, transform, progress=False, num_workers=0)
    if cache == "disk":
        if cache_dir is None:
            raise ValueError("cache='disk' needs a cache_dir")
        mapping_key = hashlib.sha256(repr(sorted(mapping.describe().items())).encode()
                                     + b"".join(a.numpy().tobytes() for a in (mapping.template, mapping.slope) if a is not None)).hexdigest()
        for item in items:  # part of the cache key: file contents and the mapping
            item["content"] = f"{file_sha256(item['t1'])}:{file_sha256(item['pet'])}:{mapping_key}"
        return PersistentDataset(items, transform, cache_dir=Path(cache_dir))
    raise ValueError(f"cache must be 'memory' or 'disk', got {cache!r}")


def plain(x: torch.Tensor) -> torch.Tensor:
    """A plain ``torch.Tensor`` view: a MONAI MetaTensor (e.g. from an older disk cache) would reach the nets
    and CycleGAN's image pools, and a checkpoint holding MetaTensors fails ``torch.load(weights_only=True)``."""
    return x.as_subclass(torch.Tensor)


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "replicate") -> tuple[torch.Tensor, tuple[int, ...]]:
    """Pad the last three axes of (N, C, X, Y, Z) at their ends up to a multiple; returns (padded, original size)."""
    size = tuple(x.shape[-3:])
    pad = []
    for n in reversed(size):
        pad += [0, (-n) % multiple]
    return (F.pad(x, pad, mode=mode) if any(pad) else x), size


def crop_like(x: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    return x[..., : size[0], : size[1], : size[2]]


def foreground_box(t1: torch.Tensor) -> list[tuple[int, int]]:
    """Per spatial axis, the (first, last) index where the T1 (net range, background -1) has signal."""
    fg = t1[0] > -1.0 + 1e-3
    if not fg.any():
        return [(0, n - 1) for n in fg.shape]
    return [(int(i.min()), int(i.max())) for i in fg.nonzero().unbind(1)]


def random_crop(volume: torch.Tensor, patch: int, box: list[tuple[int, int]] | None = None) -> torch.Tensor:
    """A random ``patch``^3 crop of (C, X, Y, Z) (replicate-padded first where an axis is shorter). With
    ``box``, the patch centre is drawn inside it (the head), so no patch is pure background: constant
    patches make InstanceNorm statistics degenerate (NaN under bf16)."""
    short = [max(patch - n, 0) for n in volume.shape[1:]]
    if any(short):
        volume = F.pad(volume[None], [0, short[2], 0, short[1], 0, short[0]], mode="replicate")[0]
    if box is None:
        box = [(0, n - 1) for n in volume.shape[1:]]
    starts = []
    for (lo, hi), n in zip(box, volume.shape[1:]):
        centre = lo + int(torch.randint(max(hi - lo + 1, 1), ()))
        starts.append(min(max(centre - patch // 2, 0), n - patch))
    return volume[:, starts[0] : starts[0] + patch, starts[1] : starts[1] + patch, starts[2] : starts[2] + patch]


class VolumePairs(Dataset):
    """(MRI, PET) training pairs from a loaded dataset: random ``patch_size``^3 crops (0: whole volumes,
    padded to ``multiple``), PET from another random subject and crop when ``unpaired`` (CycleGAN), and
    an MRI intensity augmentation ``x * (1 + U(-scale, scale)) + U(-shift, shift)``."""

    def __init__(self, base: Dataset, patch_size: int = 32, multiple: int = 16, unpaired: bool = False,
                 intensity_scale: float = 0.0, intensity_shift: float = 0.0):
        self.base = base
        self.patch_size = patch_size
        self.multiple = multiple
        self.unpaired = unpaired
        self.intensity_scale = intensity_scale
        self.intensity_shift = intensity_shift

    def __len__(self) -> int:
        return len(self.base)

    def _sample(self, volume: torch.Tensor, t1: torch.Tensor) -> torch.Tensor:
        if self.patch_size:
            return random_crop(volume, self.patch_size, foreground_box(t1))
        return pad_to_multiple(volume[None], self.multiple)[0][0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        item = self.base[i]
        t1, pet = plain(item["t1"]), plain(item["pet"])
        if self.unpaired:
            other = self.base[int(torch.randint(len(self.base), ()))]
            mri, pet = self._sample(t1, t1), self._sample(plain(other["pet"]), plain(other["t1"]))
        elif self.patch_size:  # the same crop of both
            both = self._sample(torch.cat([t1, pet], 0), t1)
            mri, pet = both[:1], both[1:]
        else:
            mri, pet = self._sample(t1, t1), self._sample(pet, t1)
        if self.intensity_scale or self.intensity_shift:
            scale = 1.0 + (2 * torch.rand(()) - 1) * self.intensity_scale
            shift = (2 * torch.rand(()) - 1) * self.intensity_shift
            mri = (mri * scale + shift).clamp(-1.0, 1.0)
        return mri.contiguous(), pet.contiguous()


class StagedPairs(Dataset):
    """Items of ``pairs`` with ``k`` labelled MRIs appended, for the generator's severity path: (k, C, X, Y, Z)
    images drawn at random (global torch RNG, so a resumed run draws the same) from ``images`` (C, X, Y, Z),
    and their disease stages (k,)."""

    def __init__(self, pairs: Dataset, images: list[torch.Tensor], stages: list[float], k: int = 4):
        if not images or len(images) != len(stages):
            raise ValueError(f"{len(images)} labelled images but {len(stages)} stages: need as many, at least one")
        self.pairs, self.images, self.stages, self.k = pairs, images, torch.tensor(stages, dtype=torch.float32), k

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int):
        pick = torch.randint(len(self.images), (self.k,))
        return (*self.pairs[i], torch.stack([self.images[int(j)] for j in pick]), self.stages[pick])
