"""Radiomics of the baseline / follow-up subtraction images and the Jacobian map through ``biomedai.radiomics``
with the package's versioned YAML settings, and deltaRAD (spec 4.4 steps 6-7, Eq. 2)."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

logger = logging.getLogger(__name__)

PARAMS_DIR = Path(__file__).parent / "params"
IMAGE_SETS = ("baseline", "followup", "jacobian")


def params_path(name: str) -> Path:
    """A settings file: a path, or a file name in the package's ``params/`` folder."""
    p = Path(name)
    if p.is_file():
        return p
    q = PARAMS_DIR / name
    if not q.is_file():
        raise InvalidInputError(f"radiomics settings {name!r} not found (package files: "
                                f"{', '.join(sorted(f.name for f in PARAMS_DIR.glob('*.yaml')))})")
    return q


def radiomics_features(image: Any, mask: Any, params: str, *, drop_shape: bool = False) -> dict[str, float]:
    """The 102 features of one ROI (``original_<class>_<name>``), diagnostics dropped."""
    import SimpleITK as sitk

    from biomedai.radiomics import extract

    m = sitk.Cast(mask, sitk.sitkUInt8)
    if m.GetSize() != image.GetSize():
        raise InvalidInputError(f"mask size {m.GetSize()} differs from the image's {image.GetSize()}")
    m.CopyInformation(image)
    if int(sitk.GetArrayViewFromImage(m).sum()) == 0:
        raise InvalidInputError("the tumour mask is empty")
    values = extract(image, m, params_path(params), threads=1)
    out = {k: float(v) for k, v in values.items() if not k.startswith("diagnostics_")}
    if drop_shape:
        out = {k: v for k, v in out.items() if "_shape_" not in k}
    return out


def delta_rad(baseline: dict[str, float], followup: dict[str, float], *, epsilon: float = 1e-6) -> dict[str, float]:
    """Eq. 2: ``(f_baseline - f_follow-up) / f_baseline`` per feature present in both (positive: a decrease).

    A baseline value with ``|f| < epsilon`` is floored to ``epsilon`` with its sign (spec 4.4 step 7 [Decision]).
    """
    out = {}
    for name, fb in baseline.items():
        if name not in followup:
            continue
        denom = fb if abs(fb) >= epsilon else (epsilon if fb >= 0 else -epsilon)
        out[name] = (fb - followup[name]) / denom
    return out


def feature_matrix(rows: list[dict[str, Any]], prefix: str) -> tuple[np.ndarray, list[str]]:
    """Columns of ``rows`` starting with ``prefix`` as a float matrix, with their names (sorted)."""
    names = sorted({k for r in rows for k in r if k.startswith(prefix)})
    x = np.array([[float(r.get(n, np.nan)) for n in names] for r in rows], float)
    return x, names
