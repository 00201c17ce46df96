"""A physically simulated resting-state MEG cohort of TLE patients (SIMULATED data; no epilepsy MEG is available).

Physics (MNE-Python): point magnetometers on the CTF-275 helmet surface shipped in the MNE wheel
(``mne/data/helmets/CTF_275.fif.gz``, subsampled), a spherical head conductor (``mne.make_sphere_model``; the
fsaverage BEM of the wheel has no matching source space without a download), a discrete cortical source space on a
7 cm shell with tangential dipoles (radial dipoles are silent in a sphere), the forward solution
``mne.make_forward_solution`` per subject (each with its own head position in the helmet) and sensor noise added
with ``mne.simulation.add_noise`` from an ad-hoc covariance.

Simulator assumptions (stated, not measured):
* background: every source carries 1/f ("pink") activity; posterior sources carry an alpha rhythm (eyes closed);
* interictal spike-and-wave events (a 70 ms spike then a 250 ms slow wave) come from a temporal-lobe focus
  (side drawn per subject) at a subject-specific rate;
* SPS (consciousness preserved): the events stay focal (focus source and its neighbours);
* CPS (consciousness disturbed): the events also spread, delayed by 10-40 ms, to ipsilateral frontal and
  contralateral temporal sources with weight ``cps_spread``, and the background alpha is weaker and theta
  (4-7 Hz) stronger by ``cps_rhythm``;
* per-subject variability: alpha amplitude (factor 1 +/- ``alpha_variability``), head position (translation up to ``head_shift_mm``), spike amplitude and rate, alpha
  frequency, focus position, sensor-noise level.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

logger = logging.getLogger(__name__)

SIMULATOR_VERSION = "msam_meg-sim 1.1"


@dataclasses.dataclass
class SimulationConfig:
    """Settings of the simulated cohort (defaults: 32 subjects as in the paper, 16 CPS + 16 SPS)."""

    n_subjects: int = 32
    cps_fraction: float = 0.5
    seconds: float = 40.0
    sfreq: float = 200.0
    n_sensors: int = 32
    n_sources: int = 120
    spike_rate: tuple[float, float] = (0.2, 0.6)         # events per second, uniform per subject
    spike_amplitude_nam: tuple[float, float] = (60.0, 150.0)
    background_nam: float = 2.0
    alpha_nam: float = 6.0
    cps_spread: float = 0.4
    cps_rhythm: float = 0.25
    #: per-subject alpha amplitude factor drawn from 1 +/- this (so alpha power alone overlaps between subtypes)
    alpha_variability: float = 0.4
    sensor_noise_ft: tuple[float, float] = (30.0, 60.0)   # white sensor noise SD per sample, fT
    head_shift_mm: float = 5.0
    seed: int = 0


def helmet_sensors(n_sensors: int, sfreq: float) -> Any:
    """``mne.Info`` with ``n_sensors`` point magnetometers on the CTF-275 helmet (device frame), spread by
    farthest-point sampling over the upper helmet, oriented along the helmet's outward normal."""
    import mne
    from mne.io.constants import FIFF

    helmet = Path(mne.__file__).parent / "data" / "helmets" / "CTF_275.fif.gz"
    surf = mne.read_bem_surfaces(helmet, verbose="error")[0]
    rr, nn = surf["rr"], surf["nn"]
    centre = rr.mean(axis=0)
    outward = np.einsum("ij,ij->i", rr - centre, nn) > 0
    upper = rr[:, 2] > np.percentile(rr[:, 2], 25)
    keep = np.flatnonzero(outward & upper)
    if len(keep) < n_sensors:
        keep = np.flatnonzero(upper)
    chosen = [keep[np.argmax(rr[keep, 2])]]
    dist = np.linalg.norm(rr[keep] - rr[chosen[0]], axis=1)
    while len(chosen) < n_sensors:
        nxt = keep[int(np.argmax(dist))]
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(rr[keep] - rr[nxt], axis=1))
    names = [f"MEG{i:03d}" for i in range(n_sensors)]
    info = mne.create_info(names, sfreq, "mag")
    with info._unlock():
        for ch, idx in zip(info["chs"], chosen):
            ez = nn[idx] / np.linalg.norm(nn[idx])
            ex = np.cross(ez, [0.0, 0.0, 1.0] if abs(ez[2]) < 0.9 else [1.0, 0.0, 0.0])
            ex /= np.linalg.norm(ex)
            ey = np.cross(ez, ex)
            ch["loc"] = np.concatenate([rr[idx], ex, ey, ez])
            ch["coil_type"] = FIFF.FIFFV_COIL_POINT_MAGNETOMETER
            ch["coord_frame"] = FIFF.FIFFV_COORD_DEVICE
    return info, centre


