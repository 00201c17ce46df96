"""Service children die with their parent, and no service code runs Python between fork and exec."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from biomedai.workflow.children import PARENT_ENV, die_with_parent, die_with_parent_env

SRC = Path(__file__).resolve().parents[2] / "src" / "biomedai"
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")


def _alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by init, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_no_preexec_fn_in_the_package():
    """A preexec_fn runs Python (and every at-fork handler) in the forked child: it hung CI twice."""
    offenders = [f"{p.relative_to(SRC)}:{i}" for p in SRC.rglob("*.py")
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if re.search(r"preexec_fn\s*=", line)]
    assert offenders == []


def test_env_names_this_process_and_the_child_takes_it_away(monkeypatch):
    env = die_with_parent_env(signal.SIGKILL, env={"A": "1"})
    assert env == {"A": "1", PARENT_ENV: f"{os.getpid()}:{int(signal.SIGKILL)}"}
    monkeypatch.setenv(PARENT_ENV, "not-a-pid")
    die_with_parent()  # a malformed value is ignored, with a warning
    assert PARENT_ENV not in os.environ
    die_with_parent()  # and no value is nothing to do


@linux_only
def test_child_whose_parent_is_already_gone_leaves_at_once():
    env = die_with_parent_env(signal.SIGTERM)
    env[PARENT_ENV] = f"{os.getpid() + 999_999}:{int(signal.SIGTERM)}"  # not the child's parent
    code = "from biomedai.workflow.children import die_with_parent; die_with_parent(); import time; time.sleep(30)"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], env=env, timeout=30, check=False)
    assert proc.returncode == 128 + signal.SIGTERM
    assert time.monotonic() - started < 20


@linux_only
def test_child_dies_when_its_parent_is_killed(tmp_path):
    """A parent started with the env var and start_new_session; SIGKILL to the parent ends the child too."""
    pid_file = tmp_path / "child.pid"
    parent_code = textwrap.dedent(f"""
        import signal, subprocess, sys, time
        from biomedai.workflow.children import die_with_parent_env
        child = ("from biomedai.workflow.children import die_with_parent; die_with_parent(); "
                 "import os, pathlib, time; pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid())); "
                 "time.sleep(60)")
        subprocess.Popen([sys.executable, "-c", child], start_new_session=True,
                         env=die_with_parent_env(signal.SIGKILL))
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_code])
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.1)
        child_pid = int(pid_file.read_text())
        assert _alive(child_pid)
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(child_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child_pid), "the child outlived its killed parent"
    finally:
        parent.kill()
