"""PK fits recover simulated parameters (known answers), semi-quantitative maps, and bad input."""
from __future__ import annotations

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.perfusion import (exp_convolve, extended_tofts_concentration, fit_extended_tofts, fit_patlak, fit_tofts,
                                parker_aif, patlak_concentration, semi_quantitative_maps, signal_to_concentration,
                                spgr_signal, tofts_concentration, vfa_t1)

T = np.arange(0, 360, 4.0)
CA = parker_aif(T, delay=20)


def test_exp_convolve_matches_dense_quadrature():
    t = np.linspace(0, 300, 3001)
    ca = parker_aif(t, delay=15)
    k = 0.8  # /min
    tm = t / 60
    dense = np.array([np.trapezoid(ca[:i + 1] * np.exp(-k * (tm[i] - tm[:i + 1])), tm[:i + 1]) for i in range(t.size)])
    coarse_t = t[::10]
    ours = exp_convolve(coarse_t, ca[::10], k)
    assert np.allclose(ours, dense[::10], atol=2e-3 * dense.max())
    # non-uniform sampling gives the same curve at the shared times
    nonuni = np.concatenate([t[:1500:10], t[1500::25]])
    ca_nu = parker_aif(nonuni, delay=15)
    assert np.allclose(exp_convolve(nonuni, ca_nu, k)[:150], ours[:150], atol=1e-9)


def test_tofts_volume_recovers_parameters():
    rng = np.random.default_rng(0)
    kt = rng.uniform(0.02, 1.0, (20, 30))
    ve = rng.uniform(0.05, 0.6, (20, 30))
    c = tofts_concentration(T, CA, kt, ve)
    fit = fit_tofts(T, CA, c + rng.normal(0, 0.002, c.shape))
    assert fit.params["Ktrans"].shape == (20, 30)
    assert np.median(np.abs(fit.params["Ktrans"] / kt - 1)) < 0.02
    assert np.median(np.abs(fit.params["ve"] - ve)) < 0.01
    assert np.all(fit.r2 > 0.99)


def test_extended_tofts_and_patlak_recover_parameters():
    rng = np.random.default_rng(1)
    kt, ve, vp = rng.uniform(0.05, 0.5, 200), rng.uniform(0.1, 0.5, 200), rng.uniform(0.0, 0.1, 200)
    fit = fit_extended_tofts(T, CA, extended_tofts_concentration(T, CA, kt, ve, vp))
    assert np.allclose(fit.params["Ktrans"], kt, rtol=1e-3, atol=1e-4)
    assert np.allclose(fit.params["vp"], vp, atol=1e-3)
    ps, vp2 = rng.uniform(0, 0.2, 200), rng.uniform(0.01, 0.5, 200)
    pat = fit_patlak(T, CA, patlak_concentration(T, CA, ps, vp2))
    assert np.allclose(pat.params["PS"], ps, atol=1e-6) and np.allclose(pat.params["vp"], vp2, atol=1e-6)


def test_delay_is_recovered():
    c = tofts_concentration(T, parker_aif(T, delay=26), 0.3, 0.3)
    fit = fit_tofts(T, CA, c[None], fit_delay=True, delay_step=1.0)
    assert abs(fit.params["delay"][0] - 6.0) <= 1.0
    assert abs(fit.params["Ktrans"][0] - 0.3) < 0.02


def test_zero_and_nan_curves_are_marked_invalid():
    c = np.stack([tofts_concentration(T, CA, 0.2, 0.3), np.zeros(T.size), np.full(T.size, np.nan)])
    fit = fit_tofts(T, CA, c)
    assert fit.valid.tolist() == [True, False, False]
    assert np.isnan(fit.params["Ktrans"][1:]).all()


def test_signal_round_trip_and_vfa():
    conc = tofts_concentration(T, CA, 0.25, 0.4)
    conc[:3] = 0.0  # a true pre-contrast baseline
    r10, r1 = 1 / 1.2, 4.5
    s = spgr_signal(r10 + r1 * conc, 15, 0.005, 1000)
    back = signal_to_concentration(s, flip_angle_deg=15, tr=0.005, t10=1.2, relaxivity=r1, n_baseline=3)
    assert np.allclose(back, conc, atol=1e-9)
    fa = np.array([2, 5, 10, 15, 20.0])
    sig = spgr_signal(np.array([[0.5], [1.5]]), fa, 0.005, 3000)
    assert np.allclose(vfa_t1(sig, fa, 0.005).r1, [0.5, 1.5], rtol=1e-6)
    assert np.allclose(vfa_t1(sig, fa, 0.005, method="linear").r1, [0.5, 1.5], rtol=1e-6)


def test_semi_quantitative_maps_known_curve():
    t = np.array([0, 60, 120, 180, 240.0])
    s = np.array([[100, 200, 250, 230, 220.0], [100, 100, 100, 100, 100.0]])
    m = semi_quantitative_maps(s, t, n_baseline=1)
    assert m["peak_enhancement"][0] == pytest.approx(1.5)
    assert m["time_to_peak"][0] == 120
    assert m["wash_in"][0] == pytest.approx(1.5 / 120)
    assert m["wash_out"][0] == pytest.approx(30 / 100 / 120)
    assert m["ser"][0] == pytest.approx(100 / 120)
    assert np.isnan(m["ser"][1]) and m["peak_enhancement"][1] == 0


@pytest.mark.parametrize("times", [[0, 10, 10, 30], [0, 20, 10, 30], [0, np.nan, 20, 30]])
def test_bad_times_raise(times):
    with pytest.raises(InvalidInputError, match="times"):
        fit_tofts(np.array(times, float), np.ones(4), np.ones((1, 4)))


def test_mismatched_lengths_raise():
    with pytest.raises(InvalidInputError, match="time points"):
        fit_patlak(T, CA, np.ones((2, T.size - 1)))


def test_tofts_forward_model_equals_dcmri():
    dcmri = pytest.importorskip("dcmri")
    ours = tofts_concentration(T, CA, 0.3, 0.4)
    peer = dcmri.conc_tissue(CA, t=T, kinetics="WV", Ktrans=0.3 / 60, vi=0.4, H=0.0)
    assert np.allclose(ours, peer, atol=1e-12)


def test_coarse_phases_with_a_fine_model_grid():
    """Six DCE phases (0, 90, ... 265 s) miss the bolus; integrating the model on a 1 s grid recovers Ktrans."""
    t_fine = np.arange(0, 266.0)
    ca = parker_aif(t_fine, delay=20)
    phases = np.array([0, 90, 133, 177, 221, 265.0])
    c = tofts_concentration(t_fine, ca, 0.3, 0.4)[np.searchsorted(t_fine, phases)]
    fit = fit_tofts(t_fine, ca, c[None], sample_at=phases)
    assert fit.params["Ktrans"][0] == pytest.approx(0.3, rel=1e-3) and fit.params["ve"][0] == pytest.approx(0.4, rel=1e-3)
    pat = fit_patlak(t_fine, ca, c[None], sample_at=phases)
    assert pat.params["PS"].shape == (1,)
    with pytest.raises(InvalidInputError, match="sample_at"):
        fit_tofts(t_fine, ca, c[None], sample_at=phases + 0.5)
