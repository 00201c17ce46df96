"""The method's demo and the simulated-cohort evaluation (shared with ``benchmarks/quality/hip_dysplasia/cohort.py``).

Everything here is simulated: no real hip radiographs are bundled with biomedai.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from biomedai.methods.base import RunResult

from .annotation import HipAnnotation
from .geometry import angles_from_landmarks
from .measurement import write_csv
from .normal_model import diagnose, fit_normal_model, rule_performance
from .report import decision_graph_png, model_png
from .synthetic import render_radiograph, simulate_cohort, synthetic_film

SIMULATED = "SIMULATED data (no real hip radiographs are bundled)"


def rule_table(model: Any, x: np.ndarray, truth: np.ndarray, config: Any) -> tuple[list[dict[str, Any]], list[dict]]:
    """Sensitivity/specificity of each rule for dysplastic (truth 1) against normal (truth 0) hips."""
    d = diagnose(model, x, q_normal=config.q_normal, q_borderline=config.q_borderline, t_star=config.t_star)
    rules = {
        "CE < 20 (knowledge, borderline = negative)": lambda r: r["knowledge_class"] == "dysplasia",
        "CE <= 25 (knowledge, borderline = positive)": lambda r: r["knowledge_class"] != "normal",
        "Kosuge (CE < 20 and Tönnis > 10)": lambda r: r["kosuge_class"] == "dysplasia",
        f"model: outside chi2_3({config.q_normal})": lambda r: r["model_class"] != "normal",
        "model: outside, on the dysplastic side": lambda r: r["model_class"] != "normal"
        and r["side_of_model"] == "dysplastic",
        f"model: long-axis index t > {config.t_star}": lambda r: r["long_axis_class"] == "dysplasia",
    }
    keep = truth < 2
    rows = []
    for name, rule in rules.items():
        pred = np.array([rule(r) for r in d])
        perf = rule_performance(truth[keep] == 1, pred[keep])
        rows.append({"rule": name, "sensitivity": perf["sensitivity"], "specificity": perf["specificity"],
                     "n_dysplastic": perf["n_positive"], "n_normal": perf["n_negative"],
                     "other_hips_flagged": int(pred[truth == 2].sum()), "n_other": int((truth == 2).sum())})
    return rows, d


def cohort_evaluation(config: Any, seed: int, n_normal: int = 240, n_dysplastic: int = 40,
                      n_outliers: int = 6) -> dict[str, Any]:
    """Simulate a cohort, fit the normal model, and score both rule families against the known groups."""
    x, truth = simulate_cohort(n_normal, n_dysplastic, n_outliers, seed=seed)
    model = fit_normal_model(x, dc_percentile=config.dc_percentile, kernel=config.kernel, n_sd=config.peak_n_sd,
                             noise_fraction=config.noise_fraction, standardise=config.standardise,
                             reweight_quantile=config.reweight_quantile)
    rows, diagnoses = rule_table(model, x, truth, config)
    return {"x": x, "truth": truth, "model": model, "rules": rows, "diagnoses": diagnoses}


def run_demo(method: Any, output_dir: Path) -> RunResult:
    from biomedai.provenance import RunRecorder
    from biomedai.utils import write_json_atomic
    from biomedai.viz import save_png

    cfg = method.config
    output_dir.mkdir(parents=True, exist_ok=True)
    rec = RunRecorder(output_dir, method.name, "demo", seed=cfg.seed, config=cfg.to_dict())
    rec.notes["data"] = SIMULATED
    # 1. one synthetic film, measured from its drawn contours exactly as a user's annotation would be
    with rec.timer("film"):
        targets = {"right": (31.0, 38.0, 6.0), "left": (14.0, 46.0, 17.0)}
        film = synthetic_film(targets, size=384, rotation_deg=4.0, seed=cfg.seed)
        picture = (render_radiograph(film, seed=cfg.seed) * 255).round().astype(np.uint8)
        film_png = save_png(picture, output_dir / "synthetic_film.png")
        ann = HipAnnotation(film.shapes, pixel_spacing=(0.2, 0.2), image=film_png.name)
        ann.save(output_dir / "synthetic_film.hip.json")
        predicted = method.predict([film_png], output_dir / "film")
        angles = predicted.metrics["films"][film_png.name]["angles"]
        rec.metrics["film_angles"] = {s: {k: round(angles[s][k], 2) for k in ("ce", "sharp", "tonnis")}
                                      for s in angles}

        truth = angles_from_landmarks(film.landmarks, (0.2, 0.2))
        rec.metrics["film_true_angles"] = {s: {k: round(truth[s][k], 2) for k in ("ce", "sharp", "tonnis")}
                                           for s in truth}
        for name in ("synthetic_film_overlay.png", "synthetic_film_report.html", "angles.csv"):
            rec.add_file(output_dir / "film" / name)
    # 2. a simulated cohort through density peaks, the normal model and both rule families
    with rec.timer("cohort"):
        cohort = cohort_evaluation(cfg, seed=cfg.seed)
        x, model = cohort["x"], cohort["model"]
        colours = ["#d62728" if r["knowledge_class"] == "dysplasia" else "#e6b800"
                   if r["knowledge_class"] == "borderline" else "#2ca02c" for r in cohort["diagnoses"]]
        rec.add_file(model_png(x, model, colours, output_dir / "normal_model_fig5.png", q=cfg.ellipsoid_q,
                               title=f"{SIMULATED}: colours = CE thresholds"))
        cl = model.clustering
        rec.add_file(decision_graph_png(np.array(cl["rho"]), np.array(cl["delta"]), cl["peaks"],
                                        np.array(cl["labels"]), cl["gamma_threshold"],
                                        output_dir / "decision_graph.png"))
        rec.add_file(model.save(output_dir / "normal_model.json"))
        table = [{"hip": i, "truth": ["normal", "dysplastic", "other"][t], **d}
                 for i, (t, d) in enumerate(zip(cohort["truth"], cohort["diagnoses"]))]
        rec.add_file(write_csv(table, output_dir / "cohort_diagnoses.csv"))
        rec.add_file(write_json_atomic(output_dir / "rules.json", cohort["rules"]))
    rec.metrics["cohort"] = {"data": SIMULATED, "n_hips": int(len(x)), "model_n": model.n,
                             "model_mean": model.mean.round(2).tolist(), "n_clusters": cl["n_clusters"],
                             "rules": cohort["rules"]}
    rec.write()
    return RunResult(output_dir, rec.metrics, [output_dir / f for f in rec.files])