def cortical_sources(n_sources: int, radius: float = 0.07) -> tuple[np.ndarray, np.ndarray]:
    """Dipole positions on the upper part of a ``radius`` shell (head frame, m) with tangential orientations."""
    k = np.arange(n_sources) + 0.5
    z = 1 - 1.3 * k / n_sources              # cos(polar angle) from 1 down to -0.3: no sources deep below
    phi = np.pi * (1 + 5 ** 0.5) * k
    xy = np.sqrt(1 - z ** 2)
    rr = radius * np.stack([xy * np.cos(phi), xy * np.sin(phi), z], axis=1)
    radial = rr / np.linalg.norm(rr, axis=1, keepdims=True)
    tangent = np.cross(radial, [0.0, 0.0, 1.0])
    tangent[np.linalg.norm(tangent, axis=1) < 1e-6] = [1.0, 0.0, 0.0]
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    return rr, tangent


def regions(rr: np.ndarray) -> dict[str, np.ndarray]:
    """Masks of sources by region (MNE head frame: x right, y front, z up)."""
    x, y, z = rr.T
    temporal = (np.abs(x) > 0.045) & (z < 0.03) & (y > -0.04) & (y < 0.04)
    return {"left_temporal": temporal & (x < 0), "right_temporal": temporal & (x > 0),
            "frontal": (y > 0.035) & ~temporal, "posterior": (y < -0.03) & ~temporal}


def _pink(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(shape), axis=-1)
    f = np.arange(spec.shape[-1])
    spec[..., 1:] /= np.sqrt(f[1:])
    spec[..., 0] = 0
    out = np.fft.irfft(spec, n=shape[-1], axis=-1)
    return out / out.std(axis=-1, keepdims=True)


def spike_and_wave(sfreq: float) -> np.ndarray:
    """A unit spike (70 ms, biphasic) followed by an opposite-sign slow wave (250 ms)."""
    t = np.arange(int(0.4 * sfreq)) / sfreq
    spike = np.exp(-0.5 * ((t - 0.04) / 0.012) ** 2) - 0.3 * np.exp(-0.5 * ((t - 0.075) / 0.015) ** 2)
    wave = -0.4 * np.exp(-0.5 * ((t - 0.2) / 0.05) ** 2)
    return spike + wave


