"""``biomedai batch``: one method's predict over many files, locally or on a Ray cluster; resumable.

    biomedai batch METHOD INPUTS... --output DIR [--jobs N] [--weights W] [-c cfg.yaml] [--set k=v]
    biomedai batch METHOD INPUTS... --output DIR --ray [ADDRESS]      # ADDRESS: auto, ray://head:10001

INPUTS are files, folders (every file below them, hidden ones left out), glob patterns
(``'slides/**/*.svs'``, quoted) or CSV lists (a ``.csv`` with a ``path``, ``input``, ``file`` or
``image`` column; relative paths are relative to the CSV). Each input is one task whose output
goes to ``DIR/<stem>-<8 hex of its absolute path>/`` (written into a temporary folder and renamed
when the method has finished, so a folder there is complete). Running again skips inputs whose
``result.json`` is complete; a file that fails is reported and the others go on. ``DIR/summary.csv``
lists every input with its status (done, skipped, failed), error, seconds, output folder and the
method's top-level numeric metrics. Exit code 0 when nothing failed, 1 otherwise.

Without ``--ray`` the tasks run in ``--jobs`` local processes (1: in this process). With ``--ray``
they run as Ray tasks (``ray.init(ADDRESS)``; a local Ray instance with ``--jobs`` CPUs when no
address is given); on a cluster ``DIR`` and the inputs must be on storage every node sees.
"""
from __future__ import annotations

import argparse
import csv
import glob
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BiomedaiError, ConfigError, InvalidInputError

log = logging.getLogger(__name__)

__all__ = ["add_parser", "run", "run_batch", "collect_inputs", "unit_name", "BatchSummary"]

SUMMARY_FILE = "summary.csv"
LIST_COLUMNS = ("path", "input", "file", "image")
_KEY_COLUMNS = ["input", "unit", "status", "error", "seconds", "output"]


# ----------------------------------------------------------------------------------------- inputs
def collect_inputs(specs: Iterable[str | Path]) -> list[Path]:
    """Expand files, folders, glob patterns and CSV lists into a sorted list of unique files.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp()); (d / "a.png").touch(); (d / "b.png").touch()
        >>> [p.name for p in collect_inputs([d / "*.png"])]
        ['a.png', 'b.png']
    """
    found: dict[str, Path] = {}
    for spec in specs:
        text = str(spec)
        path = Path(text)
        if path.is_dir():
            files = [p for p in path.rglob("*") if p.is_file()
                     and not any(part.startswith(".") for part in p.relative_to(path).parts)]
        elif path.is_file() and path.suffix.lower() == ".csv":
            files = _read_list(path)
        elif path.is_file():
            files = [path]
        elif any(c in text for c in "*?["):
            files = [Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file()]
            if not files:
                raise InvalidInputError("glob pattern matches no file", text)
        else:
            raise InvalidInputError("no such file, folder or glob pattern", text)
        for f in files:
            found.setdefault(str(f.resolve()), f.resolve())
    return [found[k] for k in sorted(found)]


def _read_list(path: Path) -> list[Path]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = {c.strip().lower(): c for c in reader.fieldnames or []}
        column = next((columns[c] for c in LIST_COLUMNS if c in columns), None)
        if column is None:
            raise InvalidInputError(f"CSV list has no {'/'.join(LIST_COLUMNS)} column "
                                    f"(columns: {', '.join(reader.fieldnames or [])})", path)
        out = []
        for n, row in enumerate(reader, start=2):
            value = (row.get(column) or "").strip()
            if not value:
                continue
            p = Path(value) if Path(value).is_absolute() else path.parent / value
            if not p.is_file():
                raise InvalidInputError(f"line {n}: {value!r} is not a file", path)
            out.append(p)
    if not out:
        raise InvalidInputError("CSV list names no file", path)
    return out


def unit_name(path: Path) -> str:
    """The output folder name of one input: its cleaned stem and 8 hex of its absolute path (stable).

    Example:
        >>> unit_name(Path("/data/case 01.png"))[:8]
        'case_01-'
    """
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).name.split(".")[0] or "input").strip("._")[:80] or "input"
    return f"{stem}-{hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:8]}"


def result_complete(folder: Path, method: str) -> bool:
    """Whether ``folder/result.json`` is a finished predict of ``method`` whose listed files exist."""
    try:
        data = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict) or data.get("method") != method or data.get("action", "predict") != "predict":
        return False
    files = data.get("files") or []
    return all((folder / f).exists() for f in files if isinstance(f, str) and not Path(f).is_absolute())


