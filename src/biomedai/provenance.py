"""``result.json``: every predict/evaluate/train/demo output carries its provenance."""
from __future__ import annotations

import datetime as _dt
import platform
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .utils import sha256_path, write_json_atomic

RESULT_FILE = "result.json"


def git_revision(start: Path | None = None) -> str | None:
    """The git commit of the source tree biomedai runs from, or ``None`` when not in a checkout."""
    here = Path(start or Path(__file__).resolve().parent)
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment() -> dict[str, Any]:
    """Versions of Python, the platform and the key libraries that shaped a result."""
    import importlib.metadata as md

    versions = {}
    for name in ("numpy", "torch", "monai", "scikit-image", "SimpleITK", "pydicom"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": versions}


@dataclass
class RunRecorder:
    """Collects what a run did and writes ``result.json`` into ``output_dir``.

    Example:
        >>> import tempfile
        >>> rec = RunRecorder(Path(tempfile.mkdtemp()), method="demo", action="predict", seed=0)
        >>> with rec.timer("predict"):
        ...     pass
        >>> rec.metrics["n"] = 1
        >>> rec.write().name
        'result.json'
    """

    output_dir: Path
    method: str
    action: str
    seed: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    started: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)

    def add_inputs(self, paths: Iterable[str | Path]) -> None:
        """Record input files (or folders) with their SHA-256."""
        for path in paths:
            path = Path(path)
            self.inputs.append({"path": str(path), "sha256": sha256_path(path) if path.exists() else None})

    def add_file(self, path: str | Path) -> Path:
        """Record an output file (stored relative to the output folder)."""
        path = Path(path)
        try:
            rel = path.resolve().relative_to(self.output_dir.resolve())
        except ValueError:
            rel = path
        self.files.append(str(rel))
        return path

    def timer(self, name: str) -> _Timer:
        return _Timer(self, name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "action": self.action,
            "metrics": self.metrics,
            "files": sorted(set(self.files)),
            "notes": self.notes,
            "provenance": {
                "biomedai_version": __version__,
                "git_revision": git_revision(),
                "started": self.started,
                "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "seed": self.seed,
                "config": self.config,
                "inputs": self.inputs,
                "timings_s": {k: round(v, 4) for k, v in self.timings_s.items()},
                "environment": environment(),
            },
        }

    def write(self) -> Path:
        return write_json_atomic(self.output_dir / RESULT_FILE, self.to_dict())


class _Timer:
    def __init__(self, recorder: RunRecorder, name: str) -> None:
        self.recorder, self.name = recorder, name

    def __enter__(self) -> _Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.start
        self.recorder.timings_s[self.name] = self.recorder.timings_s.get(self.name, 0.0) + elapsed
