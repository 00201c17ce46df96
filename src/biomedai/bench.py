"""Runs the speed benchmarks in ``benchmarks/speed/``: each one times ours and the peer on the same input.

``benchmarks/`` is sorted by purpose (``speed/``, ``quality/<method>/``, ``device/``, ``results/``); only
``speed/`` holds what this runner runs, each script with defaults that need no argument.
A benchmark is any ``<name>.py`` in the folder (``bench_`` prefixes are dropped from the name; files
starting with ``_`` and files that say ``biomedai-bench: skip`` in their first lines are helpers, not
benchmarks). It prints lines such as ``<case>: ours X s, peer Y s, ratio Z`` (and whatever else it
likes); this runner only executes the scripts and collects those lines, so no number is produced
anywhere but in a script that measured it.
"""
from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InvalidInputError

log = logging.getLogger(__name__)

DEFAULT_FOLDER = Path("benchmarks") / "speed"
RATIO_LINE = re.compile(r"ours\s+(?P<ours>[\d.eE+-]+)\s*s,\s*peer\s+(?P<peer>[\d.eE+-]+)\s*s,\s*ratio\s+(?P<ratio>[\d.eE+-]+)")


@dataclass
class BenchResult:
    name: str
    returncode: int
    seconds: float
    ratio_lines: list[str] = field(default_factory=list)


def find_benchmarks(folder: Path, names: list[str] | None = None) -> list[Path]:
    """The benchmark scripts in ``folder``, filtered by ``names`` when given."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInputError("benchmark folder not found (run from the repository root or pass --dir)", folder)
    scripts = [s for s in sorted(folder.glob("*.py")) if not s.name.startswith("_") and not _is_helper(s)]
    if names:
        wanted = {n.removeprefix("bench_").removesuffix(".py") for n in names}
        missing = wanted - {s.stem.removeprefix("bench_") for s in scripts}
        if missing:
            raise InvalidInputError(f"no benchmark named {sorted(missing)[0]!r}", folder)
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in wanted]
    return scripts


def describe_benchmark(script: Path) -> str:
    """The first line of a benchmark script's docstring (what it compares), or ''."""
    import ast

    try:
        doc = ast.get_docstring(ast.parse(Path(script).read_text(encoding="utf-8"))) or ""
    except (SyntaxError, UnicodeDecodeError):
        return ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _is_helper(script: Path) -> bool:
    with open(script, encoding="utf-8", errors="replace") as handle:
        head = "".join(handle.readline() for _ in range(15))
    return "biomedai-bench: skip" in head


def run_benchmarks(scripts: list[Path], timeout: float = 1800) -> list[BenchResult]:
    """Run each script with this Python, echo its output, and print a closing summary table."""
    results = []
    for script in scripts:
        name = script.stem.removeprefix("bench_")
        log.info("benchmark %s", name)
        start = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=timeout,
                                  check=False)
            out, code = proc.stdout + proc.stderr, proc.returncode
        except subprocess.TimeoutExpired:
            out, code = f"timed out after {timeout} s", 124
        elapsed = time.perf_counter() - start
        sys.stdout.write(out)
        lines = [line.strip() for line in out.splitlines() if RATIO_LINE.search(line)]
        results.append(BenchResult(name, code, elapsed, lines))
    print("\nsummary")
    for r in results:
        status = "ok" if r.returncode == 0 else f"FAILED ({r.returncode})"
        print(f"  {r.name}: {status}, {r.seconds:.1f} s")
        for line in r.ratio_lines:
            print(f"    {line}")
    return results
