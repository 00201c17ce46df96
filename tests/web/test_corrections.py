"""The correction loop's service side: list a result's correctable polylines, edit them on a page, save them
into the corrections folder a retraining run reads (real vessels_biosegment run with its bundled model)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image as PILImage

from biomedai.workflow.worker import Worker

from .conftest import login


def _vessel_image(path):
    """A fundus-like photograph (red field inside a dark round border, darker vessels): the method's input check
    accepts it."""
    yy, xx = np.mgrid[:96, :128]
    field = (yy - 48) ** 2 + (xx - 64) ** 2 < 44 ** 2
    rgb = np.zeros((96, 128, 3), np.uint8)
    rgb[field] = (190, 90, 40)
    rgb[40:44, 24:104] = (120, 40, 20)
    rgb[10:86, 60:63] = (120, 40, 20)
    rgb[~field] = 0
    PILImage.fromarray(rgb).save(path)
    return path


@pytest.fixture
def vessel_result(client, store, tmp_path):
    headers = login(client, "otto")
    image = _vessel_image(tmp_path / "field01.png")
    r = client.post("/api/studies", files={"files": ("field01.png", image.read_bytes())},
                    data={"methods": "vessels_biosegment"}, headers=headers)
    assert r.status_code == 201, r.text
    Worker(store, poll_s=0.1).run(max_jobs=1, idle_exit_s=60)  # never hang if routing declined the image
    results = client.get("/api/studies/1", headers=headers).json()["results"]
    assert results and results[0]["method"] == "vessels_biosegment", results
    return results[0]["id"], headers


def test_correct_polylines_and_save_for_retraining(client, store, vessel_result):
    result_id, headers = vessel_result
    assert f'href="/results/{result_id}/correct"' in client.get("/studies/1", headers=headers).text
    listing = client.get(f"/api/results/{result_id}/corrections", headers=headers).json()
    assert listing["kind"] == "polylines" and [i["name"] for i in listing["items"]] == ["field01"]
    item = listing["items"][0]
    assert "retrain --corrections" in listing["retrain_command"]
    page = client.get(f"/results/{result_id}/correct", headers=headers)
    assert page.status_code == 200 and "/static/polyline-editor.js" in page.text and "field01" in page.text
    assert client.get("/static/polyline-editor.js", headers=headers).status_code == 200
    doc = client.get(item["annotation_url"], headers=headers).json()
    doc["polylines"] = [{"class": "vessel", "points": [[24, 42], [103, 42]]},
                        {"class": "debris", "points": [[61, 10], [61, 85]]}]
    r = client.put(item["save_url"], content=json.dumps(doc), headers=headers)
    assert r.status_code == 200, r.text
    folder = store.data_dir / "corrections" / "vessels_biosegment"
    saved = json.loads((folder / "polylines" / "field01.json").read_text())
    assert [p["class"] for p in saved["polylines"]] == ["vessel", "debris"] and saved["image"] == "field01.png"
    assert (folder / "images" / "field01.png").read_bytes()[:4] == b"\x89PNG"
    from biomedai.methods.vessels_biosegment.corrections import corrected_cases

    (case, lines), = corrected_cases(folder)
    assert lines.vessel_length_px() == pytest.approx(79.0)  # debris never counts
    from biomedai.workflow.models import AuditEvent

    with store.session() as s:
        assert s.query(AuditEvent).filter(AuditEvent.action == "save_correction").count() == 1


def test_bad_corrections_are_refused_without_touching_saved_ones(client, store, vessel_result):
    result_id, headers = vessel_result
    item = client.get(f"/api/results/{result_id}/corrections", headers=headers).json()["items"][0]
    bad = {"format": "biomedai-vessel-polylines", "image_size": [96, 128], "polylines": [{"points": [[1, "x"]]}]}
    assert client.put(item["save_url"], content=json.dumps(bad), headers=headers).status_code == 400
    assert client.put(item["save_url"], content=b"{not json", headers=headers).status_code == 400
    assert client.put(f"/api/results/{result_id}/corrections/nope", content=b"{}", headers=headers).status_code == 404
    viewer = login(client, "vic")
    assert client.put(item["save_url"], content=b"{}", headers=viewer).status_code == 403
    assert not (store.data_dir / "corrections" / "vessels_biosegment" / "polylines").exists()
