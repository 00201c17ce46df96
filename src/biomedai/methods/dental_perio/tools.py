"""``biomedai tool dental_perio ...``: ``calibrate`` (number detections from a JSON file, with the step log)
and ``to-coco`` (FDI label maps of a data set -> COCO instances JSON)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from biomedai.errors import InvalidInputError

from .calibration import calibrate_numbering
from .data import UFBADataset, split_ids, write_coco_json


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Deetal-Perio tools (Li et al. 2021).")
    sub = parser.add_subparsers(dest="tool", required=True)
    p = sub.add_parser("calibrate", help="number binary detections from multi-class ones (spec 4.3), with the log")
    p.add_argument("detections", help='JSON: {"binary_boxes": [[x1,y1,x2,y2],...], "multi_boxes": [...], '
                   '"multi_labels": [FDI,...], "multi_scores": [...]}')
    p.add_argument("-o", "--output", help="write the result JSON here (default: print it)")
    p.add_argument("--display", choices=["standard", "mirrored"], default="standard")
    p.add_argument("--max-passes", type=int, default=32)
    p = sub.add_parser("to-coco", help="a data set's FDI label maps (labels/NAME.png) as COCO instances JSON")
    p.add_argument("data", help="folder with images/ and labels/")
    p.add_argument("-o", "--output", required=True, help="COCO JSON to write")
    p.add_argument("--part", choices=["all", "train", "test"], default="all", help="part of the fixed UFBA split")
    return parser


def _calibrate(args: argparse.Namespace) -> dict[str, Any]:
    path = Path(args.detections)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        binary, multi, labels = doc["binary_boxes"], doc.get("multi_boxes", []), doc.get("multi_labels", [])
    except FileNotFoundError:
        raise InvalidInputError("file not found", path) from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"not a detections JSON ({exc})", path) from None
    result = calibrate_numbering(binary, multi, labels, doc.get("multi_scores"), display=args.display,
                                 max_passes=args.max_passes)
    return result.to_dict()


def run(method: Any, args: argparse.Namespace) -> int:
    if args.tool == "calibrate":
        result = _calibrate(args)
        text = json.dumps(result, indent=1)
        if args.output:
            from biomedai.utils import write_text_atomic

            write_text_atomic(args.output, text + "\n")
        else:
            sys.stdout.write(text + "\n")
        return 0
    if args.tool == "to-coco":
        dataset = UFBADataset(args.data)
        ids = split_ids(dataset, args.part)
        loaded = [dataset.load(name) for name in ids]
        write_coco_json(args.output, [(dataset.image_path(n).name, img.shape) for n, (img, _) in zip(ids, loaded)],
                        [teeth for _, teeth in loaded], info={"description": f"{args.data} ({args.part})"})
        sys.stdout.write(f"{len(ids)} images -> {args.output}\n")
        return 0
    raise InvalidInputError(f"unknown tool {args.tool!r}")
