"""The correction loop: edit a result's annotation (e.g. vessel polylines) on its image, save it for retraining.

Generic over methods: a method that sets ``annotation_kind`` lists its correctable files
(:meth:`~biomedai.methods.base.Method.editable_annotations`), checks an edited annotation
(``check_annotation``) and stores it in the layout it retrains from (``save_correction``). Corrections
are kept under ``<data>/corrections/<method>/``; the page says the command that retrains with them.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from ...errors import BiomedaiError, InvalidInputError, MethodNotFoundError
from ...methods.registry import get_method
from ...workflow.models import Job, Result, StoredFile, User
from ...workflow.previews import has_preview
from ..deps import audit, need, store_of
from ..pages import layout

router = APIRouter()

#: Largest corrected annotation accepted (bytes of JSON).
MAX_ANNOTATION_BYTES = 8 << 20


def corrections_folder(request: Request, method: str) -> Path:
    """Where the service keeps one method's corrections (the folder a retraining run reads)."""
    return store_of(request).data_dir / "corrections" / method


def _editable(request: Request, result_id: int) -> tuple[Any, dict[str, Any], list[dict[str, Any]]]:
    """The method, the result row as a dict and its correctable items with their stored input files."""
    store = store_of(request)
    with store.session() as s:
        result = s.get(Result, result_id)
        if result is None:
            raise HTTPException(404, f"no result {result_id}")
        job = s.get(Job, result.job_id)
        inputs = list(job.inputs) if job is not None else []
        files = s.query(StoredFile).filter(StoredFile.study_id == result.study_id).all()
        by_path = {f.path: f for f in files}
        row = {"id": result.id, "study_id": result.study_id, "method": result.method,
               "output_dir": result.output_dir, "files": list(result.files)}
    try:
        method = get_method(row["method"])()
    except MethodNotFoundError:
        raise HTTPException(404, f"method {row['method']!r} is not installed") from None
    if not method.annotation_kind:
        raise HTTPException(404, f"results of {row['method']} have no correctable annotation")
    stored = {Path(p).name: by_path[p] for p in inputs if p in by_path}
    result_dir = store.storage.resolve(row["output_dir"])
    items = []
    for item in method.editable_annotations(result_dir):
        wanted = f"{row['output_dir'].rstrip('/')}/{item['annotation']}"
        source = stored.get(item["image_input"])
        if wanted not in row["files"] or source is None:
            continue
        items.append({**item, "file_id": source.id, "image_path": source.path,
                      "image_url": f"/api/studies/{row['study_id']}/files/{source.id}"
                                   + ("/preview" if has_preview(source.preview) else ""),
                      "annotation_url": f"/api/results/{row['id']}/files/{item['annotation']}",
                      "save_url": f"/api/results/{row['id']}/corrections/{item['name']}"})
    return method, row, items


@router.get("/api/results/{result_id}/corrections")
def list_correctable(request: Request, result_id: int, user: User = Depends(need("viewer"))) -> dict[str, Any]:
    method, row, items = _editable(request, result_id)
    folder = corrections_folder(request, method.name)
    return {"result_id": result_id, "method": method.name, "kind": method.annotation_kind,
            "items": [{k: v for k, v in i.items() if k != "image_path"} for i in items],
            "corrections_folder": str(folder), "retrain_command": retrain_command(method.name, folder)}


def retrain_command(method: str, folder: Path) -> str:
    """The command that retrains ``method`` with the saved corrections (shown on the page)."""
    return (f"biomedai tool {method} retrain --corrections {folder} --data TRAINING_DATA "
            f"--weights CURRENT_MODEL -o NEW_MODEL")


@router.put("/api/results/{result_id}/corrections/{name}")
async def save_correction(request: Request, result_id: int, name: str,
                          user: User = Depends(need("operator"))) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_ANNOTATION_BYTES:
        raise HTTPException(413, f"annotation larger than {MAX_ANNOTATION_BYTES} bytes")
    method, _, items = _editable(request, result_id)
    item = next((i for i in items if i["name"] == name), None)
    if item is None:
        raise HTTPException(404, f"result {result_id} has no correctable annotation {name!r}")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPException(400, f"correction of {name}: not JSON ({exc})") from None
    try:
        checked = method.check_annotation(data, f"correction of {name}")
        path = method.save_correction(corrections_folder(request, method.name),
                                      store_of(request).storage.resolve(item["image_path"]), checked)
    except InvalidInputError as exc:
        raise HTTPException(400, str(exc)) from None
    except BiomedaiError as exc:
        raise HTTPException(422, str(exc)) from None
    audit(request, user, "save_correction", "result", result_id, f"{method.name} {name} -> {path.name}")
    return {"saved": path.name, "name": name, "method": method.name}


@router.get("/results/{result_id}/correct", response_class=HTMLResponse)
def correction_page(request: Request, result_id: int, user: User = Depends(need("operator"))) -> HTMLResponse:
    """Draw and delete polylines over the image; save each image's corrections for retraining."""
    method, _, items = _editable(request, result_id)
    if not items:
        raise HTTPException(404, f"result {result_id} has nothing to correct")
    folder = corrections_folder(request, method.name)
    config = json.dumps({"items": [{k: v for k, v in i.items() if k != "image_path"} for i in items],
                         "kind": method.annotation_kind}).replace("<", "\\u003c")  # no "</script>" inside
    e = html.escape
    body = f"""<p>Click to add points of a new polyline, double-click (or Enter) to finish it. Click a polyline to
select it, Delete to remove it. Save stores the image and its polylines in <code>{e(str(folder))}</code>.</p>
<div class="bar"><label>Image <select id="item"></select></label>
<label>Class <select id="cls"><option>vessel</option><option>out_of_plane</option><option>debris</option></select></label>
<button id="finish">Finish line</button><button id="delete">Delete selected</button>
<button id="undo">Undo</button><button id="save">Save</button> <span id="status" role="status"></span></div>
<div id="stage"><canvas id="canvas" width="10" height="10" style="border:1px solid #888;cursor:crosshair"></canvas></div>
<p>Retrain with every saved correction (the paper's Bio 1 &rarr; 2 &rarr; 3):
<code>{e(retrain_command(method.name, folder))}</code></p>
<script id="config" type="application/json">{config}</script>
<script src="/static/polyline-editor.js" defer></script>"""
    return layout(f"Correct the {method.annotation_kind} of result {result_id} ({method.name})", body, user)
