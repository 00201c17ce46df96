"""Annotation IO: QuPath GeoJSON, Labelme, CSV points and label maps, with known answers."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomedai.errors import InvalidInputError
from biomedai.io import describe_file, read_annotations
from biomedai.io.annotations import (Annotation, label_map_to_polygons, polygons_to_label_map, read_geojson,
                                     read_labelme, read_points_csv, to_geojson, write_geojson, write_labelme,
                                     write_points_csv)

# The shape of a QuPath 0.4 "Export objects as GeoJSON" file (one annotation, one detection, one point set)
QUPATH_EXPORT = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "id": "a1b2", "geometry": {"type": "Polygon", "coordinates": [
            [[10, 10], [50, 10], [50, 40], [10, 40], [10, 10]], [[20, 20], [30, 20], [30, 30], [20, 30], [20, 20]]]},
         "properties": {"objectType": "annotation", "classification": {"name": "Tumor", "color": [200, 0, 0]},
                        "isLocked": False}},
        {"type": "Feature", "id": "c3d4", "geometry": {"type": "Polygon", "coordinates": [
            [[60, 60], [70, 60], [65, 70], [60, 60]]]},
         "properties": {"objectType": "detection", "classification": {"name": "Positive", "colorRGB": -3670016},
                        "measurements": {"Area": 50.0}}},
        {"type": "Feature", "id": "e5f6", "geometry": {"type": "MultiPoint", "coordinates": [[1, 2], [3, 4]]},
         "properties": {"objectType": "annotation"}},
    ],
}


def _instances() -> np.ndarray:
    """Three instances: a disk, a rectangle with a hole, and a triangle-ish blob."""
    from skimage.draw import disk, polygon

    labels = np.zeros((80, 100), np.int32)
    labels[disk((20, 25), 12, shape=labels.shape)] = 1
    labels[40:70, 10:50] = 2
    labels[50:58, 20:30] = 0
    rr, cc = polygon([45, 75, 75], [70, 60, 95], shape=labels.shape)
    labels[rr, cc] = 3
    return labels


def test_qupath_geojson_parsed(tmp_path):
    path = tmp_path / "qupath.geojson"
    path.write_text(json.dumps(QUPATH_EXPORT))
    shapes = read_annotations(path)
    assert [s.geometry for s in shapes] == ["polygon", "polygon", "point", "point"]
    tumour, cell = shapes[0], shapes[1]
    assert tumour.label == "Tumor" and tumour.color == (200, 0, 0) and tumour.object_type == "annotation"
    assert tumour.coordinates.shape == (4, 2) and len(tumour.properties["holes"]) == 1  # closing vertex dropped
    assert cell.object_type == "detection" and cell.color == (200, 0, 0)  # -3670016 is 0xFFC80000
    assert cell.properties["measurements"] == {"Area": 50.0}
    mask = polygons_to_label_map([tumour], (50, 60))
    assert mask.sum() == 31 * 41 - 11 * 11  # skimage.draw.polygon includes edge pixels: outer ring minus hole


def test_geojson_round_trip_is_qupath_shaped(tmp_path):
    shapes = [Annotation("polygon", [[0, 0], [10, 0], [10, 5]], label="Stroma", color=(0, 150, 0)),
              Annotation("rectangle", [[2, 3], [8, 9]], label="ROI"),
              Annotation("point", [[4.5, 6.5]], label="Mitosis", object_type="detection"),
              Annotation("polyline", [[0, 0], [5, 5], [9, 1]])]
    path = write_geojson(shapes, tmp_path / "out.geojson")
    data = json.loads(path.read_text())
    first = data["features"][0]
    assert data["type"] == "FeatureCollection" and first["properties"]["objectType"] == "annotation"
    assert first["properties"]["classification"] == {"name": "Stroma", "color": [0, 150, 0]}
    assert first["geometry"]["coordinates"][0][0] == first["geometry"]["coordinates"][0][-1]  # closed ring
    back = read_geojson(path)
    assert [b.geometry for b in back] == ["polygon", "polygon", "point", "polyline"]  # rectangle -> polygon
    np.testing.assert_allclose(back[0].coordinates, shapes[0].coordinates)
    np.testing.assert_allclose(back[1].coordinates, shapes[1].as_polygon())
    assert back[2].object_type == "detection" and back[2].centroid == (4.5, 6.5)


def test_labelme_round_trip(tmp_path):
    shapes = [Annotation("polygon", [[1, 1], [20, 2], [12, 18]], label="nucleus", properties={"group_id": 3}),
              Annotation("rectangle", [[5, 6], [25, 30]], label="box"),
              Annotation("point", [[7, 8]], label="seed")]
    path = write_labelme(shapes, tmp_path / "img.json", image_path="img.png", image_shape=(40, 50))
    raw = json.loads(path.read_text())
    assert raw["imageHeight"] == 40 and [s["shape_type"] for s in raw["shapes"]] == ["polygon", "rectangle", "point"]
    back = read_annotations(path)  # detected as Labelme by content
    assert [(b.geometry, b.label) for b in back] == [(s.geometry, s.label) for s in shapes]
    np.testing.assert_allclose(back[1].coordinates, [[5, 6], [25, 30]])
    assert back[0].properties["group_id"] == 3 and back[0].properties["image"]["imageWidth"] == 50
    mask = polygons_to_label_map(back, (40, 50))
    assert (mask == 2).sum() == 21 * 25  # rectangle corners inclusive


def test_labelme_circle_becomes_polygon(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"shapes": [{"label": "cell", "shape_type": "circle",
                                            "points": [[50, 50], [60, 50]]}]}))
    (circle,) = read_labelme(path)
    area = polygons_to_label_map([circle], (100, 100)).sum()
    assert circle.geometry == "polygon" and abs(area - np.pi * 100) < 0.05 * np.pi * 100


def test_csv_points_round_trip(tmp_path):
    points = [Annotation("point", [[1.5, 2.25]], label="tumour"), Annotation("point", [[10, 20]], label=None)]
    path = write_points_csv(points, tmp_path / "p.csv")
    assert path.read_text().splitlines()[0] == "x,y,label"
    back = read_annotations(path)
    assert [b.centroid for b in back] == [(1.5, 2.25), (10.0, 20.0)] and [b.label for b in back] == ["tumour", None]
    (tmp_path / "extra.csv").write_text("X,Y,label,score\n3,4,a,0.9\n")
    (only,) = read_points_csv(tmp_path / "extra.csv")
    assert only.centroid == (3.0, 4.0) and only.properties == {"score": "0.9"}


def test_label_map_polygons_label_map_iou():
    labels = _instances()
    shapes = label_map_to_polygons(labels)
    assert sorted(s.properties["instance_id"] for s in shapes) == [1, 2, 3]
    assert all(s.object_type == "detection" for s in shapes)
    rebuilt = polygons_to_label_map(shapes, labels.shape)
    for instance in (1, 2, 3):
        a, b = labels == instance, rebuilt == instance
        assert (a & b).sum() / (a | b).sum() > 0.9, instance
    assert (rebuilt[50:58, 20:30] == 0).all()  # the hole survives the round trip
    # and through GeoJSON too
    from biomedai.io.annotations import _feature_to_annotations

    via_json = [a for f in to_geojson(shapes)["features"] for a in _feature_to_annotations(f)]
    assert (polygons_to_label_map(via_json, labels.shape, use_instance_id=False) > 0).sum() == (rebuilt > 0).sum()


def test_bad_annotation_files(tmp_path, make_corrupt):
    good = write_geojson([Annotation("polygon", [[0, 0], [4, 0], [4, 4]])], tmp_path / "good.geojson")
    for kind, path in make_corrupt(good).items():
        with pytest.raises(InvalidInputError) as info:
            read_geojson(path)
        assert path.name in str(info.value), kind
    (tmp_path / "bad.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}}]}))
    with pytest.raises(InvalidInputError, match="feature 0"):
        read_geojson(tmp_path / "bad.geojson")
    (tmp_path / "pts.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInputError, match="'x' and 'y'"):
        read_points_csv(tmp_path / "pts.csv")
    with pytest.raises(InvalidInputError, match="geometry"):
        Annotation("circle", [[0, 0]])
    facts = describe_file(good)
    assert facts["format"] == "geojson" and facts["n_annotations"] == 1
