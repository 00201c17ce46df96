"""A SIMULATED DBT cohort on disk: volumes and masks (NIfTI), 3-D boxes, the clinical CSV and a manifest.

Clinical variables follow the paper's Table 1 marginals (spec 1.2): age bins, 20.6 % benign, the three mass
types in thirds, 75.8 % dense (ACR 3-4), a random train/test split. Each breast has a CC and an MLO view (a few
have one); the MLO view is a second, independently textured phantom of the same breast density holding the
same mass (type and size), not a geometric re-projection of the CC phantom - a simplification.

Layout written by :func:`write_cohort`::

    volumes/<view_id>.nii.gz   reconstructed DBT (z, y, x; spacing in the header)
    masks/<view_id>.nii.gz     true mass voxels (uint8)
    boxes.csv                  view_id, breast_id, view, laterality, z0, y0, x0, z1, y1, x1 (voxels)
    clinical.csv               breast_id, age, histology, mass_type, acr_density, density, max_diameter_mm, split
    cohort.json                simulator version, seed, settings, "simulated": true
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.io import write_image
from biomedai.io.image import Image
from biomedai.utils import write_csv_atomic, write_json_atomic

from .config import DbtSimConfig
from .simulator import MASS_TYPES, SIMULATOR_VERSION, simulate_view

logger = logging.getLogger(__name__)

__all__ = ["AGE_BINS", "BreastRecord", "sample_breasts", "write_cohort", "BOX_COLUMNS", "CLINICAL_COLUMNS"]

#: Table 1 age bins with their counts among 364 breasts
AGE_BINS: tuple[tuple[int, int, int], ...] = ((18, 39, 47), (40, 49, 116), (50, 59, 96), (60, 69, 76), (70, 88, 29))
BOX_COLUMNS = ["view_id", "breast_id", "view", "laterality", "z0", "y0", "x0", "z1", "y1", "x1"]
CLINICAL_COLUMNS = ["breast_id", "age", "histology", "mass_type", "acr_density", "density", "max_diameter_mm",
                    "n_views", "split", "simulated"]


@dataclass
class BreastRecord:
    """The clinical facts of one simulated breast (one mass)."""

    breast_id: str
    age: int
    histology: str
    mass_type: str
    acr_density: int
    diameter_mm: float
    views: tuple[str, ...]
    laterality: str
    split: str


def sample_breasts(config: DbtSimConfig, rng: np.random.Generator) -> list[BreastRecord]:
    """Draw the clinical variables of every breast from the paper's Table 1 marginals (spec 1.2)."""
    n = config.n_train_breasts + config.n_test_breasts
    counts = np.array([b[2] for b in AGE_BINS], float)
    split = np.array(["train"] * config.n_train_breasts + ["test"] * config.n_test_breasts)
    rng.shuffle(split)
    low, high = config.diameter_mm
    records = []
    for k in range(n):
        lo_age, hi_age, _ = AGE_BINS[int(rng.choice(len(AGE_BINS), p=counts / counts.sum()))]
        mass_type = str(rng.choice(MASS_TYPES, p=[123 / 364, 113 / 364, 128 / 364]))
        dense = rng.uniform() < 276 / 364
        acr = int(rng.choice([3, 4], p=[0.7, 0.3])) if dense else int(rng.choice([1, 2], p=[0.3, 0.7]))
        p_benign = {"round_oval": 0.35, "spiculated": 0.05, "irregular": 0.21}[mass_type]  # about 20.6 % overall
        diameter = float(np.exp(rng.uniform(np.log(low), np.log(high))))
        views = ("CC", "MLO") if rng.uniform() >= config.one_view_fraction else (str(rng.choice(["CC", "MLO"])),)
        records.append(BreastRecord(f"B{k:04d}", int(rng.integers(lo_age, hi_age + 1)),
                                    "benign" if rng.uniform() < p_benign else "malignant", mass_type, acr,
                                    round(diameter, 2), views, str(rng.choice(["L", "R"])), str(split[k])))
    return records


def write_cohort(out_dir: str | Path, config: DbtSimConfig | None = None) -> dict[str, Any]:
    """Simulate and write a cohort; returns the manifest (also written as ``cohort.json``)."""
    config = config or DbtSimConfig()
    out = Path(out_dir)
    (out / "volumes").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    breasts = sample_breasts(config, rng)
    boxes, clinical = [], []
    for b in breasts:
        measured = []
        for view in b.views:
            view_id = f"{b.breast_id}_{b.laterality}{view}"
            sim = simulate_view(config.shape, config.spacing, b.acr_density, b.mass_type, b.diameter_mm, rng,
                                n_projections=config.n_projections, half_angle_deg=config.half_angle_deg,
                                noise=config.noise, n_iter=config.sart_iterations)
            meta = {"view_position": view, "laterality": b.laterality, "breast_id": b.breast_id, "simulated": True}
            write_image(Image(sim.volume, spacing=sim.spacing, spacing_unit="mm", metadata=meta),
                        out / "volumes" / f"{view_id}.nii.gz")
            write_image(Image(sim.mask.astype(np.uint8), spacing=sim.spacing, spacing_unit="mm"),
                        out / "masks" / f"{view_id}.nii.gz")
            boxes.append(dict(zip(BOX_COLUMNS, [view_id, b.breast_id, view, b.laterality]
                                  + [int(v) for v in sim.box])))
            measured.append(sim.diameter_mm)
        dense = "dense" if b.acr_density >= 3 else "non-dense"
        clinical.append(dict(zip(CLINICAL_COLUMNS, [b.breast_id, b.age, b.histology, b.mass_type, b.acr_density,
                                                    dense, round(max(measured), 2), len(b.views), b.split, True])))
        logger.info("simulated breast %s (%s, ACR %d, %.1f mm)", b.breast_id, b.mass_type, b.acr_density,
                    b.diameter_mm)
    write_csv_atomic(out / "boxes.csv", boxes, BOX_COLUMNS)
    write_csv_atomic(out / "clinical.csv", clinical, CLINICAL_COLUMNS)
    manifest = {"simulated": True, "simulator_version": SIMULATOR_VERSION, "seed": config.seed,
                "settings": config.to_dict(), "n_breasts": len(breasts), "n_views": len(boxes),
                "note": "SIMULATED digital breast tomosynthesis (phantom + limited-angle SART); not patient data"}
    write_json_atomic(out / "cohort.json", manifest)
    return manifest