def _scalar_metrics(folder: Path, input_name: str, limit: int = 30) -> dict[str, Any]:
    """Numbers of result.json's metrics for the summary: top level as ``metric.a``, one level down as
    ``metric.a.b``, and a per-input dict (``{"a": {<input name>: 3}}``) as ``metric.a`` (one column,
    not one per input)."""
    try:
        metrics = json.loads((folder / "result.json").read_text(encoding="utf-8")).get("metrics") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    out: dict[str, Any] = {}
    for key, value in metrics.items() if isinstance(metrics, dict) else ():
        if isinstance(value, dict):
            mine = next((value[k] for k in (input_name, Path(input_name).stem) if k in value), None)
            items = [("", mine)] if mine is not None else list(value.items())
        else:
            items = [("", value)]
        for sub, v in items:
            if isinstance(v, (int, float)) and not isinstance(v, bool) and len(out) < limit:
                out[f"metric.{key}.{sub}" if sub else f"metric.{key}"] = v
    return out


# ----------------------------------------------------------------------------------------- one task
@dataclass(frozen=True)
class TaskSpec:
    """What every task needs besides its input (small and picklable: sent to each worker)."""

    method: str
    output: str
    config: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None
    imports: tuple[str, ...] = ()
    threads: int = 1


_IMPORTED: set[str] = set()


def run_one(spec: TaskSpec, input_path: str) -> dict[str, Any]:
    """Run the method on one input into its unit folder; a summary row (never raises)."""
    start = time.monotonic()
    unit = unit_name(Path(input_path))
    final = Path(spec.output) / unit
    row: dict[str, Any] = {"input": input_path, "unit": unit, "status": "failed", "error": "", "output": str(final)}
    tmp = Path(spec.output) / f".tmp-{unit}-{uuid.uuid4().hex[:8]}"
    try:
        _limit_threads(spec.threads)
        for plugin in spec.imports:
            _import_once(plugin)
        from ..methods.registry import get_method

        cls = get_method(spec.method)
        config = cls.config_class.from_dict(spec.config, source=f"{spec.method} config") if spec.config else None
        cls(config).predict([Path(input_path)], tmp, weights=Path(spec.weights) if spec.weights else None)
        if not (tmp / "result.json").is_file():
            raise InvalidInputError(f"method {spec.method!r} wrote no result.json", input_path)
        if final.exists():  # an incomplete folder from an older run: replace it
            shutil.rmtree(final)
        os.replace(tmp, final)
        row.update(status="done", **_scalar_metrics(final, Path(input_path).name))
    except BiomedaiError as exc:
        row["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop a batch of thousands
        row["error"] = f"{input_path}: unexpected {type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    row["seconds"] = round(time.monotonic() - start, 3)
    return row


def _import_once(plugin: str) -> None:
    """Import a plug-in module or ``.py`` file once per process (tasks of one worker share it)."""
    key = str(Path(plugin).resolve()) if plugin.endswith(".py") else plugin
    if key not in _IMPORTED:
        from .runjob import import_plugin

        import_plugin(key)
        _IMPORTED.add(key)


def _limit_threads(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


# ----------------------------------------------------------------------------------------- executors
def _local_results(spec: TaskSpec, inputs: Sequence[str], jobs: int) -> Iterator[dict[str, Any]]:
    if jobs <= 1:
        for path in inputs:
            yield run_one(spec, path)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn: a fresh interpreter per worker (no forked torch/thread state); plugins re-imported by path
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_one, spec, path): path for path in inputs}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as exc:  # noqa: BLE001 - the worker process died (e.g. out of memory)
                yield {"input": futures[future], "unit": unit_name(Path(futures[future])), "status": "failed",
                       "error": f"worker process failed: {type(exc).__name__}: {exc}"}


