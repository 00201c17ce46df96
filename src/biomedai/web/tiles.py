"""Deep Zoom tiles of whole-slide (and large plain) images for the pan/zoom viewer, and the viewer page.

    GET /api/files/{id}/tiles.json                      descriptor (size, levels, mpp, overlays)
    GET /api/files/{id}/tiles.dzi                       the same as a Deep Zoom (DZI) XML descriptor
    GET /api/files/{id}/tiles/{level}/{col}_{row}.jpg   one tile (.png for lossless)
    GET /api/files/{id}/tiles_files/{level}/...         the same tiles where DZI clients look for them
    GET /slides/{id}                                    the viewer page (static/wsi-viewer.js, no CDN)

Deep Zoom levels: level ``max_level`` is the slide at full resolution, each level below halves
it, level 0 is one pixel (``max_level = ceil(log2(max(width, height)))``). A tile is read with
:func:`biomedai.io.open_wsi` from the finest slide level at or below the tile's downsample and
resized only when the slide has no level at that exact downsample, so where the slide's pyramid
has a level the tile is that level's pixels. Open slides are kept in a small LRU cache. Tiles
need a valid token and the viewer role; the descriptor read is audited (tiles are not: a view
fetches hundreds). Files are found by database id only and their paths re-checked by the storage.
"""
from __future__ import annotations

import functools
import io
import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from ..workflow.models import StoredFile, User

log = logging.getLogger(__name__)

TILE_SIZE = 256
#: plain images (PNG, JPEG, TIFF, ...) above this many pixels get the pan/zoom viewer too, up to the cap
ZOOM_MIN_PIXELS = 1024 * 1024
ZOOM_MAX_PIXELS = 100_000_000
#: largest region (in slide pixels) read for one tile; coarser Deep Zoom levels are not served
MAX_READ_PIXELS = 4096 * 4096
#: overlays offered to the viewer: GeoJSON up to this size, and PNG/JPEG maps of the slide's shape
MAX_GEOJSON_BYTES = 50 * 1024 ** 2
STATIC = Path(__file__).with_name("static")
STATIC_FILES = {"wsi-viewer.js": "text/javascript", "polyline-editor.js": "text/javascript",
                "reading.js": "text/javascript"}
#: the viewer's styles, inline (the pages' CSP allows inline styles and scripts from this server only)
VIEWER_STYLE = """
.wsi-viewer{position:relative;width:100%;min-height:300px;background:#222;border:1px solid #999;overflow:hidden;
touch-action:none;user-select:none} .wsi-viewer canvas{display:block;width:100%;height:100%;cursor:grab}
.wsi-bar{position:absolute;left:.4rem;top:.4rem;display:flex;gap:.3rem;align-items:center;background:#fffd;
padding:.2rem .4rem;border-radius:4px;font-size:.8rem} .wsi-bar button{min-width:1.8rem}
.wsi-status{position:absolute;right:.4rem;bottom:.4rem;background:#fffd;padding:.1rem .4rem;font-size:.75rem;
border-radius:4px}
"""


@dataclass(frozen=True)
class DeepZoom:
    """Deep Zoom geometry of a slide: level sizes, tile grid and which slide level feeds a tile.

    Example:
        >>> dz = DeepZoom(width=1536, height=1024, downsamples=(1.0, 2.0, 4.0, 8.0),
        ...               level_dimensions=((1536, 1024), (768, 512), (384, 256), (192, 128)))
        >>> dz.max_level, dz.level_size(dz.max_level), dz.level_size(dz.max_level - 1), dz.grid(dz.max_level)
        (11, (1536, 1024), (768, 512), (6, 4))
        >>> dz.source(dz.max_level - 2)  # slide level 2 exactly: no resampling
        (2, 1.0)
    """

    width: int
    height: int
    downsamples: tuple[float, ...]
    level_dimensions: tuple[tuple[int, int], ...]
    tile_size: int = TILE_SIZE

    @property
    def max_level(self) -> int:
        return max(0, math.ceil(math.log2(max(self.width, self.height))))

    def downsample(self, level: int) -> float:
        return float(2 ** (self.max_level - level))

    def level_size(self, level: int) -> tuple[int, int]:
        d = self.downsample(level)
        return max(1, math.ceil(self.width / d)), max(1, math.ceil(self.height / d))

    def grid(self, level: int) -> tuple[int, int]:
        w, h = self.level_size(level)
        return math.ceil(w / self.tile_size), math.ceil(h / self.tile_size)

    def source(self, level: int) -> tuple[int, float]:
        """(slide level to read, factor from that level's pixels to this level's pixels)."""
        d = self.downsample(level)
        candidates = [i for i, s in enumerate(self.downsamples) if s <= d * 1.001]
        slide_level = max(candidates, key=lambda i: self.downsamples[i]) if candidates else 0
        return slide_level, d / self.downsamples[slide_level]

    @property
    def min_level(self) -> int:
        """The coarsest level whose tiles stay within MAX_READ_PIXELS of slide reading."""
        for level in range(self.max_level + 1):
            _, factor = self.source(level)
            w, h = (min(self.tile_size, n) for n in self.level_size(level))
            if w * h * factor ** 2 <= MAX_READ_PIXELS:
                return level
        return self.max_level

    def tile_box(self, level: int, col: int, row: int) -> tuple[int, int, int, int] | None:
        """(x, y, w, h) of a tile in level pixels, or None when it is outside the grid."""
        if not 0 <= level <= self.max_level:
            return None
        cols, rows = self.grid(level)
        if not (0 <= col < cols and 0 <= row < rows):
            return None
        w, h = self.level_size(level)
        x, y = col * self.tile_size, row * self.tile_size
        return x, y, min(self.tile_size, w - x), min(self.tile_size, h - y)


