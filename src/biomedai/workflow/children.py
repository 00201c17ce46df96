"""What a service child runs between fork and exec: no import and no lock, only calls prepared beforehand.

A parent with threads (the web server, a worker with a heartbeat) forks while another thread may hold a lock,
such as the import lock; a ``preexec_fn`` that imports then hangs the child forever before it execs (seen in
CI with the preview renderer). So ``libc.prctl`` is looked up once, at import, in the parent.
"""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None


_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def signal_on_parent_death(sig: int = signal.SIGTERM, *, new_session: bool = False) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get ``sig`` when its parent dies (Linux; elsewhere only the session).

    Returns None where there is nothing to do (not POSIX), so ``Popen(preexec_fn=...)`` can take it as is.
    """
    if os.name != "posix":
        return None
    prctl = _PRCTL

    def preexec() -> None:
        if new_session:
            os.setsid()
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, sig)

    return preexec
