"""The SNR definitions of the cryo-ET simulator, measured back from explicit tilt images, and FSC calibration."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft as sfft

from biomedai.data import cryoet_sim as sim
from biomedai.data import cryoet_snr as snr_mod
from biomedai.errors import ConfigError


def _blob(n: int = 32) -> np.ndarray:
    z, y, x = np.mgrid[:n, :n, :n] - (n - 1) / 2
    vol = np.exp(-((z - 3) ** 2 + (y + 2) ** 2 + x ** 2) / 10.0) + 0.7 * np.exp(-((z + 3) ** 2 + (y - 4) ** 2 + (x - 3) ** 2) / 4.0)
    return vol.astype(np.float32)


def _explicit_tilt_image(vol: np.ndarray, angle_deg: float) -> np.ndarray:
    """Rotate about y by the tilt angle (scipy, independent of the simulator) and sum along the beam (z)."""
    from scipy import ndimage

    a = math.radians(angle_deg)
    r = np.array([[math.cos(a), 0, -math.sin(a)], [0, 1, 0], [math.sin(a), 0, math.cos(a)]])  # beam along (cos, 0, sin)
    c = (np.array(vol.shape) - 1) / 2
    rotated = ndimage.affine_transform(vol.astype(np.float64), r, offset=c - r @ c, order=3)
    return rotated.sum(0)


@pytest.mark.parametrize("angle", [0.0, 30.0, 57.0])
def test_slab_energy_equals_explicit_projection_variance(angle):
    """The Fourier slab approximation of a tilt image's signal variance is within 10 % of real-space projection."""
    vol = _blob()
    shape = vol.shape
    slabs = snr_mod.tilt_slabs(shape, [angle])
    spec = sfft.rfftn(vol.astype(np.float64))[None]
    ours = snr_mod.projection_signal_variance(spec, slabs, shape, None)[0, 0]
    explicit = _explicit_tilt_image(vol, angle).var()
    assert ours == pytest.approx(explicit, rel=0.1)


@pytest.mark.parametrize("definition", ["projection", "projection_band"])
@pytest.mark.parametrize("target", [0.5, 0.05])
def test_projection_snr_measured_back_from_one_tilt(definition, target):
    """With one tilt the reconstruction is the back-projected tilt image / L: summing it along z gives the
    tilt image again, whose signal and noise variance (in the band) must give the requested SNR."""
    settings = sim.SimulationSettings(tilt_min=0.0, tilt_max=0.0, tilt_step=3.0, apply_ctf=False, mtf="none",
                                      snr_definition=definition)
    n = 24
    vols = np.stack([_blob()] * n)
    imaged = sim.image_volumes(vols, target, settings, np.random.default_rng(4))
    clean_img = imaged.clean.sum(1) * 1.0          # [B, y, x] = tilt image / L * L ... up to the factor L below
    noise_img = (imaged.noisy - imaged.clean).sum(1)
    band = settings.band
    ky = np.fft.fftfreq(32)[:, None]
    kx = np.fft.fftfreq(32)[None, :]
    k = np.sqrt(ky ** 2 + kx ** 2)
    lo, hi = band if band else (1e-12, np.inf)
    keep = (k >= lo) & (k <= hi)

    def band_var(img):
        f = np.fft.fft2(img) * keep
        return (np.abs(f) ** 2).sum(axis=(-2, -1)) / img.shape[-1] ** 4

    measured = band_var(clean_img).mean() / band_var(noise_img).mean()
    assert measured == pytest.approx(target, rel=0.1)


def test_band_definition_is_harder_than_full_band_and_volume():
    """At one nominal SNR the band-limited projection SNR leaves the most noise in the reconstruction."""
    vols = np.stack([_blob()] * 8)
    noise_std = {}
    for definition in ("projection_band", "projection", "volume"):
        settings = sim.SimulationSettings(snr_definition=definition)
        noise_std[definition] = float(sim.image_volumes(vols, 0.5, settings, np.random.default_rng(0),
                                                        np.full(8, 4e4)).noise_scale.mean())
    assert noise_std["projection_band"] > noise_std["projection"] > noise_std["volume"]


def test_fsc_matches_theory_for_known_spectral_snr():
    """Signal + independent white noise of known variance: FSC = SSNR / (1 + SSNR) per shell."""
    rng = np.random.default_rng(0)
    signal = rng.standard_normal((32, 32, 32))
    a = signal + rng.standard_normal((32, 32, 32))
    b = signal + rng.standard_normal((32, 32, 32))
    freq, fsc = snr_mod.fourier_shell_correlation(a, b)
    assert len(freq) == 15
    assert np.median(fsc[3:]) == pytest.approx(0.5, abs=0.05)       # SSNR 1 in every shell
    assert snr_mod.ssnr_from_fsc(np.array([0.5]), 1)[0] == pytest.approx(1.0)


def test_half_set_fsc_rises_with_snr():
    tpl = {"a": _blob()}
    res = []
    for target in (0.05, 5.0):
        ds = sim.simulate_subtomograms(tpl, 20, snr=target, seed=1)
        freq, fsc, n_half = snr_mod.half_set_fsc(ds.volumes, ds.rotations)
        res.append(float(np.mean(fsc[1:6])))
        assert n_half == 10
    assert res[1] > res[0] + 0.2 and res[1] > 0.7


def test_dose_and_ice_lower_the_effective_snr_and_are_recorded():
    tpl = {"a": _blob()}
    plain = sim.simulate_subtomograms(tpl, 4, snr=0.5, seed=2)
    dosed = sim.simulate_subtomograms(tpl, 4, snr=0.5, seed=2, settings=sim.SimulationSettings(dose_per_tilt=3.0))
    harsh = sim.simulate_subtomograms(tpl, 4, snr=0.5, seed=2, settings=sim.SimulationSettings(
        dose_per_tilt=3.0, ice_thickness_nm=(150.0, 300.0)))
    assert np.allclose(plain.effective_snr, 0.5)
    assert np.all((dosed.effective_snr > 0.3) & (dosed.effective_snr < 0.49))   # 123 e/A^2 in all
    assert np.all(harsh.effective_snr < 0.5 * dosed.effective_snr)               # 150-300 nm of ice
    w = snr_mod.dose_weights((8, 8, 8), [-3, 0, 3], 3.0, 10.0)
    assert np.allclose(w[1], 1.0) and np.all(w[0] < 1.0 + 1e-7)       # the 0-degree tilt is taken first


def test_crowding_membranes_and_fiducials_add_clutter_but_keep_the_mask():
    tpl = {"a": _blob(), "b": np.roll(_blob(), 3, axis=2)}
    base = sim.simulate_subtomograms(tpl, 6, snr=math.inf, seed=3)
    settings = sim.SimulationSettings(crowding=2, membrane_probability=1.0, fiducial_probability=1.0)
    busy = sim.simulate_subtomograms(tpl, 6, snr=math.inf, seed=3, settings=settings)
    assert np.array_equal(base.masks, busy.masks) and np.array_equal(base.labels, busy.labels)
    corr = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(base.volumes, busy.volumes)]
    assert max(corr) < 0.95                                           # every box changed
    again = sim.simulate_subtomograms(tpl, 6, snr=math.inf, seed=3, settings=settings)
    assert np.array_equal(busy.volumes, again.volumes)                # seeded


def test_bad_snr_settings_name_the_key():
    with pytest.raises(ConfigError, match="snr_definition"):
        sim.SimulationSettings.from_dict({"snr_definition": "db"})
    with pytest.raises(ConfigError, match="membrane_probability"):
        sim.SimulationSettings.from_dict({"membrane_probability": 2.0})
