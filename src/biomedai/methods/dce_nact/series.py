"""A DCE series: 3-D phases on one grid and their acquisition times (s), from DICOM (times from the tags) or a
4-D NIfTI (or a folder of 3-D NIfTI phases) with a JSON sidecar of times (spec 4.9 inputs)."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

logger = logging.getLogger(__name__)

#: sidecar keys read for the times, in order (ours, then BIDS-like)
TIME_KEYS = ("times", "AcquisitionTimes", "FrameTimesStart")


@dataclass
class DceSeries:
    """Phases (SimpleITK 3-D images, same geometry) at ``times`` seconds after the first phase."""

    phases: list[Any]
    times: np.ndarray
    source: Path
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.phases)

    def array(self) -> np.ndarray:
        """The phases as one float32 array ``(T, z, y, x)``."""
        import SimpleITK as sitk

        return np.stack([sitk.GetArrayFromImage(p).astype(np.float32) for p in self.phases])


def check_series(phases: list[Any], times: Any, source: Path, *, min_post: int = 3) -> DceSeries:
    """Validate geometry and times; raise ``InvalidInputError`` naming ``source`` and the problem."""
    if len(phases) < 1 + min_post:
        raise InvalidInputError(f"a DCE series needs a pre-contrast and >= {min_post} post-contrast phases, "
                                f"found {len(phases)} phase(s)", source)
    if times is None:
        raise InvalidInputError("acquisition times are missing", source)
    t = np.asarray(times, dtype=float).ravel()
    if t.size != len(phases):
        raise InvalidInputError(f"{t.size} times for {len(phases)} phases", source)
    if not np.all(np.isfinite(t)):
        raise InvalidInputError("acquisition times contain missing values", source)
    if np.any(np.diff(t) <= 0):
        i = int(np.argmax(np.diff(t) <= 0)) + 1
        raise InvalidInputError(f"acquisition times must increase: phase {i} at {t[i]:g} s comes after "
                                f"{t[i - 1]:g} s", source)
    ref = phases[0]
    for i, p in enumerate(phases[1:], 1):
        if p.GetDimension() != 3:
            raise InvalidInputError(f"phase {i} is {p.GetDimension()}-D, expected 3-D", source)
        same = (p.GetSize() == ref.GetSize() and np.allclose(p.GetSpacing(), ref.GetSpacing(), rtol=1e-4)
                and np.allclose(p.GetOrigin(), ref.GetOrigin(), atol=1e-3)
                and np.allclose(p.GetDirection(), ref.GetDirection(), atol=1e-4))
        if not same:
            raise InvalidInputError(f"phase {i} has a different geometry (size {p.GetSize()}, spacing "
                                    f"{np.round(p.GetSpacing(), 4).tolist()}) than phase 0 (size {ref.GetSize()}, "
                                    f"spacing {np.round(ref.GetSpacing(), 4).tolist()})", source)
    return DceSeries(list(phases), t - t[0], Path(source), {"n_phases": len(phases), "times_s": (t - t[0]).tolist()})


def read_times_json(path: Path) -> list[float]:
    """Times (s) from a JSON sidecar: a list, or an object with one of :data:`TIME_KEYS`."""
    if not path.is_file():
        raise InvalidInputError("JSON sidecar of acquisition times not found", path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"not valid JSON ({exc})", path) from None
    if isinstance(doc, dict):
        doc = next((doc[k] for k in TIME_KEYS if k in doc), None)
    if not isinstance(doc, list) or not doc:
        raise InvalidInputError(f"no acquisition times: need a list or a key among {TIME_KEYS}", path)
    try:
        return [float("nan") if v is None else float(v) for v in doc]
    except (TypeError, ValueError):
        raise InvalidInputError("acquisition times must be numbers (seconds)", path) from None


def _sidecar(path: Path) -> Path:
    name = path.name
    stem = name[:-7] if name.endswith(".nii.gz") else path.stem
    return path.with_name(stem + ".json") if path.is_file() else path / "times.json"


def load_dce_series(path: str | Path, *, times: Any = None, min_post: int = 3) -> DceSeries:
    """Read a DCE series from a 4-D NIfTI (+ ``NAME.json``), a folder of 3-D NIfTI phases (+ ``times.json``,
    phases in name order) or a folder of DICOM files / sub-folders (one series per phase, times from
    AcquisitionTime). ``times`` (s) overrides the sidecar/tags."""
    import SimpleITK as sitk

    path = Path(path)
    if not path.exists():
        raise InvalidInputError("DCE input not found", path)
    if path.is_file():
        try:
            img = sitk.ReadImage(str(path))
        except RuntimeError as exc:
            raise InvalidInputError(f"cannot read the image ({str(exc).splitlines()[0][:120]})", path) from None
        if img.GetDimension() != 4:
            raise InvalidInputError(f"expected a 4-D image (x, y, z, time), got {img.GetDimension()}-D", path)
        size = list(img.GetSize())
        phases = [sitk.Extract(img, size[:3] + [0], [0, 0, 0, i]) for i in range(size[3])]
        return check_series(phases, times if times is not None else read_times_json(_sidecar(path)), path,
                            min_post=min_post)
    niftis = sorted(p for p in path.iterdir() if p.name.endswith((".nii", ".nii.gz")))
    if niftis:
        phases = [sitk.ReadImage(str(p)) for p in niftis]
        return check_series(phases, times if times is not None else read_times_json(_sidecar(path)), path,
                            min_post=min_post)
    phases, tag_times = _read_dicom_phases(path)
    return check_series(phases, times if times is not None else tag_times, path, min_post=min_post)


def _dicom_time(header: Any) -> float | None:
    for key in ("AcquisitionTime", "ContentTime", "SeriesTime"):
        value = str(header.get(key, "") or "").strip()
        if value:
            hh, mm, ss = int(value[0:2]), int(value[2:4] or 0), float(value[4:] or 0)
            return hh * 3600 + mm * 60 + ss
    return None


def _read_dicom_phases(folder: Path) -> tuple[list[Any], list[float] | None]:
    import pydicom

    from biomedai.io.dicom import read_dicom_series

    series: dict[str, tuple[Path, list[float]]] = {}
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            h = pydicom.dcmread(f, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - not DICOM: skip
            continue
        uid = str(h.get("SeriesInstanceUID", ""))
        if not uid:
            continue
        entry = series.setdefault(uid, (f.parent, []))
        t = _dicom_time(h)
        if t is not None:
            entry[1].append(t)
    if not series:
        raise InvalidInputError("no DICOM series and no NIfTI phases found", folder)
    phases, times = [], []
    for uid, (directory, ts) in series.items():
        phases.append(read_dicom_series(directory, series_uid=uid).to_sitk())
        times.append(min(ts) if ts else float("nan"))
    order = np.argsort(np.where(np.isfinite(times), times, np.inf), kind="stable")
    phases = [phases[i] for i in order]
    times = [times[i] for i in order]
    if any(not np.isfinite(t) for t in times):
        return phases, None
    return phases, times
