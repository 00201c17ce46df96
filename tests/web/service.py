"""Start ``biomedai.web.serve`` in a subprocess on a free loopback port (for the serve and browser tests)."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.processes import stop_process
from tests.workflow.conftest import WF_METHODS

ADMIN_PASSWORD = "admin-pass-123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_service(store, tmp_path: Path, rules_text: str, workers: int = 1) -> Iterator[str]:
    import httpx

    port = free_port()
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_text)
    code = ("import sys; from biomedai.web import serve; "
            f"serve(port={port}, data_dir=sys.argv[1], workers={workers}, rules=sys.argv[2], imports=[sys.argv[3]], "
            "database_url=sys.argv[4])")
    env = {**os.environ, "BIOMEDAI_ADMIN_PASSWORD": ADMIN_PASSWORD}
    proc = subprocess.Popen([sys.executable, "-c", code, str(store.data_dir), str(rules), WF_METHODS,
                             store.database_url], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-3000:]
            time.sleep(0.2)
        yield base
    finally:
        workers = _children(proc.pid)
        stop_process(proc, 20)
        deadline = time.monotonic() + 15  # its workers stop when it dies (PDEATHSIG); wait for that
        while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        leftover = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
        for pid in leftover:
            os.kill(pid, 9)
        assert not leftover, f"worker processes {leftover} outlived the service"


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
