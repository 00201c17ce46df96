"""Service children that die with their parent, with no Python run between fork and exec.

A ``preexec_fn`` makes :mod:`subprocess` run Python in the forked child, and every
``os.register_at_fork`` handler in parent and child. In a parent with many threads (the web
server, a test process that has loaded torch, Ray and a web server) one of them may hold a lock
at the fork that the child then waits on forever, before it ever execs. CI saw worker jobs and
preview renderers hang this way. So the parent asks only for what :mod:`subprocess` does in C
(``start_new_session``) and names itself in an environment variable; the child, first thing after
exec, asks Linux for a signal when that parent dies (``PR_SET_PDEATHSIG``) and leaves at once if
the parent is already gone.
"""
from __future__ import annotations

import logging
import os
import signal
import sys

log = logging.getLogger(__name__)

PARENT_ENV = "BIOMEDAI_DIE_WITH_PARENT"  # "<parent pid>:<signal number>"
_PR_SET_PDEATHSIG = 1


def die_with_parent_env(sig: int = signal.SIGTERM, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child that should get ``sig`` when this process (or thread) ends."""
    env = dict(os.environ if env is None else env)
    env[PARENT_ENV] = f"{os.getpid()}:{int(sig)}"
    return env


def _set_parent_death_signal(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent() -> None:
    """Call first in a child's ``main``: get the signal its parent asked for when that parent dies.

    Does nothing unless the parent set :data:`PARENT_ENV` (:func:`die_with_parent_env`); the
    variable is removed so that this process's own children do not take it for theirs. Where
    Linux's ``prctl`` is missing the child lives on, and the job lease still keeps a result from
    being stored twice.
    """
    value = os.environ.pop(PARENT_ENV, "")
    if not value:
        return
    try:
        parent, sig = (int(part) for part in value.split(":"))
    except ValueError:
        log.warning("ignoring %s=%r: not <pid>:<signal>", PARENT_ENV, value)
        return
    if not _set_parent_death_signal(sig):
        return
    if os.getppid() != parent:  # the parent died before we asked: the signal will never come
        os._exit(128 + sig)
