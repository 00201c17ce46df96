"""The public layers' docstrings follow the numpy convention, checked by ruff's pydocstyle rules (``make lint``).

Every public module, class, function and method of ``io``, ``data``, ``metrics``, ``radiomics``, ``stats`` and
``train`` has a docstring with a one-line summary; their examples run as tests through ``--doctest-modules``.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["io", "data", "metrics", "radiomics", "stats", "train"]
#: pydocstyle rules left out: D401 (summary mood; ours are often noun phrases), D105 (magic methods)
RUFF_ARGS = ["check", "--select", "D", "--ignore", "D401,D105", "--output-format", "concise"]


def _ruff() -> list[str]:
    try:
        import ruff  # noqa: F401 - the PyPI wheel ships the binary and a module that finds it
        from ruff.__main__ import find_ruff_bin

        return [find_ruff_bin()]
    except ImportError:
        found = shutil.which("ruff")
        if found is None:
            pytest.skip("ruff is not installed (pip install -e '.[test]')")
        return [found]


def test_public_layers_have_numpy_style_docstrings() -> None:
    paths = [str(ROOT / "src" / "biomedai" / layer) for layer in LAYERS]
    proc = subprocess.run(_ruff() + RUFF_ARGS + paths, capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 0, f"docstring problems (fix them or run `make lint`):\n{proc.stdout}{proc.stderr}"


def test_the_linter_finds_a_missing_docstring(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('"""A module."""\n\n\ndef public(x):\n    return x\n', encoding="utf-8")
    proc = subprocess.run(_ruff() + RUFF_ARGS + ["--isolated", "--config", "lint.pydocstyle.convention='numpy'",
                                                 str(bad)], capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "D103" in proc.stdout, proc.stdout + proc.stderr
