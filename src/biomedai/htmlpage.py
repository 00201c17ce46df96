"""A tiny, dependency-free HTML page builder for galleries and reports (everything escaped)."""
from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .utils import json_default, write_text_atomic

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1b1b1b;max-width:1200px}
h1{font-size:1.6rem} h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem} td,th{border:1px solid #ccc;padding:.25rem .5rem;
text-align:left;vertical-align:top} th{background:#f3f3f3}
.grid{display:flex;flex-wrap:wrap;gap:1rem} figure{margin:0;max-width:360px} figure img{max-width:360px;
max-height:360px;min-width:240px;border:1px solid #ccc;image-rendering:pixelated} figcaption{font-size:.85rem;color:#444}
.error{color:#a40000} .note{color:#555;font-size:.9rem} details pre{background:#f7f7f7;padding:.5rem;overflow:auto}
"""


class HtmlPage:
    """Build a page section by section, then :meth:`write` it atomically.

    Example:
        >>> page = HtmlPage("Demo")
        >>> page.heading("Numbers").table([{"metric": "dice", "value": 0.9}])
        <...HtmlPage object at ...>
        >>> "<table>" in page.render()
        True
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self.parts: list[str] = [f"<h1>{html.escape(title)}</h1>"]

    def heading(self, text: str, level: int = 2) -> HtmlPage:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")
        return self

    def paragraph(self, text: str, css: str = "") -> HtmlPage:
        cls = f' class="{html.escape(css)}"' if css else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")
        return self

    def table(self, rows: Iterable[Mapping[str, Any]]) -> HtmlPage:
        rows = list(rows)
        if not rows:
            return self
        columns: list[str] = []
        for row in rows:
            columns += [c for c in row if c not in columns]
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c, '')))}</td>" for c in columns) + "</tr>"
                       for r in rows)
        self.parts.append(f"<table><tr>{head}</tr>{body}</table>")
        return self

    def figures(self, items: Iterable[tuple[str, str]]) -> HtmlPage:
        """Pictures in a grid: (relative src, caption) pairs."""
        figs = "".join(f'<figure><a href="{html.escape(src)}"><img src="{html.escape(src)}" alt="{html.escape(cap)}">'
                       f"</a><figcaption>{html.escape(cap)}</figcaption></figure>" for src, cap in items)
        self.parts.append(f'<div class="grid">{figs}</div>')
        return self

    def details(self, summary: str, obj: Any) -> HtmlPage:
        text = obj if isinstance(obj, str) else json.dumps(obj, indent=2, default=json_default)
        self.parts.append(f"<details><summary>{html.escape(summary)}</summary><pre>{html.escape(text)}</pre></details>")
        return self

    def render(self) -> str:
        return ("<!doctype html><html><head><meta charset='utf-8'>"
                f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head><body>"
                + "\n".join(self.parts) + "</body></html>\n")

    def write(self, path: str | Path) -> Path:
        return write_text_atomic(path, self.render())


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return str(value)
