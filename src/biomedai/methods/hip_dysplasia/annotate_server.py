"""The clinician's annotation page (the paper's GUI, Fig. 4): a self-contained HTML+JS page served by a tiny
local HTTP server (Python standard library only, bound to 127.0.0.1).

The page loads a film, lets the user draw the contours and click the points per side, and shows the
angles and classes at once. The angles come from this server's ``/api/measure`` endpoint, which runs
the same :mod:`.geometry` code as the command line, so the page and the CLI cannot disagree. ``Save``
writes the annotation JSON (schema ``biomedai-hip-annotation/1``) to the output path.

Routes: ``GET /`` the page, ``GET /image.png`` the film as 8-bit PNG, ``GET /api/info`` film facts and any
existing annotation, ``POST /api/measure`` and ``POST /api/save`` with the annotation as JSON.
"""
from __future__ import annotations

import io
import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from biomedai.errors import BiomedaiError, InvalidInputError

from .annotation import HipAnnotation, load_annotation, spacing_of_image
from .measurement import measure_annotation, orientation_of, side_rows

logger = logging.getLogger(__name__)

PAGE = Path(__file__).with_name("annotate_page.html")
MAX_BODY = 8 * 1024 * 1024


class AnnotationSession:
    """What the server works on: one film, its output path, the method config and an optional normal model."""

    def __init__(self, image_path: str | Path, output_path: str | Path, config: Any,
                 annotation_path: str | Path | None = None, normal_model: Any = None) -> None:
        from biomedai.io import read_image
        from biomedai.viz import to_display

        self.image_path = Path(image_path)
        self.image = read_image(self.image_path)
        self.output_path = Path(output_path)
        self.config = config
        self.normal_model = normal_model
        picture = to_display(self.image)
        buffer = io.BytesIO()
        from PIL import Image as PILImage

        PILImage.fromarray(picture).save(buffer, format="PNG")
        self.png = buffer.getvalue()
        self.height, self.width = picture.shape[:2]
        self.spacing, _ = spacing_of_image(self.image)
        self.orientation = orientation_of(self.image_path)
        existing = annotation_path or (self.output_path if self.output_path.is_file() else None)
        self.annotation = None
        if existing is not None:
            self.annotation = load_annotation(existing, orientation=self.orientation).to_dict()

    def info(self) -> dict[str, Any]:
        return {"image": self.image_path.name, "width": self.width, "height": self.height,
                "spacing": list(self.spacing) if self.spacing else None, "annotation": self.annotation,
                "output": str(self.output_path), "model": self.normal_model is not None}

    def measure(self, data: dict[str, Any]) -> dict[str, Any]:
        measurement, ann, notes = measure_annotation(self._with_defaults(data), self.image, self.image_path,
                                                     self.config)
        rows = side_rows(self.image_path.name, measurement, self.normal_model, self.config)
        return {"ok": True, **measurement.to_dict(), "classes": {r["side"]: r for r in rows}, "notes": notes}

    def save(self, data: dict[str, Any]) -> dict[str, Any]:
        ann = HipAnnotation.from_dict(self._with_defaults(data), source="page", orientation=self.orientation)
        ann.image = self.image_path.name
        if ann.pixel_spacing is None and self.spacing is not None:
            ann.pixel_spacing = self.spacing
        path = ann.save(self.output_path)
        self.annotation = ann.to_dict()
        return {"ok": True, "path": str(path)}

    def _with_defaults(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise InvalidInputError("the page sent something that is not a JSON object")
        out = dict(data)
        out.setdefault("schema", "biomedai-hip-annotation/1")
        out.setdefault("sides", "patient")
        return out


def make_handler(session: AnnotationSession) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "biomedai-hip-annotate/1"

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet; use logging
            logger.debug("%s - %s", self.address_string(), fmt % args)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, obj: Any) -> None:
            from biomedai.utils import json_default

            self._send(status, json.dumps(obj, default=json_default).encode(), "application/json")

        def _host_ok(self) -> bool:
            """Refuse other Host names (DNS rebinding): only 127.0.0.1 and localhost on our port."""
            port = self.server.server_address[1]
            return self.headers.get("Host", "") in (f"127.0.0.1:{port}", f"localhost:{port}")

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0]
            if not self._host_ok():
                self._json(HTTPStatus.FORBIDDEN, {"ok": False, "error": "unexpected Host header"})
                return
            if path in ("/", "/index.html"):
                if not PAGE.is_file():
                    self._json(HTTPStatus.INTERNAL_SERVER_ERROR,
                               {"ok": False, "error": f"{PAGE.name} is missing from this installation"})
                    return
                self._send(HTTPStatus.OK, PAGE.read_bytes(), "text/html; charset=utf-8")
            elif path == "/image.png":
                self._send(HTTPStatus.OK, session.png, "image/png")
            elif path == "/api/info":
                self._json(HTTPStatus.OK, session.info())
            else:
                self._json(HTTPStatus.NOT_FOUND, {"ok": False, "error": f"no such page {path}"})

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if not (self._host_ok() and self._same_origin()):
                self._json(HTTPStatus.FORBIDDEN, {"ok": False, "error": "cross-origin requests are refused"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY:
                self._json(HTTPStatus.BAD_REQUEST, {"ok": False, "error": "missing or too large request body"})
                return
            try:
                data = json.loads(self.rfile.read(length))
            except json.JSONDecodeError as exc:
                self._json(HTTPStatus.BAD_REQUEST, {"ok": False, "error": f"not JSON: {exc}"})
                return
            action = {"/api/measure": session.measure, "/api/save": session.save}.get(path)
            if action is None:
                self._json(HTTPStatus.NOT_FOUND, {"ok": False, "error": f"no such endpoint {path}"})
                return
            try:
                self._json(HTTPStatus.OK, action(data))
            except BiomedaiError as exc:
                self._json(HTTPStatus.UNPROCESSABLE_ENTITY, {"ok": False, "error": str(exc)})
            except Exception as exc:  # noqa: BLE001 - report to the page, keep serving
                logger.exception("annotation server error")
                self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})

        def _same_origin(self) -> bool:
            origin = self.headers.get("Origin")
            if origin in (None, "null"):
                return True
            host = self.headers.get("Host", "")
            return origin in (f"http://{host}",)

    return Handler


class AnnotationServer:
    """Serve one :class:`AnnotationSession` on ``127.0.0.1:port`` (port 0 picks a free one).

    ``url = server.start()`` serves in a background thread until ``server.stop()``;
    :meth:`serve_forever` blocks (the command-line tool).
    """

    def __init__(self, session: AnnotationSession, port: int = 0) -> None:
        self.session = session
        self.httpd = ThreadingHTTPServer(("127.0.0.1", int(port)), make_handler(session))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> str:
        """Serve in a background thread; returns the page's URL."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="hip-annotate", daemon=True)
        self._thread.start()
        return self.url

    def serve_forever(self) -> None:
        try:
            self.httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.httpd.server_close()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
