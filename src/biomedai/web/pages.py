"""Server-rendered HTML pages: login, worklist, study viewer, upload. No scripts from elsewhere.

Pages use the login cookie (HttpOnly, SameSite=Strict, so other sites cannot post with it);
a request without a valid one is sent to ``/login``.
"""
from __future__ import annotations

import csv
import html
import json
from typing import Any

from fastapi import FastAPI, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse

from ..workflow.auth import role_allows
from ..workflow.models import User

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b} main{padding:1rem 2rem;max-width:1400px}
nav{background:#0b3d5c;color:#fff;padding:.6rem 2rem;display:flex;gap:1.5rem;align-items:center}
nav a{color:#fff;text-decoration:none} nav form{margin-left:auto}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0} td,th{border:1px solid #ccc;padding:.25rem .5rem;
text-align:left;vertical-align:top} th{background:#eef2f5} .p-high{background:#fde2e2} .p-mid{background:#fff4d6}
.grid{display:flex;flex-wrap:wrap;gap:1rem} figure{margin:0} figcaption{font-size:.8rem;color:#444;max-width:420px}
.stack{position:relative;width:420px} .stack img{width:420px;display:block;image-rendering:pixelated}
.stack img.ov{position:absolute;left:0;top:0;opacity:.45;mix-blend-mode:screen} img.plain{max-width:420px;
border:1px solid #ccc;image-rendering:pixelated} .error{color:#a40000} .muted{color:#666;font-size:.85rem}
"""


class LoginRequired(Exception):
    pass


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def layout(title: str, body: str, user: User | None = None) -> HTMLResponse:
    nav = ""
    if user is not None:
        upload = '<a href="/upload">Upload</a>' if role_allows(user.role, "operator") else ""
        nav = (f'<nav><b>biomedai</b><a href="/">Worklist</a><a href="/reading">Reading</a>{upload}<span class="muted" style="color:#cde">'
               f'{_e(user.username)} ({_e(user.role)})</span><form method="post" action="/logout">'
               f'<button>Log out</button></form></nav>')
    page = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
            f"<meta name=viewport content='width=device-width'><style>{_STYLE}</style></head><body>{nav}<main>"
            f"<h1>{_e(title)}</h1>{body}</main></body></html>")
    return HTMLResponse(page, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                       "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; "
                                                                  "img-src 'self'"})


def table(rows: list[dict[str, Any]], raw: tuple[str, ...] = ()) -> str:
    if not rows:
        return '<p class="muted">none</p>'
    keys = list(dict.fromkeys(k for r in rows for k in r if not k.startswith("_")))
    head = "".join(f"<th>{_e(k)}</th>" for k in keys)
    body = "".join(f"<tr class='{_e(r.get('_class', ''))}'>" + "".join(
        f"<td>{r.get(k, '') if k in raw else _e(_fmt(r.get(k, '')))}</td>" for k in keys) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)[:300]
    return str(value)


def flatten(metrics: Any, prefix: str = "", out: list[dict[str, Any]] | None = None, limit: int = 300
            ) -> list[dict[str, Any]]:
    out = [] if out is None else out
    if isinstance(metrics, dict):
        for key, value in metrics.items():
            if key == "findings":
                continue
            flatten(value, f"{prefix}{key}." if not isinstance(value, (dict,)) else f"{prefix}{key}.", out, limit)
            if len(out) >= limit:
                break
    elif len(out) < limit:
        out.append({"measurement": prefix.rstrip("."), "value": metrics})
    return out


def _priority_class(priority: float) -> str:
    return "p-high" if priority >= 75 else "p-mid" if priority >= 50 else ""


def add_pages(app: FastAPI) -> None:
    from .deps import COOKIE, study_detail, token_from

    store = app.state.settings.store

    @app.exception_handler(LoginRequired)
    async def to_login(_request: Request, _exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)

    def page_user(request: Request, role: str = "viewer") -> User:
        user = store.user_for_token(token_from(request))
        if user is None:
            raise LoginRequired()
        if not role_allows(user.role, role):
            raise HTTPException(403, f"needs the {role} role")
        return user

    @app.get("/login", response_class=HTMLResponse)
    def login_page(error: str = "") -> HTMLResponse:
        message = f'<p class="error">{_e(error)}</p>' if error else ""
        return layout("Log in", f"""{message}<form method="post" action="/login">
<p><label>User <input name="username" autocomplete="username" required></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button>Log in</button></p></form>""")

    @app.post("/login")
    def login_submit(request: Request, username: str = Form(...), password: str = Form(...)) -> RedirectResponse:
        try:
            user = app.state.check_login(request, username, password)
        except HTTPException:
            return RedirectResponse("/login?error=too+many+failed+logins;+try+again+later", status_code=303)
        if user is None:
            return RedirectResponse("/login?error=wrong+user+name+or+password", status_code=303)
        settings = app.state.settings
        token, _ = store.issue_token(user, settings.token_ttl_s)
        store.audit(user.username, "login", "user", user.username, client=request.client.host if request.client else "")
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, max_age=int(settings.token_ttl_s), httponly=True, samesite="strict",
                            secure=settings.cookie_secure)
        return response

    @app.post("/logout")
    def logout_submit(request: Request) -> RedirectResponse:
        user = page_user(request)
        store.revoke_token(token_from(request) or "")
        store.audit(user.username, "logout", "user", user.username)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/", response_class=HTMLResponse)
    def worklist_page(request: Request, status: str = "", modality: str = "") -> HTMLResponse:
        from ..workflow.worklist import worklist

        user = page_user(request)
        rows = worklist(store, status=status or None, modality=modality or None)
        store.audit(user.username, "list_studies", detail=f"{len(rows)} row(s) (page)")
        shown = [{"_class": _priority_class(r["priority"]),
                  "study": f'<a href="/studies/{r["id"]}">{r["id"]}</a>', "priority": f'{r["priority"]:.0f}',
                  "status": _e(r["status"]), "modality": _e(r["modality"]), "body part": _e(r["body_part"]),
                  "patient": _e(r["patient_id"]), "files": r["n_files"],
                  "findings": _e("; ".join(f.get("label", "") for f in r["findings"][:5])),
                  "received": _e(r["created_at"])} for r in rows]
        filters = ('<form method="get">Status <select name="status">' + "".join(
            f'<option{" selected" if s == status else ""}>{s}</option>'
            for s in ("", "received", "processing", "done", "failed", "cancelled")) +
            f'</select> Modality <input name="modality" value="{_e(modality)}" size="6"> '
            '<button>Filter</button></form>')
        body = (f'{filters}{table(shown, raw=tuple(shown[0]) if shown else ())}'
                '<p class="muted">Sorted by the priority that AI findings raised, then by arrival. '
                '<a href="">Refresh</a></p>')
        return layout("Worklist", body, user)

    @app.get("/studies/{study_id}", response_class=HTMLResponse)
    def study_page(request: Request, study_id: int) -> HTMLResponse:
        user = page_user(request)
        d = study_detail(store, study_id)
        store.audit(user.username, "view_study", "study", study_id, "page")
        operator = role_allows(user.role, "operator")
        parts = [table([{k: d[k] for k in ("uid", "patient_id", "modality", "body_part", "status", "priority",
                                           "source", "created_at")}]),
                 f'<p><a href="/api/studies/{study_id}/report.html">Download the report (HTML)</a> '
                 f'<a href="/api/studies/{study_id}/report.pdf">(PDF)</a></p>']
        if any(f["kind"].startswith("dicom/") for f in d["files"]):
            parts.append(f'<p><a href="/studies/{study_id}/viewer"><b>Open in the DICOM viewer</b></a> '
                         '(scrolling, window presets, measurements, reformats, SEG/SR overlays, priors)</p>')
        if d["findings"]:
            parts.append("<h2>Findings</h2>" + table([{"method": f.get("method", ""), "finding": f.get("label", ""),
                                                       "severity": f.get("severity", ""), "text": f.get("text", "")}
                                                      for f in d["findings"]]))
        previews = [f for f in d["files"] if f["preview_url"]]
        parts.append("<h2>Images</h2><div class=grid>" + "".join(
            f'<figure><a href="{_e(f["preview_url"])}"><img class=plain src="{_e(f["preview_url"])}" '
            f'alt="{_e(f["name"])}"></a><figcaption>{_e(f["name"])} ({_e(f["kind"])})</figcaption></figure>'
            for f in previews) + "</div>")
        from .tiles import viewer_html, zoomable_ids

        zoom_ids = zoomable_ids(store, study_id)
        slides = [f for f in d["files"] if f["id"] in zoom_ids]
        if slides:
            parts.append("<h2>Pan and zoom</h2>" + "".join(
                f'<p>{_e(f["name"])} <a href="/slides/{f["id"]}">full window</a></p>{viewer_html(f["id"])}'
                for f in slides[:3]))
        windowable = [f for f in d["files"] if f["kind"].startswith(("dicom/", "volume/")) or f["kind"] == "image/grey"]
        if windowable:
            parts.append("<h2>Window / level</h2>" + "".join(_window_form(f) for f in windowable[:20]))
        parts.append("<h2>Files</h2>" + table([{"name": f'<a href="{_e(f["url"])}">{_e(f["name"])}</a>',
                                                "kind": _e(f["kind"]), "size": f["size"],
                                                "series": _e(f["series_description"])} for f in d["files"]],
                                              raw=("name", "kind", "size", "series")))
        jobs = []
        for j in d["jobs"]:
            action = ""
            if operator and j["status"] in ("queued", "running"):
                action = (f'<form method="post" action="/jobs/{j["id"]}/cancel"><input type=hidden name=study_id '
                          f'value="{study_id}"><button>Cancel</button></form>')
            jobs.append({"job": j["id"], "method": _e(j["method"]), "status": _e(j["status"]),
                         "attempts": j["attempts"], "error": _e(j["error"][-300:]), "": action})
        parts.append("<h2>Jobs</h2>" + (table(jobs, raw=("job", "method", "status", "attempts", "error", ""))
                                         if jobs else "<p>No method runs on this study.</p>"))
        if d["routing"]:
            parts.append("<h2>Methods not run</h2>" + table(
                [{"method": _e(n["method"]), "input": _e(n["input"]), "status": _e(n["status"]),
                  "why / what to do": _e(n["reason"])} for n in d["routing"]],
                raw=("method", "input", "status", "why / what to do")))
        if operator:
            from ..methods.registry import list_methods

            options = "".join(f"<option>{_e(m.name)}</option>" for m in list_methods())
            parts.append(f'<form method="post" action="/studies/{study_id}/run">Run method <select name="method">'
                         f'{options}</select> <button>Queue</button></form>')
        parts.append(_comparison_section(store, study_id, previews))
        for r in d["results"]:
            parts.append(_result_section(store, r, previews))
        return layout(f"Study {study_id}", "".join(parts), user)

    @app.post("/studies/{study_id}/run")
    def run_submit(request: Request, study_id: int, method: str = Form(...)) -> RedirectResponse:
        user = page_user(request, "operator")
        app.state.queue_method(request, user, study_id, method)
        return RedirectResponse(f"/studies/{study_id}", status_code=303)

    @app.post("/jobs/{job_id}/cancel")
    def cancel_submit(request: Request, job_id: int, study_id: int = Form(...)) -> RedirectResponse:
        user = page_user(request, "operator")
        status = app.state.settings.queue.cancel(job_id)
        store.audit(user.username, "cancel_job", "job", job_id, str(status))
        return RedirectResponse(f"/studies/{study_id}", status_code=303)

    @app.get("/upload", response_class=HTMLResponse)
    def upload_page(request: Request) -> HTMLResponse:
        user = page_user(request, "operator")
        return layout("Upload", """<form method="post" action="/upload" enctype="multipart/form-data">
<p><input type="file" name="files" multiple required></p>
<p><label>Patient ID (optional; DICOM files carry their own) <input name="patient_id" size="20"></label></p>
<p><label>Methods (optional, comma-separated; empty = routing rules)
<input name="methods" size="40"></label></p><p><button>Upload</button></p></form>
<p class="muted">Images (PNG, JPEG, TIFF), DICOM files or a zipped DICOM series, MRC volumes,
whole-slide images.</p>""",
                      user)

    @app.post("/upload")
    def upload_submit(request: Request, files: list[UploadFile], methods: str = Form(""),
                      patient_id: str = Form("")) -> Any:
        user = page_user(request, "operator")
        chosen = [m.strip() for m in methods.split(",") if m.strip()] or None
        report = app.state.do_upload(request, user, files, chosen, patient_id.strip())
        if len(report["studies"]) == 1:
            return RedirectResponse(f"/studies/{report['studies'][0]}", status_code=303)
        rows = [{"study": f'<a href="/studies/{s}">{s}</a>'} for s in report["studies"]]
        skipped = [{"file": _e(k), "reason": _e(v)} for k, v in report["skipped"].items()]
        return layout("Uploaded", table(rows, raw=("study",)) + "<h2>Skipped</h2>" +
                      table(skipped, raw=("file", "reason")), user)


CT_WINDOWS = (("soft tissue", 40, 400), ("lung", -600, 1500), ("bone", 400, 1800), ("brain", 40, 80))


def _window_form(f: dict[str, Any]) -> str:
    """A form that opens the file rendered with a window (centre/width) and slice; CT presets as links."""
    url = _e(f["url"] + "/render")
    presets = ""
    if f["kind"] == "dicom/CT":
        presets = " ".join(f'<a href="{url}?center={c}&amp;width={w}" target="_blank">{_e(name)} {c}/{w}</a>'
                           for name, c, w in CT_WINDOWS)
    return (f'<form method="get" action="{url}" target="_blank">{_e(f["name"])}: centre <input name="center" '
            f'size="6" required> width <input name="width" size="6" required> slice <input name="slice" size="4"> '
            f'<button>Render</button> {presets}</form>')


def _result_section(store: Any, r: dict[str, Any], previews: list[dict[str, Any]]) -> str:
    from ..workflow.reading import headline

    parts = [f'<h2>Result {r["id"]}: {_e(r["method"])} <span class="muted">priority {r["priority"]:.0f}</span></h2>']
    lead = headline(r["method"], r["metrics"] or {}, limit=6)
    if lead:
        parts.append(f'<p class="headline"><b>{_e(lead)}</b></p>')
    pngs = [n for n in r["files"] if n.lower().endswith(".png")]
    base = previews[0]["preview_url"] if previews else None
    figures = []
    for name in pngs[:24]:
        url = _e(r["file_urls"][name])
        if base:
            figures.append(f'<figure><div class=stack><img src="{_e(base)}" alt="image"><img class=ov src="{url}" '
                           f'alt="{_e(name)}"></div><figcaption>{_e(name)} over the image</figcaption></figure>')
        figures.append(f'<figure><a href="{url}"><img class=plain src="{url}" alt="{_e(name)}"></a>'
                       f'<figcaption>{_e(name)}</figcaption></figure>')
    if figures:
        parts.append("<div class=grid>" + "".join(figures) + "</div>")
    parts.append("<h3>Measurements</h3>" + table(flatten(r["metrics"])))
    prefix = None
    for name in [n for n in r["files"] if n.lower().endswith(".csv")][:5]:
        from sqlalchemy import select

        from ..workflow.models import Result

        if prefix is None:
            with store.session() as s:
                prefix = s.scalar(select(Result.output_dir).where(Result.id == r["id"]))
        try:
            with open(store.storage.resolve(f"{prefix}/{name}"), newline="", encoding="utf-8") as fh:
                rows = [row for _, row in zip(range(50), csv.DictReader(fh))]
            parts.append(f"<h3>{_e(name)}</h3>" + table(rows))
        except (OSError, ValueError, csv.Error):
            continue
    links = " ".join(f'<a href="{_e(u)}">{_e(n)}</a>' for n, u in r["file_urls"].items())
    links += (f' <a href="/api/results/{r["id"]}/sr.dcm">DICOM SR</a>'
              f' <a href="/api/results/{r["id"]}/seg.dcm">DICOM SEG</a> (DICOM studies; SEG when the result has masks)')

    parts.append(f'<p class="muted">Files: {links}</p>')
    parts.append(_correction_link(r))
    return "".join(parts)


def _correction_link(r: dict[str, Any]) -> str:
    """A link to the correction page when the result's method has correctable annotations."""
    from ..errors import MethodNotFoundError
    from ..methods.registry import get_method

    try:
        kind = get_method(r["method"]).annotation_kind
    except MethodNotFoundError:
        return ""
    return f'<p><a href="/results/{r["id"]}/correct">Correct the {_e(kind)}</a> (saved for retraining)</p>' if kind else ""


def _comparison_section(store: Any, study_id: int, previews: list[dict[str, Any]]) -> str:
    from ..workflow.priors import compare_with_prior
    from .deps import study_detail

    comparisons = compare_with_prior(store, study_id)
    if not comparisons:
        return ""
    parts = ["<h2>Comparison with the prior study</h2>"]
    for c in comparisons:
        prior = study_detail(store, c["prior_study_id"])
        prior_previews = [f for f in prior["files"] if f["preview_url"]]
        pictures = "".join(
            f'<figure><img class=plain src="{_e(f["preview_url"])}" alt="{label}"><figcaption>{label}</figcaption>'
            f"</figure>" for label, f in (("current", previews[0] if previews else None),
                                          (f"prior (study {c['prior_study_id']})",
                                           prior_previews[0] if prior_previews else None)) if f)
        parts.append(f'<h3>{_e(c["method"])}: prior <a href="/studies/{c["prior_study_id"]}">study '
                     f'{c["prior_study_id"]}</a></h3><div class=grid>{pictures}</div>')
        parts.append(table([{"measurement": ch["measurement"], "prior": ch["prior"], "current": ch["current"],
                             "change": ch["change"],
                             "change %": "" if ch["change_percent"] is None else f'{ch["change_percent"]:+.1f}'}
                            for ch in c["changes"][:200]]))
    return "".join(parts)
