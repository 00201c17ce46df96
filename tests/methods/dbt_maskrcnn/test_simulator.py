"""The DBT simulator (SIMULATED data): power-law texture, ACR density, mass types, limited-angle physics, cohort."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.io import read_image
from biomedai.methods.dbt_maskrcnn.cohort import write_cohort
from biomedai.methods.dbt_maskrcnn.config import DbtSimConfig
from biomedai.methods.dbt_maskrcnn.simulator import (ACR_GLANDULAR_FRACTION, MU_PER_CM, back_project, breast_phantom,
                                                     mass_mask, power_law_field, project, sart_reconstruct,
                                                     simulate_view)

SPACING = (1.0, 0.5, 0.5)


def test_power_law_field_has_the_requested_spectral_slope():
    field = power_law_field((16, 128, 128), (1.0, 0.5, 0.5), beta=3.0, rng=np.random.default_rng(0))
    assert abs(field.mean()) < 1e-9 and field.std() == pytest.approx(1.0)
    plane = np.abs(np.fft.fft2(power_law_field((256, 256), (0.5, 0.5), 3.0, np.random.default_rng(1)))) ** 2
    f = np.sqrt(sum(g**2 for g in np.meshgrid(np.fft.fftfreq(256, 0.5), np.fft.fftfreq(256, 0.5), indexing="ij")))
    band = (f > 0.02) & (f < 0.5)
    slope = np.polyfit(np.log(f[band]), np.log(plane[band]), 1)[0]
    assert slope == pytest.approx(-3.0, abs=0.25)


@pytest.mark.parametrize("acr", [1, 2, 3, 4])
def test_phantom_glandular_fraction_follows_the_acr_category(acr):
    mu, region, fraction = breast_phantom((12, 64, 64), SPACING, acr, np.random.default_rng(acr))
    low, high = ACR_GLANDULAR_FRACTION[acr]
    assert low <= fraction <= high
    assert np.all(mu[~region] == 0)
    inner = region.copy()
    inner[:3], inner[-3:] = False, False
    values = mu[inner] * 10
    assert values.min() >= MU_PER_CM["adipose"] - 1e-5 and values.max() <= MU_PER_CM["glandular"] + 1e-5
    dense_share = np.mean(values > (MU_PER_CM["adipose"] + MU_PER_CM["glandular"]) / 2)
    assert abs(dense_share - fraction) < 0.12


def _solidity(mask: np.ndarray) -> float:
    from scipy.spatial import ConvexHull
    pts = np.argwhere(mask) * np.asarray(SPACING)
    return mask.sum() * np.prod(SPACING) / ConvexHull(pts).volume


def test_mass_types_have_their_size_and_shape():
    rng = np.random.default_rng(4)
    solidity: dict[str, list[float]] = {"round_oval": [], "irregular": [], "spiculated": []}
    for _ in range(3):
        for kind in solidity:
            m = mass_mask(kind, 14.0, SPACING, rng)
            idx = np.argwhere(m)
            extent = ((idx.max(0) - idx.min(0) + 1) * np.asarray(SPACING)).max()
            assert 9.0 <= extent <= 16.0, kind
            solidity[kind].append(_solidity(m))
    mean = {k: float(np.mean(v)) for k, v in solidity.items()}
    assert mean["spiculated"] < 0.7 and mean["spiculated"] < mean["irregular"] - 0.1
    assert mean["irregular"] < mean["round_oval"] - 0.05
    with pytest.raises(InvalidInputError):
        mass_mask("stellate", 10.0, SPACING, rng)


def test_back_projection_is_the_adjoint_of_projection():
    rng = np.random.default_rng(5)
    f, p = rng.normal(size=(10, 20, 7)), rng.normal(size=(20, 7))
    for angle in (-10.0, 3.3, 10.0):
        lhs = np.sum(project(f, SPACING, [angle])[0] * p)
        rhs = np.sum(f * back_project(p, 10, SPACING, angle)) * SPACING[0] / np.cos(np.radians(angle))
        assert lhs == pytest.approx(rhs, rel=1e-10)


def _z_spread(half_angle: float) -> float:
    """Share of a reconstructed 2-mm disc's signal outside its true slices."""
    f = np.zeros((24, 48, 8))
    f[11:13, 18:30] = 1.0
    angles = np.linspace(-half_angle, half_angle, 20)
    rec = sart_reconstruct(project(f, SPACING, angles), 24, SPACING, angles, n_iter=3)
    return float(1 - rec[11:13].sum() / rec.sum())


def test_limited_angle_reconstruction_blurs_out_of_plane():
    narrow, wide = _z_spread(10.0), _z_spread(45.0)
    assert narrow > 0.5          # +/-10 degrees: most of the disc is smeared into other slices
    assert wide < narrow - 0.15  # a wider arc localises it better


def test_sart_reduces_the_projection_residual():
    f = np.zeros((16, 32, 4))
    f[5:9, 10:20] = 1.0
    angles = np.linspace(-10, 10, 20)
    p = project(f, SPACING, angles)
    err = [np.abs(project(sart_reconstruct(p, 16, SPACING, angles, n_iter=k), SPACING, angles) - p).mean()
           for k in (1, 4)]
    assert err[1] < 0.6 * err[0]


def test_simulated_view_knows_its_answer():
    v = simulate_view((24, 64, 64), SPACING, 1, "round_oval", 10.0, np.random.default_rng(6), n_iter=2)
    idx = np.argwhere(v.mask)
    assert v.box.tolist() == np.concatenate([idx.min(0), idx.max(0) + 1]).tolist()
    assert not (v.mask & ~v.breast_mask).any() and v.volume.dtype == np.float32
    around = v.breast_mask & ~v.mask
    assert v.volume[v.mask].mean() > v.volume[around].mean()  # fatty breast: the mass stands out
    assert 6.0 <= v.diameter_mm <= 12.0


def test_cohort_writer_round_trip(tmp_path):
    cfg = DbtSimConfig(n_train_breasts=2, n_test_breasts=2, shape=(12, 40, 40), sart_iterations=1, seed=3)
    manifest = write_cohort(tmp_path, cfg)
    assert manifest["simulated"] is True and manifest["seed"] == 3
    assert json.loads((tmp_path / "cohort.json").read_text())["simulator_version"].startswith("dbt-sim")
    boxes = list(csv.DictReader((tmp_path / "boxes.csv").open()))
    clinical = list(csv.DictReader((tmp_path / "clinical.csv").open()))
    assert len(clinical) == 4 and {r["split"] for r in clinical} == {"train", "test"}
    assert len(boxes) == manifest["n_views"] >= 4
    for row in boxes:
        vol = read_image(tmp_path / "volumes" / f"{row['view_id']}.nii.gz")
        mask = read_image(tmp_path / "masks" / f"{row['view_id']}.nii.gz").array > 0
        assert vol.array.shape == (12, 40, 40) and np.allclose(vol.spacing, cfg.spacing)
        idx = np.argwhere(mask)
        assert [int(row[k]) for k in ("z0", "y0", "x0")] == idx.min(0).tolist()
        assert [int(row[k]) for k in ("z1", "y1", "x1")] == (idx.max(0) + 1).tolist()
