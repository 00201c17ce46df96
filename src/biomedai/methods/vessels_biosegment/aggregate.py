"""Per-sample and per-group summaries (spec 4.5: mean of the images of a sample, then mean +/- SD of the
samples of a group) and the sample/group of each input file.

Inputs laid out as ``GROUP/SAMPLE/image.png`` take their names from the folders; a flat list of files
makes every file its own sample in one group ``all``.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def sample_and_group(paths: Sequence[Path]) -> list[tuple[str, str]]:
    """(sample, group) of each path: the parent and grandparent folder names when the files sit two levels
    below a common folder, else (file stem, "all")."""
    resolved = [Path(p).resolve() for p in paths]
    if len(resolved) > 1:
        import os

        common = Path(os.path.commonpath([str(p) for p in resolved]))
        if all(len(p.relative_to(common).parts) >= 3 for p in resolved):
            return [(p.parent.name, p.parent.parent.name) for p in resolved]
    return [(p.stem, "all") for p in resolved]


def summarise(rows: Sequence[Mapping[str, Any]], key: str, values: Sequence[str]) -> list[dict[str, Any]]:
    """Mean, SD and count of ``values`` per distinct ``key``; rows without a finite value are skipped."""
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[str(row[key])].append(row)
    out = []
    for name, members in groups.items():
        summary: dict[str, Any] = {key: name, "n": len(members)}
        for value in values:
            v = np.array([float(m[value]) for m in members if m.get(value) not in (None, "")], float)
            v = v[np.isfinite(v)]
            summary[f"{value}_mean"] = float(v.mean()) if v.size else float("nan")
            summary[f"{value}_sd"] = float(v.std(ddof=1)) if v.size > 1 else float("nan")
        extra = {k: members[0][k] for k in ("group",) if k in members[0] and k != key}
        out.append({**extra, **summary})
    return out


def per_sample_and_group(rows: Sequence[Mapping[str, Any]], values: Sequence[str]
                         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per-sample means of the images, then per-group mean +/- SD over the sample means."""
    samples = summarise(rows, "sample", values)
    sample_rows = [{"sample": s["sample"], "group": s.get("group", "all"), **{v: s[f"{v}_mean"] for v in values}}
                   for s in samples]
    groups = summarise(sample_rows, "group", values)
    return samples, groups
