"""Scanner geometry: voxel grids with orientation codes, rigid poses, and the coordinate maps between them.

A subject's anatomy lives in *subject space* (template millimetres after the subject's own deformation).
A scan puts the head, scaled by its size and rigidly posed, into *scanner space*, the world coordinates
of the image affine: ``y = R @ (scale * x) + t``. Each output voxel is pulled from subject space through
the inverse map, so one image costs one linear interpolation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from nibabel.orientations import axcodes2ornt


@dataclass(frozen=True)
class Pose:
    """Head placement in the scanner: rotation (3x3), translation (mm) and isotropic head-size scale."""

    rotation: np.ndarray
    translation: np.ndarray
    scale: float

    def subject_to_world(self) -> np.ndarray:
        out = np.eye(4)
        out[:3, :3] = self.rotation * self.scale
        out[:3, 3] = self.translation
        return out


def rotation_matrix(angles_deg) -> np.ndarray:
    """Rotation about x, then y, then z (degrees)."""
    ax, ay, az = np.deg2rad(np.asarray(angles_deg, dtype=float))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def random_pose(rng: np.random.Generator, max_rotation_deg: float, max_translation_mm: float, scale: float) -> Pose:
    """Uniform rotation angles in +-max about each axis and a translation of length at most max."""
    angles = rng.uniform(-max_rotation_deg, max_rotation_deg, 3)
    direction = rng.standard_normal(3)
    shift = direction / np.linalg.norm(direction) * max_translation_mm * rng.random() ** (1 / 3)
    return Pose(rotation=rotation_matrix(angles), translation=shift, scale=float(scale))


def orientation_matrix(code: str) -> np.ndarray:
    """3x3 matrix whose column i is the RAS direction of voxel axis i for an axis code like 'LPS'."""
    ornt = axcodes2ornt(tuple(code.upper()))
    out = np.zeros((3, 3))
    for axis, (world, flip) in enumerate(ornt):
        out[int(world), axis] = flip
    return out


def scanner_grid(code: str, spacing, fov_mm, centre_mm) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Affine and shape of a grid with axis code ``code``, voxel ``spacing`` (voxel-axis order) and a
    field of view ``fov_mm`` (x, y, z world extent) centred on ``centre_mm``."""
    direction = orientation_matrix(code)
    spacing = np.asarray(spacing, dtype=float)
    world_axis = np.abs(direction).argmax(0)  # world axis covered by each voxel axis
    shape = tuple(int(np.ceil(np.asarray(fov_mm, dtype=float)[world_axis[i]] / spacing[i])) for i in range(3))
    affine = np.eye(4)
    affine[:3, :3] = direction * spacing
    affine[:3, 3] = np.asarray(centre_mm, dtype=float) - affine[:3, :3] @ ((np.asarray(shape) - 1) / 2.0)
    return affine, shape


def grid_coordinates(vox_to_target: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """(3, *shape) float32 coordinates ``vox_to_target @ [i, j, k, 1]`` of every voxel of a grid."""
    axes = [np.arange(n, dtype=np.float32) for n in shape]
    m = vox_to_target.astype(np.float32)
    out = np.empty((3,) + tuple(shape), np.float32)
    for c in range(3):
        out[c] = m[c, 0] * axes[0][:, None, None] + m[c, 1] * axes[1][None, :, None] + m[c, 2] * axes[2][None, None, :] + m[c, 3]
    return out
