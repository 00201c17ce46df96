"""Figures (the paper's Fig. 1-4 analogues) and the HTML report of a radiomics-nomogram run."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.viz import pyplot, save_figure


def plot_lasso(cv: Any, chosen: float, path_png: Path, cv_png: Path) -> list[Path]:
    """Coefficient paths and the CV deviance curve against log(lambda) (Fig. 1A analogue)."""
    plt = pyplot()
    loglam = np.log(cv.path.lambdas)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(loglam, cv.path.coef, lw=0.8)
    ax.axvline(np.log(chosen), ls="--", color="k", lw=0.8)
    ax.set_xlabel("log(lambda)")
    ax.set_ylabel("coefficient")
    ax.set_title("LASSO-Cox coefficient paths")
    out = [save_figure(fig, path_png, dpi=150)]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(loglam, cv.cv_mean, yerr=cv.cv_se, fmt="o", ms=3, color="tab:red", ecolor="0.6", lw=0.8)
    ax.axvline(np.log(cv.lambda_min), ls="--", color="k", lw=0.8, label="lambda.min")
    ax.axvline(np.log(cv.lambda_1se), ls=":", color="k", lw=0.8, label="lambda.1se")
    top = ax.secondary_xaxis("top")
    top.set_xticks(loglam[:: max(1, loglam.size // 8)])
    top.set_xticklabels([str(k) for k in cv.path.n_nonzero()[:: max(1, loglam.size // 8)]])
    ax.set_xlabel("log(lambda)")
    ax.set_ylabel("partial-likelihood deviance (CV)")
    ax.legend(fontsize=8)
    out.append(save_figure(fig, cv_png, dpi=150))
    return out


def plot_roc(rocs: dict[str, Any], path: Path, title: str, marks: dict[str, tuple[float, float]] | None = None) -> Path:
    """Time-dependent ROC curves (Fig. 1B / Fig. 4 analogues)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    for label, roc in rocs.items():
        order = np.lexsort((roc.tpr, roc.fpr))
        ax.plot(np.r_[0, roc.fpr[order], 1], np.r_[0, roc.tpr[order], 1], lw=1.5, label=f"{label} (AUC {roc.auc:.3f})")
    for label, (fpr, tpr) in (marks or {}).items():
        ax.plot([fpr], [tpr], "ko", ms=5)
        ax.annotate(label, (fpr, tpr), textcoords="offset points", xytext=(6, -10), fontsize=8)
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return save_figure(fig, path, dpi=150)


def plot_km(curves: dict[str, Any], times: np.ndarray, at_risk: dict[str, list[int]], path: Path, title: str,
            annotation: str, time_unit: str) -> Path:
    """KM curves with 95% bands and a numbers-at-risk table (Fig. 2 analogue)."""
    plt = pyplot()
    fig, (ax, tab) = plt.subplots(2, 1, figsize=(6, 5), gridspec_kw={"height_ratios": [4, 1]}, sharex=True)
    colours = {"low risk": "tab:blue", "high risk": "tab:red"}
    for i, (label, km) in enumerate(curves.items()):
        c = colours.get(label, f"C{i}")
        ax.step(km.times, km.survival, where="post", color=c, label=label)
        ax.fill_between(km.times, km.low, km.high, step="post", color=c, alpha=0.15)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("disease-free survival")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    ax.text(0.98, 0.98, annotation, transform=ax.transAxes, ha="right", va="top", fontsize=8)
    for j, (label, counts) in enumerate(at_risk.items()):
        for t, n in zip(times, counts):
            tab.text(t, j, str(n), ha="center", va="center", fontsize=8, color=colours.get(label, "k"))
    tab.set_yticks(range(len(at_risk)))
    tab.set_yticklabels(list(at_risk), fontsize=8)
    tab.set_ylim(-0.6, len(at_risk) - 0.4)
    tab.set_xlabel(f"time ({time_unit})")
    tab.set_title("numbers at risk", fontsize=8)
    for side in ("top", "right"):
        tab.spines[side].set_visible(False)
    return save_figure(fig, path, dpi=150)


