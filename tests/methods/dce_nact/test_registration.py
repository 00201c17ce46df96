"""Jacobian determinant of known transforms, and registration recovering a known deformation."""
from __future__ import annotations

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")

from biomedai.errors import InvalidInputError  # noqa: E402
from biomedai.methods.dce_nact.registration import (displacement_field, folding, jacobian_array,  # noqa: E402
                                                    jacobian_determinant, register_followup_to_baseline)


def _grid(size=(24, 28, 20), spacing=(1.5, 1.0, 2.0)):
    img = sitk.Image(list(size), sitk.sitkFloat32)
    img.SetSpacing(spacing)
    img.SetOrigin((-10.0, 5.0, 3.0))
    return img


def test_jacobian_of_known_affine_is_its_determinant():
    ref = _grid()
    ref.SetDirection(sitk.VersorTransform((0.2, 0.5, 0.1), 0.7).GetMatrix())   # an oblique grid
    a = np.array([[0.8, 0.1, 0.0], [0.05, 1.1, 0.0], [0.0, 0.2, 0.7]])
    tx = sitk.AffineTransform(a.ravel().tolist(), (1.0, -2.0, 0.5), (0.0, 10.0, 10.0))
    jac = jacobian_array(jacobian_determinant(displacement_field(tx, ref)))
    assert np.allclose(jac, np.linalg.det(a), atol=1e-6)
    assert folding(jacobian_determinant(displacement_field(tx, ref)))[1] == 0


def test_jacobian_of_known_smooth_warp_matches_analytic():
    ref = _grid(size=(40, 40, 40), spacing=(1.0, 1.0, 1.0))
    z, y, x = np.meshgrid(*[np.arange(40.0)] * 3, indexing="ij")
    a, w = 2.0, 2 * np.pi / 40
    ux = a * np.sin(w * x)   # u = (a sin(w x), a sin(w y), 0): J = (1 + a w cos(w x)) (1 + a w cos(w y))
    uy = a * np.sin(w * y)
    field = sitk.GetImageFromArray(np.stack([ux, uy, np.zeros_like(ux)], -1), isVector=True)
    field.CopyInformation(ref)
    jac = jacobian_array(jacobian_determinant(field))
    truth = (1 + a * w * np.cos(w * x)) * (1 + a * w * np.cos(w * y))
    inner = (slice(2, -2),) * 3
    assert np.abs(jac[inner] - truth[inner]).max() < 0.02
    # a warp strong enough to fold is reported
    field2 = sitk.GetImageFromArray(np.stack([4 * a * np.sin(w * x), uy, np.zeros_like(ux)], -1), isVector=True)
    frac, n = folding(jacobian_determinant(field2))
    assert n > 0 and 0 < frac < 1


def _phantom(n=32):
    rng = np.random.default_rng(3)
    z, y, x = np.meshgrid(*[np.arange(n, dtype=float)] * 3, indexing="ij")
    vol = np.zeros((n, n, n))
    for _ in range(14):
        c = rng.uniform(6, n - 6, 3)
        r = rng.uniform(2.5, 5)
        vol += rng.uniform(50, 200) * np.exp(-((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) / (2 * r * r))
    img = sitk.GetImageFromArray(vol.astype(np.float32))
    img.SetSpacing((2.0, 2.0, 2.0))
    return img


def test_registration_recovers_known_deformation():
    fixed = _phantom()
    truth = sitk.BSplineTransformInitializer(fixed, [3, 3, 3], 3)
    rng = np.random.default_rng(0)
    params = np.array(truth.GetParameters())
    truth.SetParameters((params + rng.normal(0, 4.0, params.size)).tolist())   # mm
    moving = sitk.Resample(fixed, fixed, truth, sitk.sitkLinear, 0.0)
    # moving(x) = fixed(T(x)); the registration finds R with moving(R(x)) ~ fixed(x), i.e. R ~ T^-1
    res = register_followup_to_baseline(fixed, moving, grid_spacing_mm=32, iterations=40, metric="ms",
                                        affine_first=False, shrink_factors=(2, 1), smoothing_sigmas=(1.0, 0.0))
    pts = [np.array(fixed.TransformContinuousIndexToPhysicalPoint(rng.uniform(8, 24, 3).tolist())) for _ in range(30)]
    err_before = [np.linalg.norm(np.array(truth.TransformPoint(p.tolist())) - p) for p in pts]
    # landmark error: R(T(p)) should return to p
    err_after = [np.linalg.norm(np.array(res.transform.TransformPoint(truth.TransformPoint(p.tolist()))) - p)
                 for p in pts]
    print(f"landmark error before {np.mean(err_before):.2f} mm, after {np.mean(err_after):.2f} mm")
    assert np.mean(err_before) > 2.0
    assert np.mean(err_after) < 0.5 * np.mean(err_before) and np.mean(err_after) < 1.5
    assert res.folding_fraction == 0.0
    assert sitk.GetArrayFromImage(res.warped).shape == sitk.GetArrayFromImage(fixed).shape


def test_missing_baseline_is_an_input_error():
    with pytest.raises(InvalidInputError, match="baseline"):
        register_followup_to_baseline(None, _grid())


def test_inverse_transform_undoes_the_registration():
    from biomedai.methods.dce_nact.registration import inverse_transform

    fixed = _phantom()
    truth = sitk.BSplineTransformInitializer(fixed, [3, 3, 3], 3)
    rng = np.random.default_rng(1)
    params = np.array(truth.GetParameters())
    truth.SetParameters((params + rng.normal(0, 3.0, params.size)).tolist())
    moving = sitk.Resample(fixed, fixed, truth, sitk.sitkLinear, 0.0)
    res = register_followup_to_baseline(fixed, moving, grid_spacing_mm=32, iterations=20, metric="ms",
                                        affine_first=False, shrink_factors=(2,), smoothing_sigmas=(1.0,))
    inv = inverse_transform(res, fixed)
    pts = [fixed.TransformContinuousIndexToPhysicalPoint(rng.uniform(8, 24, 3).tolist()) for _ in range(20)]
    err = [np.linalg.norm(np.array(inv.TransformPoint(res.transform.TransformPoint(p))) - np.array(p)) for p in pts]
    assert np.mean(err) < 0.5
