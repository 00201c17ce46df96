"""WSI Deep Zoom tiles: pixels equal the slide's levels, descriptor and overlays, authorisation, 404s."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

from biomedai.io.wsi import open_wsi, write_pyramidal_tiff

from tests.workflow.conftest import make_png

from .conftest import login

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def slide_file(tmp_path_factory):
    """1536 x 1024 RGB slide (4 levels: downsample 1, 2, 4, 8) with gradients and a bright square."""
    yy, xx = np.mgrid[0:1024, 0:1536]
    array = np.stack([(xx // 6) % 256, (yy // 4) % 256, ((xx * 3 + yy) // 7) % 256], axis=-1).astype(np.uint8)
    array[256:512, 512:768] = 250
    path = tmp_path_factory.mktemp("wsi") / "slide.tif"
    write_pyramidal_tiff(array, path, mpp=0.25, tile=256)
    return path, array


@pytest.fixture
def slide_id(store, slide_file):
    from biomedai.workflow.intake import ingest
    from biomedai.workflow.models import StoredFile

    ingest(store, [("slide.tif", slide_file[0])])
    with store.session() as s:
        row = s.query(StoredFile).one()
        assert row.kind == "wsi"
        return row.id


def _png(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_tiles_equal_read_region_at_each_slide_level(client, store, slide_file, slide_id):
    headers = login(client, "vic")
    d = client.get(f"/api/files/{slide_id}/tiles.json", headers=headers).json()
    assert (d["width"], d["height"], d["tile_size"], d["max_level"]) == (1536, 1024, 256, 11)
    assert d["mpp"] == pytest.approx([0.25, 0.25])
    with open_wsi(slide_file[0]) as wsi:
        for slide_level, ds in enumerate(wsi.level_downsamples):
            level = d["max_level"] - slide_level  # Deep Zoom level with the same downsample
            level_w, level_h = wsi.level_dimensions[slide_level]
            cols, rows = -(-level_w // 256), -(-level_h // 256)
            for col, row in {(0, 0), (cols - 1, rows - 1), (min(1, cols - 1), 0)}:
                r = client.get(f"/api/files/{slide_id}/tiles/{level}/{col}_{row}.png", headers=headers)
                assert r.status_code == 200 and r.headers["content-type"] == "image/png"
                tile = _png(r.content)
                w, h = min(256, level_w - col * 256), min(256, level_h - row * 256)
                expected = wsi.read_region((int(col * 256 * ds), int(row * 256 * ds)), slide_level, (w, h))
                assert tile.shape == (h, w, 3)
                np.testing.assert_array_equal(tile, expected)


def test_coarser_levels_and_jpeg_stay_close_to_the_slide(client, store, slide_file, slide_id):
    headers = login(client, "vic")
    array = slide_file[1].astype(float)
    # level 6 = downsample 32, below the slide's coarsest level (8): resampled from it
    tile = _png(client.get(f"/api/files/{slide_id}/tiles/6/0_0.png", headers=headers).content)
    assert tile.shape == (32, 48, 3)
    block_mean = array.reshape(32, 32, 48, 32, 3).mean(axis=(1, 3))
    assert np.abs(tile - block_mean).mean() < 3.0
    jpg = client.get(f"/api/files/{slide_id}/tiles/11/2_1.jpg", headers=headers)
    assert jpg.headers["content-type"] == "image/jpeg" and jpg.content[:2] == b"\xff\xd8"
    png = _png(client.get(f"/api/files/{slide_id}/tiles/11/2_1.png", headers=headers).content)
    assert np.abs(_png(jpg.content).astype(float) - png).mean() < 6.0
    dzi = client.get(f"/api/files/{slide_id}/tiles.dzi", headers=headers)
    assert 'Width="1536"' in dzi.text and 'TileSize="256"' in dzi.text
    alias = client.get(f"/api/files/{slide_id}/tiles_files/11/2_1.png", headers=headers)  # where DZI clients look
    np.testing.assert_array_equal(_png(alias.content), png)


def test_out_of_range_and_bad_tiles_are_404(client, store, tmp_path, slide_id):
    from biomedai.workflow.intake import ingest

    headers = login(client, "vic")
    base = f"/api/files/{slide_id}/tiles"
    for url in (f"{base}/12/0_0.jpg", f"{base}/11/6_0.jpg", f"{base}/11/0_4.jpg", f"{base}/-1/0_0.jpg",
                f"{base}/11/0_0.gif", f"{base}/11/a_b.jpg", f"{base}/11/..%2F..%2Fetc.jpg",
                "/api/files/999/tiles/11/0_0.jpg", "/api/files/999/tiles.json"):
        assert client.get(url, headers=headers).status_code == 404, url
    other = ingest(store, [("photo.png", make_png(tmp_path / "p.png"))]).new_files[0]  # not a slide
    assert client.get(f"/api/files/{other}/tiles/0/0_0.jpg", headers=headers).status_code == 404
    assert client.get(f"/api/files/{other}/tiles.json", headers=headers).status_code == 404


def test_tiles_and_viewer_need_a_token(client, store, slide_id):
    for url in (f"/api/files/{slide_id}/tiles.json", f"/api/files/{slide_id}/tiles.dzi",
                f"/api/files/{slide_id}/tiles/11/0_0.jpg"):
        assert client.get(url).status_code == 401, url
        assert client.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401, url
    assert client.get("/static/wsi-viewer.js").headers["location"] == "/login"  # pages and assets: to the login
    assert client.get(f"/slides/{slide_id}").headers["location"] == "/login"
    headers = login(client, "vic")
    assert client.get("/static/../app.py", headers=headers).status_code == 404
    assert client.get("/static/tiles.py", headers=headers).status_code == 404
    js = client.get("/static/wsi-viewer.js", headers=headers)
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "http://" not in js.text and "https://" not in js.text  # no CDN, nothing from elsewhere
    audit = client.get("/api/audit", headers=login(client, "ada")).json()
    assert not any(e["detail"] == "tiles" for e in audit)  # refused requests leave no view event


def test_viewer_page_and_overlays(client, store, slide_id):
    """A result of a job on the slide offers its GeoJSON and same-shaped maps as overlays."""
    from PIL import Image

    from biomedai.workflow.models import Job, Result, StoredFile

    with store.session() as s:
        row = s.get(StoredFile, slide_id)
        job = Job(study_id=row.study_id, method="wf_brightness", inputs=[row.path], status="done")
        s.add(job)
        s.flush()
        out = "results/test-overlay"
        folder = store.storage.resolve(out)
        folder.mkdir(parents=True)
        (folder / "cells.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[600, 300], [700, 300], [700, 400],
                                                                                  [600, 300]]]},
             "properties": {"classification": {"name": "tumour", "color": [255, 0, 0]}}}]}))
        Image.fromarray(np.zeros((64, 96), np.uint8)).save(folder / "heatmap.png")  # 3:2 like the slide
        Image.fromarray(np.zeros((50, 50), np.uint8)).save(folder / "square.png")  # not the slide's shape
        s.add(Result(job_id=job.id, study_id=row.study_id, method="wf_brightness", output_dir=out,
                     files=[f"{out}/cells.geojson", f"{out}/heatmap.png", f"{out}/square.png"]))
        study_id = row.study_id
    headers = login(client, "vic")
    d = client.get(f"/api/files/{slide_id}/tiles.json", headers=headers).json()
    assert [(o["type"], o["name"]) for o in d["overlays"]] == [("geojson", "wf_brightness: cells.geojson"),
                                                               ("image", "wf_brightness: heatmap.png")]
    assert client.get(d["overlays"][0]["url"], headers=headers).json()["type"] == "FeatureCollection"
    client.post("/login", data={"username": "vic", "password": "s3cret-pass"})
    page = client.get(f"/slides/{slide_id}").text
    assert 'class="wsi-viewer"' in page and 'src="/static/wsi-viewer.js"' in page
    assert f'data-descriptor="/api/files/{slide_id}/tiles.json"' in page
    study_page = client.get(f"/studies/{study_id}").text
    assert "Pan and zoom" in study_page and f'href="/slides/{slide_id}"' in study_page


def test_slide_cache_is_lru_and_closes(slide_file, tmp_path):
    import shutil

    from biomedai.web.tiles import SlideCache

    second = tmp_path / "second.tif"
    shutil.copy(slide_file[0], second)
    cache = SlideCache(size=1)
    first_reader, _ = cache.get(slide_file[0])
    assert cache.get(slide_file[0])[0] is first_reader  # cached
    cache.get(second)  # evicts the first
    with pytest.raises(Exception):
        first_reader.read_region((0, 0), 0, (4, 4))  # closed
    assert cache.get(slide_file[0])[0] is not first_reader
    cache.close()


def test_docstring_examples():
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("biomedai.web.tiles"), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_min_level_bounds_the_pixels_read_per_tile():
    from biomedai.web.tiles import MAX_READ_PIXELS, DeepZoom

    pyramid = DeepZoom(1536, 1024, (1.0, 2.0, 4.0, 8.0), ((1536, 1024), (768, 512), (384, 256), (192, 128)))
    assert pyramid.min_level == 0  # the coarsest slide level feeds even the 1-pixel level cheaply
    flat = DeepZoom(100_000, 80_000, (1.0,), ((100_000, 80_000),))  # one huge level, no pyramid
    level = flat.min_level
    assert 0 < level < flat.max_level
    for lv in (level, level - 1):
        w, h = (min(256, n) for n in flat.level_size(lv))
        factor = flat.source(lv)[1]
        assert (w * h * factor ** 2 <= MAX_READ_PIXELS) == (lv == level)


def test_large_plain_image_gets_tiles_too(client, store, tmp_path):
    """A 1.2-megapixel PNG is tiled from an in-memory pyramid; small images are not."""
    from PIL import Image

    from biomedai.workflow.intake import ingest

    rng = np.random.default_rng(3)
    array = rng.integers(0, 256, (1000, 1200, 3), dtype=np.uint8)
    Image.fromarray(array).save(tmp_path / "big.png")
    big = ingest(store, [("big.png", tmp_path / "big.png")], methods=[]).new_files[0]
    small = ingest(store, [("small.png", make_png(tmp_path / "small.png"))], methods=[]).new_files[0]
    headers = login(client, "vic")
    d = client.get(f"/api/files/{big}/tiles.json", headers=headers).json()
    assert (d["width"], d["height"], d["max_level"]) == (1200, 1000, 11)
    tile = _png(client.get(f"/api/files/{big}/tiles/11/4_3.png", headers=headers).content)
    np.testing.assert_array_equal(tile, array[768:1000, 1024:1200])  # the edge tile, full resolution
    half = _png(client.get(f"/api/files/{big}/tiles/10/0_0.png", headers=headers).content)
    expected = np.asarray(Image.fromarray(array).reduce(2))[:256, :256]
    np.testing.assert_array_equal(half, expected)
    assert client.get(f"/api/files/{small}/tiles.json", headers=headers).status_code == 404
    client.post("/login", data={"username": "vic", "password": "s3cret-pass"})
    page = client.get(f"/studies/{d['study_id']}").text
    assert f'href="/slides/{big}"' in page


def test_large_plain_image_is_decoded_in_a_child_not_in_the_server(client, store, tmp_path, monkeypatch):
    """Issue 17: an uploaded image is never decoded in the server process; the viewer's pyramid comes from a
    PNG the limited child renders. Reading images in this (server) process is made to fail: tiles still work."""
    from PIL import Image

    import biomedai.io
    from biomedai.workflow.intake import ingest

    array = np.random.default_rng(4).integers(0, 256, (1100, 1000, 3), dtype=np.uint8)
    Image.fromarray(array).save(tmp_path / "upload.png")
    file_id = ingest(store, [("upload.png", tmp_path / "upload.png")], methods=[]).new_files[0]

    def refuse(*args, **kwargs):
        raise AssertionError("the server process decoded an uploaded image")

    monkeypatch.setattr(biomedai.io, "read_image", refuse)
    headers = login(client, "vic")
    d = client.get(f"/api/files/{file_id}/tiles.json", headers=headers).json()
    assert (d["width"], d["height"]) == (1000, 1100)
    tile = _png(client.get(f"/api/files/{file_id}/tiles/{d['max_level']}/0_0.png", headers=headers).content)
    np.testing.assert_array_equal(tile, array[:256, :256])