def plot_waterfall(score: np.ndarray, event: np.ndarray, cutoff: float, path: Path, title: str) -> Path:
    """Rad-score per patient, sorted, coloured by recurrence (Fig. 2 analogue)."""
    plt = pyplot()
    order = np.argsort(score)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(np.arange(score.size), score[order] - cutoff, bottom=cutoff, width=1.0,
           color=np.where(event[order] == 1, "tab:red", "tab:blue"))
    ax.axhline(cutoff, color="k", lw=0.8, ls="--")
    ax.set_xlabel("patients (sorted)")
    ax.set_ylabel("Rad-score")
    ax.set_title(f"{title} (red: recurrence, blue: none; dashed: cut-off)", fontsize=9)
    return save_figure(fig, path, dpi=150)


def plot_calibration(curves: dict[str, Any], path: Path, title: str) -> Path:
    """Predicted vs KM-observed survival per group, with 95% CIs and the diagonal (Fig. 3 analogue)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    for i, (label, cal) in enumerate(curves.items()):
        c = f"C{i}"
        yerr = np.vstack([cal.observed - cal.observed_low, cal.observed_high - cal.observed])
        ax.errorbar(cal.predicted, cal.observed, yerr=np.nan_to_num(np.clip(yerr, 0, None)), fmt="o-", color=c,
                    ms=4, lw=1, capsize=2, label=f"{label}: KM observed")
        if cal.corrected is not None:
            ax.plot(cal.predicted, cal.corrected, "x--", color=c, lw=0.8,
                    label=f"{label}: bootstrap-corrected (B={cal.n_boot})")
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("nomogram-predicted DFS")
    ax.set_ylabel("observed DFS (KM)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    return save_figure(fig, path, dpi=150)


def plot_correlation_heatmap(r: np.ndarray, significant: np.ndarray, rows: list[str], cols: list[str], path: Path,
                             n: int) -> Path:
    """Pearson r heatmap, '*' where significant (Fig. 5 analogue)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(cols), 1.5 + 0.35 * max(len(rows), 1)))
    if len(rows):
        im = ax.imshow(r, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
        for i in range(r.shape[0]):
            for j in range(r.shape[1]):
                if significant[i, j]:
                    ax.text(j, i, "*", ha="center", va="center", fontsize=12)
        fig.colorbar(im, ax=ax, label="Pearson r")
    else:
        ax.text(0.5, 0.5, "no hallmark significant with any feature", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels([c.removeprefix("original_") for c in cols], rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=7)
    ax.set_title(f"radiogenomics (n = {n}; * P < 0.05, uncorrected)", fontsize=9)
    return save_figure(fig, path, dpi=150)


def write_html_report(output_dir: Path, title: str) -> Path:
    """``report.html``: metrics, every table (CSV) and every figure of the run, and the provenance."""
    import csv

    from biomedai.htmlpage import HtmlPage

    output_dir = Path(output_dir)
    result = json.loads((output_dir / "result.json").read_text(encoding="utf-8"))
    page = HtmlPage(title)
    notes = result.get("notes") or {}
    if notes.get("data_note"):
        page.paragraph(str(notes["data_note"]), css="note")
    metrics = result.get("metrics") or {}
    flat = [{"metric": k, "value": v} for k, v in metrics.items() if isinstance(v, (int, float, str))]
    if flat:
        page.heading("Headline numbers").table(flat)
    for name in ("selected_features",):
        if isinstance(metrics.get(name), dict):
            page.heading("Selected features (LASSO-Cox coefficients)").table(
                {"feature": k, "coefficient": v} for k, v in metrics[name].items())
    files = sorted(set(result.get("files") or []))
    for f in files:
        if f.endswith(".csv") and f not in ("features.csv", "features_z.csv", "radscore.csv"):
            with open(output_dir / f, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
            page.heading(f"Table: {f}").table(rows[:60])
    pictures = [f for f in files if f.endswith(".png")]
    if pictures:
        page.heading("Figures").figures((f, f.removesuffix(".png").replace("_", " ")) for f in pictures)
    others = [f for f in files if not f.endswith((".png", ".csv"))] + [f for f in files if f in
                                                                         ("features.csv", "features_z.csv",
                                                                          "radscore.csv")]
    if others:
        page.heading("Files").table({"file": f} for f in others)
    page.details("Provenance", result.get("provenance", {}))
    return page.write(output_dir / "report.html")