class ArraySlide:
    """A large plain image behind the slide interface used here: decoded once, in a child process under the
    read limits (the uploaded file is never decoded in the server), with an in-memory pyramid (each level
    halves the previous, box filter) so that tiles are cut like a WSI's. Plain images carry no physical
    pixel size here (``mpp`` is None)."""

    def __init__(self, path: Path) -> None:
        import io

        import numpy as np
        from PIL import Image as PILImage

        from ..errors import InvalidInputError
        from ..workflow.previews import render_in_child

        png = render_in_child(Path(path))            # our own PNG of the display picture, made by the child
        with PILImage.open(io.BytesIO(png)) as decoded:
            picture = np.asarray(decoded.convert("RGB"))
        if picture.ndim != 3 or picture.shape[-1] != 3:
            raise InvalidInputError(f"cannot show an image of shape {picture.shape} with pan and zoom", path)
        levels = [np.ascontiguousarray(picture)]
        while max(levels[-1].shape[:2]) > TILE_SIZE and min(levels[-1].shape[:2]) >= 2:
            levels.append(np.asarray(PILImage.fromarray(levels[-1]).reduce(2)))
        self.levels = levels
        self.dimensions = (levels[0].shape[1], levels[0].shape[0])
        self.level_dimensions = tuple((a.shape[1], a.shape[0]) for a in levels)
        self.level_downsamples = tuple(self.dimensions[0] / w for w, _ in self.level_dimensions)
        self.mpp = None

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> Any:
        """Like :meth:`WSIReader.read_region`: level-0 ``location``, ``size`` in level pixels, zero padded."""
        import numpy as np

        array, d = self.levels[level], self.level_downsamples[level]
        x, y = int(location[0] / d), int(location[1] / d)
        w, h = int(size[0]), int(size[1])
        out = np.zeros((h, w, 3), np.uint8)
        part = array[max(0, y):y + h, max(0, x):x + w]
        out[max(0, -y):max(0, -y) + part.shape[0], max(0, -x):max(0, -x) + part.shape[1]] = part
        return out

    def close(self) -> None:
        self.levels = []


def zoomable(store: Any, row: Any) -> bool:
    """Whether a stored file gets the pan/zoom viewer: a WSI, or a plain 2D image of ZOOM_MIN_PIXELS or more."""
    if row.kind == "wsi":
        return True
    if row.kind not in ("image/rgb", "image/grey"):
        return False
    return ZOOM_MIN_PIXELS <= _pixels(str(store.storage.resolve(row.path))) <= ZOOM_MAX_PIXELS


def zoomable_ids(store: Any, study_id: int) -> set[int]:
    """Ids of the files of a study that get the pan/zoom viewer."""
    from sqlalchemy import select

    with store.session() as s:
        rows = s.scalars(select(StoredFile).where(StoredFile.study_id == study_id)).all()
        return {row.id for row in rows if zoomable(store, row)}


@functools.lru_cache(maxsize=4096)
def _pixels(path: str) -> int:
    from ..io.probe import probe_raster

    try:
        probe = probe_raster(path)  # header only
    except Exception:  # noqa: BLE001 - not a raster we can probe: no viewer
        return 0
    return probe.width * probe.height if probe.pages == 1 else 0


