"""The preview renderer's child: nothing runs between fork and exec, and the child caps its own memory."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
from PIL import Image

from biomedai.errors import InvalidInputError
from biomedai.workflow import previews


def _png(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray((np.arange(64 * 64) % 255).reshape(64, 64).astype(np.uint8)).save(path)
    return path


def test_render_child_gets_no_preexec_fn_and_is_told_its_memory_cap(tmp_path, monkeypatch):
    seen = {}
    real_run = subprocess.run

    def spy(command, **kwargs):
        seen.update(kwargs, command=command)
        return real_run(command, **kwargs)

    monkeypatch.setattr(previews.subprocess, "run", spy)
    data = previews.render_in_child(_png(tmp_path))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert seen.get("preexec_fn") is None
    cap = seen["command"][seen["command"].index("--memory-limit") + 1]
    assert int(cap) == previews.CHILD_MEMORY_BYTES


def test_a_child_under_a_tiny_memory_cap_fails_with_one_clear_error(tmp_path, monkeypatch):
    pytest.importorskip("resource")
    monkeypatch.setattr(previews, "CHILD_MEMORY_BYTES", 64 * 1024 ** 2)   # too small to import numpy
    with pytest.raises(InvalidInputError):
        previews.render_in_child(_png(tmp_path))
