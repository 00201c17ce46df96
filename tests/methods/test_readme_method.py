"""The README's "Adding a method" is enough to add a method: its code, written out as a package, registers
and passes the conformance suite."""
from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

from biomedai.methods import check_method, registry

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_modules() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Adding a method"):]
    section = section[:section.index("\n## ", 5)]
    code = [block for block in re.findall(r"```python\n(.*?)```", section, re.S) if "# pipeline.py" in block]
    assert code, "README 'Adding a method' has no python example with a pipeline.py"
    parts = re.split(r"^# (\w+)\.py\n", code[0], flags=re.M)
    return {name: body for name, body in zip(parts[1::2], parts[2::2])}


def test_readme_method_registers_and_conforms(tmp_path: Path, monkeypatch) -> None:
    modules = _readme_modules()
    assert {"config", "pipeline"} <= set(modules)
    package = tmp_path / "readme_otsu"
    package.mkdir()
    for name, body in modules.items():
        (package / f"{name}.py").write_text(body, encoding="utf-8")
    (package / "__init__.py").write_text("from .pipeline import OtsuMethod\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        cls = importlib.import_module("readme_otsu").OtsuMethod
        assert registry.get_method(cls.name) is cls
        check_method(cls, workdir=tmp_path / "checks", demo_seconds=120)
    finally:
        registry.unregister("otsu")
        for name in [m for m in sys.modules if m == "readme_otsu" or m.startswith("readme_otsu.")]:
            del sys.modules[name]
