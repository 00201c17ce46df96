"""OHIF Viewer (MIT), a third-party DICOMweb viewer, served beside the service and pointed at its ``/dicom-web``.

OHIF's prebuilt distribution comes from the npm package ``@ohif/app`` (its ``dist/`` folder;
``make ohif`` fetches it at build time into ``build/ohif/``, never at run time, never committed:
about 200 MB). The build assumes it is served at the root of its origin, so it gets its own port:
``biomedai serve --ohif build/ohif/dist --ohif-port 3000`` serves it there with an
``app-config.js`` whose DICOMweb data source is the service's ``/dicom-web``, and allows that origin
through CORS on the service (:func:`cors_origin`). OHIF sends the service's bearer token that it
is opened with (``/viewer?StudyInstanceUIDs=<uid>&token=<API token>``; OHIF drops it from the
address bar).

Example:
    >>> cfg = ohif_config("http://127.0.0.1:8000/dicom-web")
    >>> cfg.startswith("window.config = ") and '"qidoRoot": "http://127.0.0.1:8000/dicom-web"' in cfg
    True
"""
from __future__ import annotations

import functools
import http.server
import json
import logging
import threading
from pathlib import Path
from typing import ClassVar

from ..errors import ConfigError

log = logging.getLogger(__name__)

__all__ = ["OHIF_PACKAGE", "check_dist", "cors_origin", "ohif_config", "start_ohif_server"]

#: the npm package (and version) whose ``dist/`` is served; tested with this one
OHIF_PACKAGE = "@ohif/app@3.13.2"


def ohif_config(dicomweb_root: str) -> str:
    """OHIF's ``app-config.js`` with one DICOMweb data source at ``dicomweb_root`` (our QIDO/WADO-RS)."""
    source = {
        "friendlyName": "biomedai", "name": "biomedai",
        "wadoUriRoot": dicomweb_root, "qidoRoot": dicomweb_root, "wadoRoot": dicomweb_root,
        "qidoSupportsIncludeField": True, "supportsFuzzyMatching": True, "supportsWildcard": True,
        "imageRendering": "wadors", "thumbnailRendering": "wadors", "enableStudyLazyLoad": True,
        "staticWado": False, "singlepart": "bulkdata,video", "omitQuotationForMultipartRequest": True,
        "bulkDataURI": {"enabled": True, "relativeResolution": "studies"},
    }
    config = {
        "name": "biomedai", "routerBasename": "/", "extensions": [], "modes": [], "showStudyList": True,
        "maxNumberOfWebWorkers": 2, "showWarningMessageForCrossOrigin": False, "showCPUFallbackMessage": False,
        "showLoadingIndicator": True, "strictZSpacingForVolumeViewport": False,
        "investigationalUseDialog": {"option": "never"}, "defaultDataSourceName": "biomedai",
        "dataSources": [{"namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
                         "sourceName": "biomedai", "configuration": source}],
    }
    return "window.config = " + json.dumps(config) + ";\n"


def check_dist(dist: str | Path) -> Path:
    """``dist`` as a Path when it holds OHIF's built ``index.html``; ConfigError saying how to get it."""
    path = Path(dist)
    if not (path / "index.html").is_file() or not any(path.glob("app.bundle.*.js")):
        raise ConfigError(f"{path}: not an OHIF build (no index.html and app.bundle.*.js); fetch it with "
                          f"'make ohif' (npm pack {OHIF_PACKAGE}, its dist/ folder)")
    return path


def cors_origin(host: str, port: int) -> str:
    """The origin the OHIF server is reached at (what the service lets through CORS)."""
    return f"http://{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{port}"


class _OhifHandler(http.server.SimpleHTTPRequestHandler):
    """Static files of the OHIF build; ``/app-config.js`` generated; unknown paths get ``index.html`` (OHIF
    routes in the browser); cross-origin isolation headers as OHIF's own deployment files set them."""

    config_js = b""
    extensions_map: ClassVar[dict[str, str]] = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".js": "application/javascript",
                      ".mjs": "application/javascript", ".wasm": "application/wasm", ".json": "application/json"}

    def log_message(self, format: str, *args: object) -> None:
        log.debug("ohif: " + format, *args)

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if path == "/app-config.js":
            self.send_response(200)
            self.send_header("Content-Type", "application/javascript")
            self.send_header("Content-Length", str(len(self.config_js)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(self.config_js)
            return
        target = Path(self.directory) / path.lstrip("/")
        if ".." in Path(path).parts or not target.is_file():
            self.path = "/index.html"
        super().do_GET()

    def list_directory(self, path: str | Path) -> None:  # no folder listings
        self.send_error(404)


def start_ohif_server(dist: str | Path, host: str, port: int, dicomweb_root: str
                      ) -> http.server.ThreadingHTTPServer:
    """Serve the OHIF build ``dist`` on ``host:port`` (a daemon thread) with its data source at
    ``dicomweb_root``; returns the server (``shutdown()`` stops it)."""
    folder = check_dist(dist)
    handler = type("OhifHandler", (_OhifHandler,), {"config_js": ohif_config(dicomweb_root).encode()})
    server = http.server.ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(folder)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="ohif", daemon=True).start()
    log.info("OHIF viewer on http://%s:%s/ (data source %s)", host, server.server_address[1], dicomweb_root)
    return server
