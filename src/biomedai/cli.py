"""The ``biomedai`` command line: ``biomedai <verb>``.

Verbs: list, info, demo, train, predict, evaluate, report, tool, radiomics, serve, batch, bench. Heavy libraries are imported only
inside the verb that needs them, so ``biomedai --help`` answers at once. Any :class:`BiomedaiError`
becomes one line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import BiomedaiError

log = logging.getLogger("biomedai.cli")

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="biomedai",
        description="AI for biological and biomedical imaging: read, train, predict, evaluate, report.",
    )
    parser.add_argument("--version", action="version", version=f"biomedai {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("--allow-external-data", action="store_true",
                        help="let NRRD/MetaImage headers read data files outside their own folder "
                             "(only for files you trust; never allowed in 'serve')")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    p = sub.add_parser("list", help="list registered methods with modality and task")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser("info", help="describe a file: format, shape, spacing, metadata")
    p.add_argument("path", type=Path, help="image, DICOM file or series folder, NIfTI, NRRD, MRC, WSI, video")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")

    p = sub.add_parser("demo", help="run every method's demo on bundled samples and write an HTML gallery")
    p.add_argument("-o", "--output", type=Path, default=Path("demo-output"), help="output folder (default demo-output)")
    p.add_argument("--methods", nargs="*", default=None, help="only these methods (default: all)")
    p.add_argument("--data-root", type=Path, default=None,
                   help="shared real-data folder for the bundled models' real samples (default: $BIOMEDAI_SHARED_DATA "
                        "or ../shared/data)")

    for verb, what in (("train", "train a method on a data folder"),
                       ("evaluate", "evaluate a method on a data folder with ground truth")):
        p = sub.add_parser(verb, help=what)
        p.add_argument("method", help="method name (see 'biomedai list')")
        p.add_argument("--data", type=Path, required=True, help="data folder (layout: the method's README)")
        p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
        p.add_argument("--weights", type=Path, default=None,
                       help="local weights/checkpoint file (default: the method's bundled model, if it ships one)")
        if verb == "train":
            p.add_argument("--resume", action="store_true",
                           help="continue an interrupted run from OUTPUT/checkpoints/last.pt (Ctrl-C saves one)")
        _add_config_args(p)

    p = sub.add_parser("models", help="list the bundled trained models: data, licence, size, metrics")
    p.add_argument("method", nargs="?", default=None, help="only this method's models")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")

    p = sub.add_parser("predict", help="run a method on input files")
    p.add_argument("method", help="method name (see 'biomedai list')")
    p.add_argument("inputs", nargs="+", type=Path, help="input files")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--weights", type=Path, default=None,
                   help="local weights/checkpoint file (default: the method's bundled model, if it ships one)")
    _add_config_args(p)

    p = sub.add_parser("report", help="(re)build the HTML report of a finished output folder")
    p.add_argument("method", help="method name")
    p.add_argument("output", type=Path, help="output folder holding result.json")

    from .radiomics.cli import add_parser as add_radiomics_parser
    from .web.server import add_parser as add_serve_parser
    from .workflow.batch import add_parser as add_batch_parser

    add_radiomics_parser(sub)
    add_serve_parser(sub)
    add_batch_parser(sub)

    p = sub.add_parser("tool", help="a method's own tools: biomedai tool METHOD TOOL [args] (see METHOD --help)",
                       add_help=False)
    p.add_argument("-h", "--help", action="store_true", dest="tool_help", help="list methods that have tools")
    p.add_argument("method", nargs="?", help="method name")
    p.add_argument("tool_args", nargs=argparse.REMAINDER, help="the tool and its arguments")

    p = sub.add_parser("bench", help="run benchmark scripts (ours vs the peer) and print a table")
    p.add_argument("names", nargs="*", help="benchmark names (file stems without bench_); default all")
    p.add_argument("--dir", type=Path, default=Path("benchmarks") / "speed",
                   help="folder of speed benchmarks (default benchmarks/speed)")
    p.add_argument("--list", action="store_true", help="only list the benchmarks, one line each")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per benchmark")
    return parser


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", type=Path, default=None, help="YAML/JSON config for the method")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key (repeatable)")


def _make_method(args: argparse.Namespace) -> Any:
    from .config import parse_overrides
    from .methods.registry import get_method

    cls = get_method(args.method)
    config = cls.config_class.from_file(args.config) if args.config else cls.config_class()
    overrides = parse_overrides(getattr(args, "overrides", None))
    if overrides:
        config = config.replace(**overrides)
    return cls(config)


def cmd_list(args: argparse.Namespace) -> int:
    from .methods.registry import list_methods

    rows = [cls.describe() for cls in list_methods()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no methods registered yet")
        return 0
    widths = [max(len(str(r[k])) for r in rows + [{"name": "name", "modality": "modality", "task": "task"}])
              for k in ("name", "modality", "task")]
    print(f"{'name':<{widths[0]}}  {'modality':<{widths[1]}}  task")
    for r in rows:
        print(f"{r['name']:<{widths[0]}}  {r['modality']:<{widths[1]}}  {r['task']}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .io.info import describe_file

    info = describe_file(args.path)
    if args.json:
        from .utils import json_default

        print(json.dumps(info, indent=2, default=json_default))
    else:
        for key, value in info.items():
            if isinstance(value, dict):
                print(f"{key}:")
                for k, v in value.items():
                    print(f"  {k}: {v}")
            else:
                print(f"{key}: {value}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    index = run_demo(args.output, methods=args.methods, data_root=args.data_root)
    print(f"gallery written to {index}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import os

    if args.resume:
        from .train.engine import RESUME_ENV

        os.environ[RESUME_ENV] = "1"  # read by biomedai.train.train_model, which every method trains with
    result = _make_method(args).train(args.data, args.output, weights=args.weights)
    print(f"results in {result.output_dir}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    result = _make_method(args).predict(args.inputs, args.output, weights=args.weights)
    print(f"results in {result.output_dir}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    result = _make_method(args).evaluate(args.data, args.output, weights=args.weights)
    print(json.dumps(result.metrics, indent=2, default=str))
    print(f"results in {result.output_dir}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .train.model_folder import describe_bundled_models

    rows = describe_bundled_models(args.method)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no bundled models" + (f" for {args.method}" if args.method else ""))
        return 0
    for r in rows:
        terms = "NON-COMMERCIAL use only" if r["non_commercial"] else "commercial use allowed by the data licence"
        print(f"{r['method']}/{r['name']}  {r['size_mb']:.2f} MB  {r['architecture']}")
        print(f"  training data: {r['training_data']}  (licence {r['licence']}; {terms}; research use only)")
        if r["simulated"]:
            print("  SIMULATED training data: not validated on real images")
        metrics = ", ".join(f"{k} {v}" for k, v in r["metrics"].items())
        print(f"  metrics: {metrics or 'none recorded'}" + (f"  (on {r['metrics_data']})" if r["metrics_data"] else ""))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .methods.registry import get_method

    path = get_method(args.method)().report(args.output)
    print(f"report written to {path}")
    return 0


def cmd_tool(args: argparse.Namespace) -> int:
    from .errors import InvalidInputError
    from .methods.registry import get_method, list_methods

    if not args.method or args.tool_help:
        names = [cls.name for cls in list_methods() if cls.tool_parser("x") is not None]
        print("usage: biomedai tool METHOD TOOL [args]\nmethods with tools: " + (", ".join(names) or "none"))
        return 0
    cls = get_method(args.method)
    parser = cls.tool_parser(f"biomedai tool {cls.name}")
    if parser is None:
        raise InvalidInputError(f"method {cls.name!r} has no tools")
    try:
        tool_args = parser.parse_args(args.tool_args)
    except SystemExit as exc:  # argparse printed usage or help
        return int(exc.code or 0)
    return cls().run_tool(tool_args)


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import describe_benchmark, find_benchmarks, run_benchmarks

    benches = find_benchmarks(args.dir, args.names)
    if args.list:
        for bench in benches:
            print(f"{bench.stem.removeprefix('bench_'):24s} {describe_benchmark(bench)}".rstrip())
        return 0
    results = run_benchmarks(benches, timeout=args.timeout)
    failed = [r for r in results if r.returncode != 0]
    return 1 if failed else 0


def cmd_radiomics(args: argparse.Namespace) -> int:
    from .radiomics.cli import run

    return run(args)


def cmd_batch(args: argparse.Namespace) -> int:
    from .workflow.batch import run

    return run(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from .web.server import run

    return run(args)


COMMANDS = {"radiomics": cmd_radiomics, "serve": cmd_serve, "batch": cmd_batch, "list": cmd_list, "info": cmd_info, "demo": cmd_demo, "train": cmd_train, "predict": cmd_predict,
            "evaluate": cmd_evaluate, "models": cmd_models, "report": cmd_report, "tool": cmd_tool, "bench": cmd_bench}


def _quiet_third_party() -> None:
    """A refusal is one line: third-party libraries' warnings (pydicom, tifffile, nibabel, ...) stay unprinted
    unless ``-v`` is given; ours still show."""
    import warnings

    warnings.filterwarnings("ignore")
    warnings.filterwarnings("default", module=r"biomedai(\.|$)")
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())  # else Python's last-resort handler prints their log warnings
    logging.getLogger("nibabel").setLevel(logging.CRITICAL)  # nibabel gives its logger a handler of its own
    from .io import _files

    _files.CAPTURE_NATIVE_STDERR = True  # ITK's MetaIO writes to stderr from C++


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return EXIT_USAGE
    from .utils import configure_logging

    configure_logging(logging.WARNING if args.quiet else (logging.DEBUG if args.verbose > 1 else logging.INFO))
    if args.verbose == 0:
        _quiet_third_party()
    if args.allow_external_data and args.verb != "serve":
        from .io.limits import set_default_limits

        set_default_limits(allow_external_data=True)
    try:
        return COMMANDS[args.verb](args)
    except BiomedaiError as exc:
        print(f"biomedai {args.verb}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (NotImplementedError, OSError) as exc:
        print(f"biomedai {args.verb}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"biomedai {args.verb}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback only when asked for
        if args.verbose > 1:
            raise
        print(f"biomedai {args.verb}: unexpected {type(exc).__name__}: {exc} (run with -vv for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
