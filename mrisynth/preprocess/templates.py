"""The MNI152 templates every preprocessing job needs, computed once per run instead of once per job.

Each job needs the T1 template and brain mask at the working resolution (registration target and metric
mask) and on the output grid (skull stripping, QC NCC). Loading them through nilearn and anti-aliasing
the 1 mm volumes cost every one of the ~120 demo jobs about 2 CPU-s; ``mrisynth preprocess-templates``
writes them once (``.npz``: float32 voxels, float64 geometry, so the images read back are identical) and
``mrisynth preprocess --templates`` reads them.
"""

from __future__ import annotations

import zipfile

import numpy as np
import SimpleITK as sitk

from mrisynth.errors import InputError
from mrisynth.io.atomic import atomic_path
from mrisynth.preprocess import images
from mrisynth.preprocess.images import OutputGrid

KINDS = ("t1", "brain_mask")


def _key(grid: OutputGrid) -> np.ndarray:
    """What the saved templates depend on: working resolution, grid shape and affine."""
    return np.concatenate([[grid.resolution_mm], np.asarray(grid.shape, float), np.ravel(grid.affine)])


def save(path, grid: OutputGrid) -> None:
    from mrisynth.preprocess.t1 import template_on_grid

    arrays = {"key": _key(grid)}
    for kind in KINDS:
        image = images.template_image(kind, grid.resolution_mm)
        arrays[f"{kind}_image"] = sitk.GetArrayFromImage(image)
        arrays[f"{kind}_geometry"] = np.concatenate([image.GetOrigin(), image.GetSpacing(), image.GetDirection()])
        arrays[f"{kind}_grid"] = template_on_grid(kind, grid)
    # an .npz written member by member with a fixed timestamp (np.savez stamps the current time), so that the
    # same templates are the same bytes (make test-cluster compares every file of two runs)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        for name, array in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(member, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asarray(array), allow_pickle=False)


def load(path, grid: OutputGrid) -> None:
    """Make ``images.template_image`` and ``t1.template_on_grid`` return the saved templates for ``grid``."""
    try:
        data = np.load(path)
        key = data["key"]
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"templates {path}: cannot be read ({exc})") from None
    if key.shape != _key(grid).shape or not np.array_equal(key, _key(grid)):
        raise InputError(f"templates {path}: made for another grid or resolution than the config's; remake it")
    for kind in KINDS:
        image = sitk.GetImageFromArray(data[f"{kind}_image"])
        geometry = data[f"{kind}_geometry"]
        image.SetOrigin(geometry[:3].tolist())
        image.SetSpacing(geometry[3:6].tolist())
        image.SetDirection(geometry[6:].tolist())
        images.LOADED_TEMPLATES[(kind, grid.resolution_mm)] = image
        images.LOADED_TEMPLATES[(kind, grid)] = data[f"{kind}_grid"]
