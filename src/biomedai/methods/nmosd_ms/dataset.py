"""A labelled NMOSD/MS cohort folder (spec 3.11) and the classifier input of each subject.

Layout: ``labels.csv`` with ``subject_id, diagnosis (NMOSD|MS)`` and optional ``flair`` (default
``flair/<subject_id>.nii.gz``), ``lesion_mask`` and ``brain_mask`` columns (files inside the folder; without a
lesion mask the morphology segmenter runs), plus any of ``age, sex, EDSS, duration``. A folder holding
``SIMULATED.txt`` is simulated, and every model trained on it says so.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import nibabel as nib
import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.utils import file_named_by_table, read_csv_rows, write_csv_atomic, write_text_atomic

from .cohort import load_template, simulate_cohort
from .config import NmosdMsConfig
from .preprocess import classifier_input, normalise_flair
from .volumes import estimate_brain_mask, read_mask, read_volume
from .wmh import segment_wmh_morphology

logger = logging.getLogger(__name__)

LABELS_FILE = "labels.csv"
SIMULATED_MARK = "SIMULATED.txt"
DIAGNOSES = {"MS": 0, "NMOSD": 1}  # NMOSD is the positive class (spec)


class Subject(NamedTuple):
    subject_id: str
    label: int
    flair: Path
    lesion_mask: Path | None
    brain_mask: Path | None


def _inside(folder: Path, name: str, what: str) -> Path | None:
    return file_named_by_table(folder, name, folder / LABELS_FILE, what)


def read_cohort(folder: Path) -> list[Subject]:
    """The subjects of a cohort folder, checked (unknown diagnosis, missing files: one clear error)."""
    folder = Path(folder)
    path = folder / LABELS_FILE
    if not path.is_file():
        raise InvalidInputError(f"no {LABELS_FILE} (subject_id, diagnosis NMOSD|MS[, flair, lesion_mask])", folder)
    rows = read_csv_rows(path)
    if not rows or not {"subject_id", "diagnosis"} <= set(rows[0]):
        raise InvalidInputError("needs columns subject_id and diagnosis", path)
    subjects = []
    for line, row in enumerate(rows, start=2):
        dx = row["diagnosis"].strip().upper()
        if dx not in DIAGNOSES:
            raise InvalidInputError(f"line {line}: diagnosis {row['diagnosis']!r} is not NMOSD or MS", path)
        sid = row["subject_id"].strip()
        flair = _inside(folder, row.get("flair") or f"flair/{sid}.nii.gz", "flair")
        subjects.append(Subject(sid, DIAGNOSES[dx], flair, _inside(folder, row.get("lesion_mask", ""), "lesion_mask"),
                                _inside(folder, row.get("brain_mask", ""), "brain_mask")))
    if len({s.label for s in subjects}) < 2:
        raise InvalidInputError("the cohort needs both NMOSD and MS subjects", path)
    return subjects


def is_simulated(folder: Path) -> bool:
    return (Path(folder) / SIMULATED_MARK).is_file()


def subject_input(flair_path: Path, cfg: NmosdMsConfig, lesion_mask: Path | None = None,
                  brain_mask: Path | None = None) -> tuple[np.ndarray, str]:
    """The ``resize_side^3`` classifier input of one FLAIR and where its lesions came from."""
    vol = read_volume(flair_path)
    brain = read_mask(brain_mask, vol, "brain mask") if brain_mask else estimate_brain_mask(vol.array)
    if lesion_mask:
        lesion, source = read_mask(lesion_mask, vol, "lesion mask"), "imported"
    else:
        lesion, source = segment_wmh_morphology(vol.array, brain), "morphology"
    return classifier_input(normalise_flair(vol.array, brain), lesion, cfg.input_kind, cfg.resize_side), source


def write_simulated_cohort(folder: Path, ms_mask_dir: Path, n_ms: int, n_nmosd: int, seed: int = 0) -> Path:
    """A SIMULATED cohort folder (FLAIR, lesion and brain masks as NIfTI, labels.csv) from :mod:`.cohort`."""
    folder = Path(folder)
    template = load_template(ms_mask_dir)
    for sub in ("flair", "lesion_masks", "brain_masks"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(template.brain.astype(np.uint8), template.affine), str(folder / "brain_masks" / "mni.nii.gz"))
    rows = []
    for sid, label, flair, lesion in simulate_cohort(template, n_ms, n_nmosd, seed=seed):
        nib.save(nib.Nifti1Image(flair.astype(np.float32), template.affine), str(folder / "flair" / f"{sid}.nii.gz"))
        nib.save(nib.Nifti1Image(lesion.astype(np.uint8), template.affine),
                 str(folder / "lesion_masks" / f"{sid}.nii.gz"))
        rows.append({"subject_id": sid, "diagnosis": "NMOSD" if label else "MS", "flair": f"flair/{sid}.nii.gz",
                     "lesion_mask": f"lesion_masks/{sid}.nii.gz", "brain_mask": "brain_masks/mni.nii.gz"})
    write_csv_atomic(folder / LABELS_FILE, rows)
    write_text_atomic(folder / SIMULATED_MARK,
                      f"SIMULATED NMOSD/MS cohort (biomedai nmosd_ms cohort.py; {n_ms} MS from real MS lesion masks in "
                      f"{ms_mask_dir}, {n_nmosd} NMOSD by the published differences; seed {seed}). Not patients.\n")
    return folder
