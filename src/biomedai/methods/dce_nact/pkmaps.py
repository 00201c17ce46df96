"""Pharmacokinetic and semi-quantitative maps of one DCE series (beyond Fan et al., who use none; spec 4.1):
signal -> concentration with a fixed T10 (or a T10 map), the Parker population AIF, a Tofts / extended Tofts /
Patlak fit per voxel inside a mask, and wash-in / wash-out / TTP / SER maps. The maps can be fed to the
radiomics step as extra images."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.perfusion import (fit_extended_tofts, fit_patlak, fit_tofts, parker_aif, semi_quantitative_maps,
                                signal_to_concentration)

from .series import DceSeries

logger = logging.getLogger(__name__)
FITTERS = {"tofts": fit_tofts, "extended_tofts": fit_extended_tofts, "patlak": fit_patlak}


def pk_maps(series: DceSeries, mask: np.ndarray | None, *, flip_angle_deg: float, tr_s: float,
            t10_s: float | np.ndarray = 1.4, relaxivity: float = 4.5, model: str = "tofts", aif_delay_s: float = 0.0,
            hematocrit: float = 0.42, n_baseline: int = 1, measured_aif: tuple[np.ndarray, np.ndarray] | None = None
            ) -> dict[str, np.ndarray]:
    """Parameter, fit-quality and semi-quantitative maps (arrays on the series grid, NaN outside ``mask``).

    ``t10_s``: a fixed T10 (s) or a T10 map on the series grid (e.g. from ``biomedai.perfusion.vfa_t1``);
    ``measured_aif``: (times s, plasma concentration mM) instead of the Parker population AIF.
    """
    if model not in FITTERS:
        raise InvalidInputError(f"unknown PK model {model!r} ({', '.join(FITTERS)})")
    arr = series.array().astype(np.float64)                      # (T, z, y, x)
    sel = np.ones(arr.shape[1:], bool) if mask is None else np.asarray(mask, bool)
    if sel.shape != arr.shape[1:]:
        raise InvalidInputError(f"mask shape {sel.shape} does not match the series {arr.shape[1:]}")
    if not sel.any():
        raise InvalidInputError("the mask for the PK maps is empty")
    curves = arr[:, sel].T                                       # (N, T)
    t = series.times
    t10 = np.asarray(t10_s, float)
    if t10.ndim:
        if t10.shape != arr.shape[1:]:
            raise InvalidInputError(f"T10 map shape {t10.shape} does not match the series {arr.shape[1:]}")
        t10 = t10[sel]
    conc = signal_to_concentration(curves, flip_angle_deg=flip_angle_deg, tr=tr_s, t10=t10, relaxivity=relaxivity,
                                   n_baseline=n_baseline)
    conc = np.where(np.isfinite(conc), conc, 0.0)
    # coarse phases miss the bolus: the model is integrated on a 1 s grid (plus the phase times), sampled at t
    t_model = np.union1d(np.arange(0.0, t[-1] + 1.0, 1.0), t)
    if measured_aif is None:
        ca = parker_aif(t_model, delay=aif_delay_s, hematocrit=hematocrit)
    else:
        ta, cm = (np.asarray(a, float) for a in measured_aif)
        if ta.ndim != 1 or ta.shape != cm.shape or ta.size < 2 or np.any(np.diff(ta) <= 0):
            raise InvalidInputError("the measured AIF needs >= 2 increasing times and one concentration each")
        if ta[0] > t[0] or ta[-1] < t[-1]:
            raise InvalidInputError(f"the measured AIF ({ta[0]:g}-{ta[-1]:g} s) does not cover the series "
                                    f"({t[0]:g}-{t[-1]:g} s)")
        t_model = np.union1d(t_model, ta[(ta >= t[0]) & (ta <= t[-1])])
        ca = np.interp(t_model, ta, cm)
    fit = FITTERS[model](t_model, ca, conc, sample_at=t)
    maps = {**fit.maps(), **semi_quantitative_maps(curves, t, n_baseline=n_baseline)}
    out = {}
    for name, values in maps.items():
        full = np.full(arr.shape[1:], np.nan)
        full[sel] = values
        out[name] = full
    logger.info("PK maps (%s) of %d voxels: median Ktrans %.3g /min", model, int(sel.sum()),
                float(np.nanmedian(out["Ktrans"])))
    return out


def write_maps(maps: dict[str, np.ndarray], reference: Any, folder: Path) -> list[Path]:
    """Each map as ``<name>.nii.gz`` on ``reference``'s geometry."""
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, arr in maps.items():
        img = sitk.GetImageFromArray(arr.astype(np.float32))
        img.CopyInformation(reference)
        path = folder / f"{name}.nii.gz"
        sitk.WriteImage(img, str(path))
        paths.append(path)
    return paths
