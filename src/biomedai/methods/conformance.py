"""The method conformance suite: the checks every method (ours or a plug-in's) passes.

In the spirit of scikit-learn's ``check_estimator``: :func:`check_method` runs every check on a
:class:`~biomedai.methods.base.Method` subclass and raises :class:`MethodCheckError` naming each check
that failed and why; :func:`method_checks` yields the checks one by one for a test framework::

    @pytest.mark.parametrize("check", method_checks(MyMethod), ids=lambda c: c.name)
    def test_my_method(check, tmp_path):
        check(tmp_path)

The checks: metadata and ``input_kinds``; config round trip and a clear error on an unknown key;
``predict`` on an empty list, a missing file and a corrupt file raises the project's error; the tool
parser builds; ``demo`` within a time limit writes a valid ``result.json``; ``report`` renders from it;
``predict`` without weights uses the bundled model or says how to get one.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..config import BaseConfig
from ..errors import BiomedaiError, ConfigError, WeightsError
from .base import Method, RunResult

#: checks that run the method's demo (seconds to minutes); leave them out with ``skip=DEMO_CHECKS``
DEMO_CHECKS = ("demo", "report")
KIND_PATTERN = re.compile(r"^[a-z0-9][a-z0-9+.-]*(/[A-Za-z0-9*][A-Za-z0-9*+._-]*)?$")
#: what a "how to get weights" message mentions
WEIGHTS_HINTS = ("--weights", "biomedai train", "weights=", "bundled")


class MethodCheckError(AssertionError):
    """One or more conformance checks failed; the message names each check and what was wrong."""


@dataclasses.dataclass
class CheckContext:
    """What the checks of one method share: a scratch folder, the demo's output and the options."""

    method: type[Method]
    workdir: Path
    demo_seconds: float = 600.0
    example_inputs: Callable[[Path], list[Path]] | None = None
    demo_output: Path | None = None
    demo_error: str | None = None

    def folder(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


@dataclasses.dataclass
class MethodCheck:
    """One named check of one method; call it with a scratch folder (or let :func:`check_method` do it)."""

    name: str
    function: Callable[[CheckContext], None]
    context: CheckContext

    def __call__(self, workdir: str | Path | None = None) -> None:
        if workdir is not None:
            self.context.workdir = Path(workdir)
        try:
            self.function(self.context)
        except MethodCheckError:
            raise
        except AssertionError as exc:
            raise MethodCheckError(f"{self._who()} fails check {self.name!r}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - a crash inside a check is a failure of that check
            raise MethodCheckError(f"{self._who()} fails check {self.name!r}: {type(exc).__name__}: {exc}") from exc

    def _who(self) -> str:
        cls = self.context.method
        return f"{getattr(cls, '__name__', cls)} ({getattr(cls, 'name', '?')!r})"

    def __repr__(self) -> str:
        return f"<check {self.name} of {self.context.method.__name__}>"


# ------------------------------------------------------------------------------------------------ checks
def check_metadata(ctx: CheckContext) -> None:
    """``name`` an identifier, the descriptive strings filled in, ``input_kinds`` well formed, JSON summary."""
    cls = ctx.method
    assert isinstance(cls, type) and issubclass(cls, Method), f"{cls!r} is not a Method subclass"
    name = getattr(cls, "name", None)
    assert isinstance(name, str) and name.isidentifier() and name == name.lower(), \
        f"'name' must be a lower-case identifier (it is the CLI's method name), got {name!r}"
    for attr in ("title", "modality", "task", "paper"):
        value = getattr(cls, attr, "")
        assert isinstance(value, str) and value.strip(), f"class attribute {attr!r} is empty; say what it is"
    kinds = cls.input_kinds
    assert isinstance(kinds, tuple) and kinds, \
        "'input_kinds' must be a non-empty tuple such as ('image/rgb', 'dicom/CT'): the workflow router uses it"
    bad = [k for k in kinds if not isinstance(k, str) or not KIND_PATTERN.match(k)]
    assert not bad, f"'input_kinds' entries must look like 'family/kind' (e.g. 'image/rgb', 'wsi'), got {bad}"
    assert isinstance(cls.config_class, type) and issubclass(cls.config_class, BaseConfig) \
        and dataclasses.is_dataclass(cls.config_class), "'config_class' must be a BaseConfig dataclass"
    for action in ("train", "predict", "evaluate"):
        assert not getattr(getattr(cls, action), "__isabstractmethod__", False), f"{action}() is not implemented"
    summary = cls.describe()
    json.dumps(summary)
    assert summary.get("name") == name, "describe() must return the method's name"


def check_config_round_trip(ctx: CheckContext) -> None:
    """Defaults validate; ``from_dict(to_dict())`` gives the same config, also through YAML; unknown keys fail."""
    import yaml

    config_class = ctx.method.config_class
    try:
        default = config_class()
        default.validate()
    except Exception as exc:  # noqa: BLE001 - any failure of the defaults is the finding
        raise AssertionError(f"the default {config_class.__name__} does not validate: {exc}") from exc
    as_dict = default.to_dict()
    assert config_class.from_dict(as_dict) == default, "from_dict(to_dict()) differs from the config"
    path = ctx.folder("config") / "config.yaml"
    path.write_text(yaml.safe_dump(json.loads(json.dumps(as_dict, default=str))), encoding="utf-8")
    assert config_class.from_file(path) == default, "the config written to YAML and read back differs"
    method = ctx.method(as_dict)
    assert method.config == default, "Method(dict) does not build the same config"
    key = "no_such_key_for_check"
    try:
        config_class.from_dict({key: 1})
    except ConfigError as exc:
        assert key in str(exc), f"the error for an unknown key does not name it: {exc}"
    else:
        raise AssertionError("an unknown config key was accepted silently; raise ConfigError naming it")


def _expect_project_error(action: Callable[[], Any], what: str, must_mention: str | None = None) -> None:
    try:
        action()
    except BiomedaiError as exc:
        if must_mention is not None:
            assert must_mention in str(exc) or must_mention in str(getattr(exc, "path", "")), \
                f"{what}: the error does not name {must_mention!r}: {exc}"
        return
    except Exception as exc:  # noqa: BLE001 - the finding is the wrong error type
        raise AssertionError(f"{what} raised {type(exc).__name__}: {exc}; raise a biomedai.errors.BiomedaiError "
                             "(e.g. InvalidInputError) naming the file and the problem, so the CLI prints one "
                             "line and exits 2") from exc
    raise AssertionError(f"{what} raised no error; raise biomedai.errors.InvalidInputError")


def _corrupt_suffix(kinds: Sequence[str]) -> str:
    suffixes = {"image": ".png", "volume": ".nii.gz", "dicom": ".dcm", "wsi": ".svs", "table": ".csv",
                "annotation": ".json", "tactile": ".npy", "video": ".mp4", "signal": ".edf"}
    for kind in kinds:
        family, _, sub = kind.partition("/")
        if family == "volume" and sub.lower() == "mrc":
            return ".mrc"
        if family in suffixes:
            return suffixes[family]
    return ".bin"


def check_predict_bad_inputs(ctx: CheckContext) -> None:
    """``predict`` on an empty list, a missing file and a corrupt file raises a ``BiomedaiError``."""
    method = ctx.method()
    out = ctx.folder("predict_bad")
    _expect_project_error(lambda: method.predict([], out / "empty"), "predict([]) (no input files)")
    missing = out / "no_such_input.png"
    _expect_project_error(lambda: method.predict([missing], out / "missing"), "predict on a missing file")
    corrupt = out / f"corrupt{_corrupt_suffix(ctx.method.input_kinds)}"
    corrupt.write_bytes(b"\x00\x01 not a real file of this kind \xff\xfe" * 8)
    _expect_project_error(lambda: method.predict([corrupt], out / "corrupt"), f"predict on a corrupt {corrupt.name}")


def check_tool_parser(ctx: CheckContext) -> None:
    """``tool_parser`` returns None or an ``argparse.ArgumentParser`` whose help renders."""
    parser = ctx.method.tool_parser(f"biomedai tool {ctx.method.name}")
    if parser is None:
        return
    assert isinstance(parser, argparse.ArgumentParser), \
        f"tool_parser() must return an argparse.ArgumentParser or None, got {type(parser).__name__}"
    assert parser.format_help().strip(), "the tool parser's help is empty"


@contextlib.contextmanager
def _time_limit(seconds: float, what: str) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (main thread on POSIX); elsewhere the elapsed time is checked after."""
    use_alarm = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()

    def expired(*_: Any) -> None:
        raise TimeoutError(f"{what} ran past {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired) if use_alarm else None
    if use_alarm:
        signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.perf_counter()
    try:
        yield
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    elapsed = time.perf_counter() - start
    if elapsed > seconds:
        raise TimeoutError(f"{what} took {elapsed:.1f} s, more than {seconds:g} s")


def check_result_json(folder: Path, method: str, action: str) -> dict[str, Any]:
    """The ``result.json`` of a finished action: what produced it, its files present, its provenance."""
    path = Path(folder) / "result.json"
    assert path.is_file(), f"no result.json in {folder} (write it with biomedai.provenance.RunRecorder)"
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AssertionError(f"{path} is not valid JSON: {exc}") from exc
    assert isinstance(result, dict), f"{path} must hold a JSON object"
    assert result.get("method") == method, f"{path}: 'method' is {result.get('method')!r}, expected {method!r}"
    assert result.get("action") == action, f"{path}: 'action' is {result.get('action')!r}, expected {action!r}"
    assert isinstance(result.get("metrics"), dict), f"{path}: 'metrics' must be an object"
    provenance = result.get("provenance")
    assert isinstance(provenance, dict) and "biomedai_version" in provenance and "config" in provenance, \
        f"{path}: no provenance (version, config); write it with RunRecorder"
    files = result.get("files", [])
    absent = [f for f in files if not (Path(folder) / f).exists()]
    assert not absent, f"{path} lists files that are not there: {absent[:5]}"
    return result


def check_demo(ctx: CheckContext) -> None:
    """``demo`` finishes within the time limit and writes a valid ``result.json`` (action ``demo``)."""
    out = ctx.folder("demo")
    try:
        with _time_limit(ctx.demo_seconds, f"{ctx.method.name} demo"):
            result = ctx.method().demo(out)
    except NotImplementedError as exc:
        ctx.demo_error = str(exc)
        raise AssertionError(f"no demo ({exc}); give one on bundled or synthetic input, or skip=('demo',)") from exc
    except TimeoutError as exc:
        ctx.demo_error = str(exc)
        raise AssertionError(str(exc)) from exc
    assert isinstance(result, RunResult), f"demo() must return a RunResult, got {type(result).__name__}"
    folder = Path(result.output_dir)
    check_result_json(folder, ctx.method.name, "demo")
    ctx.demo_output = folder


def check_report(ctx: CheckContext) -> None:
    """``report`` renders a non-empty HTML (or PDF) page from the demo's output folder."""
    if ctx.demo_output is None:
        if ctx.demo_error is None:
            check_demo(ctx)
        else:
            raise AssertionError(f"no demo output to report on ({ctx.demo_error})")
    page = ctx.method().report(ctx.demo_output)
    assert page is not None and Path(page).is_file(), f"report() returned {page!r}, not an existing file"
    data = Path(page).read_bytes()
    assert len(data) > 100, f"the report {page} is nearly empty ({len(data)} bytes)"
    if Path(page).suffix.lower() in (".html", ".htm"):
        assert b"<html" in data[:2000].lower() or b"<!doctype html" in data[:2000].lower(), \
            f"{page} is not an HTML page"


def _synthetic_input(kinds: Sequence[str], folder: Path) -> list[Path]:
    """A small valid file of the method's first input kind that can be made here, or []."""
    import numpy as np

    from ..io import write_image
    from ..io.image import Image

    rng = np.random.default_rng(0)
    for kind in kinds:
        family, _, sub = kind.partition("/")
        if family == "image":
            grey = sub.lower() in ("grey", "gray")
            yy, xx = np.mgrid[:96, :96]
            blobs = sum(np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 40.0) for y, x in rng.uniform(10, 86, (8, 2)))
            plane = (60 + 150 * np.clip(blobs, 0, 1) + rng.normal(0, 5, (96, 96))).clip(0, 255).astype(np.uint8)
            if grey:
                return [write_image(plane, folder / "synthetic.png")]
            rgb = np.stack([255 - plane, 200 - plane // 2, 230 - plane // 3], -1).astype(np.uint8)
            return [write_image(Image(rgb, channel_axis=-1), folder / "synthetic.png")]
        if family == "volume" and sub.lower() == "mrc":
            from ..io.mrc import write_mrc

            return [write_mrc(rng.normal(size=(32, 32, 32)).astype(np.float32), folder / "synthetic.mrc")]
        if family == "volume":
            return [write_image(rng.normal(size=(16, 32, 32)).astype(np.float32), folder / "synthetic.nii.gz")]
    return []


def check_predict_without_weights(ctx: CheckContext) -> None:
    """Without weights, ``predict`` uses the bundled model or says how to get weights.

    With ``default_model`` set the bundled folder must exist, name this method and be what
    ``resolve_weights(None)`` returns. Then ``predict`` runs on a small input (``example_inputs``, else
    ``Method.example_inputs``, else a synthetic file of the first input kind) without weights: it must write ``result.json`` or raise
    ``WeightsError`` whose message says how to get weights (``--weights``, ``biomedai train``).
    """
    cls = ctx.method
    method = cls()
    if cls.default_model:
        from ..train.model_folder import default_model_folder, read_model_info

        folder = default_model_folder(cls.name, cls.default_model)
        assert folder is not None, (f"default_model = {cls.default_model!r} but there is no "
                                    f"biomedai/methods/{cls.name}/models/{cls.default_model}/ folder")
        info = read_model_info(folder)
        assert info.method == cls.name, f"the bundled model {folder} is for {info.method!r}, not {cls.name!r}"
        assert method.resolve_weights(None) == folder, "resolve_weights(None) does not return the bundled model"
    scratch = ctx.folder("predict_without_weights")
    inputs = (ctx.example_inputs(scratch) if ctx.example_inputs else cls.example_inputs(scratch)) \
        or _synthetic_input(cls.input_kinds, scratch)
    if not inputs:
        raise AssertionError(f"no example input for input_kinds {cls.input_kinds}: pass example_inputs= to "
                             "check_method (a function writing small valid inputs into a folder)")
    out = scratch / "out"
    try:
        result = method.predict(inputs, out)
    except WeightsError as exc:
        assert cls.default_model is None, f"a bundled model is declared but predict without weights failed: {exc}"
        assert any(h in str(exc) for h in WEIGHTS_HINTS), \
            f"predict without weights says {str(exc)!r}; say how to get weights (--weights, biomedai train ...)"
        return
    except BiomedaiError as exc:
        if any(h in str(exc) for h in WEIGHTS_HINTS):  # e.g. "no annotation beside the film and no --weights"
            return
        raise AssertionError(f"predict on the example input {[p.name for p in inputs]} without weights raised "
                             f"{type(exc).__name__}: {exc}; give check_method a fitting example_inputs=") from exc
    assert isinstance(result, RunResult), f"predict() must return a RunResult, got {type(result).__name__}"
    check_result_json(Path(result.output_dir), cls.name, "predict")


def check_input_hooks(ctx: CheckContext) -> None:
    """``check_input`` answers None or a reason (a non-empty string), never an exception, for the example
    input and for a file that is not an image; ``not_configured`` answers None, or says how to get a model
    (and only when no bundled model is declared)."""
    cls = ctx.method
    method = cls()
    scratch = ctx.folder("check_input")
    inputs = (ctx.example_inputs(scratch) if ctx.example_inputs else cls.example_inputs(scratch)) \
        or _synthetic_input(cls.input_kinds, scratch)
    junk = scratch / "not-an-image.png"
    junk.write_bytes(b"this is not an image")
    for path in [*inputs, junk]:
        try:
            answer = method.check_input(Path(path))
        except Exception as exc:  # noqa: BLE001 - reported as the failure
            raise AssertionError(f"check_input({Path(path).name}) raised {type(exc).__name__}: {exc}; return the "
                                 "reason as a string instead") from exc
        assert answer is None or (isinstance(answer, str) and answer.strip()), \
            f"check_input({Path(path).name}) returned {answer!r}: None (accepted) or a reason in words"
    missing = method.not_configured(None)
    if missing is not None:
        assert isinstance(missing, str) and any(h in missing for h in WEIGHTS_HINTS), \
            f"not_configured() says {missing!r}; say how to get a model (--weights, biomedai train ...)"
        assert not cls.default_model, "a bundled model is declared but not_configured() says there is none"


CHECKS: dict[str, Callable[[CheckContext], None]] = {
    "metadata": check_metadata,
    "config_round_trip": check_config_round_trip,
    "predict_bad_inputs": check_predict_bad_inputs,
    "tool_parser": check_tool_parser,
    "predict_without_weights": check_predict_without_weights,
    "input_check": check_input_hooks,
    "demo": check_demo,
    "report": check_report,
}


# ------------------------------------------------------------------------------------------------ runners
def method_checks(cls: type[Method], *, skip: Iterable[str] = (), workdir: str | Path | None = None,
                  demo_seconds: float = 600.0,
                  example_inputs: Callable[[Path], list[Path]] | None = None) -> list[MethodCheck]:
    """The checks of :data:`CHECKS` for ``cls`` (less ``skip``), sharing one context, in order.

    Parameters
    ----------
    cls : type of Method
        The method class to check (registered or not).
    skip : iterable of str
        Names of checks to leave out, e.g. :data:`DEMO_CHECKS` where the demo is slow.
    workdir : path, optional
        Scratch folder for the checks' outputs (a temporary folder when None).
    demo_seconds : float
        Time limit of the demo.
    example_inputs : callable, optional
        ``f(folder) -> [paths]`` writing small valid inputs, for ``predict_without_weights`` when a
        synthetic image or volume does not fit the method.

    Returns
    -------
    list of MethodCheck
    """
    skip = set(skip)
    unknown = skip - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown check(s) {sorted(unknown)}; known: {', '.join(CHECKS)}")
    if workdir is None:
        import tempfile

        workdir = tempfile.mkdtemp(prefix=f"biomedai-check-{getattr(cls, 'name', 'method')}-")
    context = CheckContext(cls, Path(workdir), demo_seconds, example_inputs)
    return [MethodCheck(name, function, context) for name, function in CHECKS.items() if name not in skip]


def check_method(cls: type[Method], *, skip: Iterable[str] = (), workdir: str | Path | None = None,
                 demo_seconds: float = 600.0, example_inputs: Callable[[Path], list[Path]] | None = None) -> None:
    """Run every conformance check on ``cls``; raise :class:`MethodCheckError` listing the failures.

    All checks run even after one fails, so that one run shows everything to fix. Parameters are
    those of :func:`method_checks`.

    Examples
    --------
    >>> from biomedai.methods import Method, check_method
    >>> class Nothing(Method):
    ...     name = "nothing"
    >>> check_method(Nothing, skip=DEMO_CHECKS)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    biomedai.methods.conformance.MethodCheckError: ... fails check 'metadata': ...
    """
    failures = []
    for check in method_checks(cls, skip=skip, workdir=workdir, demo_seconds=demo_seconds,
                               example_inputs=example_inputs):
        try:
            check()
        except MethodCheckError as exc:
            failures.append(str(exc))
    if failures:
        raise MethodCheckError(f"{len(failures)} conformance check(s) failed:\n" + "\n".join(failures))
