"""Deformable registration of the follow-up to the baseline (SimpleITK B-spline, multi-resolution), the
displacement field, the voxelwise Jacobian determinant and folding (spec 4.4 step 5).

Convention (spec 4.4 [Decision]): baseline is the fixed image and follow-up the moving one; the transform maps
baseline coordinates to follow-up coordinates, so ``J = det(dT/dx) = v_follow-up / v_baseline`` on the baseline
grid: J < 1 shrinkage, J > 1 expansion, J <= 0 folding.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

logger = logging.getLogger(__name__)


@dataclass
class RegistrationResult:
    """The transform (baseline -> follow-up coordinates), the warped follow-up on the baseline grid, the
    displacement field (mm, a vector image), the Jacobian determinant map and the folding summary."""

    transform: Any
    warped: Any
    displacement: Any
    jacobian: Any
    metric_value: float
    folding_fraction: float
    n_folded: int

    def summary(self) -> dict[str, float | int]:
        jac = jacobian_array(self.jacobian)
        return {"metric_final": self.metric_value, "folding_fraction": self.folding_fraction,
                "n_folded_voxels": self.n_folded, "jacobian_min": float(jac.min()), "jacobian_max": float(jac.max())}


def jacobian_array(image: Any) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(image).astype(np.float64)


def displacement_field(transform: Any, reference: Any) -> Any:
    """The transform as a displacement field (mm, float64 vectors) on ``reference``'s grid."""
    import SimpleITK as sitk

    return sitk.TransformToDisplacementField(transform, sitk.sitkVectorFloat64, reference.GetSize(),
                                             reference.GetOrigin(), reference.GetSpacing(), reference.GetDirection())


def jacobian_determinant(field: Any) -> Any:
    """Voxelwise ``det(I + du/dx)`` of a displacement field ``u`` (a SimpleITK vector image, mm), as an image
    on the field's grid. Central differences inside, second-order one-sided at the border (exact for affine
    fields everywhere), taking the grid's spacing and direction into account."""
    import SimpleITK as sitk

    u = sitk.GetArrayFromImage(field).astype(np.float64)          # (z, y, x, 3), components (x, y, z)
    if u.ndim != 4 or u.shape[-1] != 3:
        raise InvalidInputError(f"need a 3-D field of 3-vectors, got array shape {u.shape}")
    if min(u.shape[:3]) < 3:
        raise InvalidInputError(f"field too small for derivatives: {u.shape[:3]}")
    # du_a / d(index_b) with b in (x, y, z) index order
    grads = [np.gradient(u[..., a], axis=(2, 1, 0), edge_order=2) for a in range(3)]
    d_index = np.stack([np.stack(g, -1) for g in grads], -2)        # (..., a, b)
    direction = np.array(field.GetDirection(), float).reshape(3, 3)
    index_to_physical = direction * np.array(field.GetSpacing(), float)[None, :]
    du_dx = d_index @ np.linalg.inv(index_to_physical)
    jac = np.linalg.det(np.eye(3) + du_dx)
    out = sitk.GetImageFromArray(jac)
    out.SetOrigin(field.GetOrigin())
    out.SetSpacing(field.GetSpacing())
    out.SetDirection(field.GetDirection())
    return out


def folding(jacobian: Any, mask: np.ndarray | None = None) -> tuple[float, int]:
    """Fraction and number of voxels with ``J <= 0`` (inside ``mask`` when given)."""
    jac = jacobian_array(jacobian)
    sel = jac if mask is None else jac[np.asarray(mask, bool)]
    n = int(np.count_nonzero(sel <= 0))
    return (n / sel.size if sel.size else 0.0), n


def _check_pair(fixed: Any, moving: Any) -> None:
    for name, img in (("baseline", fixed), ("follow-up", moving)):
        if img is None:
            raise InvalidInputError(f"the {name} image is missing; registration needs both time points")
        if img.GetDimension() != 3:
            raise InvalidInputError(f"the {name} image must be 3-D, got {img.GetDimension()}-D")
        if min(img.GetSize()) < 4:
            raise InvalidInputError(f"the {name} image is too small to register: size {img.GetSize()}")


