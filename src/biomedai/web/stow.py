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
    from ..workflow.intake import ingest
    from .deps import audit, need

    store = app.state.settings.store

    @app.post("/dicomweb/studies")
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
            report = await anyio.to_thread.run_sync(
                lambda: ingest(store, [(p.name, p) for p in parts], router=app.state.settings.router,
                               source="dicomweb", username=user.username))
        audit(request, user, "stow", "study", ",".join(map(str, report.studies)),
              f"{len(parts)} part(s), {len(report.new_files)} new, jobs {report.jobs}")
        refused = [{"part": name, "reason": reason} for name, reason in report.skipped.items()]
        status = 200 if not refused else (202 if len(refused) < len(parts) else 409)
        return JSONResponse({"studies": report.studies, "stored": len(parts) - len(refused),
                             "new_files": report.new_files, "duplicates": len(report.duplicate_files),
                             "jobs": report.jobs, "refused": refused}, status_code=status,
                            media_type="application/dicom+json")
