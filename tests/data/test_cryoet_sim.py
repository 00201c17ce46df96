"""Known-answer tests of the cryo-ET subtomogram simulator."""
from __future__ import annotations

import math

import numpy as np
import pytest

from biomedai.data import cryoet_sim as sim
from biomedai.errors import ConfigError, InvalidInputError
from tests.conftest import shared_subdir


def _asymmetric_blob(n: int = 32) -> np.ndarray:
    z, y, x = np.mgrid[:n, :n, :n] - (n - 1) / 2
    vol = np.exp(-((z - 4) ** 2 + (y + 2) ** 2 + x ** 2) / 8.0) + 0.6 * np.exp(-((z + 3) ** 2 + (y - 5) ** 2 + (x - 3) ** 2) / 5.0)
    return vol.astype(np.float32)


def test_rotation_matches_scipy_affine_transform():
    from scipy import ndimage

    rng = np.random.default_rng(3)
    vol = _asymmetric_blob()
    rots = sim.uniform_random_rotations(3, rng)
    assert np.allclose(rots @ np.transpose(rots, (0, 2, 1)), np.eye(3), atol=1e-10)
    assert np.allclose(np.linalg.det(rots), 1.0)
    ours = sim.rotate_volumes(np.stack([vol] * 3), rots)
    c = np.full(3, 15.5)
    for r, out in zip(rots, ours):
        ref = ndimage.affine_transform(vol, r.T, offset=c - r.T @ c, order=1)
        assert np.corrcoef(ref.ravel(), out.ravel())[0, 1] > 0.999
    # a rotated template matches its own rotation better than any other pose
    scores = [[np.corrcoef(o.ravel(), sim.rotate_volumes(vol, r).ravel())[0, 1] for r in rots] for o in ours]
    assert np.all(np.argmax(scores, axis=1) == np.arange(3))


def test_quarter_turn_about_z_is_rot90():
    vol = _asymmetric_blob()
    r = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], float)  # (z, y, x): y' = -x, x' = y
    out = sim.rotate_volumes(vol, r)
    ref = np.rot90(vol, k=1, axes=(1, 2))
    assert np.abs(out - ref).max() < 1e-4 or np.abs(out - np.rot90(vol, k=-1, axes=(1, 2))).max() < 1e-4


def test_rotations_are_uniform():
    rots = sim.uniform_random_rotations(20000, np.random.default_rng(0))
    # the image of a fixed axis is uniform on the sphere: mean ~ 0, each coordinate^2 ~ 1/3
    v = rots[:, :, 0]
    assert np.abs(v.mean(0)).max() < 0.02 and np.abs((v ** 2).mean(0) - 1 / 3).max() < 0.01


def test_missing_wedge_zeroes_the_right_fourier_region():
    settings = sim.SimulationSettings(apply_ctf=False, mtf="none", tilt_min=-60, tilt_max=60, tilt_step=3)
    rng = np.random.default_rng(0)
    vol = rng.standard_normal((1, 32, 32, 32)).astype(np.float32)
    out, _ = sim.tilt_series_reconstruct(vol, math.inf, settings, rng)
    f_out, f_in = np.fft.rfftn(out[0]), np.fft.rfftn(vol[0])
    kz = np.abs(np.fft.fftfreq(32))[:, None, None] + 0 * np.zeros((1, 32, 17))
    kx = np.abs(np.fft.rfftfreq(32))[None, None, :] + 0 * kz
    tan = math.tan(math.radians(60))
    wedge = kz > kx * tan + 1.0 / 32 / math.cos(math.radians(60)) + 1e-9
    sampled = (kz < kx * tan - 2.0 / 32) & (kx > 0)
    assert wedge.sum() > 1000 and sampled.sum() > 1000
    assert np.abs(f_out[wedge]).max() < 1e-3 * np.abs(f_in).mean()
    ratio = np.abs(f_out[sampled]) / np.abs(f_in[sampled])
    assert np.median(ratio) > 0.98


@pytest.mark.parametrize("snr", [0.5, 4.0])
def test_measured_volume_snr_matches_requested(snr):
    """The old whole-box definition: two copies with independent noise, SNR = cov / (var - cov)."""
    settings = sim.SimulationSettings(snr_definition="volume")
    vol = np.stack([_asymmetric_blob()] * 40)
    defocus = np.full(40, 4e4)
    x1, clean = sim.tilt_series_reconstruct(vol, snr, settings, np.random.default_rng(1), defocus)
    x2, _ = sim.tilt_series_reconstruct(vol, snr, settings, np.random.default_rng(2), defocus)
    a = x1.reshape(40, -1) - x1.reshape(40, -1).mean(1, keepdims=True)
    b = x2.reshape(40, -1) - x2.reshape(40, -1).mean(1, keepdims=True)
    cov = (a * b).mean(1)
    var = 0.5 * ((a * a).mean(1) + (b * b).mean(1))
    measured = np.mean(cov / (var - cov))
    assert measured == pytest.approx(snr, rel=0.1)


def test_ctf_zeros_where_theory_puts_them():
    assert sim.electron_wavelength_a(300) == pytest.approx(0.01969, abs=1e-5)
    assert sim.electron_wavelength_a(200) == pytest.approx(0.02508, abs=1e-5)
    dz = 4e4
    # Cs = 0, no amplitude contrast: sin(pi lambda dz k^2) = 0 at k = sqrt(m / (lambda dz))
    lam = sim.electron_wavelength_a(300)
    zeros = sim.ctf_zeros(3, dz, cs_mm=0.0, amplitude_contrast=0.0)
    assert np.allclose(zeros, np.sqrt(np.arange(1, 4) / (lam * dz)))
    zeros = sim.ctf_zeros(4, dz, cs_mm=2.7, amplitude_contrast=0.1)
    assert np.abs(sim.ctf(zeros, dz, cs_mm=2.7, amplitude_contrast=0.1)).max() < 1e-9
    before = sim.ctf(zeros * 0.99, dz, cs_mm=2.7, amplitude_contrast=0.1)
    after = sim.ctf(zeros * 1.01, dz, cs_mm=2.7, amplitude_contrast=0.1)
    assert np.all(np.sign(before) != np.sign(after))


