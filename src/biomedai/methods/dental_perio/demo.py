"""``biomedai demo dental_perio``: a SIMULATED panoramic film, no model weights.

The bundled model (an FDI U-Net trained on UFBA films) needs a real film, and none may ship with the package,
so the demo shows the parts that need no network, on a film with known answers:
classical tooth segmentation (smoothing, 3-class Otsu, connected components) stands in for the binary model,
a few true numbers plus one deliberately wrong one (with a lower score) stand in for the sparse multi-class
model, and the calibration numbers the rest. When the bone-loss half is present, the ABL ratio d of each
numbered tooth is measured against a classically segmented bone region and compared with the known d.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from .abl import abl_vector, measure_abl
from .calibration import sequence
from .data import ToothInstances, instances_from_label_map, write_coco_json
from .inference import TOOTH_COLUMNS, image_warnings, tooth_rows
from .numbering import dice_single_scores, number_binary_detections, numbering_accuracy
from .overlay import save_numbered_overlay
from .report import write_patient_report
from .staging import STAGES, StagingModel
from .synthetic import simulate_abl_cohort, synthetic_panoramic

logger = logging.getLogger(__name__)


def classical_teeth(image: np.ndarray, min_area: int = 60) -> tuple[ToothInstances, np.ndarray]:
    """Bright connected components as unnumbered tooth instances, and the middle grey class as bone.

    A stand-in for the binary Mask R-CNN on clean simulated films only; real radiographs need the model.
    """
    from scipy import ndimage
    from skimage.filters import threshold_multiotsu
    from skimage.measure import label
    from skimage.morphology import disk, opening

    smooth = ndimage.gaussian_filter(image.astype(np.float32), 1.5)
    low, high = threshold_multiotsu(smooth, classes=3)
    lab = label(opening(smooth > high, disk(2)))
    areas = np.bincount(lab.ravel())[1:]
    big = [k + 1 for k, a in enumerate(areas) if a >= max(min_area, 0.2 * areas.max())] if len(areas) else []
    masks = np.array([lab == k for k in big], bool).reshape(-1, *image.shape)
    teeth = masks.any(0) if len(masks) else np.zeros(image.shape, bool)
    bone = opening((smooth > low) & ~ndimage.binary_dilation(teeth, iterations=1), disk(2))
    boxes = []
    for m in masks:
        rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        boxes.append([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])
    scores = np.ones(len(masks))
    return ToothInstances(np.zeros(len(masks), int), masks, np.asarray(boxes, float).reshape(-1, 4), scores), bone


def sparse_numbers(detected: ToothInstances, truth: ToothInstances, fraction: float, rng: np.random.Generator
                   ) -> ToothInstances:
    """A simulated multi-class output: the true numbers of a few detections, one of them wrong (lower score)."""
    true_fdi = []
    for m in detected.masks:
        overlap = [(np.logical_and(m, t).sum(), f) for t, f in zip(truth.masks, truth.fdi)]
        true_fdi.append(max(overlap)[1] if overlap and max(overlap)[0] > 0 else 0)
    candidates = [k for k, f in enumerate(true_fdi) if f]
    n = max(3, int(round(fraction * len(candidates))))
    pick = sorted(rng.choice(candidates, size=min(n, len(candidates)), replace=False).tolist())
    fdi = np.array([true_fdi[k] for k in pick], int)
    scores = rng.uniform(0.85, 0.99, len(pick))
    if len(pick) >= 4:  # one wrong number, two places off along its arch
        w = int(rng.integers(len(pick)))
        seq = sequence("upper" if fdi[w] // 10 in (1, 2) else "lower")
        p = seq.index(int(fdi[w]))
        fdi[w] = seq[p + 2 if p + 2 < 16 else p - 2]
        scores[w] = 0.72
    return ToothInstances(fdi, detected.masks[pick], detected.boxes[pick], scores)


def run_demo(method: Any, output_dir: Path) -> Any:
    from biomedai.methods.base import RunResult
    from biomedai.provenance import RunRecorder
    from biomedai.utils import write_csv_atomic, write_json_atomic
    from biomedai.viz import save_png

    cfg = method.config
    rec = RunRecorder(output_dir, method.name, "demo", seed=cfg.seed, config=cfg.to_dict())
    rec.notes["data"] = ("SIMULATED film (synthetic_panoramic); classical segmentation instead of the binary "
                         "Mask R-CNN and simulated sparse numbers instead of the 32-class model: no weights used")
    rng = np.random.default_rng(cfg.seed)
    with rec.timer("demo"):
        film = synthetic_panoramic(cfg.seed + 7, size=(320, 640))
        truth = instances_from_label_map(film.teeth)
        detected, bone = classical_teeth(film.image)
        multi = sparse_numbers(detected, truth, 0.25, rng)
        numbered, calibration = number_binary_detections(detected, multi, cfg.replace(transfer_min_confidence=0.5))
        correct, matched = numbering_accuracy(truth, numbered)
        singles = dice_single_scores(truth, numbered)
    save_png(film.image, output_dir / "film.png")
    rec.add_file(output_dir / "film.png")
    rec.add_file(save_numbered_overlay(film.image, multi, output_dir / "multiclass_simulated.png", scale=2))
    rec.add_file(save_numbered_overlay(film.image, numbered, output_dir / "teeth_numbered.png", scale=2))
    rec.add_file(write_json_atomic(output_dir / "calibration.json", calibration.to_dict()))
    rec.add_file(write_csv_atomic(output_dir / "teeth.csv", tooth_rows("film.png", numbered, calibration),
                                  columns=TOOTH_COLUMNS))
    rec.add_file(write_coco_json(output_dir / "instances.coco.json", [("film.png", film.image.shape)], [numbered]))
    rec.metrics.update({
        "n_true_teeth": len(truth), "n_segmented": len(detected), "n_multiclass_numbers": len(multi),
        "numbered_correctly": correct, "numbered_matched": matched,
        "numbering_accuracy": correct / matched if matched else float("nan"),
        "dice_single": float(np.mean(singles)) if singles else float("nan"),
        "calibration_passes": calibration.passes, "flags": calibration.flags,
        "warnings": image_warnings(numbered, calibration)})
    rec.metrics.update(_abl_part(film, numbered, bone, output_dir, rec))
    rec.write()
    return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])


def _abl_part(film: Any, numbered: ToothInstances, bone: np.ndarray, output_dir: Path, rec: Any) -> dict[str, Any]:
    """Bone-loss ratios of the numbered teeth, then the stage and the patient report."""
    masks = {int(f): numbered.masks[k] for k, f in enumerate(numbered.fdi) if f}
    abl = measure_abl(masks, bone)
    errors = [abs(r.d - film.true_d[f]) for f, r in abl.items() if f in film.true_d]
    out: dict[str, Any] = {"abl_teeth_measured": len(abl),
                           "abl_mean_abs_error_d": float(np.mean(errors)) if errors else None,
                           "abl_d": {int(f): round(r.d, 4) for f, r in abl.items()}}
    if not abl:
        return out
    # the stage: XGBoost (SMOTE) fitted on a simulated cohort of D vectors, then the patient report
    X, y = simulate_abl_cohort(298, seed=1)
    proba = StagingModel("xgboost", seed=0).fit(X, y).predict_proba(abl_vector({f: r.d for f, r in abl.items()})[None])[0]
    folder = output_dir / "report"
    save_numbered_overlay(film.image, numbered, folder / "teeth.png", scale=2)
    report = write_patient_report(folder, image=film.image, abl=abl, stage=int(np.argmax(proba)),
                                  probabilities=proba.tolist(), bone_mask=bone, patient_id="simulated film",
                                  synthetic=True, notes=["classical segmentation and simulated multi-class numbers "
                                                         "(no network weights); stage model fitted on a simulated "
                                                         "cohort of 298 D vectors"],
                                  extra_figures=[("teeth.png", "teeth numbered by the calibration")])
    rec.add_file(report)
    out.update({"stage": STAGES[int(np.argmax(proba))], "stage_probabilities": [round(float(p), 4) for p in proba]})
    return out
