"""Survival statistics on real published data: biomedai.stats / biomedai.metrics vs lifelines, same input, one run.

Data: lifelines' bundled Rossi recidivism (n = 432) and GBSG2 breast-cancer (n = 686) sets. Compares the Cox
coefficients (Rossi, 7 covariates), the log-rank statistic (Rossi by fin, GBSG2 by horTh), Kaplan-Meier at
fixed times and Harrell's C-index, and times each pair. R's published values on the same data (Fox & Weisberg
2018; Everitt & Hothorn, HSAUR) are printed beside them. Exit 1 if any value differs beyond 1e-8 (relative).

    .venv/bin/python benchmarks/speed/survival_stats.py
"""
from __future__ import annotations

import time

import numpy as np


def timed(fn, repeat: int = 3):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> int:
    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.datasets import load_gbsg2, load_rossi
    from lifelines.statistics import logrank_test
    from lifelines.utils import concordance_index as ll_cindex

    from biomedai.metrics import concordance_index
    from biomedai.stats import survival as sv

    rossi, gbsg = load_rossi(), load_gbsg2()
    cols = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
    bad = []

    def check(name, ours, peer, t_ours, t_peer, r_value=""):
        diff = float(np.max(np.abs(np.asarray(ours, float) - np.asarray(peer, float)) /
                            np.maximum(np.abs(np.asarray(peer, float)), 1e-12)))
        if diff > 1e-8:
            bad.append(name)
        print(f"{name}: ours {t_ours * 1e3:.1f} ms, peer {t_peer * 1e3:.1f} ms, ratio {t_peer / t_ours:.2f}; "
              f"max rel diff {diff:.1e}{'; R: ' + r_value if r_value else ''}")

    m, t1 = timed(lambda: sv.cox_regression(rossi.week, rossi.arrest, {c: rossi[c] for c in cols}))
    ref, t2 = timed(lambda: CoxPHFitter().fit(rossi, "week", "arrest"))
    check("Cox Rossi coefficients", m.coef, ref.params_[cols].to_numpy(), t1, t2,
          "fin -0.37942 ... prio 0.09150 (" + ", ".join(f"{c:.5f}" for c in m.coef) + ")")
    for name, (t, e, g), r in (("log-rank Rossi~fin", (rossi.week, rossi.arrest, rossi.fin), "Chisq 3.8, p 0.05"),
                               ("log-rank GBSG2~horTh", (gbsg.time, gbsg.cens, gbsg.horTh), "Chisq 8.6, p 0.00343")):
        a, t1 = timed(lambda: sv.log_rank_test(t, e, g))
        g_arr = np.asarray(g)
        lv = sorted(set(g_arr.tolist()), key=str)
        b, t2 = timed(lambda: logrank_test(t[g_arr == lv[0]], t[g_arr == lv[1]], e[g_arr == lv[0]], e[g_arr == lv[1]]))
        check(name, [a.statistic, a.p_value], [b.test_statistic, b.p_value], t1, t2,
              f"{r} (ours {a.statistic:.2f}, p {a.p_value:.5f})")
    times = [10, 30, 52]
    a, t1 = timed(lambda: sv.kaplan_meier(rossi.week, rossi.arrest).at(times))
    b, t2 = timed(lambda: KaplanMeierFitter().fit(rossi.week, rossi.arrest).predict(times).to_numpy())
    check("Kaplan-Meier Rossi", a, b, t1, t2)
    lp = m.linear_predictor(rossi[cols].to_numpy(float))
    rng = np.random.default_rng(0)
    big_t, big_p, big_e = rng.exponential(size=5000), rng.normal(size=5000), rng.random(5000) < 0.6
    for name, args in (("C-index Rossi model", (rossi.week.to_numpy(), -lp, rossi.arrest.to_numpy())),
                       ("C-index n=5000", (big_t, big_p, big_e))):
        a, t1 = timed(lambda: concordance_index(*args))
        b, t2 = timed(lambda: ll_cindex(*args))
        check(name, a, b, t1, t2, "Concordance 0.64" if "Rossi" in name else "")
    print("agreement:", "OK" if not bad else f"FAILED {bad}")
    return 0 if not bad else 1


if __name__ == "__main__":
    raise SystemExit(main())
