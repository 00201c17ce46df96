"""What a reader looks at: box/violin plots per region and group, and the HTML report with Tables 1-3."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from biomedai.htmlpage import HtmlPage

TABLE_TITLES = {"table1_clinical": "Table 1. Patient characteristics",
                "table2_signs": "Table 2. Radiologists' CT signs, n (%)",
                "reader_agreement": "Agreement between the two readers (Cohen's kappa)",
                "table3_lesions": "Table 3. Infection volume and percentage per lobe (computer quantification)",
                "hu_bins": "Infected volume per HU range (whole lung)"}


def region_plots(data: Any, measure: str, path: Path, title: str) -> Path | None:
    """One violin + box per group for each region's ``<region> <measure>`` column."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from biomedai.utils import atomic_path

    columns = [c for c in data.columns if c.endswith(f" {measure}") and "(" not in c]
    if not columns:
        return None
    groups = list(dict.fromkeys(data["group"].dropna().tolist()))
    fig, axes = plt.subplots(1, len(columns), figsize=(2.4 * len(columns), 3.6), squeeze=False)
    for ax, column in zip(axes[0], columns):
        values = [data.loc[data["group"] == g, column].dropna().to_numpy(float) for g in groups]
        if all(v.size > 1 for v in values):
            ax.violinplot(values, showextrema=False)
        ax.boxplot(values, widths=0.25, showfliers=False)
        ax.set_xticks(range(1, len(groups) + 1), [str(g)[:12] for g in groups], rotation=30, fontsize=7)
        ax.set_title(column.replace(f" {measure}", ""), fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def study_report(data: Any, tables: dict[str, list[dict[str, Any]]], auc: dict[str, Any] | None, output_dir: Path,
                 *, simulated: bool = False) -> list[Path]:
    """``report.html`` and the plots it shows; returns the files written."""
    files: list[Path] = []
    tag = " (SIMULATED cohort)" if simulated else ""
    plots = []
    for measure, title in (("lesion_pct", "infection % per region"), ("lesion_ml", "infection volume (cm³)")):
        path = region_plots(data, measure, output_dir / f"plots_{measure}.png", title + tag)
        if path is not None:
            files.append(path)
            plots.append((path.name, title + tag))
    page = HtmlPage(f"COVID-19 vs other viral pneumonia: group comparison{tag}")
    groups = list(dict.fromkeys(data["group"].dropna().tolist()))
    sizes = ", ".join(f"{g} (N={int((data['group'] == g).sum())})" for g in groups)
    page.paragraph(f"Groups: {sizes}. "
                   "Categorical: chi-square, Fisher's exact when an expected count is below 5. Continuous: "
                   "Shapiro-Wilk, then Student's t (mean ± SD) or Mann-Whitney U (median (IQR)). Two-sided.")
    if simulated:
        page.paragraph("All numbers on this page come from a SIMULATED cohort shaped like Dou et al.'s tables; "
                       "they are not results.", css="error")
    for name, rows in tables.items():
        page.heading(TABLE_TITLES.get(name, name))
        page.table([{k: v for k, v in row.items() if k not in ("p", "p_bh")} for row in rows])
    if plots:
        page.heading("Distributions per region")
        page.figures(plots)
    if auc is not None:
        page.heading("Extension (not in the paper): logistic regression on the quantified features and signs")
        page.paragraph(f"{auc['cv_folds']}-fold cross-validated AUC {auc['auc']:.3f} "
                       f"(95 % CI {auc['auc_ci95'][0]:.3f}-{auc['auc_ci95'][1]:.3f}), n = {auc['n']}, "
                       f"{len(auc['features'])} features. An AUC near 0.5 quantifies the paper's conclusion that "
                       "the groups cannot be told apart on CT." + tag)
    files.append(page.write(output_dir / "report.html"))
    return files


def quantification_report(result: dict[str, Any], output_dir: Path, title: str) -> Path:
    """``report.html`` of a predict run: per case the headline numbers, the per-region table and the overlay."""
    page = HtmlPage(title)
    cases = (result.get("metrics") or {}).get("cases") or {}
    page.paragraph("Lesions are HU-threshold regions inside the lung with vessel suppression, not a learned "
                   "infection model. HU bins are right-closed.", css="note")
    for name, case in cases.items():
        regions = case.get("regions", {})
        whole = regions.get("whole lung", {})
        page.heading(f"{name}: lesion {whole.get('lesion_ml', float('nan')):.1f} cm³ = "
                     f"{whole.get('lesion_pct', float('nan')):.1f} % of {whole.get('region_ml', float('nan')):.0f} "
                     "cm³ of lung")
        page.paragraph(f"Lobes: {case.get('lobes', '')}.", css="note")
        page.table([{"region": region, "volume (cm³)": values["region_ml"], "lesion (cm³)": values["lesion_ml"],
                     "lesion (%)": values["lesion_pct"]} for region, values in regions.items()])
        page.table([{"HU bin (whole lung)": bin_name, "lesion (cm³)": values["lesion_ml"],
                     "lesion (%)": values["lesion_pct"], "lung in bin (cm³)": values["lung_ml_in_bin"]}
                    for bin_name, values in case.get("whole_lung_bins", {}).items()])
        overlay = output_dir / f"{name}_overlay.png"
        if overlay.is_file():
            page.figures([(overlay.name, "axial slices at 25/50/75 % of the lung height and a coronal slice: "
                                         "lobe (or lung) colours, lesion contours in red")])
        if case.get("dicom_outputs"):
            page.paragraph(case["dicom_outputs"], css="note")
    scores = (result.get("metrics") or {}).get("slice_classifier")
    if scores:
        page.heading("EXTENSION (not in the paper): slice classifier, P(COVID)")
        page.paragraph((result.get("notes") or {}).get("slice_classifier", ""), css="note")
        page.table([{"file": Path(f).name, "P(COVID)": p} for f, p in scores.items()])
    page.details("Provenance", result.get("provenance", {}))
    return page.write(output_dir / "report.html")
