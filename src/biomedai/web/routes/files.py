"""A study's files: the original, its preview, and a windowed rendering of a slice."""
from __future__ import annotations

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

    The file is decoded in a child process (:func:`biomedai.workflow.previews.render_in_child`) under the
    read limits, a memory cap and a time limit, never in this request's own process; detached headers
    cannot reach outside their folder.
    """
    from fastapi.responses import Response

    from ...workflow.previews import PREVIEW_MAX_BYTES, render_in_child

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
    data = render_in_child(store.storage.resolve(rel), center, width, slice)
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
