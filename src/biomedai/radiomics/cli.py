"""The ``biomedai radiomics`` verb: one case, or a resumable batch over a CSV of cases.

    biomedai radiomics IMAGE MASK -p params.yaml -o features.csv
    biomedai radiomics --batch cases.csv --jobs 4 -o features.csv

The batch CSV has columns ``Image`` and ``Mask`` (PyRadiomics' batch layout; case-insensitive),
optionally ``ID``, ``Label`` and ``Label_channel``; relative paths are relative to the CSV's folder.
The output has one row per case: ``ID, Image, Mask, Label, error`` then every feature. A case that
fails gets its message in ``error`` and the others go on. Running again with the same output skips
the cases already there without error (resume after an interruption, retry the failed ones).
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import BiomedaiError, ConfigError, InvalidInputError

logger = logging.getLogger(__name__)

__all__ = ["add_parser", "run", "run_batch", "read_cases"]

_KEY_COLUMNS = ["ID", "Image", "Mask", "Label", "error"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``radiomics`` verb to an ``argparse`` sub-parser set."""
    p = subparsers.add_parser(
        "radiomics", help="extract PyRadiomics-compatible radiomic features (one case or a batch CSV)",
        description="Extract radiomic features with PyRadiomics' definitions and names. "
                    "Params files in PyRadiomics' YAML/JSON format work unchanged.")
    p.add_argument("image", nargs="?", help="image file (NRRD, NIfTI, MHA, DICOM folder, ...)")
    p.add_argument("mask", nargs="?", help="label map with the same geometry as the image")
    p.add_argument("-p", "--params", help="PyRadiomics params file (YAML or JSON); default: PyRadiomics defaults")
    p.add_argument("-o", "--output", help="output CSV (or .json for a single case); default: CSV on stdout")
    p.add_argument("--batch", metavar="CASES_CSV", help="CSV with Image and Mask columns (optional ID, Label)")
    p.add_argument("--jobs", type=int, default=1, help="parallel worker processes for --batch (default 1)")
    p.add_argument("--label", type=int, help="label value of the ROI (overrides the params file)")
    p.add_argument("--no-diagnostics", action="store_true", help="leave out the diagnostics_* columns")
    p.add_argument("--voxel-based", metavar="MAPS_DIR",
                   help="write one feature map per feature into MAPS_DIR (PyRadiomics' voxel-based extraction; "
                        "voxelSetting of the params file: kernelRadius, maskedKernel, initValue, voxelBatch)")
    p.add_argument("--kernel-radius", type=int, help="voxel-based: kernel radius (overrides the params file)")
    p.add_argument("--maps-format", default="nrrd", choices=["nrrd", "nii.gz", "nii", "mha"],
                   help="voxel-based: file format of the maps (default nrrd)")
    p.add_argument("--roi-box", action="store_true",
                   help="voxel-based: maps on the ROI's box grown by the kernel radius (PyRadiomics' layout) "
                        "instead of the image's grid")
    p.add_argument("--device", help="voxel-based: compute the GLCM maps with torch on this device (cuda, cpu)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Execute the verb; returns the exit code (0 ok, 1 some batch cases failed)."""
    from .params import RadiomicsParams

    params = RadiomicsParams.coerce(args.params) if args.params else RadiomicsParams()
    diagnostics = not getattr(args, "no_diagnostics", False)
    if args.batch:
        if args.image or args.mask:
            raise ConfigError("radiomics: give either IMAGE MASK or --batch CASES_CSV, not both")
        if getattr(args, "voxel_based", None):
            raise ConfigError("radiomics: --voxel-based works on one IMAGE MASK case, not with --batch")
        if not args.output:
            raise ConfigError("radiomics: --batch needs -o/--output (the file that makes the run resumable)")
        summary = run_batch(args.batch, args.output, params, jobs=args.jobs, label=args.label,
                            diagnostics=diagnostics)
        print(f"radiomics: {summary['done']} case(s) extracted, {summary['skipped']} already done, "
              f"{summary['failed']} failed -> {args.output}")
        return 1 if summary["failed"] else 0
    if not (args.image and args.mask):
        raise ConfigError("radiomics: give IMAGE and MASK, or --batch CASES_CSV")
    if getattr(args, "voxel_based", None):
        return _run_voxel_based(args, params)
    used = [o for o, v in (("--kernel-radius", getattr(args, "kernel_radius", None)),
                           ("--roi-box", getattr(args, "roi_box", False)),
                           ("--device", getattr(args, "device", None))) if v]
    if used:
        raise ConfigError(f"radiomics: {', '.join(used)} only apply with --voxel-based MAPS_DIR")
    from .extractor import extract

    features = extract(args.image, args.mask, params, label=args.label)
    if not diagnostics:
        features = {k: v for k, v in features.items() if not k.startswith("diagnostics_")}
    row = {"ID": Path(args.image).name, "Image": args.image, "Mask": args.mask,
           "Label": args.label if args.label is not None else params.settings.get("label", 1), "error": ""}
    row.update(features)
    if args.output and str(args.output).lower().endswith(".json"):
        from ..utils import write_json_atomic

        write_json_atomic(args.output, {k: _cell(v) if k.startswith("diagnostics_") else v for k, v in row.items()})
    elif args.output:
        _write_rows(Path(args.output), [row])
    else:
        writer = csv.writer(sys.stdout)
        writer.writerow(list(row))
        writer.writerow([_cell(v) for v in row.values()])
    if args.output:
        print(f"radiomics: {sum(not k.startswith('diagnostics_') for k in features)} features -> {args.output}")
    return 0


def _run_voxel_based(args: argparse.Namespace, params: Any) -> int:
    """Write every feature map of one case into ``args.voxel_based`` (plus ``diagnostics.json``)."""
    from ..io import write_image
    from ..utils import write_json_atomic
    from .extractor import extract

    if args.kernel_radius is not None:
        if args.kernel_radius < 1:
            raise ConfigError("radiomics: --kernel-radius must be a positive integer")
        params = params.with_settings(kernelRadius=args.kernel_radius)
    out_dir = Path(args.voxel_based)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = extract(args.image, args.mask, params, label=args.label, voxel_based=True,
                     full_grid=not args.roi_box, device=args.device)
    n = 0
    for name, value in result.items():
        if name.startswith("diagnostics_"):
            continue
        write_image(value, out_dir / f"{name}.{args.maps_format}")
        n += 1
    if not getattr(args, "no_diagnostics", False):
        write_json_atomic(out_dir / "diagnostics.json",
                          {k: _cell(v) for k, v in result.items() if k.startswith("diagnostics_")})
    print(f"radiomics: {n} feature maps -> {out_dir}")
    return 0


def read_cases(path: str | Path) -> list[dict[str, Any]]:
    """Cases of a batch CSV as dicts with ``ID, Image, Mask, Label, Label_channel`` (paths resolved)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError("batch CSV not found", path)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None:
            raise InvalidInputError("batch CSV is empty", path)
        cols = {name.strip().lower(): name for name in reader.fieldnames}
        for needed in ("image", "mask"):
            if needed not in cols:
                raise InvalidInputError(f"batch CSV has no {needed.capitalize()!r} column "
                                        f"(columns: {', '.join(reader.fieldnames)})", path)
        cases = []
        for n, raw in enumerate(reader, start=1):
            def get(key: str) -> str:
                return (raw.get(cols[key]) or "").strip() if key in cols else ""

            image, mask = get("image"), get("mask")
            if not image or not mask:
                raise InvalidInputError(f"row {n} has an empty Image or Mask cell", path)
            case_id = get("id") or get("case_id") or f"case{n:04d}"
            label = get("label")
            channel = get("label_channel")
            cases.append({"ID": case_id, "Image": image, "Mask": mask,
                          "Label": int(float(label)) if label else None,
                          "Label_channel": int(float(channel)) if channel else None,
                          "_image": _resolve(image, path.parent), "_mask": _resolve(mask, path.parent)})
    ids = [c["ID"] for c in cases]
    if len(set(ids)) != len(ids):
        raise InvalidInputError("batch CSV has duplicate case IDs", path)
    return cases


def _resolve(value: str, base: Path) -> str:
    p = Path(value)
    return str(p if p.is_absolute() else base / p)


def _extract_case(case: dict[str, Any], params: Any, label: int | None, diagnostics: bool,
                  threads: int | None = None) -> dict[str, Any]:
    """Worker: features of one case, or its error message (never raises)."""
    from .extractor import extract

    row = {k: case[k] for k in ("ID", "Image", "Mask")}
    lab = label if label is not None else case.get("Label")
    row["Label"] = lab if lab is not None else params.settings.get("label", 1)
    try:
        features = extract(case["_image"], case["_mask"], params, label=lab, label_channel=case.get("Label_channel"),
                           threads=threads)
        if not diagnostics:
            features = {k: v for k, v in features.items() if not k.startswith("diagnostics_")}
        row["error"] = ""
        row.update(features)
    except BiomedaiError as exc:
        row["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad case must not stop a batch
        row["error"] = f"unexpected {type(exc).__name__}: {exc}"
    return row


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _read_existing(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "ID" not in reader.fieldnames:
            raise InvalidInputError("exists but is not a radiomics output (no ID column); "
                                    "choose another -o or remove it", path)
        return list(reader)


def _write_rows(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    from ..utils import atomic_path

    rows = list(rows)
    columns = list(_KEY_COLUMNS)
    seen = set(columns)
    for row in rows:
        for key in row:
            if key not in seen and not key.startswith("_"):
                seen.add(key)
                columns.append(key)
    with atomic_path(path) as tmp:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_cell(row.get(c)) for c in columns])


def run_batch(cases_csv: str | Path, output: str | Path, params: Any, *, jobs: int = 1, label: int | None = None,
              diagnostics: bool = True, flush_every_s: float = 10.0) -> dict[str, int]:
    """Extract every case of ``cases_csv`` into ``output``, skipping cases already done there.

    Returns counts ``{"done", "skipped", "failed"}``. The output is rewritten atomically as cases
    finish (at most every ``flush_every_s`` seconds, and at the end), so an interrupted run resumes.
    """
    from ..utils import progress
    from .params import RadiomicsParams

    params = RadiomicsParams.coerce(params)
    output = Path(output)
    cases = read_cases(cases_csv)
    existing = _read_existing(output)
    done_ids = {r["ID"] for r in existing if not r.get("error")}
    rows: dict[str, dict[str, Any]] = {r["ID"]: r for r in existing}
    todo = [c for c in cases if c["ID"] not in done_ids]
    skipped = len(cases) - len(todo)
    if skipped:
        logger.info("%d case(s) already in %s; %d to do", skipped, output, len(todo))
    order = [c["ID"] for c in cases] + [i for i in rows if i not in {c["ID"] for c in cases}]
    failed = 0
    last = time.monotonic()

    def finish(row: dict[str, Any]) -> None:
        nonlocal failed, last
        rows[row["ID"]] = row
        if row["error"]:
            failed += 1
            logger.warning("case %s failed: %s", row["ID"], row["error"])
        if time.monotonic() - last > flush_every_s:
            _write_rows(output, [rows[i] for i in order if i in rows])
            last = time.monotonic()

    try:
        if jobs <= 1 or len(todo) <= 1:
            for case in progress(todo, desc="radiomics"):
                finish(_extract_case(case, params, label, diagnostics))
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            # spawn, not fork: a forked copy of a threaded process (torch, a server) can hang on a held lock
            with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = [pool.submit(_extract_case, case, params, label, diagnostics, 1) for case in todo]
                for fut in progress(as_completed(futures), desc="radiomics", total=len(futures)):
                    finish(fut.result())
    finally:
        if rows:
            _write_rows(output, [rows[i] for i in order if i in rows])
    return {"done": len(todo) - failed, "skipped": skipped, "failed": failed}
