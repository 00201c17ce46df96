"""``biomedai tool hip_dysplasia ...``: measure, fit, diagnose, simulate, annotate."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from biomedai.errors import InvalidInputError

from .annotate_server import AnnotationServer, AnnotationSession
from .annotation import IMAGE_SUFFIXES, HipAnnotation, annotation_for
from .measurement import read_angles_csv, write_csv
from .normal_model import NormalHipModel, diagnose, fit_normal_model
from .report import decision_graph_png, model_png
from .synthetic import random_targets, render_radiograph, simulate_cohort, synthetic_film


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Hip dysplasia tools (Yang et al. 2020).")
    sub = parser.add_subparsers(dest="tool", required=True)

    p = sub.add_parser("measure", help="angles, landmarks and QC flags of films (image + annotation, or annotation)")
    p.add_argument("inputs", nargs="+", help="images with NAME.hip.json/NAME.json beside them, annotation files, "
                   "or folders of annotated films")
    p.add_argument("-o", "--output", default="hip_measure", help="output folder (default: hip_measure)")
    p.add_argument("--model", help="a normal-model JSON from 'fit', to add the data-driven diagnosis")
    p.add_argument("--weights", help="landmark-detector weights, for films without an annotation")
    p.add_argument("--unsigned", action="store_true", help="the paper's unsigned arccos angles")
    p.add_argument("--head-centre", choices=["three_point", "least_squares"], default=None)
    p.add_argument("--ce-reference", choices=["inter_head", "inter_teardrop"], default=None)
    p.add_argument("--json", action="store_true", help="print the angles as JSON")

    p = sub.add_parser("fit", help="density-peak clustering and the 3-D normal model from an angle table")
    p.add_argument("angles", help="CSV with columns ce, sharp, tonnis (e.g. angles.csv from measure)")
    p.add_argument("-o", "--output", default="hip_model", help="output folder (default: hip_model)")
    p.add_argument("--dc-percentile", type=float, default=None)
    p.add_argument("--kernel", choices=["gaussian", "cutoff"], default=None)
    p.add_argument("--n-sd", type=float, default=None, help="automatic peak threshold: mean + n_sd * sd of gamma")
    p.add_argument("--noise-fraction", type=float, default=None)
    p.add_argument("--plain", action="store_true", help="plain fit of the densest cluster (no robust refit)")

    p = sub.add_parser("diagnose", help="score hips against a normal model")
    p.add_argument("model", help="normal-model JSON from 'fit'")
    p.add_argument("angles", help="CSV with columns ce, sharp, tonnis")
    p.add_argument("-o", "--output", default="diagnosis.csv")
    p.add_argument("--q-normal", type=float, default=None)
    p.add_argument("--q-borderline", type=float, default=None)
    p.add_argument("--t-star", type=float, default=None)

    p = sub.add_parser("simulate", help="write simulated films with annotations, or a simulated angle cohort")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--films", type=int, default=4, help="number of synthetic films (PNG + .hip.json)")
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--cohort", action="store_true", help="also write cohort.csv (simulated angles with truth)")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("annotate", help="the annotation page: draw contours and points, see the angles, save JSON")
    p.add_argument("image", help="the film (DICOM, PNG, JPEG, ...)")
    p.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free port)")
    p.add_argument("--output", help="annotation JSON to write (default: IMAGE_STEM.hip.json beside the image)")
    p.add_argument("--annotation", help="an existing annotation to start from (ours, Labelme or GeoJSON)")
    p.add_argument("--model", help="a normal-model JSON, to show the data-driven class too")
    return parser


def run(method: Any, args: argparse.Namespace) -> int:
    return {"measure": _measure, "fit": _fit, "diagnose": _diagnose, "simulate": _simulate,
            "annotate": _annotate}[args.tool](method, args)


def _configured(method: Any, **changes: Any) -> Any:
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes:
        method.config = method.config.replace(**changes)
    return method


def _measure(method: Any, args: argparse.Namespace) -> int:
    _configured(method, head_centre=args.head_centre, ce_reference=args.ce_reference,
                signed=False if args.unsigned else None)
    result = method.predict(_expand_inputs(args.inputs), Path(args.output),
                            weights=Path(args.weights) if args.weights else None,
                            normal_model=Path(args.model) if args.model else None)
    films = result.metrics["films"]
    if args.json:
        out = {film: {side: {k: round(v, 4) for k, v in a.items() if k in ("ce", "sharp", "tonnis")}
                      for side, a in rec["angles"].items()} for film, rec in films.items()}
        print(json.dumps(out, indent=2))
    else:
        for film, rec in films.items():
            for side, a in rec["angles"].items():
                flags = ", ".join(rec["flags"][side]) or "-"
                print(f"{film} {side:5s} CE {a['ce']:7.2f}  Sharp {a['sharp']:6.2f}  Tönnis {a['tonnis']:6.2f}  "
                      f"flags: {flags}")
            for note in rec["notes"]:
                print(f"{film} note: {note}", file=sys.stderr)
        print(f"results in {result.output_dir}")
    return 0


def _expand_inputs(inputs: list[str]) -> list[Path]:
    """Files as given; a folder becomes its films that have an annotation beside them (batch mode)."""
    out: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            films = sorted(p for p in item.iterdir() if p.name.lower().endswith(IMAGE_SUFFIXES)
                           and annotation_for(p) is not None)
            if not films:
                raise InvalidInputError("no film with an annotation beside it (NAME.hip.json or NAME.json)", item)
            out += films
        else:
            out.append(item)
    return out


def _fit(method: Any, args: argparse.Namespace) -> int:
    import numpy as np

    from biomedai.provenance import RunRecorder

    cfg = _configured(method, dc_percentile=args.dc_percentile, kernel=args.kernel, peak_n_sd=args.n_sd,
                      noise_fraction=args.noise_fraction).config
    rows, x = read_angles_csv(args.angles)
    out = Path(args.output)
    rec = RunRecorder(out, method.name, "fit", seed=cfg.seed, config=cfg.to_dict())
    rec.add_inputs([args.angles])
    model = fit_normal_model(x, dc_percentile=cfg.dc_percentile, kernel=cfg.kernel, n_sd=cfg.peak_n_sd,
                             noise_fraction=cfg.noise_fraction, standardise=cfg.standardise,
                             reweight_quantile=None if args.plain else cfg.reweight_quantile)
    rec.add_file(model.save(out / "normal_model.json"))
    d = diagnose(model, x, q_normal=cfg.q_normal, q_borderline=cfg.q_borderline, t_star=cfg.t_star)
    colours = ["#2ca02c" if r["model_class"] == "normal" else "#e6b800" if r["model_class"] == "borderline"
               else "#d62728" for r in d]
    rec.add_file(model_png(x, model, colours, out / "normal_model_fig5.png", q=cfg.ellipsoid_q,
                           title="colours = the model's chi-square class"))
    cl = model.clustering
    rec.add_file(decision_graph_png(np.array(cl["rho"]), np.array(cl["delta"]), cl["peaks"], np.array(cl["labels"]),
                                    cl["gamma_threshold"], out / "decision_graph.png"))
    rec.add_file(write_csv([{**{k: v for k, v in r.items() if k not in ("ce", "sharp", "tonnis")}, **dd}
                            for r, dd in zip(rows, d)], out / "diagnosis.csv"))
    rec.metrics = {"n_hips": int(len(x)), "model_n": model.n, "n_clusters": cl["n_clusters"],
                   "mean": model.mean.tolist(), "eigenvalues": model.eigenvalues.tolist()}
    rec.write()
    print(f"normal model: n={model.n} of {len(x)} hips, {cl['n_clusters']} cluster(s), "
          f"mean CE/Sharp/Tönnis {np.round(model.mean, 2).tolist()}; results in {out}")
    return 0


def _diagnose(method: Any, args: argparse.Namespace) -> int:
    cfg = _configured(method, q_normal=args.q_normal, q_borderline=args.q_borderline, t_star=args.t_star).config
    model = NormalHipModel.load(args.model)
    rows, x = read_angles_csv(args.angles)
    d = diagnose(model, x, q_normal=cfg.q_normal, q_borderline=cfg.q_borderline, t_star=cfg.t_star)
    path = write_csv([{**{k: v for k, v in r.items() if k not in ("ce", "sharp", "tonnis")}, **dd}
                      for r, dd in zip(rows, d)], Path(args.output))
    counts: dict[str, int] = {}
    for r in d:
        counts[r["model_class"]] = counts.get(r["model_class"], 0) + 1
    print(f"{len(d)} hips: {counts}; written to {path}")
    return 0


def _simulate(method: Any, args: argparse.Namespace) -> int:
    import numpy as np

    from biomedai.viz import save_png

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    for i in range(args.films):
        film = synthetic_film(random_targets(rng), size=args.size, rotation_deg=float(rng.uniform(-8, 8)),
                              mirror=False, seed=args.seed * 1000 + i)
        picture = (render_radiograph(film, seed=args.seed * 1000 + i) * 255).round().astype(np.uint8)
        png = save_png(picture, out / f"synthetic_{i:03d}.png")
        HipAnnotation(film.shapes, image=png.name).save(out / f"synthetic_{i:03d}.hip.json")
    if args.cohort:
        x, truth = simulate_cohort(seed=args.seed)
        names = ["normal", "dysplastic", "other"]
        write_csv([{"hip": i, "truth": names[t], "ce": float(a[0]), "sharp": float(a[1]), "tonnis": float(a[2])}
                   for i, (a, t) in enumerate(zip(x, truth))], out / "cohort.csv")
    print(f"SIMULATED data written to {out} ({args.films} films{', cohort.csv' if args.cohort else ''})")
    return 0


def _annotate(method: Any, args: argparse.Namespace) -> int:
    image = Path(args.image)
    if not image.is_file():
        raise InvalidInputError("film not found", image)
    output = Path(args.output) if args.output else image.with_name(image.name.split(".")[0] + ".hip.json")
    model = NormalHipModel.load(args.model) if args.model else None
    session = AnnotationSession(image, output, method.config, annotation_path=args.annotation, normal_model=model)
    try:
        server = AnnotationServer(session, port=args.port)
    except OSError as exc:
        raise InvalidInputError(f"cannot listen on 127.0.0.1:{args.port} ({exc}); try --port 0") from exc
    print(f"annotation page for {image.name}: {server.url}  (saving to {output}; Ctrl-C to stop)", flush=True)
    server.serve_forever()
    return 0
