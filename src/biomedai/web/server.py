"""``biomedai serve``: the HTTP API, the web pages and the worker processes in one command.

    biomedai serve --data-dir biomedai-data --port 8000 --workers 2
    biomedai serve --database-url postgresql+psycopg://user:pw@host/db --data-dir /srv/biomedai

With nothing else installed it keeps a SQLite database and the storage folder in ``--data-dir``.
On first start, with no users yet, it creates the user ``admin`` with the password from
``BIOMEDAI_ADMIN_PASSWORD`` (or a random one written to ``<data-dir>/initial-admin-password.txt``,
readable by the owner only). Workers are separate processes (``python -m biomedai.workflow.worker``);
one that dies is restarted, and the job it held runs again once its lease runs out. To scale out,
start more workers here (``--workers``) or on other machines against the same database and
storage folder.
"""
from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..workflow.children import die_with_parent_env

log = logging.getLogger(__name__)


def ensure_admin(store: Any, password: str | None = None) -> str | None:
    """Create the first admin when there are no users; returns the password when one was made up."""
    if store.count_users():
        return None
    password = password or os.environ.get("BIOMEDAI_ADMIN_PASSWORD")
    made_up = password is None
    password = password or secrets.token_urlsafe(12)
    store.create_user("admin", password, "admin")
    if made_up:
        path = store.data_dir / "initial-admin-password.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        log.warning("created user 'admin'; its password is in %s", path)
        return password
    return None


class WorkerPool:
    """Worker processes that are restarted when they die, until :meth:`stop`.

    Workers get SIGTERM when the serving process dies, however it dies (uvicorn re-raises the
    signal that stopped it, so ``finally`` blocks do not always run): they hand their job back
    to the queue and exit instead of living on as orphans.
    """

    def __init__(self, n: int, data_dir: Path, database_url: str | None, imports: Sequence[str] = (),
                 lease_s: float = 30.0) -> None:
        self.command = [sys.executable, "-m", "biomedai.workflow.worker", "--data-dir", str(data_dir),
                        "--lease-s", str(lease_s)]
        if database_url:
            self.command += ["--database-url", database_url]
        for plugin in imports:
            self.command += ["--import", plugin]
        self.n, self.procs, self.stopping = n, [], threading.Event()
        self.thread = threading.Thread(target=self._supervise, daemon=True)

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.n)]
        self.thread.start()

    def _spawn(self) -> subprocess.Popen:
        # the worker asks for SIGTERM on our death itself, after exec (workflow/children.py)
        return subprocess.Popen(self.command, env=die_with_parent_env(signal.SIGTERM))

    def _supervise(self) -> None:
        while not self.stopping.wait(2.0):
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None and not self.stopping.is_set():
                    log.warning("worker %s exited with %s; starting a new one", proc.pid, proc.returncode)
                    self.procs[i] = self._spawn()

    def stop(self, grace_s: float = 10.0) -> None:
        self.stopping.set()
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # the worker hands its job back to the queue
        deadline = time.monotonic() + grace_s
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _watch_loop(store: Any, folder: Path, router: Any, stop: threading.Event) -> None:
    from ..workflow.intake import scan_folder

    folder.mkdir(parents=True, exist_ok=True)
    while not stop.wait(2.0):
        try:
            scan_folder(store, folder, router=router)
        except Exception as exc:  # noqa: BLE001 - one bad pass must not stop watching
            log.error("watched folder %s: %s", folder, exc)


