"""A simulated longitudinal breast DCE cohort with a known answer (SIMULATED, not patient data).

Per patient and time point (baseline, after two cycles): a 4-D DCE series (pre-contrast + post-contrast phases
at the development protocol's times, spec 4.3) made from tissue compartments with Tofts parameters (fat,
fibroglandular tissue, a tumour with a heterogeneous Ktrans field), the Parker AIF, the SPGR signal equation,
noise and a small rigid motion between time points. The follow-up tumour is the baseline tumour shrunk by a
known, spatially varying deformation: responders (Miller-Payne 4-5) shrink more and less uniformly and lose
more enhancement than non-responders (MP 1-3), as Fan et al. report (spec 4.5). Molecular subtype shifts the
response probability (HER2-enriched and triple-negative respond more often). Written as 4-D NIfTI + JSON
sidecar of times, a tumour mask and a seed box per time point, and ``clinical.csv`` (spec 4.9 columns).
"""
from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
from scipy import ndimage

from biomedai.perfusion import parker_aif, spgr_signal, tofts_concentration
from biomedai.utils import write_json_atomic

logger = logging.getLogger(__name__)

DATA_NOTE = ("SIMULATED cohort (biomedai.methods.dce_nact.synthetic): Tofts-compartment breast DCE phantoms with "
             "a known responder-dependent shrinkage; not patient data.")
TIMES_S = (0.0, 90.0, 133.0, 177.0, 221.0, 265.0)            # spec 4.3, development protocol (5 post phases)
SUBTYPES = ("luminal_A", "luminal_B", "HER2", "basal_like")
SUBTYPE_P = (0.10, 0.51, 0.21, 0.18)                           # Table 2 shares
RESPONSE_P = {"luminal_A": 0.15, "luminal_B": 0.3, "HER2": 0.6, "basal_like": 0.55}
FLIP_DEG, TR_S, R1_RELAXIVITY = 10.0, 0.0045, 4.5             # Table 1 (dev), gadobutrol-like r1 (/mM/s)
TISSUES = {"fat": (0.01, 0.05, 0.30), "fgt": (0.06, 0.25, 1.2)}   # Ktrans /min, ve, T10 s
TUMOUR_T10 = 1.4
AIF_DELAY_S = 20.0
#: fat suppression (the development protocol is fat-suppressed, spec 4.3): fat keeps this share of its signal
FAT_SIGNAL = 0.15