class SlideCache:
    """Open slides by path, least recently used closed beyond ``size``; one read at a time per slide."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._slides: OrderedDict[str, tuple[Any, threading.Lock, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, opener: Any = None) -> tuple[Any, threading.Lock]:
        """The open slide of ``path`` (``opener(path)`` opens it; default :func:`biomedai.io.open_wsi`)."""
        if opener is None:
            from ..io import open_wsi as opener

        key, mtime = str(path), path.stat().st_mtime
        with self._lock:
            entry = self._slides.get(key)
            if entry is not None and entry[2] == mtime:
                self._slides.move_to_end(key)
                return entry[0], entry[1]
        slide = opener(path)  # outside the cache lock: opening a big slide takes a while
        with self._lock:
            old = self._slides.pop(key, None)
            self._slides[key] = (slide, threading.Lock(), mtime)
            evicted = [old] if old else []
            while len(self._slides) > self.size:
                evicted.append(self._slides.popitem(last=False)[1])
            entry = self._slides[key]
        for reader, lock, _ in evicted:
            with lock:
                reader.close()
                reader.closed_by_cache = True  # a request that got it just before sees this and opens it again
        return entry[0], entry[1]

    def close(self) -> None:
        with self._lock:
            entries, self._slides = list(self._slides.values()), OrderedDict()
        for reader, lock, _ in entries:
            with lock:
                reader.close()


def geometry(slide: Any) -> DeepZoom:
    width, height = slide.dimensions
    return DeepZoom(width, height, tuple(slide.level_downsamples), tuple(slide.level_dimensions))


def read_tile(slide: Any, dz: DeepZoom, level: int, col: int, row: int) -> Any:
    """The tile as a ``[h, w, 3]`` uint8 array, or None when outside the grid or above MAX_READ_PIXELS."""
    import numpy as np

    box = dz.tile_box(level, col, row)
    if box is None or level < dz.min_level:
        return None
    x, y, w, h = box
    slide_level, factor = dz.source(level)
    d = dz.downsample(level)
    read_w, read_h = max(1, math.ceil(w * factor)), max(1, math.ceil(h * factor))  # padded past the edge
    region = slide.read_region((round(x * d), round(y * d)), slide_level, (read_w, read_h))
    if region.shape[:2] != (h, w):
        from PIL import Image as PILImage

        region = np.asarray(PILImage.fromarray(region).resize((w, h), PILImage.Resampling.BOX
                                                              if factor >= 1 else PILImage.Resampling.BILINEAR))
    return region


def encode(array: Any, fmt: str, quality: int = 85) -> bytes:
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    if fmt == "png":
        PILImage.fromarray(array).save(buffer, format="PNG", compress_level=1)
    else:
        PILImage.fromarray(array).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def slide_overlays(store: Any, file_row: Any, dz: DeepZoom) -> list[dict[str, Any]]:
    """Result files that can be laid over this slide: GeoJSON (level-0 pixel coordinates) and PNG/JPEG
    maps with the slide's aspect ratio (stretched over the whole slide)."""
    from sqlalchemy import select

    from ..workflow.models import Job, Result

    out: list[dict[str, Any]] = []
    with store.session() as s:
        rows = s.execute(select(Result, Job.inputs).join(Job, Job.id == Result.job_id)
                         .where(Result.study_id == file_row.study_id).order_by(Result.id)).all()
    for result, inputs in rows:
        if file_row.path not in (inputs or []):
            continue
        prefix = result.output_dir.rstrip("/") + "/"
        for rel in result.files:
            name = rel[len(prefix):] if rel.startswith(prefix) else None
            if not name:
                continue
            kind = _overlay_kind(store, rel, name, dz)
            if kind:
                out.append({"type": kind, "name": f"{result.method}: {name}", "result_id": result.id,
                            "url": f"/api/results/{result.id}/files/{name}"})
    return out


def _overlay_kind(store: Any, rel: str, name: str, dz: DeepZoom) -> str | None:
    lower = name.lower()
    try:
        path = store.storage.resolve(rel)
        if lower.endswith(".geojson") and path.stat().st_size <= MAX_GEOJSON_BYTES:
            return "geojson"
        if lower.endswith((".png", ".jpg", ".jpeg")):
            from PIL import Image as PILImage

            with PILImage.open(path) as im:
                w, h = im.size
            if abs(w / h - dz.width / dz.height) <= 0.02 * dz.width / dz.height + 1.0 / min(w, h):
                return "image"
    except (OSError, ValueError, ZeroDivisionError):
        return None
    return None


