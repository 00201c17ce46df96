"""``biomedai tool dbt_maskrcnn``: ``simulate`` a cohort, ``froc`` of a detections CSV, ``compare`` two systems by
the bootstrap AUFC test (spec 1.11 CLI)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.utils import read_csv_rows

from .cohort import write_cohort
from .config import DbtSimConfig
from .froc import (TABLE2_SENSITIVITIES, ViewDetections, aufc, bootstrap_aufc_difference, fps_at_sensitivities,
                   froc)
from .report import write_froc

BOX_KEYS = ("z0", "y0", "x0", "z1", "y1", "x1")


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="DBT mass detection tools (cohort simulator, FROC, AUFC test)")
    sub = p.add_subparsers(dest="tool", required=True)
    s = sub.add_parser("simulate", help="write a SIMULATED DBT cohort (volumes, masks, boxes.csv, clinical.csv)")
    s.add_argument("out")
    s.add_argument("--train", type=int, default=DbtSimConfig.n_train_breasts, help="training breasts")
    s.add_argument("--test", type=int, default=DbtSimConfig.n_test_breasts, help="test breasts")
    s.add_argument("--seed", type=int, default=0)
    f = sub.add_parser("froc", help="lesion- and breast-based FROC, FPs at 60-95%% sensitivity, AUFC (0-3 FPs)")
    f.add_argument("detections", help="detections.csv (view_id, breast_id, score, z0..x1 in voxels)")
    f.add_argument("truth", help="boxes.csv of the cohort (view_id, breast_id, z0..x1 in voxels)")
    f.add_argument("--out", help="folder for froc_<mode>.csv/.png")
    c = sub.add_parser("compare", help="bootstrap test of the breast-based AUFC difference of two detection files")
    c.add_argument("detections_a")
    c.add_argument("detections_b")
    c.add_argument("truth")
    c.add_argument("--boot", type=int, default=2000)
    c.add_argument("--seed", type=int, default=0)
    return p


def _rows(path: Path, needed: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise InvalidInputError("file not found", path)
    rows = read_csv_rows(path)
    if not rows and needed[0] == "view_id" and "score" not in needed:
        raise InvalidInputError("no rows", path)
    missing = [k for k in needed if rows and k not in rows[0]]
    if missing:
        raise InvalidInputError(f"missing columns {missing}", path)
    return rows


def read_views(detections: Path, truth: Path) -> list[ViewDetections]:
    """FROC inputs from a detections CSV and a truth boxes CSV (every truth view is scored, found or not)."""
    truth_rows = _rows(truth, ("view_id", "breast_id") + BOX_KEYS)
    det_rows = _rows(detections, ("view_id", "score") + BOX_KEYS)
    views: dict[str, dict[str, Any]] = {}
    for r in truth_rows:
        v = views.setdefault(r["view_id"], {"breast": r["breast_id"], "truth": [], "boxes": [], "scores": []})
        v["truth"].append([float(r[k]) for k in BOX_KEYS])
    for r in det_rows:
        if r["view_id"] not in views:
            raise InvalidInputError(f"view {r['view_id']!r} has detections but no truth row in {truth}", detections)
        views[r["view_id"]]["boxes"].append([float(r[k]) for k in BOX_KEYS])
        views[r["view_id"]]["scores"].append(float(r["score"]))
    return [ViewDetections(vid, v["breast"], np.array(v["truth"]), np.array(v["boxes"]).reshape(-1, 6),
                           np.array(v["scores"])) for vid, v in sorted(views.items())]


def run(method: Any, args: argparse.Namespace) -> int:
    if args.tool == "simulate":
        manifest = write_cohort(args.out, DbtSimConfig(n_train_breasts=args.train, n_test_breasts=args.test,
                                                       seed=args.seed))
        print(f"wrote a SIMULATED DBT cohort: {manifest['n_breasts']} breasts, {manifest['n_views']} views -> {args.out}")
    elif args.tool == "froc":
        views = read_views(Path(args.detections), Path(args.truth))
        for mode in ("lesion", "breast"):
            curve = froc(views, mode)
            fps = fps_at_sensitivities(curve, TABLE2_SENSITIVITIES)
            cells = ", ".join(f"{100 * s:.0f}%: {'n.r.' if np.isnan(f) else f'{f:.2f}'}" for s, f in zip(TABLE2_SENSITIVITIES, fps))
            print(f"{mode}-based: AUFC(0-3) {aufc(curve):.3f}; FPs at sensitivity {cells}")
        if args.out:
            for path in write_froc({Path(args.detections).stem: views}, args.out, Path(args.detections).name):
                print(f"wrote {path}")
    elif args.tool == "compare":
        a = read_views(Path(args.detections_a), Path(args.truth))
        b = read_views(Path(args.detections_b), Path(args.truth))
        cmp = bootstrap_aufc_difference(a, b, n_resamples=args.boot, seed=args.seed)
        print(f"breast-based AUFC(0-3): A {cmp.aufc_a:.3f}, B {cmp.aufc_b:.3f}, difference {cmp.difference:+.3f} "
              f"(95% CI {cmp.ci_low:+.3f} to {cmp.ci_high:+.3f}), bootstrap p = {cmp.p_value:.4f} "
              f"(B = {cmp.n_resamples}, {cmp.n_breasts} breasts resampled)")
    return 0


__all__ = ["build_parser", "run", "read_views"]
