"""The reading pages: the radiologists' worklist (``/reading``, live) and the report editor
(``/studies/<id>/report``: claim, draft pre-filled with the AI findings, sign, send)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ..errors import BiomedaiError
from ..workflow import reading as rd
from ..workflow.auth import role_allows
from ..workflow.models import User

COLUMNS = (("patient", "Patient"), ("accession", "Accession"), ("study_date", "Study date"),
           ("description", "Description"), ("modality", "Modality"), ("ai_summary", "AI findings"),
           ("priority", "Urgency"), ("report", "Report"))


def _e(value: Any) -> str:
    import html

    return html.escape(str(value), quote=True)


def rows_html(rows: list[dict[str, Any]], params: dict[str, str]) -> str:
    """The worklist table (also the fragment the live page swaps in)."""
    sort, order = params.get("sort", "priority"), params.get("order", "")
    head = []
    for key, title in COLUMNS:
        sort_key = {"ai_summary": "priority", "description": "received"}.get(key, key)
        flip = "asc" if sort == sort_key and order != "asc" else "desc"
        link = "?" + urlencode({**params, "sort": sort_key, "order": flip})
        head.append(f'<th><a href="{_e(link)}">{_e(title)}</a></th>')
    body = []
    for r in rows:
        urgency = ('<b class="error">URGENT</b> ' if r["urgent"] else "") + f'{r["priority"]:.0f}'
        report = _e(r["report"]) + (f' (reading: {_e(r["claimed_by"])})' if r["claimed_by"] else "") + \
            (f' signed by {_e(r["signed_by"])}' if r["report"] == "final" and r["signed_by"] else "")
        cells = {"patient": f'<a href="/studies/{r["id"]}/report">{_e(r["patient"] or "(no name)")}</a>'
                            f'<br><span class="muted">{_e(r["patient_id"])}</span>',
                 "accession": _e(r["accession"]), "study_date": _e(r["study_date"]),
                 "description": _e(r["description"]), "modality": _e(r["modality"]),
                 "ai_summary": _e(r["ai_summary"] or ("processing" if r["jobs"] == "processing" else "-")),
                 "priority": urgency, "report": report}
        css = "p-high" if r["urgent"] else ""
        body.append(f'<tr class="{css}" data-study="{r["id"]}">' + "".join(f"<td>{cells[k]}</td>" for k, _ in COLUMNS)
                    + "</tr>")
    if not body:
        return "<table><tr>" + "".join(head) + '</tr></table><p class="muted">no studies match</p>'
    return "<table><tr>" + "".join(head) + "</tr>" + "".join(body) + "</table>"


def add_reading_pages(app: FastAPI) -> None:
    from .deps import token_from
    from .pages import LoginRequired, layout

    store = app.state.settings.store

    def page_user(request: Request, role: str = "viewer") -> User:
        user = store.user_for_token(token_from(request))
        if user is None:
            raise LoginRequired()
        if not role_allows(user.role, role):
            raise HTTPException(403, f"needs the {role} role")
        return user

    def _params(request: Request) -> dict[str, str]:
        keys = ("sort", "order", "q", "modality", "report", "urgent")
        return {k: request.query_params[k] for k in keys if request.query_params.get(k)}

    def _rows(params: dict[str, str]) -> list[dict[str, Any]]:
        try:
            return rd.reading_worklist(store, sort=params.get("sort", "priority"),
                                       descending=None if not params.get("order") else params["order"] == "desc",
                                       text=params.get("q", ""), modality=params.get("modality", ""),
                                       report=params.get("report", ""),
                                       urgent=None if not params.get("urgent") else params["urgent"] == "1")
        except BiomedaiError as exc:
            raise HTTPException(400, str(exc)) from None

    @app.get("/reading", response_class=HTMLResponse)
    def reading_page(request: Request) -> HTMLResponse:
        user = page_user(request)
        params = _params(request)
        rows = _rows(params)
        store.audit(user.username, "list_studies", detail=f"reading worklist page: {len(rows)} row(s)")
        report = params.get("report", "")
        filters = ('<form method="get">Search <input name="q" value="' + _e(params.get("q", "")) + '" size="18"> '
                   'Modality <input name="modality" size="5" value="' + _e(params.get("modality", "")) + '"> '
                   'Report <select name="report">' + "".join(
                       f'<option{" selected" if s == report else ""}>{s}</option>' for s in ("",) + rd.REPORT_STATES)
                   + '</select> <label><input type="checkbox" name="urgent" value="1"'
                   + (" checked" if params.get("urgent") == "1" else "") + '> urgent only</label> '
                   '<button>Filter</button></form>')
        query = ("?" + urlencode(params)) if params else ""
        body = (f'{filters}<div id="rows" data-query="{_e(query)}">{rows_html(rows, params)}</div>'
                '<p class="muted">Most urgent first (the priority AI findings raised); click a heading to sort. '
                'The list updates by itself when a job finishes or a report changes.</p>'
                '<script src="/static/reading.js"></script>')
        return layout("Reading worklist", body, user)

    @app.get("/reading/rows", response_class=HTMLResponse)
    def reading_rows(request: Request) -> HTMLResponse:
        page_user(request)
        params = _params(request)
        return HTMLResponse(rows_html(_rows(params), params), headers={"Cache-Control": "no-store"})

    @app.get("/studies/{study_id}/report", response_class=HTMLResponse)
    def report_page(request: Request, study_id: int, error: str = "") -> HTMLResponse:
        user = page_user(request)
        try:
            reading = rd.get_reading(store, study_id)
        except BiomedaiError:
            raise HTTPException(404, f"no study {study_id}") from None
        store.audit(user.username, "view_report", "study", study_id, "page")
        operator = role_allows(user.role, "operator")
        mine = reading["claimed_by"] == user.username
        parts = [f'<p><a href="/studies/{study_id}">Study {study_id}: images and results</a> - '
                 f'<a href="/studies/{study_id}/viewer">viewer</a></p>']
        if error:
            parts.append(f'<p class="error">{_e(error)}</p>')
        state = f"Report: <b>{_e(reading['status'])}</b>"
        if reading["status"] == "final":
            state += f" - signed by {_e(reading['signed_by'])} at {_e(reading['signed_at'])}"
            if reading["has_sr"]:
                state += f' - <a href="/api/studies/{study_id}/reading/sr.dcm">DICOM SR</a>'
        elif reading["claimed_by"]:
            state += f" - being read by {_e(reading['claimed_by'])}"
        parts.append(f"<p>{state}</p>")
        text = reading["text"] or reading["prefill"]
        if reading["status"] == "final":
            parts.append(f'<pre style="white-space:pre-wrap;border:1px solid #ccc;padding:.5rem">{_e(text)}</pre>')
        elif operator and not mine:
            parts.append(f'<pre style="white-space:pre-wrap">{_e(text)}</pre>')
            if not reading["claimed_by"]:
                parts.append(f'<form method="post" action="/studies/{study_id}/claim"><button>Claim and read'
                             '</button></form>')
        elif operator and mine:
            destinations = sorted(app.state.settings.destinations)
            send = ("" if not destinations else ' Send to <select name="destination"><option value="">(none)'
                    '</option>' + "".join(f"<option>{_e(d)}</option>" for d in destinations) + "</select>")
            parts.append(f'<form method="post" action="/studies/{study_id}/report/save">'
                         f'<textarea name="text" rows="22" cols="100">{_e(text)}</textarea><br>'
                         '<button name="action" value="save">Save draft</button> '
                         f'<button name="action" value="sign">Sign (final)</button>{send}</form>'
                         f'<form method="post" action="/studies/{study_id}/release"><button>Release</button></form>')
        else:
            parts.append(f'<pre style="white-space:pre-wrap">{_e(text)}</pre>')
        return layout(f"Report, study {study_id}", "".join(parts), user)

    def _back(study_id: int, error: str = "") -> RedirectResponse:
        suffix = ("?" + urlencode({"error": error})) if error else ""
        return RedirectResponse(f"/studies/{study_id}/report{suffix}", status_code=303)

    @app.post("/studies/{study_id}/claim")
    def claim_submit(request: Request, study_id: int) -> RedirectResponse:
        user = page_user(request, "operator")
        try:
            rd.claim(store, study_id, user.username)
        except BiomedaiError as exc:
            return _back(study_id, str(exc))
        store.audit(user.username, "claim_study", "study", study_id, "page")
        return _back(study_id)

    @app.post("/studies/{study_id}/release")
    def release_submit(request: Request, study_id: int) -> RedirectResponse:
        user = page_user(request, "operator")
        try:
            rd.release(store, study_id, user.username)
        except BiomedaiError as exc:
            return _back(study_id, str(exc))
        store.audit(user.username, "release_study", "study", study_id, "page")
        return RedirectResponse("/reading", status_code=303)

    @app.post("/studies/{study_id}/report/save")
    def report_submit(request: Request, study_id: int, text: str = Form(""), action: str = Form("save"),
                      destination: str = Form("")) -> RedirectResponse:
        from ..workflow.export import send_dicom

        user = page_user(request, "operator")
        try:
            if action == "sign":
                target = app.state.settings.destinations.get(destination) if destination else None
                if destination and target is None:
                    return _back(study_id, f"unknown destination {destination!r}")
                out, no_sr = rd.sign(store, study_id, user.username, text)
                store.audit(user.username, "sign_report", "study", study_id,
                            f"final, signed by {out['signed_by']} at {out['signed_at']}"
                            + (f"; no SR: {no_sr}" if no_sr else ""))
                if target is not None and not no_sr:
                    from ..workflow.models import Reading

                    with store.session() as s:
                        rel = s.get(Reading, study_id).sr_path
                    status = send_dicom(store.storage.resolve(rel).read_bytes(), *target)
                    store.audit(user.username, "send_report", "study", study_id,
                                f"SR to {destination}, status 0x{status:04X}")
            else:
                rd.save_draft(store, study_id, user.username, text)
                store.audit(user.username, "save_report", "study", study_id, f"draft, {len(text)} characters")
        except BiomedaiError as exc:
            return _back(study_id, str(exc))
        return _back(study_id)
