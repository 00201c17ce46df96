"""A study's files: the original, its preview, and a windowed rendering of a slice."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request

from ...workflow.models import StoredFile, User
from ...workflow.previews import has_preview
from ..deps import audit, file_headers, file_response, need, store_of

router = APIRouter()


@router.get("/api/studies/{study_id}/files/{file_id}")
def study_file(request: Request, study_id: int, file_id: int, user: User = Depends(need("viewer"))) -> Any:
    return _stored_file(request, user, study_id, file_id, preview=False)


@router.get("/api/studies/{study_id}/files/{file_id}/preview")
def study_preview(request: Request, study_id: int, file_id: int, user: User = Depends(need("viewer"))) -> Any:
    return _stored_file(request, user, study_id, file_id, preview=True)


@router.get("/api/studies/{study_id}/files/{file_id}/render")
def render(request: Request, study_id: int, file_id: int, center: float | None = None,
           width: float | None = None, slice: int | None = None,
           user: User = Depends(need("viewer"))) -> Any:
    """A PNG of a grey image or volume with a window (centre/width, e.g. CT 40/400) and a slice.

    The file is read under the read limits (:mod:`biomedai.io.limits`) and only up to
    ``PREVIEW_MAX_BYTES``; detached headers cannot reach outside their folder.
    """
    import numpy as np
    from fastapi.responses import Response

    from ...io import read_image
    from ...viz import save_png, to_display
    from ...workflow.previews import PREVIEW_MAX_BYTES

    store = store_of(request)
    with store.session() as s:
        row = s.get(StoredFile, file_id)
        if row is None or row.study_id != study_id:
            raise HTTPException(404, f"study {study_id} has no file {file_id}")
        kind, rel, size, original = row.kind, row.path, row.size, row.original_name
    if not (kind.startswith(("dicom/", "volume/")) or kind == "image/grey") or size > PREVIEW_MAX_BYTES:
        raise HTTPException(400, f"file {file_id} ({kind}) cannot be windowed here; use its preview")
    if (center is None) != (width is None) or (width is not None and width <= 0):
        raise HTTPException(400, "give both center and width (> 0), or neither")
    image = read_image(store.storage.resolve(rel))
    array = np.asarray(image.array)
    rgb = image.channel_axis is not None
    if array.ndim - (1 if rgb else 0) > 2:
        index = array.shape[0] // 2 if slice is None else slice
        if not 0 <= index < array.shape[0]:
            raise HTTPException(400, f"slice {index} is outside 0..{array.shape[0] - 1}")
        if not rgb:
            from ...io.image import Image

            image = Image(array[index], metadata=dict(image.metadata))
    picture = to_display(image, window=(center, width) if center is not None else None)
    with tempfile.TemporaryDirectory() as tmp:
        data = save_png(picture, Path(tmp) / "render.png").read_bytes()
    audit(request, user, "view_file", "file", file_id, f"render center={center} width={width} slice={slice}")
    return Response(data, media_type="image/png", headers=file_headers(f"{Path(original).stem}-render.png", True))


def _stored_file(request: Request, user: User, study_id: int, file_id: int, preview: bool) -> Any:
    store = store_of(request)
    with store.session() as s:
        row = s.get(StoredFile, file_id)
        if row is None or row.study_id != study_id or (preview and not has_preview(row.preview)):
            raise HTTPException(404, f"study {study_id} has no {'preview of ' if preview else ''}file {file_id}")
        rel, name = (row.preview, f"{Path(row.original_name).stem}.png") if preview else (row.path,
                                                                                         row.original_name)
    audit(request, user, "view_file", "file", file_id, "preview" if preview else "original")
    return file_response(store.storage.resolve(rel), Path(name).name, inline=True if preview else False)
