"""Reports: the classifier benchmark's figures (ROC of the out-of-fold P(NMOSD), learning curves as Fig. 4, drawn
from recorded probabilities and histories; every figure carries the data's label, e.g. SIMULATED) and the
per-subject HTML report of a predict folder (``write_html_report``)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biomedai.htmlpage import HtmlPage
from biomedai.stats.roc import auc_with_ci, roc_curve_points
from biomedai.viz import pyplot, save_figure


def plot_roc(out_of_fold: Mapping[str, Mapping[str, Sequence[float]]], path: Path, data_label: str) -> Path:
    """One ROC curve per architecture from ``{arch: {"true": [0/1], "prob": [P(NMOSD)]}}`` (pooled out-of-fold
    predictions), AUC with DeLong 95 % CI in the legend; ``data_label`` goes in the title."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    for arch, rec in out_of_fold.items():
        true, prob = np.asarray(rec["true"], int), np.asarray(rec["prob"], float)
        fpr, tpr, _ = roc_curve_points(true, prob)
        auc = auc_with_ci(true, prob)
        ax.plot(fpr, tpr, drawstyle="steps-post",
                label=f"{arch}: AUC {auc.auc:.2f} ({auc.ci_low:.2f}-{auc.ci_high:.2f}), n={len(true)}")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity (NMOSD positive)", xlim=(0, 1), ylim=(0, 1.01),
           title=f"ROC, out-of-fold - {data_label}")
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)


def plot_learning_curves(histories: Mapping[str, Sequence[Sequence[Mapping[str, Any]]]], path: Path,
                         data_label: str) -> Path:
    """Train and validation loss per epoch, one panel per architecture, one thin line per fold (Fig. 4);
    ``histories`` is ``{arch: [fold history (the engine's epoch records)]}``."""
    plt = pyplot()
    fig, axes = plt.subplots(1, max(len(histories), 1), figsize=(4.2 * max(len(histories), 1), 3.6), squeeze=False)
    for ax, (arch, folds) in zip(axes[0], histories.items()):
        for k, hist in enumerate(folds):
            epochs = [h for h in hist if h.get("train_loss") is not None]
            ax.plot([h["epoch"] for h in epochs], [h["train_loss"] for h in epochs], color="C0", alpha=0.6,
                    label="train" if k == 0 else None)
            val = [h for h in epochs if h.get("val_loss") is not None]
            ax.plot([h["epoch"] for h in val], [h["val_loss"] for h in val], color="C1", alpha=0.6,
                    label="validation fold" if k == 0 else None)
        ax.set(xlabel="epoch", ylabel="cross-entropy", title=f"{arch} - {data_label}")
        ax.legend(fontsize=7)
    return save_figure(fig, path)


#: Table 1 quantities of a ``lesions.csv`` row and how the report names them
TABLE1 = {"wmh_ml": "lesion volume (ml)", "lesion_count": "lesion count (26-connected)",
          "icv_ml": "ICV (ml; brain-mask volume)", "wmh_percent_icv": "normalised lesion load (% ICV)",
          "empty_lesion_mask": "empty lesion mask (flag)", "mask_source": "lesion mask from"}
#: per-subject pictures ``predict`` may write, by file suffix, with their captions
SUBJECT_FIGURES = (("_overlay_slices.png", "lesions outlined on axial FLAIR slices (inferior to superior)"),
                   ("_overlay.png", "axial slice with the most lesion voxels"),
                   ("_gradcam.png", "Grad-CAM of P(NMOSD) over the classifier input (slice of the peak; red = evidence)"),
                   ("_occlusion.png", "occlusion sensitivity of P(NMOSD) (red: evidence for NMOSD, blue: for MS)"))


def write_html_report(out_dir: Path, rows: Sequence[Mapping[str, Any]], notes: Mapping[str, str],
                      title: str = "NMOSD vs MS: lesion report") -> Path:
    """``out_dir/report.html``: per subject the lesion overlay slices, Table 1 measures, the lesion-location
    summary (MNI-space inputs), the class probability and the explanation maps found in ``out_dir``; the run's
    notes (segmenter, classifier, SIMULATED flags) on top. ``rows`` are ``lesions.csv`` rows."""
    out_dir = Path(out_dir)
    page = HtmlPage(title)
    simulated = [v for k, v in notes.items() if "SIMULATED" in str(v) or k == "simulated"]
    if simulated:
        page.paragraph("SIMULATED: " + " ".join(dict.fromkeys(str(v) for v in simulated)), css="error")
    page.paragraph("Research use only; not a diagnosis. NMOSD vs MS probabilities come from a classifier the user "
                   "trained (none is bundled).", css="note")
    page.heading("All subjects").table([{k: r.get(k, "") for k in ("case", "wmh_ml", "lesion_count", "wmh_percent_icv",
                                                                    "p_nmosd", "prediction")} for r in rows])
    for r in rows:
        case = str(r["case"])
        page.heading(case)
        page.table([{"measure (Table 1)": label, "value": r.get(key, "")} for key, label in TABLE1.items()])
        locations = {k[len("loc_"):]: r[k] for k in r if k.startswith("loc_")}
        if locations:
            page.paragraph("Lesion location (MNI152 2 mm priors, crude rules of location.py; lesions counted on "
                           "the 2 mm grid):").table([locations])
        else:
            page.paragraph("Lesion location: not computed (the FLAIR is not on an MNI152 grid; register it to MNI "
                           "or set space: mni).", css="note")
        if r.get("p_nmosd", "") != "":
            page.paragraph(f"P(NMOSD) = {float(r['p_nmosd']):.3f}; prediction {r.get('prediction', '')} "
                           "(threshold 0.5).")
        else:
            page.paragraph("Classifier: not run (give --weights, a model folder from 'biomedai train nmosd_ms').",
                           css="note")
        page.figures([(case + suffix, caption) for suffix, caption in SUBJECT_FIGURES
                      if (out_dir / (case + suffix)).is_file()])
    page.details("run notes", dict(notes))
    return page.write(out_dir / "report.html")