def add_tile_routes(app: Any) -> None:
    """Register the tile API, the static viewer files and the viewer page on the FastAPI app."""
    from ..errors import BiomedaiError
    from .deps import audit, need

    store = app.state.settings.store
    cache, images = SlideCache(), SlideCache(size=2)  # decoded plain images take memory: keep two
    app.state.slide_cache = cache

    def slide_of(file_id: int) -> tuple[Any, Any, threading.Lock, DeepZoom]:
        with store.session() as s:
            row = s.get(StoredFile, file_id)
            if row is None or not zoomable(store, row):
                raise HTTPException(404, f"no whole-slide or large image with id {file_id}")
            s.expunge(row)
        try:
            path = store.storage.resolve(row.path)
            slide, lock = cache.get(path) if row.kind == "wsi" else images.get(path, ArraySlide)
        except (BiomedaiError, OSError) as exc:
            raise HTTPException(404, f"file {file_id} cannot be read as a slide: {exc}") from None
        return row, slide, lock, geometry(slide)

    def descriptor(request: Request, file_id: int, user: User) -> dict[str, Any]:
        row, slide, _lock, dz = slide_of(file_id)
        audit(request, user, "view_file", "file", file_id, "tiles")
        return {"file_id": file_id, "study_id": row.study_id, "name": row.original_name, "width": dz.width,
                "height": dz.height, "tile_size": dz.tile_size, "overlap": 0, "format": "jpg",
                "max_level": dz.max_level, "min_level": dz.min_level, "mpp": list(slide.mpp) if slide.mpp else None,
                "tiles": f"/api/files/{file_id}/tiles/{{level}}/{{col}}_{{row}}.jpg",
                "overlays": slide_overlays(store, row, dz)}

    @app.get("/api/files/{file_id}/tiles.json")
    def tiles_json(request: Request, file_id: int, user: User = Depends(need("viewer"))) -> dict[str, Any]:
        return descriptor(request, file_id, user)

    @app.get("/api/files/{file_id}/tiles.dzi")
    def tiles_dzi(request: Request, file_id: int, user: User = Depends(need("viewer"))) -> Response:
        d = descriptor(request, file_id, user)
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" '
               f'Format="jpg" Overlap="0" TileSize="{d["tile_size"]}"><Size Width="{d["width"]}" '
               f'Height="{d["height"]}"/></Image>\n')
        return Response(xml, media_type="application/xml")

    @app.get("/api/files/{file_id}/tiles/{level}/{tile}")
    @app.get("/api/files/{file_id}/tiles_files/{level}/{tile}")
    def tile(file_id: int, level: int, tile: str, user: User = Depends(need("viewer"))) -> Response:
        stem, _, fmt = tile.partition(".")
        col, _, row_ = stem.partition("_")
        if fmt not in ("jpg", "jpeg", "png") or not (col.isdigit() and row_.isdigit()):
            raise HTTPException(404, f"no tile {tile!r} (want COL_ROW.jpg or .png)")
        for _attempt in range(3):
            _row, slide, lock, dz = slide_of(file_id)
            with lock:
                if getattr(slide, "closed_by_cache", False):
                    continue
                array = read_tile(slide, dz, level, int(col), int(row_))
                break
        else:
            raise HTTPException(503, "the slide cache is overloaded; try again")
        if array is None:
            raise HTTPException(404, f"tile {level}/{tile} is outside the slide's levels "
                                     f"{dz.min_level}..{dz.max_level} or its grid")
        media = "image/png" if fmt == "png" else "image/jpeg"
        return Response(encode(array, "png" if fmt == "png" else "jpg"), media_type=media,
                        headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/static/{name}")
    def static(name: str, user: User = Depends(need("viewer"))) -> Response:
        if name not in STATIC_FILES:  # a fixed list: no path from the request reaches the file system
            raise HTTPException(404, f"no static file {name!r}")
        return Response((STATIC / name).read_bytes(), media_type=STATIC_FILES[name],
                        headers={"Cache-Control": "no-cache"})

    @app.get("/slides/{file_id}", response_class=HTMLResponse)
    def slide_page(request: Request, file_id: int) -> HTMLResponse:
        from .deps import token_from
        from .pages import LoginRequired, layout

        user = store.user_for_token(token_from(request))
        if user is None:
            raise LoginRequired()
        with store.session() as s:
            row = s.get(StoredFile, file_id)
            if row is None or not zoomable(store, row):
                raise HTTPException(404, f"no whole-slide or large image with id {file_id}")
            name, study_id = row.original_name, row.study_id
        store.audit(user.username, "view_file", "file", file_id, "slide viewer page")
        body = (f'<p><a href="/studies/{study_id}">Back to study {study_id}</a></p>'
                + viewer_html(file_id, height="80vh"))
        return layout(f"Pan and zoom: {name}", body, user)


def viewer_html(file_id: int, height: str = "520px") -> str:
    """The markup of one pan/zoom viewer (the script finds it by its class and data attribute)."""
    return (f'<style>{VIEWER_STYLE}</style><div class="wsi-viewer" '
            f'data-descriptor="/api/files/{int(file_id)}/tiles.json" style="height:{height}"></div>'
            '<script src="/static/wsi-viewer.js" defer></script>')
