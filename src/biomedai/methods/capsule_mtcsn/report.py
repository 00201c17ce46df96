"""What a reader looks at: the triage HTML page (clearness timeline, lesion fraction over time, keyframes),
built by streaming ``frames.csv`` into a fixed number of time bins (memory does not grow with the video)."""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from biomedai.htmlpage import HtmlPage

from .palette import CD_CLASSES
from .triage import KEYFRAME_DIR, keyframe_name, read_triage_rows, time_label

CD_COLOURS = {"clear": "#2e9d4f", "blur": "#e59a1c", "invisible": "#7a7a7a"}
#: keyframes shown in the gallery (all of them stay listed in frames.csv)
GALLERY_LIMIT = 600


def summarise_triage(csv_path: Path, n_bins: int = 500, duration_s: float | None = None) -> dict[str, Any]:
    """Counts, reading-time reduction and a binned timeline from ``frames.csv`` (streamed)."""
    rows = 0
    cd_counts = dict.fromkeys(CD_CLASSES, 0)
    reasons: dict[str, int] = {}
    end = duration_s
    if end is None:
        end = 0.0
        for row in read_triage_rows(csv_path):
            end = row["time"]
    width = max(end, 1e-6) / n_bins
    bins = [{"cd": dict.fromkeys(CD_CLASSES, 0), "lesion_max": 0.0} for _ in range(n_bins)]
    gallery: list[dict[str, Any]] = []
    for row in read_triage_rows(csv_path):
        rows += 1
        cd_counts[row["cd_class"]] = cd_counts.get(row["cd_class"], 0) + 1
        b = bins[min(int(row["time"] / width), n_bins - 1)]
        b["cd"][row["cd_class"]] += 1
        b["lesion_max"] = max(b["lesion_max"], row["%lesion"])
        if row["marked"]:
            reasons[row["mark_reason"]] = reasons.get(row["mark_reason"], 0) + 1
            if len(gallery) < GALLERY_LIMIT:
                gallery.append({k: row[k] for k in ("frame_idx", "time", "cd_class", "%lesion", "mark_reason")})
    marked = sum(reasons.values())
    return {"frames_scored": rows, "frames_marked": marked, "marked_fraction": marked / max(rows, 1),
            "reading_time_reduction": 1 - marked / max(rows, 1), "cd_counts": cd_counts, "mark_reasons": reasons,
            "duration_s": end, "bins": bins, "bin_seconds": width, "gallery": gallery}


def _timeline_svg(summary: dict[str, Any], width: int = 1000) -> str:
    bins, n = summary["bins"], len(summary["bins"])
    step = width / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="150" style="border:1px solid #ccc">']
    for i, b in enumerate(bins):
        if sum(b["cd"].values()):
            cd = max(b["cd"], key=b["cd"].get)
            parts.append(f'<rect x="{i * step:.2f}" y="0" width="{step + 0.3:.2f}" height="30" fill="{CD_COLOURS[cd]}"/>')
    top = max([b["lesion_max"] for b in bins] + [1.0])
    points = " ".join(f"{(i + 0.5) * step:.1f},{140 - 100 * b['lesion_max'] / top:.1f}" for i, b in enumerate(bins))
    parts.append(f'<polyline points="{points}" fill="none" stroke="#c0392b" stroke-width="1.2"/>')
    parts.append(f'<text x="4" y="48" font-size="11">lesion % of frame (max per bin; top = {top:.1f} %)</text>')
    duration = max(summary["duration_s"], 1e-6)
    for item in summary["gallery"]:
        x = item["time"] / duration * width
        colour = "#c0392b" if item["mark_reason"] == "lesion" else "#2c3e50"
        anchor = keyframe_name(item["frame_idx"], item["time"])
        parts.append(f'<a href="#{anchor}"><line x1="{x:.1f}" x2="{x:.1f}" y1="30" y2="38" stroke="{colour}" '
                     f'stroke-width="1.5"><title>{html.escape(time_label(item["time"]))}</title></line></a>')
    parts.append("</svg>")
    return "".join(parts)


def write_triage_report(out: Path, title: str, summary: dict[str, Any], notes: list[str]) -> Path:
    """``out/report.html``: headline numbers, clickable timeline, keyframe gallery with time stamps."""
    page = HtmlPage(title)
    for note in notes:
        page.paragraph(note, "note")
    page.table([{"frames scored": summary["frames_scored"], "frames marked": summary["frames_marked"],
                 "marked %": round(100 * summary["marked_fraction"], 1),
                 "reading-time reduction %": round(100 * summary["reading_time_reduction"], 1),
                 **{f"CD {k}": v for k, v in summary["cd_counts"].items()},
                 "duration": time_label(summary["duration_s"])}])
    page.heading("Clearness timeline and lesion fraction")
    legend = " ".join(f'<span style="color:{c}">&#9632; {k}</span>' for k, c in CD_COLOURS.items())
    page.parts.append(f"<p class='note'>{legend}; red line: lesion % per frame; ticks: marked frames "
                      "(click to jump to the keyframe).</p>")
    page.parts.append(_timeline_svg(summary))
    page.heading(f"Keyframes ({summary['frames_marked']} marked"
                 + (f", first {GALLERY_LIMIT} shown" if summary["frames_marked"] > GALLERY_LIMIT else "") + ")")
    figures = []
    for item in summary["gallery"]:
        name = keyframe_name(item["frame_idx"], item["time"])
        src = html.escape(f"{KEYFRAME_DIR}/{name}.jpg")
        overlay = out / KEYFRAME_DIR / f"{name}_overlay.png"
        link = html.escape(f"{KEYFRAME_DIR}/{name}_overlay.png") if overlay.exists() else src
        caption = html.escape(f"{time_label(item['time'])} frame {item['frame_idx']}: {item['cd_class']}, "
                              f"lesion {item['%lesion']:.1f} % ({item['mark_reason']})")
        figures.append(f'<figure id="{html.escape(name)}"><a href="{link}"><img loading="lazy" src="{src}" '
                       f'alt="{caption}"></a><figcaption>{caption}</figcaption></figure>')
    page.parts.append(f'<div class="grid">{"".join(figures)}</div>')
    return page.write(Path(out) / "report.html")
