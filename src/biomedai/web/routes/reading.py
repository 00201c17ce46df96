"""Reading: the radiologists' worklist (sorted, filtered, live over server-sent events), claiming a study,
and the report from draft to signed final (stored as DICOM SR, sent to a configured PACS on request)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from ...workflow import reading as rd
from ...workflow.models import User
from ..deps import audit, file_headers, need, settings_of, store_of, study_or_404

router = APIRouter()


def _study_exists(request: Request, study_id: int) -> None:
    with store_of(request).session() as s:
        study_or_404(s, study_id)


def _conflict(exc: rd.ClaimError) -> HTTPException:
    return HTTPException(409, str(exc))


@router.get("/api/reading/worklist")
def reading_worklist(request: Request, sort: str = "priority", order: str = "", q: str = "", modality: str = "",
                     report: str = "", urgent: str = "", user: User = Depends(need("viewer"))) -> list[dict[str, Any]]:
    """Rows: patient, accession, study date, description, modality, AI summary (rounded), urgent, report status."""
    if order not in ("", "asc", "desc") or urgent not in ("", "true", "false", "1", "0"):
        raise HTTPException(400, "order is asc or desc; urgent is true or false")
    descending = None if not order else order == "desc"
    rows = rd.reading_worklist(store_of(request), sort=sort, descending=descending, text=q, modality=modality,
                               report=report, urgent=None if not urgent else urgent in ("true", "1"))
    audit(request, user, "list_studies", detail=f"reading worklist: {len(rows)} row(s)")
    return rows


@router.get("/api/reading/events")
async def reading_events(request: Request, max_s: float = 300.0, poll_s: float = 2.0,
                         user: User = Depends(need("viewer"))) -> StreamingResponse:
    """Server-sent events: ``event: worklist`` with the worklist's version whenever it changes (first at once),
    a comment every 15 s to keep proxies open; the stream ends after ``max_s`` (the browser reconnects)."""
    import anyio

    store = store_of(request)
    max_s, poll_s = min(max(1.0, max_s), 3600.0), min(max(0.2, poll_s), 30.0)

    async def events() -> Any:
        last, waited, quiet = None, 0.0, 0.0
        while waited < max_s:
            version = await anyio.to_thread.run_sync(rd.worklist_version, store)
            if version != last:
                last, quiet = version, 0.0
                yield f"event: worklist\ndata: {version}\n\n".encode()
            elif quiet >= 15:
                quiet = 0.0
                yield b": keep-alive\n\n"
            if await request.is_disconnected():
                break
            await anyio.sleep(poll_s)
            waited += poll_s
            quiet += poll_s

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.post("/api/studies/{study_id}/claim")
def claim_study(request: Request, study_id: int, user: User = Depends(need("operator"))) -> dict[str, Any]:
    _study_exists(request, study_id)
    try:
        out = rd.claim(store_of(request), study_id, user.username)
    except rd.ClaimError as exc:
        raise _conflict(exc) from None
    audit(request, user, "claim_study", "study", study_id)
    return out


@router.delete("/api/studies/{study_id}/claim")
def release_study(request: Request, study_id: int, force: bool = False,
                  user: User = Depends(need("operator"))) -> dict[str, Any]:
    _study_exists(request, study_id)
    if force and user.role != "admin":
        raise HTTPException(403, "only an admin releases another reader's claim")
    try:
        rd.release(store_of(request), study_id, user.username, force=force)
    except rd.ClaimError as exc:
        raise _conflict(exc) from None
    audit(request, user, "release_study", "study", study_id, "forced" if force else "")
    return {"released": study_id}


@router.get("/api/studies/{study_id}/reading")
def get_reading(request: Request, study_id: int, user: User = Depends(need("viewer"))) -> dict[str, Any]:
    _study_exists(request, study_id)
    audit(request, user, "view_report", "study", study_id)
    return rd.get_reading(store_of(request), study_id)


@router.put("/api/studies/{study_id}/reading")
def save_reading(request: Request, study_id: int, body: dict[str, Any],
                 user: User = Depends(need("operator"))) -> dict[str, Any]:
    _study_exists(request, study_id)
    if not isinstance(body.get("text"), str):
        raise HTTPException(400, 'send {"text": "..."}')
    try:
        out = rd.save_draft(store_of(request), study_id, user.username, body["text"])
    except rd.ClaimError as exc:
        raise _conflict(exc) from None
    audit(request, user, "save_report", "study", study_id, f"draft, {len(body['text'])} characters")
    return out


@router.post("/api/studies/{study_id}/reading/sign")
def sign_reading(request: Request, study_id: int, body: dict[str, Any] | None = None,
                 user: User = Depends(need("operator"))) -> dict[str, Any]:
    """Sign the report (final; the signer and time go to the audit log), store it as DICOM SR and, with
    ``{"destination": NAME}``, send the SR to that configured PACS."""
    from ...workflow.export import send_dicom

    _study_exists(request, study_id)
    body = body or {}
    text = body.get("text")
    if text is not None and not isinstance(text, str):
        raise HTTPException(400, '"text" must be a string')
    destination = str(body.get("destination") or "")
    target = settings_of(request).destinations.get(destination) if destination else None
    if destination and target is None:
        raise HTTPException(400, f"unknown destination {destination!r}")
    try:
        out, no_sr = rd.sign(store_of(request), study_id, user.username, text)
    except rd.ClaimError as exc:
        raise _conflict(exc) from None
    audit(request, user, "sign_report", "study", study_id,
          f"final, signed by {out['signed_by']} at {out['signed_at']}" + (f"; no SR: {no_sr}" if no_sr else ""))
    out["sr"] = None if no_sr else f"/api/studies/{study_id}/reading/sr.dcm"
    out["sr_skipped"] = no_sr or None
    if target is not None and not no_sr:
        status = send_dicom(_report_bytes(request, study_id), *target)
        audit(request, user, "send_report", "study", study_id, f"SR to {destination} ({target[0]}@{target[1]}:"
                                                              f"{target[2]}), status 0x{status:04X}")
        out["sent"] = {"destination": destination, "status": status}
    return out


def _report_bytes(request: Request, study_id: int) -> bytes:
    from ...workflow.models import Reading

    store = store_of(request)
    with store.session() as s:
        reading = s.get(Reading, study_id)
        rel = reading.sr_path if reading is not None else ""
    if not rel:
        raise HTTPException(404, f"study {study_id} has no signed report stored as DICOM SR")
    return store.storage.resolve(rel).read_bytes()


@router.get("/api/studies/{study_id}/reading/sr.dcm")
def reading_sr(request: Request, study_id: int, user: User = Depends(need("viewer"))) -> Response:
    _study_exists(request, study_id)
    data = _report_bytes(request, study_id)
    audit(request, user, "export_report_sr", "study", study_id)
    return Response(data, media_type="application/dicom",
                    headers=file_headers(f"study-{study_id}-report.dcm", inline=False))

