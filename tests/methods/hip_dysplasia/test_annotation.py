"""Annotation schema, Labelme/GeoJSON import, side resolution and bad input with clear messages."""
from __future__ import annotations

import doctest
import json

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.io.annotations import Annotation, write_geojson, write_labelme
from biomedai.methods.hip_dysplasia import annotation as annotation_module
from biomedai.methods.hip_dysplasia import geometry
from biomedai.methods.hip_dysplasia.annotation import HipAnnotation, load_annotation
from biomedai.methods.hip_dysplasia.geometry import GeometryError, measure_hips
from biomedai.methods.hip_dysplasia.synthetic import synthetic_film


@pytest.fixture(scope="module")
def film():
    return synthetic_film({"right": (30.0, 39.0, 7.0), "left": (15.0, 45.0, 15.0)}, size=256, seed=1)


def _dict(film):
    return HipAnnotation(film.shapes, pixel_spacing=(0.15, 0.15)).to_dict()


def test_schema_round_trip(film, tmp_path):
    path = HipAnnotation(film.shapes, pixel_spacing=(0.1, 0.2), image="f.png").save(tmp_path / "f.hip.json")
    data = json.loads(path.read_text())
    assert data["schema"] == "biomedai-hip-annotation/1" and data["pixel_spacing"] == [0.1, 0.2]
    back = load_annotation(path)
    np.testing.assert_allclose(back.hips["left"].femoral_head, film.shapes["left"].femoral_head)
    assert back.spacing == (0.1, 0.2)


def test_labelme_and_geojson_import_give_the_same_angles(film, tmp_path):
    shapes = []
    for side, short in (("right", "R"), ("left", "L")):
        s = film.shapes[side]
        shapes += [Annotation("polyline", s.acetabulum, label=f"{short} acetabulum"),
                   Annotation("polygon", s.femoral_head, label=f"{side}_femoral_head"),
                   Annotation("polyline", s.proximal_femur, label=f"proximal femur {side}"),
                   Annotation("point", s.sourcil_medial, label=f"sourcil_medial_{short}")]
    write_labelme(shapes, tmp_path / "a.json", "a.png", (256, 256))
    write_geojson(shapes, tmp_path / "a.geojson")
    reference = measure_hips(film.shapes).angles
    for path in (tmp_path / "a.json", tmp_path / "a.geojson"):
        got = measure_hips(load_annotation(path).hips).angles
        for side in ("right", "left"):
            assert got[side]["ce"] == pytest.approx(reference[side]["ce"], abs=1e-9)


def test_image_sides_resolved_from_dicom_orientation(film):
    data = _dict(film)
    data["sides"] = "image"
    data["hips"] = {"image_left": data["hips"]["right"], "image_right": data["hips"]["left"]}
    usual = HipAnnotation.from_dict(data, orientation=["L", "F"])
    mirrored = HipAnnotation.from_dict(data, orientation=["R", "F"])
    np.testing.assert_allclose(usual.hips["right"].femoral_head, film.shapes["right"].femoral_head)
    np.testing.assert_allclose(mirrored.hips["left"].femoral_head, film.shapes["right"].femoral_head)
    assumed = HipAnnotation.from_dict(data)
    assert any("radiological convention" in n for n in assumed.notes)
    checked = HipAnnotation.from_dict(_dict(film), orientation=["R", "F"])  # patient sides that disagree
    assert any("check the sides" in n for n in checked.notes)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["hips"].pop("left"), "left hip ('left'): no contours or points were drawn"),
    (lambda d: d["hips"]["left"].pop("acetabulum"), "left hip: the acetabulum contour is missing"),
    (lambda d: d["hips"]["right"].pop("sourcil_medial"), "right hip: the sourcil_medial point is missing"),
    (lambda d: d["hips"]["right"].__setitem__("femoral_head", [[1, 1], [5, 5]]),
     "right hip: the femoral_head contour has 2 points; at least 3 are needed"),
    (lambda d: d["hips"]["left"].__setitem__("femoral_head", [[0, 0], [20, 20], [20, 0], [0, 20]]),
     "left hip: the femoral_head contour intersects itself"),
    (lambda d: d["hips"]["left"].__setitem__("acetabulum", [[0, 0], [20, 20], [20, 0], [0, 20]]),
     "left hip: the acetabulum contour intersects itself"),
    (lambda d: d["hips"]["left"].__setitem__("teardrop", [1, 2, 3]), "left hip: the teardrop point must be one"),
    (lambda d: d["hips"]["left"].__setitem__("pelvis", [[0, 0]]), "left hip: unknown structure 'pelvis'"),
])
def test_bad_annotations_name_side_and_structure(film, tmp_path, edit, message):
    data = _dict(film)
    edit(data)
    path = tmp_path / "bad.hip.json"
    path.write_text(json.dumps(data))
    with pytest.raises(GeometryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        measure_hips(load_annotation(path).hips)


def test_bad_files(tmp_path, film):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        load_annotation(tmp_path / "x.json")
    data = _dict(film)
    data["pixel_spacing"] = [0, 1]
    with pytest.raises(InvalidInputError, match="pixel_spacing must be two positive numbers"):
        HipAnnotation.from_dict(data)
    write_labelme([Annotation("point", [[1, 2]], label="something")], tmp_path / "l.json")
    with pytest.raises(InvalidInputError, match="does not name a side and a structure"):
        load_annotation(tmp_path / "l.json")


def test_docstring_examples():
    result = doctest.testmod(annotation_module, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_json_schema_file_matches_the_code():
    from pathlib import Path

    schema = json.loads((Path(annotation_module.__file__).with_name("annotation_schema.json")).read_text(encoding="utf-8"))
    hip = schema["$defs"]["hip"]
    assert set(hip["properties"]) == set(geometry.CONTOURS + geometry.POINTS)
    assert set(hip["required"]) == set(geometry.REQUIRED)
    assert schema["$id"] == annotation_module.SCHEMA
