"""``biomedai tool vessels_biosegment ...``:

- ``analyse IMAGE... -o OUT [--pixel-size-um P]``: predict with a pixel size given on the command line;
- ``measure MASK [--pixel-size-um P] [--fov-mask M] [--spur-length-px L]``: length density and AngioTool measures of a binary mask;
- ``import-mask MASK -o polylines.json``: trace a binary manual segmentation into the polyline JSON;
- ``boxes POLYLINES.json -o boxes.csv [--yolo labels.txt]``: the training boxes along the polylines;
- ``retrain --corrections DIR --data BASE --weights CURRENT -o NEW``: the correction loop's retraining, the
  detector fine-tuned on the base training images plus the corrected ones (the web page saves them in DIR);
- ``anova TABLE.csv --value length_density --factors method group [-o OUT]``: the paper's statistics, a
  two-way ANOVA with Holm-Sidak post hoc comparisons of the first factor within each level of the second.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .corrections import retrain_detector
from .imaging import read_fov_mask
from .measures import skeleton_measures
from .polylines import boxes_along, polylines_from_mask, read_polylines, write_polylines


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="BioSegment vessel tools (Strobel et al.).")
    sub = parser.add_subparsers(dest="tool", required=True)
    p = sub.add_parser("analyse", help="predict with an explicit pixel size (micrometres per pixel)")
    p.add_argument("inputs", nargs="+", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--pixel-size-um", type=float, default=None)
    p.add_argument("--weights", type=Path, default=None)
    p = sub.add_parser("measure", help="skeleton-graph measures of a binary vessel mask (2-D or a 3-D stack)")
    p.add_argument("mask", type=Path)
    p.add_argument("--pixel-size-um", type=float, default=None, help="in-plane pixel size")
    p.add_argument("--z-step-um", type=float, default=None, help="slice step of a 3-D mask")
    p.add_argument("--fov-mask", type=Path, default=None)
    p.add_argument("--spur-length-px", type=float, default=0.0,
                   help="prune terminal skeleton branches shorter than this (pixels) before measuring")
    p = sub.add_parser("import-mask", help="binary manual segmentation -> polyline annotation JSON")
    p.add_argument("mask", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--tolerance", type=float, default=0.5, help="Douglas-Peucker tolerance in pixels")
    p = sub.add_parser("boxes", help="square boxes along the polylines of an annotation JSON (CSV, YOLO text)")
    p.add_argument("polylines", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="CSV x0,y0,x1,y1")
    p.add_argument("--yolo", type=Path, default=None, help="also write darknet/YOLO labels (class cx cy w h, 0-1)")
    p.add_argument("--box-size", type=float, default=None)
    p.add_argument("--step", type=float, default=None)
    p = sub.add_parser("retrain", help="fine-tune the detector with corrected polylines (correction loop)")
    p.add_argument("--corrections", type=Path, required=True, help="folder with images/ and polylines/")
    p.add_argument("--data", type=Path, required=True, help="the base training data (e.g. DRIVE)")
    p.add_argument("--weights", type=Path, required=True, help="current model: a folder with model/ and detector/")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--minutes", type=float, default=10.0, help="training budget")
    p.add_argument("--epochs", type=int, default=10)
    p = sub.add_parser("anova", help="two-way ANOVA + Holm-Sidak post hoc on a CSV (e.g. per-image length "
                                     "density by method and group)")
    p.add_argument("table", type=Path, help="CSV with the value column and the two factor columns")
    p.add_argument("--value", default="length_density")
    p.add_argument("--factors", nargs=2, default=["method", "group"], metavar=("A", "B"))
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("-o", "--output", type=Path, default=None, help="folder for anova.csv and posthoc.csv")
    return parser


def _binary(path: Path) -> tuple[np.ndarray, Any]:
    from biomedai.io import read_image

    img = read_image(path)
    a = np.asarray(img.array)
    if img.channel_axis is not None:
        a = a.max(axis=-1)
    return a > 0, img


def run(method: Any, args: argparse.Namespace) -> int:
    from biomedai.utils import write_csv_atomic, write_text_atomic

    cfg = method.config
    if args.tool == "analyse":
        if args.pixel_size_um is not None:
            method.config = cfg.replace(pixel_size_um=args.pixel_size_um)
        result = method.predict(args.inputs, args.output, weights=args.weights)
        sys.stdout.write(json.dumps(result.metrics, indent=1, default=str) + "\n")
        return 0
    if args.tool == "measure":
        mask, _ = _binary(args.mask)
        spacing = None
        if args.pixel_size_um is not None:
            spacing = (args.z_step_um or args.pixel_size_um,) * (mask.ndim == 3) + (args.pixel_size_um,) * 2
        fov = read_fov_mask(args.fov_mask, mask.shape) if args.fov_mask else None
        out = skeleton_measures(mask, spacing=spacing, area_mask=fov, spur_length_px=args.spur_length_px)
        if spacing is None:
            out["note"] = "no pixel size: lengths in pixels"
        sys.stdout.write(json.dumps(out, indent=1) + "\n")
        return 0
    if args.tool == "import-mask":
        mask, _ = _binary(args.mask)
        lines = polylines_from_mask(mask, args.mask.name, tolerance=args.tolerance)
        write_polylines(lines, args.output)
        sys.stdout.write(f"{len(lines.polylines)} polylines, {lines.vessel_length_px():.1f} px -> {args.output}\n")
        return 0
    if args.tool == "anova":
        return _anova(args)
    if args.tool == "retrain":
        out = retrain_detector(args.data, args.corrections, args.weights, args.output, cfg, minutes=args.minutes,
                               epochs=args.epochs)
        sys.stdout.write(json.dumps(out, indent=1) + "\n")
        return 0
    lines = read_polylines(args.polylines)
    boxes = boxes_along(lines, args.box_size or cfg.box_size, args.step or cfg.box_step)
    write_csv_atomic(args.output, [dict(zip(("x0", "y0", "x1", "y1"), map(float, b))) for b in boxes])
    if args.yolo:
        h, w = lines.image_size
        text = "".join(f"0 {(b[0] + b[2]) / 2 / w:.6f} {(b[1] + b[3]) / 2 / h:.6f} {(b[2] - b[0]) / w:.6f} "
                       f"{(b[3] - b[1]) / h:.6f}\n" for b in boxes)
        write_text_atomic(args.yolo, text)
    sys.stdout.write(f"{len(boxes)} boxes -> {args.output}\n")
    return 0


def _anova(args: argparse.Namespace) -> int:
    """Two-way ANOVA and Holm-Sidak comparisons of factor A within each level of factor B."""
    from dataclasses import asdict

    import pandas as pd

    from biomedai.errors import InvalidInputError
    from biomedai.stats.anova import holm_sidak_pairwise, two_way_anova
    from biomedai.utils import write_csv_atomic

    try:
        table = pd.read_csv(args.table)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InvalidInputError(f"not a readable CSV ({exc})", args.table) from None
    missing = [c for c in (args.value, *args.factors) if c not in table.columns]
    if missing:
        raise InvalidInputError(f"no column(s) {', '.join(missing)} (columns: {', '.join(table.columns)})", args.table)
    a, b = args.factors
    values = pd.to_numeric(table[args.value], errors="coerce")
    rows = two_way_anova(values, table[a], table[b], names=(a, b))
    posthoc = holm_sidak_pairwise(values, table[a], table[b], alpha=args.alpha, names=(a, b))
    out = {"value": args.value, "anova": [asdict(r) for r in rows], "holm_sidak": [asdict(c) for c in posthoc],
           "alpha": args.alpha}
    if args.output is not None:
        write_csv_atomic(args.output / "anova.csv", out["anova"])
        write_csv_atomic(args.output / "posthoc.csv", out["holm_sidak"])
    sys.stdout.write(json.dumps(out, indent=1) + "\n")
    return 0