def _smooth_field(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return f / (f.std() + 1e-12)


def _grid(shape: tuple[int, int, int], spacing: np.ndarray) -> np.ndarray:
    return np.stack(np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij"))


def _tissue_maps(rng, shape, spacing, centre, radii, heterogeneity):
    pos = _grid(shape, spacing)
    r = np.sqrt(sum(((pos[i] - centre[i]) / radii[i]) ** 2 for i in range(3)))
    tumour = r <= 1.0
    fgt = _smooth_field(rng, shape, 3.0) > 0.3
    kt = np.where(fgt, TISSUES["fgt"][0], TISSUES["fat"][0])
    ve = np.where(fgt, TISSUES["fgt"][1], TISSUES["fat"][1])
    t10 = np.where(fgt, TISSUES["fgt"][2], TISSUES["fat"][2])
    texture = _smooth_field(rng, shape, 1.2)
    scale = 0.25 * rng.lognormal(0.0, 0.3)                  # patients differ in tumour perfusion
    kt_t = np.clip(scale * (1 + heterogeneity * texture) * (1.1 - 0.4 * r), 0.02, 1.2)
    kt = np.where(tumour, kt_t, kt)
    ve = np.where(tumour, 0.4, ve)
    t10 = np.where(tumour, TUMOUR_T10, t10)
    m0 = np.where(fgt | tumour, 1000.0, 1000.0 * FAT_SIGNAL)
    return kt, ve, t10, m0, tumour


def _signal(kt, ve, t10, m0, times, rng, noise):
    t_fine = np.arange(0, times[-1] + 1, 1.0)
    ca = parker_aif(t_fine, delay=AIF_DELAY_S, hematocrit=0.42)
    conc = tofts_concentration(t_fine, ca, kt.ravel(), ve.ravel())
    conc = conc[:, np.searchsorted(t_fine, times)]          # the phase times are whole seconds
    r1 = 1.0 / t10.ravel()[:, None] + R1_RELAXIVITY * conc
    s = spgr_signal(r1, FLIP_DEG, TR_S, m0.ravel()[:, None])
    s = s + rng.normal(0, noise, s.shape)
    return np.abs(s).T.reshape((len(times),) + kt.shape).astype(np.float32)


def _followup_warp(shape, spacing, centre, radius, volume_ratio, heterogeneity, rng):
    """Sampling coordinates (index space) of the baseline for each follow-up voxel: a radial contraction
    around the tumour centre whose local volume ratio varies smoothly, plus a small rigid shift."""
    pos = _grid(shape, spacing)
    rel = pos - centre[:, None, None, None]
    r = np.sqrt((rel ** 2).sum(0))
    local = np.clip(volume_ratio * (1 + heterogeneity * _smooth_field(rng, shape, 2.0)), 0.15, 1.2)
    weight = np.exp(-(r / (1.6 * radius)) ** 4)
    scale = 1 + (local ** (-1 / 3) - 1) * weight          # follow-up -> baseline: expand to undo the shrinkage
    shift = rng.normal(0, 1.0, 3)                            # mm, patient motion between visits
    src = centre[:, None, None, None] + rel * scale + shift[:, None, None, None]
    return src / spacing[:, None, None, None]


def simulate_patient(folder: Path, rng: np.random.Generator, responder: bool, *, shape=(16, 40, 40),
                     spacing=(2.0, 2.0, 2.0), noise: float = 4.0) -> dict[str, float]:
    """Write one simulated patient (``baseline/`` and ``followup/``); return its true summary numbers."""
    import SimpleITK as sitk

    spacing_a = np.array(spacing, float)
    extent = np.array(shape) * spacing_a
    centre = extent / 2 + rng.normal(0, 2.0, 3)
    radius = rng.uniform(9.0, 13.0)
    radii = radius * np.array([0.8, 1.0, 0.9]) * rng.uniform(0.9, 1.1, 3)
    het0 = rng.uniform(0.25, 0.45)
    kt, ve, t10, m0, tumour = _tissue_maps(rng, shape, spacing_a, centre, radii, het0)
    # overlapping groups (a first version with SDs of 0.12 / 0.1 made the follow-up set separate perfectly)
    volume_ratio = rng.normal(0.5, 0.18) if responder else rng.normal(0.72, 0.18)
    warp_het = 0.3 if responder else 0.2
    coords = _followup_warp(shape, spacing_a, centre, radius, np.clip(volume_ratio, 0.2, 1.1), warp_het, rng)
    kt_f = ndimage.map_coordinates(kt, coords, order=1, mode="nearest")
    ve_f = ndimage.map_coordinates(ve, coords, order=1, mode="nearest")
    t10_f = ndimage.map_coordinates(t10, coords, order=1, mode="nearest")
    m0_f = ndimage.map_coordinates(m0, coords, order=1, mode="nearest")
    tumour_f = ndimage.map_coordinates(tumour.astype(float), coords, order=1, mode="constant") > 0.5
    enhancement_drop = rng.normal(0.6, 0.2) if responder else rng.normal(0.8, 0.2)
    kt_f = np.where(tumour_f, kt_f * np.clip(enhancement_drop, 0.2, 1.1), kt_f)
    maps = {"baseline": (kt, ve, t10, m0, tumour), "followup": (kt_f, ve_f, t10_f, m0_f, tumour_f)}
    for visit, (k, v, t1, s0, m) in maps.items():
        out = folder / visit
        out.mkdir(parents=True, exist_ok=True)
        sig = _signal(k, v, t1, s0, np.array(TIMES_S), rng, noise)
        img4 = sitk.JoinSeries([_image(s, spacing_a) for s in sig])
        sitk.WriteImage(img4, str(out / "dce.nii.gz"))
        write_json_atomic(out / "dce.json", {"times": list(TIMES_S), "FlipAngle": FLIP_DEG, "RepetitionTime": TR_S,
                                             "simulated": True})
        sitk.WriteImage(_image(m.astype(np.uint8), spacing_a), str(out / "mask.nii.gz"))
        idx = np.argwhere(m)
        lo, hi = np.maximum(idx.min(0) - 3, 0), np.minimum(idx.max(0) + 4, np.array(shape))
        write_json_atomic(out / "seed_box.json", {"box": [[int(a), int(b)] for a, b in zip(lo, hi)]})
    return {"true_volume_ratio": float(tumour_f.sum() / max(tumour.sum(), 1)), "baseline_voxels": int(tumour.sum())}


def _image(array: np.ndarray, spacing: np.ndarray):
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(array)
    img.SetSpacing([float(s) for s in spacing[::-1]])
    return img


CLINICAL_COLUMNS = ("patient_id", "cohort", "MP_grade", "ER", "PR", "HER2", "Ki67", "subtype", "age", "menopausal",
                    "family_history")


def simulate_cohort(folder: str | Path, n_dev: int = 61, n_test: int = 53, *, seed: int = 0,
                    shape=(16, 40, 40)) -> Path:
    """Write ``n_dev + n_test`` simulated patients and ``clinical.csv`` into ``folder``; returns the CSV path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_dev + n_test):
        pid = f"SIM{i + 1:03d}"
        subtype = str(rng.choice(SUBTYPES, p=SUBTYPE_P))
        responder = bool(rng.random() < RESPONSE_P[subtype])
        mp = int(rng.choice([4, 5])) if responder else int(rng.choice([1, 2, 3], p=[0.15, 0.3, 0.55]))
        truth = simulate_patient(folder / pid, rng, responder, shape=shape)
        er = subtype in ("luminal_A", "luminal_B")
        her2 = subtype == "HER2" or (subtype == "luminal_B" and rng.random() < 0.4)
        age = int(np.clip(rng.normal(48, 10), 27, 79))
        rows.append({"patient_id": pid, "cohort": "dev" if i < n_dev else "test", "MP_grade": mp,
                     "ER": int(er), "PR": int(er and rng.random() < 0.8), "HER2": int(her2),
                     "Ki67": round(float(rng.uniform(20, 60) if subtype != "luminal_A" else rng.uniform(3, 14)), 1),
                     "subtype": subtype, "age": age, "menopausal": "post" if age + rng.normal(0, 4) > 50 else "pre",
                     "family_history": "yes" if rng.random() < 0.24 else "no",
                     "true_volume_ratio": round(truth["true_volume_ratio"], 4)})
    path = folder / "clinical.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (folder / "README.txt").write_text(DATA_NOTE + "\n", encoding="utf-8")
    logger.info("simulated %d patients into %s", len(rows), folder)
    return path
