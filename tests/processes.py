"""Helpers for tests that start processes of their own."""
from __future__ import annotations

import subprocess


def stop_process(proc: subprocess.Popen, timeout: float) -> None:
    """Ask ``proc`` to terminate, wait up to ``timeout`` seconds, then kill it and reap it."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
