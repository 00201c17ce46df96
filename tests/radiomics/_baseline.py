"""Reading PyRadiomics' published baseline CSVs (one column per case and configuration)."""
from __future__ import annotations

import ast
import csv
from pathlib import Path
from typing import Any

CASES = ("brain1", "brain2", "breast1")


def load_baselines(folder: Path) -> dict[str, dict[str, Any]]:
    """``{column: {"case", "params", "values": {feature: float}}}`` for the cases whose images exist.

    Columns of the same name in different class files share their settings; their values are merged.
    The ``shape2D`` columns use 2D label files that are not distributed, so they are left out.
    """
    columns: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("baseline_*.csv")):
        with path.open(newline="") as fh:
            rows = list(csv.reader(fh))
        header = rows[0]
        table = {row[0]: row[1:] for row in rows[1:]}
        for c, column in enumerate(header[1:]):
            case = column.split("_")[0]
            if case not in CASES or column.endswith("_shape2D"):
                continue
            settings = ast.literal_eval(table["diagnostics_Configuration_Settings"][c])
            image_types = ast.literal_eval(table["diagnostics_Configuration_EnabledImageTypes"][c])
            entry = columns.setdefault(column, {"case": case, "settings": settings, "image_types": image_types,
                                                "classes": set(), "values": {}})
            if entry["settings"] != settings:
                raise AssertionError(f"{column}: settings differ between baseline files")
            for name, values in table.items():
                if name.startswith("original_") and values[c] != "":
                    entry["values"][name] = float(values[c])
                    entry["classes"].add(name.split("_")[1])
    for entry in columns.values():
        entry["params"] = {"setting": entry["settings"], "imageType": entry["image_types"],
                           "featureClass": {cls: [] for cls in sorted(entry["classes"])}}
    return columns