def register_followup_to_baseline(baseline: Any, followup: Any, *, grid_spacing_mm: float = 20.0,
                                  shrink_factors: tuple[int, ...] = (4, 2, 1),
                                  smoothing_sigmas: tuple[float, ...] = (2.0, 1.0, 0.0), iterations: int = 100,
                                  affine_first: bool = True, metric: str = "mattes", sampling_fraction: float = 0.2,
                                  seed: int = 0, mask: np.ndarray | None = None) -> RegistrationResult:
    """Affine then B-spline (multi-resolution, LBFGS-B) registration of ``followup`` to ``baseline``.

    Both are SimpleITK 3-D images (any grids); the result lives on the baseline grid. ``metric``: "mattes"
    (mutual information, for different scanners/contrasts) or "ms" (mean squares, same contrast).
    """
    import SimpleITK as sitk

    _check_pair(baseline, followup)
    fixed = sitk.Cast(baseline, sitk.sitkFloat32)
    moving = sitk.Cast(followup, sitk.sitkFloat32)
    initial = sitk.CenteredTransformInitializer(fixed, moving, sitk.AffineTransform(3),
                                                sitk.CenteredTransformInitializerFilter.GEOMETRY)
    if affine_first:
        initial = _run(fixed, moving, initial, metric, sampling_fraction, seed, shrink_factors, smoothing_sigmas,
                       iterations, optimizer="gd")
    extent = np.array(fixed.GetSize()) * np.array(fixed.GetSpacing())
    mesh = [max(1, int(round(e / grid_spacing_mm))) for e in extent]
    bspline = sitk.BSplineTransformInitializer(fixed, mesh, order=3)
    reg = _method(metric, sampling_fraction, seed, shrink_factors, smoothing_sigmas)
    reg.SetMovingInitialTransform(initial)
    # multi-resolution over an image pyramid with one control-point mesh (LBFGS-B takes no per-level mesh
    # refinement in SimpleITK: its parameter scales would not follow the growing mesh)
    reg.SetInitialTransform(bspline, inPlace=True)
    reg.SetOptimizerAsLBFGSB(gradientConvergenceTolerance=1e-5, numberOfIterations=iterations,
                             maximumNumberOfCorrections=5, maximumNumberOfFunctionEvaluations=4 * iterations)
    out = reg.Execute(fixed, moving)
    composite = sitk.CompositeTransform([initial, out]) if not isinstance(out, sitk.CompositeTransform) else out
    logger.info("B-spline registration: metric %.5g after %d iterations", reg.GetMetricValue(),
                reg.GetOptimizerIteration())
    field = displacement_field(composite, fixed)
    jac = jacobian_determinant(field)
    frac, n = folding(jac, mask)
    warped = sitk.Resample(followup, baseline, composite, sitk.sitkLinear, 0.0, followup.GetPixelID())
    return RegistrationResult(composite, warped, field, jac, float(reg.GetMetricValue()), frac, n)


def _method(metric: str, sampling_fraction: float, seed: int, shrink: tuple[int, ...], sigmas: tuple[float, ...]):
    import SimpleITK as sitk

    if len(shrink) != len(sigmas):
        raise InvalidInputError("shrink_factors and smoothing_sigmas need one entry per level")
    reg = sitk.ImageRegistrationMethod()
    if metric == "mattes":
        reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    elif metric == "ms":
        reg.SetMetricAsMeanSquares()
    else:
        raise InvalidInputError(f"unknown registration metric {metric!r} (mattes, ms)")
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(sampling_fraction, seed)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetShrinkFactorsPerLevel(list(shrink))
    reg.SetSmoothingSigmasPerLevel(list(sigmas))
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    return reg


def _run(fixed, moving, initial, metric, sampling_fraction, seed, shrink, sigmas, iterations, optimizer):
    reg = _method(metric, sampling_fraction, seed, shrink, sigmas)
    reg.SetInitialTransform(initial, inPlace=False)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-4, numberOfIterations=iterations,
                                                 relaxationFactor=0.6)
    reg.SetOptimizerScalesFromPhysicalShift()
    return reg.Execute(fixed, moving)


def warp_mask(mask: Any, reference: Any, transform: Any) -> Any:
    """A label image carried through ``transform`` onto ``reference``'s grid (nearest neighbour)."""
    import SimpleITK as sitk

    return sitk.Resample(mask, reference, transform, sitk.sitkNearestNeighbor, 0, mask.GetPixelID())


def inverse_transform(result: RegistrationResult, reference: Any) -> Any:
    """Follow-up -> baseline coordinates, from the inverted displacement field (B-splines have no closed-form
    inverse); ``reference`` gives the field's grid (the baseline)."""
    import SimpleITK as sitk

    inv = sitk.InvertDisplacementField(sitk.Cast(result.displacement, sitk.sitkVectorFloat64),
                                       maximumNumberOfIterations=30, enforceBoundaryCondition=True)
    return sitk.DisplacementFieldTransform(inv)