def serve(host: str = "127.0.0.1", port: int = 8000, data_dir: str | Path = "biomedai-data",
          database_url: str | None = None, workers: int = 1, rules: str | Path | None = None,
          watch: str | Path | None = None, imports: Sequence[str] = (), max_upload_mb: float = 2048,
          token_ttl_h: float = 8.0, admin_password: str | None = None, seed_samples: bool = False,
          seed_data: str | Path | None = None,
          dicom_port: int | None = None, dicom_aet: str = "BIOMEDAI", dicom_allow: Sequence[str] | None = None,
          destinations: Sequence[str] = (), certfile: str | Path | None = None, keyfile: str | Path | None = None,
          https_proxy: bool = False, cors_origins: Sequence[str] = (), ohif: str | Path | None = None,
          ohif_port: int = 3000) -> None:
    """Run the service until interrupted: API + pages (uvicorn), ``workers`` worker processes,
    and optionally a watched folder. ``rules`` is a routing-rules YAML file (default: every method
    whose ``input_kinds`` fit); ``imports`` are extra plug-in modules / ``.py`` files with methods;
    ``seed_samples`` ingests a few bundled sample images (idempotent) before starting, and with
    ``seed_data`` (a folder laid out as ``../shared/data``) a few real studies from it;
    ``dicom_port`` starts a DICOM C-STORE receiver (AE title ``dicom_aet``; ``dicom_allow``
    limits the calling AE titles) on ``host``; ``destinations`` (``NAME=AET@host:port``) are the
    PACS that operators may send result SRs to. ``certfile``/``keyfile`` serve HTTPS directly;
    ``https_proxy`` says a reverse proxy terminates TLS in front of us. Either marks the login
    cookie Secure and sends HSTS. ``cors_origins`` lets pages of those origins (a viewer deployed
    elsewhere) call the API with a bearer token. ``ohif`` is an OHIF Viewer build (``make ohif``)
    served on ``ohif_port`` with the service's ``/dicom-web`` as its data source (its origin is
    allowed through CORS). Files and folders are created readable by the owner only."""
    try:
        import uvicorn
    except ImportError as exc:
        raise ConfigError("biomedai serve needs the 'serve' extra: pip install 'biomedai[serve]'") from exc
    from ..io.limits import set_default_limits
    from ..workflow.routing import Router
    from ..workflow.runjob import import_plugin
    from ..workflow.store import Store
    from .app import create_app

    set_default_limits(allow_external_data=False)  # detached headers never read outside their folder here
    if (certfile is None) != (keyfile is None):
        raise ConfigError("give both --certfile and --keyfile (or neither)")
    for name, value in (("--certfile", certfile), ("--keyfile", keyfile)):
        if value is not None and not Path(value).is_file():
            raise ConfigError(f"{name} {value}: no such file")
    if ohif is not None:  # before anything is created: a missing build is a one-line error
        from .ohif import check_dist

        check_dist(ohif)
    os.umask(0o077)  # patient data and password hashes: owner only (workers and their jobs inherit it)
    for plugin in imports:
        import_plugin(plugin)
    store = Store(data_dir, database_url)
    router = Router.from_yaml(rules) if rules else Router()
    ensure_admin(store, admin_password)
    from ..workflow.intake import remove_incomplete

    remove_incomplete(store)  # what uploads killed mid-way left behind
    if seed_samples:
        from ..workflow.intake import seed_samples as _seed

        report = _seed(store, router=router, data_dir=seed_data)
        log.info("seeded %d sample stud(ies), %d job(s) queued", len(report.studies), len(report.jobs))
    from ..workflow.export import parse_destination

    origins = list(cors_origins)
    if ohif is not None:
        from .ohif import cors_origin

        origins += [cors_origin(host, ohif_port)] + ([cors_origin("localhost", ohif_port)]
                                                     if host in ("127.0.0.1", "0.0.0.0", "") else [])
    app = create_app(store, router, max_upload_bytes=int(max_upload_mb * 1024 ** 2), token_ttl_s=token_ttl_h * 3600,
                     destinations=dict(parse_destination(d) for d in destinations),
                     tls=certfile is not None or https_proxy, cors_origins=origins)
    pool = WorkerPool(max(0, workers), store.data_dir, database_url, imports)
    stop = threading.Event()
    pool.start()
    if watch:
        threading.Thread(target=_watch_loop, args=(store, Path(watch), router, stop), daemon=True).start()
    receiver = None
    if dicom_port is not None:
        from ..workflow.dicom_receiver import DicomReceiver

        receiver = DicomReceiver(store, router, host=host, port=dicom_port, ae_title=dicom_aet,
                                 allowed_callers=dicom_allow)
        receiver.start()
    ohif_server = None
    if ohif is not None:
        from .ohif import start_ohif_server

        scheme, shown = "https" if certfile is not None else "http", "127.0.0.1" if host in ("", "0.0.0.0") else host
        ohif_server = start_ohif_server(ohif, host, ohif_port, f"{scheme}://{shown}:{port}/dicom-web")
    try:
        tls = {"ssl_certfile": str(certfile), "ssl_keyfile": str(keyfile)} if certfile is not None else {}
        uvicorn.run(app, host=host, port=port, log_level="info", **tls)
    finally:
        stop.set()
        if ohif_server is not None:
            ohif_server.shutdown()
        if receiver is not None:
            receiver.stop()
        pool.stop()
        store.close()


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``serve`` verb to an ``argparse`` sub-parser set."""
    p = subparsers.add_parser("serve", help="run the imaging workflow service (API, web pages, workers)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--data-dir", default="biomedai-data", help="database (SQLite) and storage folder")
    p.add_argument("--database-url", help="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--rules", help="routing rules YAML (default: every method whose input kinds fit)")
    p.add_argument("--watch", help="folder to ingest new files from")
    p.add_argument("--import", dest="imports", action="append", default=[],
                   help="module or .py file registering extra methods (repeatable)")
    p.add_argument("--max-upload-mb", type=float, default=2048)
    p.add_argument("--token-ttl-h", type=float, default=8.0, help="API token lifetime in hours")
    p.add_argument("--seed-samples", action="store_true", help="ingest a few bundled sample images first")
    p.add_argument("--seed-data", metavar="DIR",
                   help="with --seed-samples: also seed a few real studies (chest CT, FLAIR, H&E, panoramic) from a "
                        "folder laid out as ../shared/data (read there, stored in --data-dir)")
    p.add_argument("--dicom-port", type=int, help="start a DICOM C-STORE receiver on this port (e.g. 11112)")
    p.add_argument("--dicom-aet", default="BIOMEDAI", help="the receiver's AE title (default BIOMEDAI)")
    p.add_argument("--dicom-allow", help="comma-separated calling AE titles allowed to send (default: any)")
    p.add_argument("--send-to", dest="destinations", action="append", default=[], metavar="NAME=AET@HOST:PORT",
                   help="a PACS that result SRs may be sent to (repeatable)")
    p.add_argument("--cors-origin", dest="cors_origins", action="append", default=[], metavar="ORIGIN",
                   help="let pages of this origin (e.g. https://viewer.example.org) call the API and DICOMweb with "
                        "a bearer token (repeatable; default: none)")
    p.add_argument("--ohif", metavar="DIST", help="serve this OHIF Viewer build (make ohif: build/ohif/dist) on "
                                                  "--ohif-port, reading the service's /dicom-web")
    p.add_argument("--ohif-port", type=int, default=3000, help="port of the OHIF Viewer (default 3000)")
    p.add_argument("--certfile", help="TLS certificate (PEM): serve HTTPS, Secure cookies and HSTS")
    p.add_argument("--keyfile", help="the TLS certificate's private key (PEM)")
    p.add_argument("--https-proxy", action="store_true",
                   help="a reverse proxy terminates TLS in front of the service: Secure cookies and HSTS")
    p.add_argument("--migrate-only", action="store_true",
                   help="bring the database schema up to date (Alembic migrations) and exit")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if getattr(args, "migrate_only", False):
        from ..workflow.migrations import current_revision
        from ..workflow.store import Store

        store = Store(args.data_dir, args.database_url)  # opening the store migrates it to the newest schema
        try:
            print(f"workflow database at revision {current_revision(store.engine)}")
        finally:
            store.close()
        return 0
    serve(host=args.host, port=args.port, data_dir=args.data_dir, database_url=args.database_url,
          workers=args.workers, rules=args.rules, watch=args.watch, imports=args.imports,
          max_upload_mb=args.max_upload_mb, token_ttl_h=args.token_ttl_h, seed_samples=args.seed_samples,
          seed_data=args.seed_data,
          dicom_port=args.dicom_port, dicom_aet=args.dicom_aet,
          dicom_allow=[a for a in (args.dicom_allow or "").split(",") if a.strip()] or None,
          destinations=args.destinations, certfile=args.certfile, keyfile=args.keyfile,
          https_proxy=args.https_proxy, cors_origins=args.cors_origins, ohif=args.ohif, ohif_port=args.ohif_port)
    return 0
