"""The MNI152 2009a symmetric templates shipped inside the nilearn wheel, and regions of interest.

nilearn ships the T1, grey-matter and white-matter templates at 1 mm (no CSF map, no atlas), so every
region this project needs is an ellipsoid in MNI millimetres, defined here once and shared by the phantom
(where atrophy and hypometabolism are placed), preprocessing (the SUVR reference region) and the
classifier's regional baseline. Centres and radii are approximate anatomical positions read off the
template; they are documented, not learned.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import nibabel as nib
import numpy as np

#: BIDS ``space-`` label of the nilearn templates (ICBM 2009a nonlinear symmetric).
TEMPLATE_SPACE = "MNI152NLin2009aSym"


@dataclass(frozen=True)
class Ellipsoid:
    """An axis-aligned ellipsoid in MNI millimetres (RAS: x right, y anterior, z superior)."""

    centre: tuple[float, float, float]
    radii: tuple[float, float, float]

    def mask(self, affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
        """Boolean mask of the voxels of a grid (``affine``, ``shape``) whose centre lies inside."""
        return self.distance(affine, shape) <= 1.0

    def distance(self, affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
        """Normalised ellipsoidal distance of each voxel centre (1 on the surface)."""
        ijk = np.indices(shape, dtype=np.float32).reshape(3, -1)
        xyz = affine[:3, :3].astype(np.float32) @ ijk + affine[:3, 3:4].astype(np.float32)
        c = np.asarray(self.centre, np.float32)[:, None]
        r = np.asarray(self.radii, np.float32)[:, None]
        return np.sqrt((((xyz - c) / r) ** 2).sum(0)).reshape(shape)


def _pair(name: str, centre, radii) -> dict[str, Ellipsoid]:
    x, y, z = centre
    return {f"{name}_L": Ellipsoid((-abs(x), y, z), radii), f"{name}_R": Ellipsoid((abs(x), y, z), radii)}


#: Regions of interest. Disease regions follow the Alzheimer's literature: atrophy in medial temporal
#: lobe (hippocampus, entorhinal) and lateral temporal cortex, ventricle enlargement; FDG
#: hypometabolism in posterior cingulate, precuneus and temporoparietal (angular) cortex. The pons and
#: cerebellum are the usual SUVR reference regions; the motor cortex is a control region that disease
#: leaves alone.
REGIONS: dict[str, Ellipsoid] = {
    **_pair("hippocampus", (28, -24, -12), (6, 14, 7)),
    **_pair("entorhinal", (24, -8, -30), (6, 8, 6)),
    **_pair("temporal", (54, -22, -16), (9, 24, 12)),
    # lateral ventricle bodies: fitted to the template's CSF (the old (12,-14,16) ellipsoid sat mostly on
    # caudate/thalamus); an ellipsoid cannot follow the C shape, so it covers the body and atrium only
    **_pair("ventricle", (12, -15, 20), (10, 30, 7)),
    "posterior_cingulate": Ellipsoid((0, -50, 28), (10, 12, 10)),
    "precuneus": Ellipsoid((0, -64, 44), (11, 12, 12)),
    **_pair("temporoparietal", (46, -62, 32), (10, 13, 11)),
    "pons": Ellipsoid((0, -26, -36), (8, 8, 9)),
    **_pair("cerebellum", (24, -64, -36), (18, 16, 12)),
    **_pair("motor", (38, -22, 56), (10, 10, 8)),
}


def region_mask(names: str | list[str], affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Union of the named regions' masks on a grid."""
    names = [names] if isinstance(names, str) else names
    unknown = [n for n in names if n not in REGIONS]
    if unknown:
        raise KeyError(f"unknown region(s) {unknown}; known: {sorted(REGIONS)}")
    out = np.zeros(shape, bool)
    for n in names:
        out |= REGIONS[n].mask(affine, shape)
    return out


@lru_cache(maxsize=None)
def _load(kind: str) -> nib.Nifti1Image:
    from nilearn import datasets

    loader = {
        "t1": datasets.load_mni152_template,
        "gm": datasets.load_mni152_gm_template,
        "wm": datasets.load_mni152_wm_template,
        "brain_mask": datasets.load_mni152_brain_mask,
    }[kind]
    img = loader(resolution=1)
    return nib.Nifti1Image(np.asarray(img.dataobj, dtype=np.float32), img.affine)


def template(kind: str = "t1") -> nib.Nifti1Image:
    """A 1 mm MNI152 2009a template as float32: ``t1``, ``gm``, ``wm`` (probabilities) or ``brain_mask``."""
    return _load(kind)