def simulate_subject(subject: str, cps: bool, cfg: SimulationConfig, rng: np.random.Generator,
                     info: Any, centre: np.ndarray) -> tuple[Any, dict[str, Any]]:
    """One subject's raw recording (``mne.io.RawArray``, T) and its simulation parameters."""
    import mne

    rr, nn = cortical_sources(cfg.n_sources)
    shift = rng.uniform(-1, 1, 3) * cfg.head_shift_mm / 1000 / np.sqrt(3)
    # device -> head: the head origin sits at the helmet centre, plus the subject's own shift
    dev_head = np.eye(4)
    dev_head[:3, 3] = -(centre + shift)
    info = info.copy()
    with info._unlock():
        info["dev_head_t"] = mne.transforms.Transform("meg", "head", dev_head)
    src = mne.setup_volume_source_space(pos={"rr": rr, "nn": nn}, verbose="error")
    sphere = mne.make_sphere_model(r0=(0.0, 0.0, 0.0), head_radius=0.085, verbose="error")
    fwd = mne.make_forward_solution(info, trans=None, src=src, bem=sphere, eeg=False, verbose="error")
    fwd = mne.convert_forward_solution(fwd, force_fixed=False, verbose="error")
    gain = fwd["sol"]["data"].reshape(len(info["ch_names"]), -1, 3)
    gain = np.einsum("cvk,vk->cv", gain, nn)  # fixed tangential orientation

    n = int(cfg.seconds * cfg.sfreq)
    t = np.arange(n) / cfg.sfreq
    reg = regions(rr)
    q = cfg.background_nam * 1e-9 * _pink(rng, (cfg.n_sources, n))
    alpha_f = rng.uniform(8.5, 11.5)
    alpha_gain = rng.uniform(1 - cfg.alpha_variability, 1 + cfg.alpha_variability)
    rhythm = cfg.cps_rhythm if cps else 0.0
    envelope = 1 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 2 * np.pi))
    alpha = np.sin(2 * np.pi * alpha_f * t + rng.uniform(0, 2 * np.pi)) * envelope
    theta = np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t + rng.uniform(0, 2 * np.pi))
    q[reg["posterior"]] += alpha_gain * cfg.alpha_nam * 1e-9 * ((1 - rhythm) * alpha + 0.1 * rng.standard_normal(n))
    q[reg["frontal"] | reg["left_temporal"] | reg["right_temporal"]] += cfg.alpha_nam * 1e-9 * rhythm * theta

    side = rng.choice(["left", "right"])
    other = "right" if side == "left" else "left"
    focus_candidates = np.flatnonzero(reg[f"{side}_temporal"])
    focus = int(rng.choice(focus_candidates))
    near = np.argsort(np.linalg.norm(rr - rr[focus], axis=1))[:3]
    rate = rng.uniform(*cfg.spike_rate)
    amp = rng.uniform(*cfg.spike_amplitude_nam) * 1e-9
    template = spike_and_wave(cfg.sfreq)
    onsets = np.flatnonzero(rng.random(n - len(template)) < rate / cfg.sfreq)
    spread_targets = np.flatnonzero(reg["frontal"] & (np.sign(rr[:, 0]) == np.sign(rr[focus, 0])))
    spread_targets = np.concatenate([spread_targets, np.flatnonzero(reg[f"{other}_temporal"])])
    for onset in onsets:
        a = amp * rng.uniform(0.7, 1.3)
        for j, src_idx in enumerate(near):
            q[src_idx, onset:onset + len(template)] += a * template * (1.0 if j == 0 else 0.5)
        if cps and len(spread_targets):
            for target in rng.choice(spread_targets, size=min(4, len(spread_targets)), replace=False):
                delay = int(rng.uniform(0.01, 0.04) * cfg.sfreq)
                stop = min(n, onset + delay + len(template))
                q[target, onset + delay:stop] += cfg.cps_spread * a * template[:stop - onset - delay]
    data = gain @ q
    raw = mne.io.RawArray(data, info, verbose="error")
    noise_ft = rng.uniform(*cfg.sensor_noise_ft)
    cov = mne.make_ad_hoc_cov(raw.info, std={"mag": noise_ft * 1e-15}, verbose="error")
    mne.simulation.add_noise(raw, cov, iir_filter=None, rng=int(rng.integers(2 ** 31)), verbose="error")
    params = {"subject_id": subject, "subtype": "CPS" if cps else "SPS", "focus_side": side,
              "spike_rate_hz": round(rate, 3), "n_spikes": len(onsets), "spike_amplitude_nam": round(amp * 1e9, 1),
              "alpha_hz": round(alpha_f, 2), "alpha_gain": round(alpha_gain, 2), "sensor_noise_ft": round(noise_ft, 1),
              "head_shift_mm": round(float(np.linalg.norm(shift)) * 1000, 2)}
    return raw, params


def simulate_cohort(folder: str | Path, cfg: SimulationConfig | None = None) -> Path:
    """Write a SIMULATED cohort: one ``<subject>_raw.fif`` each, ``labels.csv`` (subject_id, subtype, file,
    head_movement_mm) and ``simulation.csv`` with every subject's parameters. Returns the folder."""
    cfg = cfg or SimulationConfig()
    if cfg.n_subjects < 2:
        raise InvalidInputError(f"n_subjects {cfg.n_subjects}: need at least 2")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    info, centre = helmet_sensors(cfg.n_sensors, cfg.sfreq)
    n_cps = round(cfg.n_subjects * cfg.cps_fraction)
    labels = np.array([True] * n_cps + [False] * (cfg.n_subjects - n_cps))
    rng.shuffle(labels)
    rows, params = [], []
    for i, cps in enumerate(labels):
        subject = f"sim{i:03d}"
        raw, p = simulate_subject(subject, bool(cps), cfg, rng, info, centre)
        raw.save(folder / f"{subject}_raw.fif", overwrite=True, verbose="error")
        rows.append({"subject_id": subject, "subtype": p["subtype"], "file": f"{subject}_raw.fif",
                     "head_movement_mm": p["head_shift_mm"]})
        params.append(p)
    for name, table in (("labels.csv", rows), ("simulation.csv", params)):
        with open(folder / name, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, list(table[0]))
            writer.writeheader()
            writer.writerows(table)
    (folder / "SIMULATED.txt").write_text(f"SIMULATED MEG cohort, {SIMULATOR_VERSION}, {dataclasses.asdict(cfg)}\n"
                                          "Simulator assumptions: see biomedai.methods.msam_meg.simulate.\n")
    logger.info("simulated %d subjects (%d CPS) in %s", cfg.n_subjects, n_cps, folder)
    return folder
