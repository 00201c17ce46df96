"""One patient through the image steps of spec 4.9: load both time points, pre-process, segment, register,
Jacobian, radiomics. Writes the images and QC pictures into the patient's output folder."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError

from .config import DceNactConfig
from .features import delta_rad, radiomics_features
from .preprocess import choose_phase, n4_correct, resample_to_spacing, subtraction_image
from .registration import RegistrationResult, inverse_transform, register_followup_to_baseline, warp_mask
from .report import qc_overlays
from .segmentation import spatial_fcm
from .series import DceSeries, load_dce_series

logger = logging.getLogger(__name__)
VISITS = ("baseline", "followup")


@dataclass
class VisitImages:
    """A time point after pre-processing: chosen phase, subtraction image, tumour mask and how each was made."""

    series: DceSeries
    phase: int
    phase_reason: str
    post: Any
    subtraction: Any
    mask: Any
    mask_source: str


@dataclass
class PatientResult:
    patient_id: str
    visits: dict[str, VisitImages]
    registration: RegistrationResult
    features: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


def find_visit_input(patient_dir: Path, visit: str) -> Path:
    """``<patient>/<visit>/``: ``dce.nii.gz`` (+ ``dce.json``) if present, else the folder (NIfTI phases or DICOM)."""
    folder = patient_dir / visit
    if not folder.is_dir():
        if visit == "baseline":
            raise InvalidInputError("no baseline/ folder: a follow-up cannot be analysed without its baseline",
                                    patient_dir)
        raise InvalidInputError(f"no {visit}/ folder", patient_dir)
    for name in ("dce.nii.gz", "dce.nii"):
        if (folder / name).is_file():
            return folder / name
    return folder


def _resample(img: Any, spacing: tuple[float, float, float] | None, label: bool = False) -> Any:
    return img if spacing is None else resample_to_spacing(img, spacing, label=label)


def _read_mask(folder: Path, reference: Any) -> Any | None:
    import SimpleITK as sitk

    for name in ("mask.nii.gz", "mask.nii", "mask.nrrd"):
        path = folder / name
        if path.is_file():
            mask = sitk.ReadImage(str(path))
            if mask.GetSize() != reference.GetSize():
                raise InvalidInputError(f"mask size {mask.GetSize()} does not match the DCE phases "
                                        f"{reference.GetSize()}: the mask lies outside the volume", path)
            mask.CopyInformation(reference)
            if int(sitk.GetArrayViewFromImage(mask).astype(bool).sum()) == 0:
                raise InvalidInputError("the mask is empty", path)
            return sitk.Cast(mask > 0, sitk.sitkUInt8)
    return None


def _seed_box(folder: Path, shape_zyx: tuple[int, ...]) -> tuple[tuple[int, int], ...] | None:
    path = folder / "seed_box.json"
    if not path.is_file():
        return None
    try:
        box = json.loads(path.read_text(encoding="utf-8"))["box"]
        return tuple((int(a), int(b)) for a, b in box)
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"seed box must be {{\"box\": [[z0, z1], [y0, y1], [x0, x1]]}} ({exc})", path) from None


def check_enhancement(series: DceSeries, rel: float = 1e-6) -> None:
    """A series whose phases are all the same (a flat curve everywhere) has no contrast: refuse it."""
    arr = series.array()
    spread = float(np.max(np.abs(arr[1:] - arr[0]))) if len(arr) > 1 else 0.0
    if spread <= rel * max(float(np.abs(arr[0]).max()), 1e-12):
        raise InvalidInputError("flat time curves: the post-contrast phases equal the pre-contrast phase "
                                "(no enhancement)", series.source)


def prepare_visit(folder_or_file: Path, config: DceNactConfig) -> VisitImages:
    """Load, N4, choose the phase, subtract, segment (imported mask or SFCM in the seed box), then resample."""
    import SimpleITK as sitk

    series = load_dce_series(folder_or_file, min_post=config.min_post_phases)
    check_enhancement(series)
    folder = folder_or_file if folder_or_file.is_dir() else folder_or_file.parent
    mask = _read_mask(folder, series.phases[0]) if config.segmentation in ("mask", "auto") else None
    if config.segmentation == "mask" and mask is None:
        raise InvalidInputError("segmentation='mask' but no mask.nii.gz", folder)
    if config.n4:
        series = DceSeries([n4_correct(p) for p in series.phases], series.times, series.source, series.info)
    phase, reason = choose_phase(series, config.phase_rule, index=config.phase_index,
                                 target_time=config.phase_target_time_s,
                                 mask=None if mask is None else sitk.GetArrayFromImage(mask).astype(bool))
    sub = subtraction_image(series, phase)
    source = "imported mask"
    if mask is None:
        arr = sitk.GetArrayFromImage(sub)
        box = _seed_box(folder, arr.shape)
        if box is None:
            raise InvalidInputError("no mask.nii.gz and no seed_box.json: SFCM needs a seed box", folder)
        seg = spatial_fcm(arr, box, n_clusters=config.sfcm_clusters, fuzziness=config.sfcm_fuzziness,
                          seed=config.seed)
        mask = sitk.GetImageFromArray(seg.mask)
        mask.CopyInformation(sub)
        source = f"SFCM in seed box {list(box)}"
    post = sitk.Cast(series.phases[phase], sitk.sitkFloat32)
    sp = config.resample_spacing_mm
    return VisitImages(series, phase, reason, _resample(post, sp), _resample(sub, sp), _resample(mask, sp, True),
                       source)


def process_patient(patient_dir: str | Path, out_dir: str | Path, config: DceNactConfig) -> PatientResult:
    """Both visits, registration + Jacobian, the three feature sets and deltaRAD; images into ``out_dir``."""
    import SimpleITK as sitk

    patient_dir, out_dir = Path(patient_dir), Path(out_dir)
    inputs = {v: find_visit_input(patient_dir, v) for v in VISITS}
    visits = {v: prepare_visit(inputs[v], config) for v in VISITS}
    base, follow = visits["baseline"], visits["followup"]
    base_mask = sitk.GetArrayFromImage(base.mask).astype(bool)
    reg = register_followup_to_baseline(base.post, follow.post, grid_spacing_mm=config.registration_grid_mm,
                                        iterations=config.registration_iterations, metric=config.registration_metric,
                                        shrink_factors=config.registration_levels,
                                        smoothing_sigmas=tuple(float(max(s // 2, 0)) for s in config.registration_levels),
                                        seed=config.seed, mask=base_mask,
                                        sampling_fraction=config.registration_sampling)
    if config.followup_roi == "warped":
        follow_mask = warp_mask(base.mask, follow.post, inverse_transform(reg, base.post))
    else:
        follow_mask = follow.mask
    feats: dict[str, float] = {}
    f_base = radiomics_features(base.subtraction, base.mask, config.params_subtraction)
    f_follow = radiomics_features(follow.subtraction, follow_mask, config.params_subtraction)
    f_jac = radiomics_features(reg.jacobian, base.mask, config.params_jacobian, drop_shape=config.drop_jacobian_shape)
    for prefix, values in (("baseline__", f_base), ("followup__", f_follow), ("jacobian__", f_jac),
                           ("delta__", delta_rad(f_base, f_follow, epsilon=config.delta_epsilon))):
        feats.update({prefix + k: v for k, v in values.items()})
    jac = sitk.GetArrayFromImage(reg.jacobian)
    vol = {v: float(sitk.GetArrayFromImage(visits[v].mask).astype(bool).sum() * np.prod(visits[v].mask.GetSpacing()))
           for v in VISITS}
    summary = {"patient_id": patient_dir.name, **{f"{v}_phase": visits[v].phase for v in VISITS},
               **{f"{v}_phase_reason": visits[v].phase_reason for v in VISITS},
               **{f"{v}_mask_source": visits[v].mask_source for v in VISITS},
               "baseline_volume_mm3": vol["baseline"], "followup_volume_mm3": vol["followup"],
               "relative_volume_change": (vol["baseline"] - vol["followup"]) / vol["baseline"],
               "jacobian_mean_in_tumour": float(jac[base_mask].mean()), **reg.summary(),
               "folding_fraction_in_tumour": reg.folding_fraction}
    _write_images(out_dir, visits, reg, follow_mask)
    return PatientResult(patient_dir.name, visits, reg, feats, summary)


def _write_images(out_dir: Path, visits: dict[str, VisitImages], reg: RegistrationResult, follow_mask: Any) -> None:
    import SimpleITK as sitk

    out_dir.mkdir(parents=True, exist_ok=True)
    for v, vi in visits.items():
        sitk.WriteImage(vi.subtraction, str(out_dir / f"{v}_subtraction.nii.gz"))
        sitk.WriteImage(vi.mask, str(out_dir / f"{v}_mask.nii.gz"))
    sitk.WriteImage(reg.warped, str(out_dir / "followup_warped.nii.gz"))
    sitk.WriteImage(sitk.Cast(reg.displacement, sitk.sitkVectorFloat32), str(out_dir / "displacement.nii.gz"))
    sitk.WriteImage(sitk.Cast(reg.jacobian, sitk.sitkFloat32), str(out_dir / "jacobian.nii.gz"))
    warped_mask = warp_mask(follow_mask, visits["baseline"].post, reg.transform)
    qc_overlays(out_dir, visits["baseline"].post, reg.warped, visits["baseline"].mask, warped_mask, reg.jacobian)
