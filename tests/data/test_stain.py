"""Stain normalisation: synthetic slides made by Beer-Lambert mixing of known stain vectors."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.data.stain import (MACENKO_REFERENCE, MacenkoStains, ReinhardStats, fit_macenko, fit_reinhard,
                                 macenko_normalize, od_to_rgb, reinhard_normalize, rgb_to_od, stain_concentrations)
from biomedai.errors import InvalidInputError

IO = 240.0


def _unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


H_A, E_A = _unit([0.56, 0.72, 0.41]), _unit([0.22, 0.80, 0.56])
H_B, E_B = _unit([0.65, 0.70, 0.29]), _unit([0.10, 0.90, 0.42])


def _concentrations(seed=0, shape=(96, 96)):
    """Nuclei (mostly H) on stroma (mostly E) on a little white background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    h = np.full(shape, 0.15)
    for _ in range(14):
        cy, cx, r = rng.uniform(8, shape[0] - 8), rng.uniform(8, shape[1] - 8), rng.uniform(3, 7)
        h[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0.8, 1.4)
    e = rng.uniform(0.3, 0.7, shape)
    e[h > 0.5] *= 0.3
    background = (yy < 6) & (xx < 30)
    h[background], e[background] = 0.0, 0.0
    return np.stack([h, e], axis=-1)


def _render(conc, h, e):
    od = conc @ np.stack([h, e])
    return np.rint(od_to_rgb(od, IO)).astype(np.uint8)


def test_od_round_trip():
    rgb = np.random.default_rng(0).integers(0, 239, (10, 10, 3), dtype=np.uint8)
    assert np.allclose(od_to_rgb(rgb_to_od(rgb, IO), IO), rgb)


def test_macenko_recovers_known_stain_vectors():
    image = _render(_concentrations(), H_A, E_A)
    stains = fit_macenko(image)
    assert float(stains.stain_matrix[0] @ H_A) > 0.99  # cosine similarity with the true haematoxylin
    assert float(stains.stain_matrix[1] @ E_A) > 0.99


def test_macenko_maps_one_staining_onto_another():
    conc = _concentrations(seed=1)
    source, target = _render(conc, H_B, E_B), _render(conc, H_A, E_A)
    out = macenko_normalize(source, fit_macenko(target))
    before = np.abs(source.astype(int) - target).mean()
    after = np.abs(out.astype(int) - target).mean()
    assert after < 0.25 * before
    assert after < 4.0  # grey levels


def test_macenko_concentrations_and_reference():
    conc = _concentrations(seed=2)
    image = _render(conc, H_A, E_A)
    est = stain_concentrations(image, MacenkoStains(np.stack([H_A, E_A]), np.array([1.0, 1.0])))
    inside = conc[..., 0] > 0.5
    assert np.abs(est[..., 0][inside] - conc[..., 0][inside]).mean() < 0.05
    out = macenko_normalize(image)  # towards Macenko's reference
    assert out.shape == image.shape and out.dtype == np.uint8
    assert MACENKO_REFERENCE.stain_matrix.shape == (2, 3)


def test_reinhard_matches_target_statistics():
    conc = _concentrations(seed=3)
    source, target = _render(conc, H_B, E_B), _render(_concentrations(seed=4), H_A, E_A)
    stats = fit_reinhard(target)
    out = reinhard_normalize(source, stats)
    got = fit_reinhard(out)
    assert np.allclose(got.mean, stats.mean, atol=1.5)
    assert np.allclose(got.std, stats.std, rtol=0.15, atol=1.0)
    # an image normalised to its own statistics is unchanged (up to rounding)
    assert np.abs(reinhard_normalize(target, stats).astype(int) - target).max() <= 1
    # the target may be given as an image or as a (mean, std) pair
    assert np.array_equal(reinhard_normalize(source, target), out)
    assert np.array_equal(reinhard_normalize(source, (stats.mean, stats.std)), out)
    assert isinstance(stats, ReinhardStats)


def test_float_input_keeps_dtype_and_rgba_is_accepted():
    image = _render(_concentrations(seed=5), H_A, E_A)
    rgba = np.concatenate([image, np.full(image.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    assert reinhard_normalize(rgba, fit_reinhard(image)).shape == image.shape
    out = macenko_normalize(image.astype(np.float32) / 255, fit_macenko(image))
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1


@pytest.mark.parametrize("bad", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 2), np.uint8),
                                 np.zeros((8, 8, 3), np.uint16), np.full((8, 8, 3), 2.0)])
def test_bad_images_are_refused(bad):
    with pytest.raises(InvalidInputError):
        reinhard_normalize(bad, ReinhardStats((50, 0, 0), (10, 5, 5)))


def test_blank_image_has_no_stains():
    with pytest.raises(InvalidInputError, match="stained pixels"):
        fit_macenko(np.full((20, 20, 3), 250, np.uint8))


def test_hed_jitter_is_exact_at_zero_and_moves_only_the_stains_it_is_asked_to():
    from skimage.color import hed_from_rgb

    from biomedai.data.stain import hed_jitter

    rng = np.random.default_rng(0)
    image = rng.integers(40, 240, (16, 16, 3), dtype=np.uint8)
    assert np.array_equal(hed_jitter(image, np.random.default_rng(1), sigma=0.0), image)
    out = hed_jitter(image.astype(np.float64) / 255.0, np.random.default_rng(1), sigma=0.1)
    assert out.dtype == np.float64 and 0.0 <= out.min() and out.max() <= 1.0
    od = lambda x: -np.log(np.maximum(x, 1e-6)) @ hed_from_rgb  # noqa: E731  (concentrations, as in hed_jitter)
    inside = ((out > 0.001) & (out < 0.999)).all(-1)  # pixels not clipped to the RGB range
    before, after = od(image / 255.0)[inside], od(out)[inside]
    assert inside.mean() > 0.5
    # each stain channel is an affine map of the original: a per-channel least-squares fit is exact
    for c in range(3):
        slope, intercept = np.polyfit(before[..., c].ravel(), after[..., c].ravel(), 1)
        assert 0.9 - 1e-6 <= slope <= 1.1 + 1e-6 and abs(intercept) <= 0.1 + 1e-6
        assert np.allclose(before[..., c] * slope + intercept, after[..., c], atol=1e-3)
    with pytest.raises(InvalidInputError):
        hed_jitter(np.zeros((4, 4)), rng)
