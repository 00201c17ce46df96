"""The findings convention: how a method's ``result.json`` raises a study on the worklist.

A method may put either or both of these into the ``metrics`` of its ``result.json``:

``priority``
    a number from 0 (routine) to 100 (look at this first).
``findings``
    a list of objects ``{"label": str, "severity": S, "text": str (optional), "value": any (optional)}``
    where ``S`` is one of ``none`` (0), ``low`` (25), ``moderate`` (50), ``high`` (75), ``critical`` (100)
    or a number from 0 to 100.

Example (a Ki-67 run that counts many positive cells)::

    {"metrics": {"ki67_index": 0.41,
                 "findings": [{"label": "Ki-67 index 41 %", "severity": "high"}]}}

The study's priority is the largest of every result's ``priority`` and every finding's severity.
The workflow reads this defensively: a missing, malformed or out-of-range entry is ignored or
clamped, never an error, so a method that knows nothing of the convention simply stays at 0.
Nested metrics (``metrics[<input name>]["findings"]``, as per-input methods write them) are
looked at too, one level deep.
"""
from __future__ import annotations

import math
from typing import Any

SEVERITY_LEVELS = {"none": 0.0, "normal": 0.0, "low": 25.0, "mild": 25.0, "moderate": 50.0, "high": 75.0,
                   "severe": 75.0, "critical": 100.0}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(min(100.0, max(0.0, value)))
    if isinstance(value, str):
        key = value.strip().lower()
        if key in SEVERITY_LEVELS:
            return SEVERITY_LEVELS[key]
        try:
            return _number(float(key))
        except ValueError:
            return None
    return None


def _findings_of(entry: Any) -> list[dict[str, Any]]:
    out = []
    if not isinstance(entry, list):
        return out
    for item in entry[:100]:
        if isinstance(item, str):
            out.append({"label": item[:200], "severity": 0.0})
        elif isinstance(item, dict) and isinstance(item.get("label", ""), str):
            severity = _number(item.get("severity"))
            finding = {"label": str(item.get("label", ""))[:200], "severity": severity or 0.0}
            if isinstance(item.get("text"), str):
                finding["text"] = item["text"][:1000]
            if isinstance(item.get("value"), (int, float, str)) and not isinstance(item.get("value"), bool):
                finding["value"] = item["value"]
            out.append(finding)
    return out


def read_findings(metrics: Any) -> tuple[float, list[dict[str, Any]]]:
    """``(priority, findings)`` from a result's metrics, following the convention above.

    Example:
        >>> read_findings({"findings": [{"label": "stage III", "severity": "high"}], "priority": 10})
        (75.0, [{'label': 'stage III', 'severity': 75.0}])
        >>> read_findings("garbage")
        (0.0, [])
    """
    if not isinstance(metrics, dict):
        return 0.0, []
    priority = _number(metrics.get("priority")) or 0.0
    findings = _findings_of(metrics.get("findings"))
    for value in metrics.values():
        if isinstance(value, dict):
            priority = max(priority, _number(value.get("priority")) or 0.0)
            findings.extend(_findings_of(value.get("findings")))
    for finding in findings:
        priority = max(priority, finding["severity"])
    return priority, findings
