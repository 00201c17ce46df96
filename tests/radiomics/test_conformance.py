"""Conformance with PyRadiomics' published baselines (brain1, brain2, breast1, every configuration column).

Tolerance: relative 1e-6 for every feature, except brain1's four mesh-based shape features
(MeshVolume, SurfaceArea, SurfaceVolumeRatio, Sphericity), where the baseline predates
PyRadiomics 3's marching-cubes mesh: PyRadiomics 3 itself differs from it by up to 9.1e-4,
and we equal PyRadiomics 3 to 1e-12 (checked in test_reference.py). Those four use 1e-3.
"""
from __future__ import annotations

import math

import pytest

from biomedai.radiomics import extract

from ..conftest import shared_subdir
from ._baseline import load_baselines

RTOL = 1e-6
OLD_MESH = {"original_shape_MeshVolume", "original_shape_SurfaceArea", "original_shape_SurfaceVolumeRatio",
            "original_shape_Sphericity"}


@pytest.fixture(scope="module")
def data_dir(shared_data):
    return shared_subdir(shared_data, "radiomics", "pyradiomics_data")


@pytest.fixture(scope="module")
def baselines(data_dir):
    return load_baselines(data_dir / "baseline")


def _tolerance(column: str, feature: str) -> float:
    return 1e-3 if column == "brain1" and feature in OLD_MESH else RTOL


def test_baseline_columns_cover_every_case(baselines):
    cases = {e["case"] for e in baselines.values()}
    assert cases == {"brain1", "brain2", "breast1"}
    assert len(baselines) == 24  # 8 configurations x 3 cases
    assert sum(len(e["values"]) for e in baselines.values()) > 1800


COLUMNS = [f"{case}{suffix}" for case in ("brain1", "brain2", "breast1")
           for suffix in ("", "_2d", "_FBN", "_combined", "_flatRegion", "_normalization", "_resampling",
                          "_resegmentation")]


@pytest.mark.parametrize("column", COLUMNS)
def test_features_match_baseline(column, baselines, data_dir):
    entry = baselines[column]
    case = entry["case"]
    features = extract(data_dir / f"{case}_image.nrrd", data_dir / f"{case}_label.nrrd", entry["params"])
    assert features["diagnostics_Image-original_Hash"] == _baseline_hash(data_dir, column, "Image")
    bad = []
    for name, expected in entry["values"].items():
        assert name in features, f"{column}: {name} missing"
        got = features[name]
        tol = _tolerance(column, name)
        if not (math.isclose(got, expected, rel_tol=tol, abs_tol=1e-12) or (math.isnan(got) and math.isnan(expected))):
            bad.append(f"{name}: ours {got!r} baseline {expected!r}")
    assert not bad, f"{column}: {len(bad)} feature(s) differ:\n" + "\n".join(bad)


def _baseline_hash(data_dir, column: str, what: str) -> str:
    import csv

    with (data_dir / "baseline" / "baseline_firstorder.csv").open() as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    col = column if column in header else column.split("_")[0]
    for row in rows:
        if row[0] == f"diagnostics_{what}-original_Hash":
            return row[header.index(col)]
    raise AssertionError("hash row missing")


def test_brain1_old_mesh_baseline_differs_as_documented(baselines, data_dir):
    """The looser tolerance is needed, and is not hiding a larger error."""
    entry = baselines["brain1"]
    f = extract(data_dir / "brain1_image.nrrd", data_dir / "brain1_label.nrrd", entry["params"])
    rel = [abs(f[n] - entry["values"][n]) / abs(entry["values"][n]) for n in OLD_MESH]
    assert 1e-6 < max(rel) < 1e-3
