"""Run the workflow and web tests against a throwaway PostgreSQL cluster (Debian's packages).

(A CI helper, biomedai-bench: skip.)

    .venv/bin/python benchmarks/workflow/pg.py [pytest args...]

Needs ``initdb``/``pg_ctl`` (Debian: ``apt-get install postgresql``; they live in
``/usr/lib/postgresql/<v>/bin``) and a driver (``pip install pg8000``, BSD). Starts a cluster in a
temporary folder on a free loopback port (as the ``postgres`` user when run as root, since
PostgreSQL refuses to run as root), runs ``pytest tests/workflow tests/web`` with
``BIOMEDAI_TEST_DATABASE_URL=postgresql+pg8000://postgres@127.0.0.1:PORT/biomedai_test``, stops
the cluster and exits with pytest's code.
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def _tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)),
                                       None)
    if not found:
        sys.exit(f"{name} not found: install PostgreSQL (Debian: apt-get install postgresql)")
    return found


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on loopback; yields its SQLAlchemy URL (pg8000 driver)."""
    initdb, pg_ctl, postgres_user = _tool("initdb"), _tool("pg_ctl"), None
    prefix: list[str] = []
    if os.geteuid() == 0:
        postgres_user = "postgres"
        prefix = ["runuser", "-u", postgres_user, "--"]
    folder = Path(tempfile.mkdtemp(prefix="biomedai-pg-"))
    if postgres_user:
        shutil.chown(folder, postgres_user)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = folder / "data"
    subprocess.run(prefix + [initdb, "-D", str(data), "--auth=trust", "-U", "postgres"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(prefix + [pg_ctl, "-D", str(data), "-w", "-l", str(folder / "log"), "-o",
                             f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        import pg8000.native

        for _ in range(50):
            try:
                conn = pg8000.native.Connection("postgres", host="127.0.0.1", port=port)
                break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.2)
        conn.run("CREATE DATABASE biomedai_test")
        conn.close()
        yield f"postgresql+pg8000://postgres@127.0.0.1:{port}/biomedai_test"
    finally:
        subprocess.run(prefix + [pg_ctl, "-D", str(data), "-m", "fast", "stop"], stdout=subprocess.DEVNULL)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    with postgres_cluster() as url:
        env = {**os.environ, "BIOMEDAI_TEST_DATABASE_URL": url}
        return subprocess.run([sys.executable, "-m", "pytest", "tests/workflow", "tests/web", *sys.argv[1:]],
                              env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
