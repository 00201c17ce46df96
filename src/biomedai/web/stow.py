"""DICOMweb STOW-RS (store instances over HTTP): ``POST /dicomweb/studies``.

The body is ``multipart/related; type="application/dicom"``: one DICOM instance per part. It is
streamed to a temporary file (the body size limit applies), split at the boundary, and the parts
ingested together (source ``dicomweb``). The answer lists the stored and the refused instances
(a simplified PS3.18 store response in JSON).
"""
from __future__ import annotations

import mmap
import re
import tempfile
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from ..workflow.models import User


def split_multipart_related(path: Path, boundary: bytes, out_dir: Path) -> list[Path]:
    """Write each part's body of a multipart body in ``path`` to its own file in ``out_dir``."""
    parts: list[Path] = []
    delimiter = b"--" + boundary
    with open(path, "rb") as fh:
        if path.stat().st_size == 0:
            return parts
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as body:
            start = body.find(delimiter)
            while start != -1:
                after = start + len(delimiter)
                if body[after:after + 2] == b"--":
                    break  # the closing delimiter
                headers_end = body.find(b"\r\n\r\n", after)
                following = body.find(b"\r\n" + delimiter, after)
                if headers_end == -1 or following == -1 or headers_end > following:
                    break
                target = out_dir / f"part{len(parts):05d}.dcm"
                with open(target, "wb") as out:
                    out.write(body[headers_end + 4:following])
                parts.append(target)
                start = following + 2
    return parts


def add_stow(app: FastAPI) -> None:
    """``POST /dicomweb/studies`` (the service's first STOW-RS path; ``/dicom-web/studies`` is the same)."""
    app.add_api_route("/dicomweb/studies", stow_handler(app, standard=False), methods=["POST"])


def dicomweb_root(request: Request) -> str:
    """The absolute DICOMweb root (``.../dicom-web``) as the client reached it. A Host header without a
    port that names the server's own address (dicomweb-client sends that) gets the port it listens on."""
    base = request.base_url
    server = request.scope.get("server")
    if server and base.port is None and base.hostname == server[0] and server[1] not in (80, 443):
        base = base.replace(port=server[1])
    return str(base).rstrip("/") + "/dicom-web"


def _dicom_parts(parts: list[Path], study: str | None) -> tuple[list[Path], dict[str, tuple[Any, int, str]]]:
    """The parts that are DICOM instances (of ``study`` when given) and, for the others, why not:
    ``{part name: (header or None, failure reason code, text)}`` (PS3.18 Table 10.5.3-1)."""
    import pydicom

    good, bad = [], {}
    for part in parts:
        try:
            ds = pydicom.dcmread(part, stop_before_pixels=True)
            str(ds.SOPInstanceUID), str(ds.StudyInstanceUID)
        except Exception as exc:  # noqa: BLE001 - not a DICOM instance: refused, the others go on
            bad[part.name] = (None, 0xC000, f"not a DICOM instance ({type(exc).__name__})")
            continue
        if study is not None and str(ds.StudyInstanceUID) != study:
            bad[part.name] = (ds, 0xC409, f"StudyInstanceUID {ds.StudyInstanceUID} is not {study}")
            continue
        good.append(part)
    return good, bad


def store_response(request: Request, headers: dict[str, Any], refused: dict[str, tuple[Any, int, str]],
                   studies: set[str]) -> dict[str, Any]:
    """The PS3.18 store response (DICOM JSON): ReferencedSOPSequence, FailedSOPSequence, RetrieveURL."""
    from pydicom.dataset import Dataset

    base = dicomweb_root(request)
    answer = Dataset()
    if len(studies) == 1:
        answer.RetrieveURL = f"{base}/studies/{next(iter(studies))}"
    stored = []
    for ds in headers.values():
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
        item.RetrieveURL = f"{base}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/" \
                           f"{ds.SOPInstanceUID}"
        stored.append(item)
    failed = []
    for ds, code, _text in refused.values():
        item = Dataset()
        if ds is not None:
            item.ReferencedSOPClassUID = getattr(ds, "SOPClassUID", "")
            item.ReferencedSOPInstanceUID = getattr(ds, "SOPInstanceUID", "")
        item.FailureReason = code
        failed.append(item)
    if stored:
        answer.ReferencedSOPSequence = stored
    if failed:
        answer.FailedSOPSequence = failed
    return answer.to_json_dict()


def stow_handler(app: FastAPI, standard: bool = True) -> Any:
    """The STOW-RS endpoint of ``app``: store the parts, answer what was stored and refused.

    ``standard``: answer the PS3.18 store response (DICOM JSON) and refuse parts that are not DICOM
    instances (or not of the study in the path); otherwise the service's own JSON summary (the
    ``/dicomweb/studies`` path kept for its existing clients)."""
    from ..workflow.intake import ingest
    from .deps import audit, need

    store = app.state.settings.store

    async def stow(request: Request, user: User = Depends(need("operator"))) -> Any:
        import anyio

        content_type = request.headers.get("content-type", "")
        match = re.search(r'boundary="?([^";]+)"?', content_type)
        if not content_type.lower().startswith("multipart/related") or match is None:
            raise HTTPException(415, 'send multipart/related; type="application/dicom" with a boundary')
        boundary = match.group(1).encode()
        with tempfile.TemporaryDirectory(prefix="biomedai-stow-") as tmp:
            body = Path(tmp) / "body"
            with open(body, "wb") as fh:
                async for chunk in request.stream():
                    fh.write(chunk)
            parts = split_multipart_related(body, boundary, Path(tmp))
            if not parts:
                raise HTTPException(400, "no parts in the multipart body")
            refused_parts: dict[str, tuple[Any, int, str]] = {}
            if standard:
                parts, refused_parts = _dicom_parts(parts, request.path_params.get("study"))
            headers = {}
            if parts:
                import pydicom

                headers = {p.name: pydicom.dcmread(p, stop_before_pixels=True) for p in parts} if standard else {}
                report = await anyio.to_thread.run_sync(
                    lambda: ingest(store, [(p.name, p) for p in parts], router=app.state.settings.router,
                                   source="dicomweb", username=user.username))
            else:
                from ..workflow.intake import IngestReport

                report = IngestReport()
        n_parts = len(parts) + len(refused_parts)
        audit(request, user, "stow", "study", ",".join(map(str, report.studies)),
              f"{n_parts} part(s), {len(report.new_files)} new, jobs {report.jobs}")
        for name, reason in report.skipped.items():
            refused_parts[name] = (headers.pop(name, None), 0x0110, reason)
        status = 200 if not refused_parts else (202 if len(refused_parts) < n_parts else 409)
        if standard:
            answer = store_response(request, headers, refused_parts,
                                    {str(ds.StudyInstanceUID) for ds in headers.values()})
            return JSONResponse(answer, status_code=status, media_type="application/dicom+json")
        refused = [{"part": name, "reason": text} for name, (_, _, text) in refused_parts.items()]
        return JSONResponse({"studies": report.studies, "stored": n_parts - len(refused),
                             "new_files": report.new_files, "duplicates": len(report.duplicate_files),
                             "jobs": report.jobs, "refused": refused}, status_code=status,
                            media_type="application/dicom+json")

    return stow