def test_simulated_spectrum_vanishes_at_ctf_zero():
    settings = sim.SimulationSettings(tilt_min=-89, tilt_max=89, tilt_step=1, mtf="none", voxel_size_a=5.0)
    rng = np.random.default_rng(0)
    vol = rng.standard_normal((1, 32, 32, 32)).astype(np.float32)
    dz = 1.5e4
    out, _ = sim.tilt_series_reconstruct(vol, math.inf, settings, rng, np.array([dz]))
    k = np.sqrt(np.fft.fftfreq(32)[:, None, None] ** 2 + np.fft.fftfreq(32)[None, :, None] ** 2
                + np.fft.rfftfreq(32)[None, None, :] ** 2) / settings.voxel_size_a
    ratio = np.abs(np.fft.rfftn(out[0])) / np.abs(np.fft.rfftn(vol[0]))
    k0 = sim.ctf_zeros(1, dz)[0]
    assert k0 < 0.5 / settings.voxel_size_a
    at_zero = ratio[np.abs(k - k0) < 0.002].mean()
    peak = 0.5 * (k0 + sim.ctf_zeros(2, dz)[1])
    at_peak = ratio[np.abs(k - peak) < 0.002].mean()
    assert at_zero < 0.15 and at_peak > 0.6


def test_simulate_subtomograms_shapes_masks_and_seed():
    tpl = {"a": sim.prepare_template(_asymmetric_blob()), "b": sim.prepare_template(_asymmetric_blob()[::-1].copy())}
    ds = sim.simulate_subtomograms(tpl, 5, snr=1.0, seed=7)
    again = sim.simulate_subtomograms(tpl, 5, snr=1.0, seed=7)
    assert ds.volumes.shape == (10, 32, 32, 32) and np.array_equal(ds.volumes, again.volumes)
    assert np.allclose(ds.volumes.reshape(10, -1).mean(1), 0, atol=1e-4)
    assert ds.labels.tolist() == [0] * 5 + [1] * 5 and ds.class_names == ["a", "b"]
    # the mask is the rotated clean density above 0.2 of its max
    rotated = sim.rotate_volumes(tpl["a"], ds.rotations[0])
    assert np.array_equal(ds.masks[0], rotated >= 0.2 * rotated.max())
    with pytest.raises(InvalidInputError):
        sim.simulate_subtomograms({"x": np.zeros((16, 16, 16))}, 2)
    with pytest.raises(ConfigError):
        sim.SimulationSettings.from_dict({"tilt_step": 0})


def test_npz_round_trip_and_subset(tmp_path):
    tpl = {"a": sim.prepare_template(_asymmetric_blob()), "b": sim.prepare_template(_asymmetric_blob()[::-1].copy())}
    ds = sim.simulate_subtomograms(tpl, 3, seed=0)
    back = sim.SubtomogramSet.load(ds.save(tmp_path / "d.npz"))
    assert np.array_equal(back.volumes, ds.volumes) and back.class_names == ["a", "b"] and back.snr == math.inf
    sub = back.subset(["b"])
    assert len(sub.labels) == 3 and set(sub.labels.tolist()) == {0}
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InvalidInputError, match="bad.npz"):
        sim.SubtomogramSet.load(tmp_path / "bad.npz")


def test_pack_tomogram_places_particles_apart():
    tpl = {"a": sim.prepare_template(_asymmetric_blob())}
    tomo = sim.pack_tomogram(tpl, 6, shape=(40, 96, 96), snr=2.0, seed=0)
    assert tomo.tomogram.shape == (40, 96, 96) and len(tomo.positions_zyx) >= 3
    d = np.linalg.norm(tomo.positions_zyx[:, None] - tomo.positions_zyx[None], axis=-1)
    assert d[np.triu_indices(len(d), 1)].min() > 4
    for p in tomo.positions_zyx.astype(int):
        assert tomo.labels[p[0] - 2:p[0] + 3, p[1] - 2:p[1] + 3, p[2] - 2:p[2] + 3].max() == 1
    euler = sim.rotation_to_zyz_euler(tomo.rotations)
    assert euler.shape == (len(tomo.rotations), 3)


def test_prepare_template_rejects_bad_maps():
    with pytest.raises(InvalidInputError, match="3D"):
        sim.prepare_template(np.zeros((4, 4)))
    with pytest.raises(InvalidInputError, match="positive"):
        sim.prepare_template(np.zeros((8, 8, 8)))


def test_pdb_density_matches_real_template(shared_data):
    root = shared_subdir(shared_data, "cryoet")
    from_pdb = sim.load_structure(root / "pdbs" / "1bxn.pdb")
    from_map = sim.load_structure(root / "templates_10A" / "1bxn.mrc")
    assert np.corrcoef(from_pdb.ravel(), from_map.ravel())[0, 1] > 0.9


def test_simulator_speed_thousands_per_minute(shared_data):
    import time

    root = shared_subdir(shared_data, "cryoet", "templates_10A")
    tpl = sim.load_structures(sorted(root.glob("*.mrc"))[:10])
    start = time.perf_counter()
    ds = sim.simulate_subtomograms(tpl, 30, snr=0.5, seed=0)
    per_minute = len(ds.labels) / (time.perf_counter() - start) * 60
    assert per_minute > 1000, per_minute
