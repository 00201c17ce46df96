"""Run one method on stored inputs, in its own process (started by a worker).

    python -m biomedai.workflow.runjob --method NAME --output DIR [--import PLUGIN]... INPUT...

Exit codes: 0 done, 2 the input or configuration is wrong (a retry would fail the same way),
1 anything else (retried with back-off). The method's own ``result.json`` is kept; a method that
writes none gets one from its :class:`~biomedai.methods.base.RunResult`.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import sys
import traceback
from pathlib import Path


def import_plugin(spec: str) -> None:
    """Import a module by dotted name, or a ``.py`` file by path (tests register methods this way)."""
    if spec.endswith(".py"):
        path = Path(spec).resolve()
        module_name = f"biomedai_plugin_{abs(hash(str(path)))}"
        loader_spec = importlib.util.spec_from_file_location(module_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module
        loader_spec.loader.exec_module(module)
    else:
        importlib.import_module(spec)


def main(argv: list[str] | None = None) -> int:
    from .children import die_with_parent

    die_with_parent()  # before any heavy import: SIGKILL when the worker that started us dies
    parser = argparse.ArgumentParser(prog="python -m biomedai.workflow.runjob")
    parser.add_argument("--method", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--import", dest="imports", action="append", default=[])
    parser.add_argument("--weights")
    parser.add_argument("--config-json", help="config overrides as a JSON object")
    parser.add_argument("inputs", nargs="+")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ..errors import BiomedaiError
    from ..methods.registry import get_method
    from ..utils import write_json_atomic

    try:
        for plugin in args.imports:
            import_plugin(plugin)
        cls = get_method(args.method)
        overrides = json.loads(args.config_json) if args.config_json else {}
        config = cls.config_class.from_dict(overrides, source=f"{args.method} config") if overrides else None
        method = cls(config)
        output = Path(args.output)
        weights = Path(args.weights) if args.weights else None
        result = method.predict([Path(p) for p in args.inputs], output, weights=weights)
        if not (output / "result.json").exists():
            write_json_atomic(output / "result.json", {"method": args.method, "action": "predict",
                                                       "metrics": result.metrics,
                                                       "files": [str(f) for f in result.files]})
    except BiomedaiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception:  # noqa: BLE001 - report everything else and let the worker retry
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
