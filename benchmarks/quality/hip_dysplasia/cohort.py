"""Simulated cohorts through density-peak clustering, the normal-hip model and both rule families.

Normal adult hips are drawn from published reference ranges (CE 33 +- 5.5, Sharp 38 +- 3, Tönnis 5 +- 3.5
degrees, correlated), dysplastic hips around CE 12, Sharp 46, Tönnis 17, plus a few over-covered hips.
The truth is the group each hip was drawn from, so sensitivity and specificity measure how well each
rule recovers the simulation's groups: they say nothing about real patients. Also times density peaks
against the brute-force loop implementation on the same points (the results must agree).

    python benchmarks/quality/hip_dysplasia/cohort.py --seeds 10
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--n-normal", type=int, default=240)
    parser.add_argument("--n-dysplastic", type=int, default=40)
    parser.add_argument("--n-other", type=int, default=6)
    parser.add_argument("--n-sd", type=float, default=None, help="automatic peak threshold (default: the config's 2)")
    parser.add_argument("--json", help="write the summary here")
    args = parser.parse_args()

    from biomedai.methods.hip_dysplasia.config import HipDysplasiaConfig
    from biomedai.methods.hip_dysplasia.demo import cohort_evaluation

    cfg = HipDysplasiaConfig() if args.n_sd is None else HipDysplasiaConfig(peak_n_sd=args.n_sd)
    table: dict[str, dict[str, list[float]]] = {}
    clusters, model_n = [], []
    for seed in range(args.seeds):
        result = cohort_evaluation(cfg, seed, args.n_normal, args.n_dysplastic, args.n_other)
        clusters.append(result["model"].clustering["n_clusters"])
        model_n.append(result["model"].n)
        for row in result["rules"]:
            entry = table.setdefault(row["rule"], {"sensitivity": [], "specificity": [], "other_flagged": []})
            entry["sensitivity"].append(row["sensitivity"])
            entry["specificity"].append(row["specificity"])
            entry["other_flagged"].append(row["other_hips_flagged"] / max(row["n_other"], 1))
    n = args.n_normal + args.n_dysplastic + args.n_other
    print(f"SIMULATED cohorts: {args.seeds} seeds x {n} hips ({args.n_normal} normal, {args.n_dysplastic} "
          f"dysplastic, {args.n_other} over-covered); clusters found per seed {clusters}; "
          f"normal-model n mean {np.mean(model_n):.0f}; peak rule gamma > mean + {cfg.peak_n_sd} SD")
    print(f"{'rule':48s} {'sensitivity':>18s} {'specificity':>18s} {'other flagged':>14s}")
    summary = {}
    for rule, v in table.items():
        s, p, o = (np.array(v[k]) for k in ("sensitivity", "specificity", "other_flagged"))
        summary[rule] = {"sensitivity_mean": s.mean(), "sensitivity_sd": s.std(ddof=1) if len(s) > 1 else 0.0,
                         "specificity_mean": p.mean(), "specificity_sd": p.std(ddof=1) if len(p) > 1 else 0.0,
                         "other_flagged_mean": o.mean()}
        print(f"{rule:48s} {s.mean():8.3f} +- {summary[rule]['sensitivity_sd']:.3f}  "
              f"{p.mean():8.3f} +- {summary[rule]['specificity_sd']:.3f} {o.mean():14.2f}")

    # density peaks: vectorised module against the plain-loop reference on the same points
    from biomedai.stats.density_peaks import density_peaks
    from biomedai.methods.hip_dysplasia.synthetic import simulate_cohort

    x, _ = simulate_cohort(seed=0)
    t0 = time.perf_counter()
    ours = density_peaks(x)
    t_ours = time.perf_counter() - t0
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from tests.stats.test_density_peaks import brute_force

    t0 = time.perf_counter()
    rho, delta, nn, labels = brute_force(x, ours.dc)
    t_peer = time.perf_counter() - t0
    agree = bool(np.allclose(rho, ours.rho) and np.allclose(delta, ours.delta) and (labels == ours.labels).all())
    print(f"density peaks on {len(x)} points: ours {t_ours:.3f} s, plain-loop reference {t_peer:.3f} s, "
          f"ratio {t_peer / t_ours:.0f}x; results agree: {agree}")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "clusters": clusters, "seeds": args.seeds,
                                               "density_peaks_seconds": {"ours": t_ours, "reference": t_peer},
                                               "agree": agree}, indent=2, default=float))


if __name__ == "__main__":
    main()
