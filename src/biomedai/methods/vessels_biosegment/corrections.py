"""The correction loop (the paper's Bio 1 -> Bio 2 -> Bio 3): corrected polylines in, a retrained detector out.

A corrections folder holds ``images/NAME.<ext>`` and ``polylines/NAME.json`` (the polyline JSON of
:mod:`.polylines`). The web service's correction page writes it; so can a user by hand. Retraining
fine-tunes the current detector on the base training images (polylines traced from their manual masks)
plus every corrected image, validates on the base validation images as the first training did, and
writes a new model folder pair (``model/`` copied, ``detector/`` retrained) usable as ``--weights``.
"""
from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from biomedai.errors import InvalidInputError
from biomedai.train.model_folder import read_model_info
from biomedai.utils import atomic_path, lazy_import

from .config import VesselsConfig
from .datasets import IMAGE_SUFFIXES, VesselCase, find_cases
from .polylines import PolylineSet, polylines_from_dict, read_polylines, write_polylines

training = lazy_import(".training", __package__)  # torch: imported on first use
detector_training = lazy_import(".detector_training", __package__)

logger = logging.getLogger(__name__)

IMAGES_DIR = "images"
POLYLINES_DIR = "polylines"


def save_correction(folder: Path, image: Path, annotation: dict[str, Any]) -> Path:
    """Check ``annotation`` and store it with a copy of ``image`` in the corrections ``folder``.

    The image keeps its file name; a later correction of the same image replaces the earlier one.
    Returns the written polyline file.
    """
    image = Path(image)
    if image.suffix.lower() not in IMAGE_SUFFIXES:
        raise InvalidInputError(f"a correction needs a 2-D image file ({', '.join(IMAGE_SUFFIXES)})", image)
    lines = polylines_from_dict(annotation, f"correction of {image.name}")
    lines.image = image.name
    folder = Path(folder)
    (folder / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    target = folder / IMAGES_DIR / image.name
    if image.resolve() != target.resolve():
        with atomic_path(target) as tmp:
            shutil.copyfile(image, tmp)
    return write_polylines(lines, folder / POLYLINES_DIR / f"{image.stem}.json")


def corrected_cases(folder: Path) -> list[tuple[VesselCase, PolylineSet]]:
    """Every (image, corrected polylines) pair of a corrections folder, sorted by name."""
    folder = Path(folder)
    images_dir, lines_dir = folder / IMAGES_DIR, folder / POLYLINES_DIR
    if not images_dir.is_dir() or not lines_dir.is_dir():
        raise InvalidInputError(f"a corrections folder holds {IMAGES_DIR}/ and {POLYLINES_DIR}/", folder)
    images = {p.stem: p for p in images_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}
    pairs = []
    for path in sorted(lines_dir.glob("*.json")):
        image = images.get(path.stem)
        if image is None:
            raise InvalidInputError(f"no image {path.stem}.* in {images_dir}", path)
        pairs.append((VesselCase(f"corrected:{path.stem}", image, None, None), read_polylines(path)))
    if not pairs:
        raise InvalidInputError("no corrected polylines (polylines/*.json)", folder)
    return pairs


def retrain_detector(base_data: Path, corrections: Path, current: Path, output_dir: Path, cfg: VesselsConfig,
                     *, minutes: float, epochs: int = 10) -> dict[str, Any]:
    """Fine-tune the detector of the model pair ``current`` (``model/`` + ``detector/``) with the corrections.

    Returns the new detector's validation length error and the round number; writes ``output_dir/model``
    (the unchanged segmentation model) and ``output_dir/detector``.
    """
    current, output_dir = Path(current), Path(output_dir)
    seg_folder, det_folder = current / "model", current / "detector"
    if not seg_folder.is_dir() or not det_folder.is_dir():
        raise InvalidInputError("the current model must be a folder holding model/ and detector/", current)
    previous = read_model_info(det_folder)
    root = Path(base_data) / "training" if (Path(base_data) / "training").is_dir() else Path(base_data)
    train, val = training.split_training_validation(find_cases(root))
    added = corrected_cases(corrections)
    train_dc = [detector_training.detector_case(training.prepare_case(c, cfg), cfg) for c in train]
    train_dc += [detector_training.detector_case(training.prepare_case(c, cfg), cfg, polylines=lines)
                 for c, lines in added]
    val_dc = [detector_training.detector_case(training.prepare_case(c, cfg), cfg) for c in val]
    width = int(previous.architecture.get("width", cfg.detector_width))
    trained = detector_training.train_detector(train_dc, val_dc, cfg, output_dir / "detector_run", minutes=minutes,
                                               epochs=epochs, steps_per_epoch=cfg.detector_steps_per_epoch,
                                               width=width, init=det_folder)
    round_number = int(previous.extra.get("correction_round", 0)) + 1
    names = [c.image.name for c, _ in added]
    detector_training.save_detector_model(
        output_dir / "detector", trained, cfg, [c.case_id for c in train] + [c.case_id for c, _ in added],
        [c.case_id for c in val], f"{root} (training split) + {len(added)} corrected image(s) from {corrections}",
        half=False, extra={"correction_round": round_number, "corrected_images": names,
                           "fine_tuned_from": str(det_folder)})
    if (output_dir / "model").resolve() != seg_folder.resolve():
        shutil.copytree(seg_folder, output_dir / "model", dirs_exist_ok=True)
    logger.info("correction round %d: detector fine-tuned on %d base + %d corrected images, validation length "
                "error %.1f %%", round_number, len(train), len(added), trained["val_error"])
    return {"correction_round": round_number, "corrected_images": names,
            "val_length_percent_error": trained["val_error"], "base_training_images": len(train)}


def correction_items(result_dir: Path, inputs: Sequence[str]) -> list[dict[str, str]]:
    """The polyline files of a predict result, each with the input image it was drawn on."""
    by_stem = {Path(name).name.split(".")[0]: Path(name).name for name in inputs}
    items = []
    for path in sorted(Path(result_dir).glob("*_polylines.json")):
        stem = path.name[: -len("_polylines.json")]
        if stem in by_stem:
            items.append({"name": stem, "annotation": path.name, "image_input": by_stem[stem]})
    return items
