"""Results: one result, its DICOM SR/SEG, sending it to a PACS, and its files."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request

from ...workflow.models import Result, User
from ..deps import audit, file_headers, file_response, need, result_dict, settings_of, store_of

router = APIRouter()


def _result_or_404(request: Request, result_id: int) -> None:
    with store_of(request).session() as s:
        if s.get(Result, result_id) is None:
            raise HTTPException(404, f"no result {result_id}")


@router.get("/api/results/{result_id}")
def get_result(request: Request, result_id: int, user: User = Depends(need("viewer"))) -> dict[str, Any]:
    with store_of(request).session() as s:
        result = s.get(Result, result_id)
        if result is None:
            raise HTTPException(404, f"no result {result_id}")
        audit(request, user, "view_result", "result", result_id)
        return result_dict(result)


@router.get("/api/results/{result_id}/sr.dcm")
@router.get("/api/results/{result_id}/seg.dcm")
def result_dicom(request: Request, result_id: int, deidentify: bool = False, dates: str = "remove",
                 user: User = Depends(need("viewer"))) -> Any:
    """The result as a DICOM SR (measurements) or SEG (masks); ``?deidentify=true[&dates=shift]``."""
    from fastapi.responses import Response

    from ...workflow.export import export_objects

    kind = "SEG" if request.url.path.endswith("/seg.dcm") else "SR"
    _result_or_404(request, result_id)
    data = export_objects(store_of(request), result_id, [kind], deidentify=deidentify, dates=dates)[0][0][1]
    audit(request, user, f"export_{kind.lower()}", "result", result_id, "de-identified" if deidentify else "")
    name = f"result-{result_id}-{kind.lower()}{'-deid' if deidentify else ''}.dcm"
    return Response(data, media_type="application/dicom", headers=file_headers(name, inline=False))


@router.post("/api/results/{result_id}/send")
def send_result(request: Request, result_id: int, body: dict[str, Any],
                user: User = Depends(need("operator"))) -> dict[str, Any]:
    """Send the result's DICOM SR (and SEG when it has masks) to a configured PACS (only names fixed at
    start-up: no open relay). Body: ``{"destination": NAME, "objects": ["SR", "SEG"]?, "deidentify": bool?,
    "dates": "remove"|"shift"?}``."""
    from ...workflow.export import export_objects, send_dicom

    destinations = settings_of(request).destinations
    name = str(body.get("destination", ""))
    target = destinations.get(name)
    if target is None:
        raise HTTPException(400, f"unknown destination {name!r} (configured: "
                                 f"{', '.join(sorted(destinations)) or 'none'})")
    _result_or_404(request, result_id)
    chosen = body.get("objects")
    if chosen is not None and not isinstance(chosen, list):
        raise HTTPException(400, "objects: a list such as [\"SR\", \"SEG\"]")
    deidentify = str(body.get("deidentify", False)).lower() in ("1", "true", "yes")
    objects, skipped = export_objects(store_of(request), result_id, chosen, deidentify=deidentify,
                                      dates=str(body.get("dates", "remove")))
    sent = [{"kind": kind, "status": send_dicom(data, *target)} for kind, data in objects]
    audit(request, user, "send_sr", "result", result_id, f"{'+'.join(k for k, _ in objects)} to {name} "
          f"({target[0]}@{target[1]}:{target[2]}){' de-identified' if deidentify else ''}")
    return {"sent": result_id, "destination": name, "status": max(o["status"] for o in sent), "objects": sent,
            "skipped": skipped, "deidentified": deidentify}


@router.get("/api/results/{result_id}/files/{name:path}")
def result_file(request: Request, result_id: int, name: str, user: User = Depends(need("viewer"))) -> Any:
    store = store_of(request)
    with store.session() as s:
        result = s.get(Result, result_id)
        if result is None:
            raise HTTPException(404, f"no result {result_id}")
        wanted = f"{result.output_dir.rstrip('/')}/{name}"
        if wanted not in result.files:  # only files the result lists; no path arithmetic on user input
            raise HTTPException(404, f"result {result_id} has no file {name!r}")
    audit(request, user, "view_file", "result", result_id, name)
    return file_response(store.storage.resolve(wanted), name)
