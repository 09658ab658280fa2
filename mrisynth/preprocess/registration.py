"""N4 bias correction and Mattes-MI registration with SimpleITK, run at the working resolution.

The recipe is Clinica's (t1-linear / pet-linear: N4, then rigid+affine or rigid registration by mutual
information) with ITK's v4 registration framework in place of antsRegistrationSynQuick: centre-of-mass
initialisation, a rigid stage then an affine stage, each multi-resolution, random metric sampling with a
fixed seed (so runs are repeatable).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk


@dataclass(frozen=True)
class RegistrationResult:
    transform: sitk.Transform  # maps fixed-space points to moving-space points (ITK convention)
    metric: float  # final Mattes MI at the finest level (more negative is better)


def foreground_mask(image: sitk.Image) -> sitk.Image:
    """Otsu foreground with holes filled: the head (or the brain for skull-stripped data)."""
    mask = sitk.OtsuThreshold(image, 0, 1, 128)
    mask = sitk.BinaryMorphologicalClosing(mask, [2, 2, 2])
    return sitk.BinaryFillhole(mask)


def n4(image: sitk.Image, mask: sitk.Image, shrink: int, iterations: list[int], spline_mm: float):
    """N4 on ``image`` (estimated on a ``shrink``-times coarser copy); returns (corrected, log bias field)."""
    positive = sitk.Maximum(image, 1e-3 * float(np.percentile(sitk.GetArrayViewFromImage(image), 99)))
    small = sitk.Shrink(positive, [shrink] * 3) if shrink > 1 else positive
    small_mask = sitk.Shrink(mask, [shrink] * 3) if shrink > 1 else mask
    extent = np.asarray(small.GetSize()) * np.asarray(small.GetSpacing())
    corrector = sitk.N4BiasFieldCorrectionImageFilter()
    corrector.SetMaximumNumberOfIterations([int(i) for i in iterations])
    # control points every ~spline_mm (Clinica: B-spline fitting distance 600 mm for T1 on ANTs' side)
    corrector.SetNumberOfControlPoints([int(max(4, np.ceil(e / spline_mm) + 3)) for e in extent])
    corrector.Execute(small, small_mask)
    log_bias = corrector.GetLogBiasFieldAsImage(positive)
    return sitk.Cast(image / sitk.Exp(log_bias), sitk.sitkFloat32), log_bias


def _method(cfg: dict, seed: int, fixed: sitk.Image, fixed_mask: sitk.Image | None) -> sitk.ImageRegistrationMethod:
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=int(cfg["histogram_bins"]))
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    # about the same number of random samples at every level and working resolution (the cost of an
    # iteration), rather than a fixed fraction of voxels that grows 8-fold each time the voxel size halves
    if fixed_mask is not None:
        voxels = float(np.count_nonzero(sitk.GetArrayViewFromImage(fixed_mask)))
    else:
        voxels = float(np.prod(fixed.GetSize()))
    shrinks = [int(f) for f in cfg["shrink_factors"]]
    fractions = [min(1.0, float(cfg["samples"]) * f**3 / max(voxels, 1.0)) for f in shrinks]
    reg.SetMetricSamplingPercentagePerLevel(fractions, int(seed))
    if fixed_mask is not None:
        reg.SetMetricFixedMask(fixed_mask)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=float(cfg["step_mm"]), minStep=1e-3, numberOfIterations=int(cfg["iterations"]),
        relaxationFactor=0.6, gradientMagnitudeTolerance=1e-6,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([int(s) for s in cfg["shrink_factors"]])
    reg.SetSmoothingSigmasPerLevel([float(s) for s in cfg["smoothing_sigmas"]])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()  # sigmas in voxels of the working grid
    return reg


def register(
    fixed: sitk.Image,
    moving: sitk.Image,
    cfg: dict,
    seed: int,
    affine: bool,
    fixed_mask: sitk.Image | None = None,
) -> RegistrationResult:
    """Rigid (and, if ``affine``, then affine) registration of ``moving`` onto ``fixed`` by Mattes MI."""
    with _single_threaded():
        return _register(fixed, moving, cfg, seed, affine, fixed_mask)


@contextlib.contextmanager
def _single_threaded():
    # ITK's metric sums over threads in a varying order, so with more threads the last digits vary from
    # run to run; results must be bitwise repeatable, and the cost is small at the working resolution.
    # (The method's own SetNumberOfThreads does not reach the metric; only the global default does.)
    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(before)


def _register(fixed, moving, cfg, seed, affine, fixed_mask) -> RegistrationResult:
    rigid = sitk.CenteredTransformInitializer(
        fixed, moving, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    reg = _method(cfg, seed, fixed, fixed_mask)
    reg.SetInitialTransform(rigid, inPlace=True)
    reg.Execute(fixed, moving)
    result: sitk.Transform = rigid
    if affine:
        full = sitk.AffineTransform(3)
        full.SetCenter(rigid.GetCenter())
        full.SetMatrix(rigid.GetMatrix())
        full.SetTranslation(rigid.GetTranslation())
        reg = _method(cfg, seed, fixed, fixed_mask)
        reg.SetInitialTransform(full, inPlace=True)
        reg.Execute(fixed, moving)
        result = full
    return RegistrationResult(transform=result, metric=float(reg.GetMetricValue()))


def resample(image: sitk.Image, reference: sitk.Image, transform: sitk.Transform, linear: bool = True) -> sitk.Image:
    """``image`` resampled onto ``reference``'s grid through ``transform`` (reference -> image points)."""
    interp = sitk.sitkLinear if linear else sitk.sitkNearestNeighbor
    return sitk.Resample(image, reference, transform, interp, 0.0, sitk.sitkFloat32)


def compose(first: sitk.Transform, then: sitk.Transform) -> sitk.Transform:
    """The transform that applies ``first`` and then ``then`` to a point."""
    # SimpleITK's CompositeTransform applies the transforms in reverse order of the list
    return sitk.CompositeTransform([then, first])