def _ray_results(spec: TaskSpec, inputs: Sequence[str], address: str | None, jobs: int
                 ) -> Iterator[dict[str, Any]]:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("--ray needs Ray: pip install 'biomedai[ray]' (or pip install ray)") from exc
    started = not ray.is_initialized()
    if started:
        kwargs: dict[str, Any] = {"ignore_reinit_error": True, "logging_level": logging.WARNING,
                                  "log_to_driver": False}
        if address:
            kwargs["address"] = address
        else:
            kwargs.update(num_cpus=max(1, jobs) * spec.threads, include_dashboard=False)  # --jobs tasks at once
        try:
            ray.init(**kwargs)
        except Exception as exc:  # noqa: BLE001 - an unreachable cluster is a configuration problem
            raise ConfigError(f"could not start or reach Ray{f' at {address}' if address else ''}: {exc}") from exc
    try:
        remote = ray.remote(num_cpus=spec.threads, max_retries=2)(run_one)
        spec_ref = ray.put(spec)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        window = max(4, 2 * cpus)  # bounded in-flight tasks: thousands of inputs, little driver memory
        pending: dict[Any, str] = {}
        queue = list(inputs)[::-1]
        while queue or pending:
            while queue and len(pending) < window:
                path = queue.pop()
                pending[remote.remote(spec_ref, path)] = path
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                path = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - the task's worker died even after retries
                    yield {"input": path, "unit": unit_name(Path(path)), "status": "failed",
                           "error": f"Ray task failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
    finally:
        if started:
            ray.shutdown()


# ----------------------------------------------------------------------------------------- batch
@dataclass
class BatchSummary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary_csv: Path | None = None


def run_batch(method: str, inputs: Iterable[str | Path], output: str | Path, *, config: dict[str, Any] | None = None,
              weights: str | Path | None = None, jobs: int = 1, ray_address: str | None = None,
              use_ray: bool = False, imports: Sequence[str] = (), threads: int = 1,
              flush_every_s: float = 10.0) -> BatchSummary:
    """Run ``method``'s predict on every input (one task each) into ``output``; see the module docstring."""
    from ..methods.registry import get_method
    from ..utils import progress, write_csv_atomic

    for plugin in imports:
        _import_once(plugin)
    cls = get_method(method)
    if config:
        config = cls.config_class.from_dict(config, source=f"{method} config").to_dict()  # fail before starting
    if weights is not None and not Path(weights).is_file():
        raise InvalidInputError("weights file not found", weights)
    files = collect_inputs(inputs)
    if not files:
        raise InvalidInputError("no input files found", ", ".join(map(str, inputs)))
    out = Path(output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    summary = BatchSummary(summary_csv=out / SUMMARY_FILE)
    todo = []
    for path in files:
        folder = out / unit_name(path)
        if result_complete(folder, cls.name):
            summary.skipped += 1
            summary.rows.append({"input": str(path), "unit": folder.name, "status": "skipped", "error": "",
                                 "output": str(folder), **_scalar_metrics(folder, path.name)})
        else:
            todo.append(str(path))
    log.info("batch %s: %d input(s), %d already done, %d to run (%s)", cls.name, len(files), summary.skipped,
             len(todo), f"Ray {ray_address or 'local'}" if use_ray else f"{max(1, jobs)} local process(es)")
    spec = TaskSpec(method=cls.name, output=str(out), config=dict(config or {}),
                    weights=str(Path(weights).resolve()) if weights else None,
                    imports=tuple(str(Path(p).resolve()) if p.endswith(".py") else p for p in imports), threads=threads)
    results = _ray_results(spec, todo, ray_address, jobs) if use_ray else _local_results(spec, todo, jobs)

    def flush() -> None:
        columns = list(_KEY_COLUMNS) + sorted({k for r in summary.rows for k in r} - set(_KEY_COLUMNS))
        write_csv_atomic(summary.summary_csv, sorted(summary.rows, key=lambda r: r["input"]), columns)

    last = time.monotonic()
    try:
        for row in progress(results, desc=f"batch {cls.name}", total=len(todo)):
            summary.rows.append(row)
            if row["status"] == "done":
                summary.done += 1
            else:
                summary.failed += 1
                log.warning("%s", row["error"])
            if time.monotonic() - last > flush_every_s:
                flush()
                last = time.monotonic()
    finally:
        flush()  # also after Ctrl-C: what finished is listed, and the next run skips it
    return summary


# ----------------------------------------------------------------------------------------- CLI
def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``batch`` verb to an ``argparse`` sub-parser set."""
    p = subparsers.add_parser("batch", help="run one method's predict over many files (local processes or Ray)",
                              description=__doc__.split("\n\n")[0],
                              epilog="Put --ray after the inputs, or write --ray=ADDRESS.")
    p.add_argument("method", help="method name (see 'biomedai list')")
    p.add_argument("inputs", nargs="+", help="files, folders, glob patterns (quoted) or CSV lists of paths")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder (re-run to resume)")
    p.add_argument("--weights", type=Path, default=None, help="local weights/checkpoint file")
    p.add_argument("--jobs", type=int, default=1,
                   help="tasks at once: local worker processes, or the size of a local Ray instance (default 1)")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run the tasks on Ray: a cluster ADDRESS (auto, ray://host:10001) or a local instance")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (and Ray CPUs) per task (default 1)")
    p.add_argument("--import", dest="imports", action="append", default=[],
                   help="module or .py file registering extra methods (repeatable)")
    p.add_argument("-c", "--config", type=Path, default=None, help="YAML/JSON config for the method")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key (repeatable)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Execute the verb; 0 when no input failed, 1 otherwise."""
    from ..config import parse_overrides
    from ..methods.registry import get_method

    if args.jobs < 1 or args.threads < 1:
        raise ConfigError("--jobs and --threads must be at least 1")
    for plugin in args.imports:
        _import_once(plugin)
    cls = get_method(args.method)
    config = cls.config_class.from_file(args.config) if args.config else cls.config_class()
    overrides = parse_overrides(args.overrides)
    if overrides:
        config = config.replace(**overrides)
    summary = run_batch(cls.name, args.inputs, args.output, config=config.to_dict(), weights=args.weights,
                        jobs=args.jobs, use_ray=args.ray is not None, ray_address=args.ray or None,
                        imports=args.imports, threads=args.threads)
    print(f"batch {cls.name}: {summary.done} done, {summary.skipped} already done, {summary.failed} failed "
          f"-> {summary.summary_csv}")
    return 1 if summary.failed else 0
