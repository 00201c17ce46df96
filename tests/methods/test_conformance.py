"""The conformance suite (``biomedai.methods.check_method``) on every registered method and on the toy method,
and one deliberately broken toy method per check, to show that each check can fail and says why."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pytest

from biomedai.errors import WeightsError
from biomedai.methods import check_method, list_methods, method_checks
from biomedai.methods.conformance import CHECKS, DEMO_CHECKS, MethodCheckError

from .toy_method import OtsuConfig, OtsuMethod

FAST_CHECKS = [name for name in CHECKS if name not in DEMO_CHECKS]
#: (method, check) pairs known to fail, with the reason (work in progress elsewhere; remove an entry once fixed:
#: not strict, so that the fix can land before its entry is removed)
#: (method, check) -> why it fails today; an entry is removed as soon as the method passes
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


def _cases(checks: list[str], marks: tuple = ()) -> list:
    cases = []
    for cls in list_methods():
        for name in checks:
            reason = KNOWN_FAILURES.get((cls.name, name))
            extra = [pytest.mark.xfail(reason=reason, strict=False, raises=MethodCheckError)] if reason else []
            cases.append(pytest.param(cls, name, marks=[*marks, *extra], id=f"{cls.name}-{name}"))
    return cases


@pytest.mark.parametrize(("method", "check"), _cases(FAST_CHECKS))
def test_registered_method_conforms(method, check: str, tmp_path: Path) -> None:
    (chosen,) = [c for c in method_checks(method, skip=set(CHECKS) - {check}, workdir=tmp_path)]
    chosen()


def _demo_cases() -> list:
    cases = []
    for cls in list_methods():
        reason = KNOWN_FAILURES.get((cls.name, "demo"))
        marks = [pytest.mark.xfail(reason=reason, strict=False, raises=MethodCheckError)] if reason else []
        cases.append(pytest.param(cls, marks=marks, id=cls.name))
    return cases


@pytest.mark.slow
@pytest.mark.parametrize("method", _demo_cases())
def test_registered_method_demo_writes_result_and_report(method, tmp_path: Path) -> None:
    for check in method_checks(method, skip=FAST_CHECKS, workdir=tmp_path, demo_seconds=900):
        check()


def test_toy_method_passes_every_check(tmp_path: Path) -> None:
    check_method(OtsuMethod, workdir=tmp_path, demo_seconds=120)


def test_every_method_is_checked() -> None:
    assert {"nuclei_hannet", "ki67", "dental_perio", "hip_dysplasia", "cryoet_cosnet",
            "crc_radiomics_nomogram"} <= {cls.name for cls in list_methods()}


# ------------------------------------------------------------------------------ broken toy methods
def _fails(cls: type, check: str, match: str, tmp_path: Path, **options) -> None:
    with pytest.raises(MethodCheckError, match=match) as info:
        check_method(cls, skip=set(CHECKS) - {check}, workdir=tmp_path, **options)
    assert check in str(info.value) and cls.__name__ in str(info.value)


def test_metadata_check_fails_without_input_kinds(tmp_path: Path) -> None:
    class NoKinds(OtsuMethod):
        input_kinds = ()

    _fails(NoKinds, "metadata", "input_kinds", tmp_path)


def test_metadata_check_fails_without_a_paper(tmp_path: Path) -> None:
    class NoPaper(OtsuMethod):
        paper = ""

    _fails(NoPaper, "metadata", "'paper' is empty", tmp_path)


def test_config_check_fails_when_unknown_keys_pass_silently(tmp_path: Path) -> None:
    class LenientConfig(OtsuConfig):
        @classmethod
        def from_dict(cls, values, source="config"):
            values = {k: v for k, v in (values or {}).items() if k in ("seed", "min_size")}
            return super().from_dict(values, source)

    class Lenient(OtsuMethod):
        config_class = LenientConfig

    _fails(Lenient, "config_round_trip", "unknown config key was accepted silently", tmp_path)


def test_predict_check_fails_when_no_input_passes(tmp_path: Path) -> None:
    class AcceptsNothing(OtsuMethod):
        def predict(self, inputs, output_dir, weights=None):
            return None

    _fails(AcceptsNothing, "predict_bad_inputs", r"predict\(\[\]\) \(no input files\) raised no error", tmp_path)


def test_predict_check_fails_on_a_raw_python_error(tmp_path: Path) -> None:
    class RawErrors(OtsuMethod):
        def predict(self, inputs, output_dir, weights=None):
            if not inputs:
                return super().predict(inputs, output_dir, weights)
            return Path(inputs[0]).read_bytes()

    _fails(RawErrors, "predict_bad_inputs", "raised FileNotFoundError.*BiomedaiError", tmp_path)


def test_tool_parser_check_fails_on_a_wrong_type(tmp_path: Path) -> None:
    class WrongParser(OtsuMethod):
        @classmethod
        def tool_parser(cls, prog):
            return {"threshold": "not a parser"}

    _fails(WrongParser, "tool_parser", "must return an argparse.ArgumentParser", tmp_path)


def test_tool_parser_check_passes_a_real_parser(tmp_path: Path) -> None:
    class WithTools(OtsuMethod):
        @classmethod
        def tool_parser(cls, prog):
            return argparse.ArgumentParser(prog=prog, description="one tool")

    check_method(WithTools, skip=set(CHECKS) - {"tool_parser"}, workdir=tmp_path)


def test_demo_check_fails_past_the_time_limit(tmp_path: Path) -> None:
    class SlowDemo(OtsuMethod):
        def demo(self, output_dir):
            time.sleep(5)
            return super().demo(output_dir)

    start = time.perf_counter()
    _fails(SlowDemo, "demo", "ran past 0.5 s", tmp_path, demo_seconds=0.5)
    assert time.perf_counter() - start < 4  # interrupted, not waited out


def test_demo_check_fails_without_result_json(tmp_path: Path) -> None:
    class NoRecord(OtsuMethod):
        def demo(self, output_dir):
            result = super().demo(output_dir)
            (Path(output_dir) / "result.json").unlink()
            return result

    _fails(NoRecord, "demo", "no result.json", tmp_path)


def test_report_check_fails_when_nothing_renders(tmp_path: Path) -> None:
    class NoReport(OtsuMethod):
        def report(self, output_dir):
            return Path(output_dir) / "report.html"

    _fails(NoReport, "report", "not an existing file", tmp_path)


def test_weights_check_fails_on_a_missing_bundled_model(tmp_path: Path) -> None:
    class MissingModel(OtsuMethod):
        default_model = "default"

    _fails(MissingModel, "predict_without_weights", "there is no biomedai/methods/toy_otsu/models/default/",
           tmp_path)


def test_weights_check_fails_when_the_error_does_not_say_how(tmp_path: Path) -> None:
    class Unhelpful(OtsuMethod):
        def predict(self, inputs, output_dir, weights=None):
            raise WeightsError("no weights")

    _fails(Unhelpful, "predict_without_weights", "say how to get weights", tmp_path)


def test_input_check_fails_when_it_raises_or_answers_no_reason(tmp_path: Path) -> None:
    class Raises(OtsuMethod):
        def check_input(self, path):
            return len(Path(path).read_bytes()) / 0

    class Empty(OtsuMethod):
        def check_input(self, path):
            return "  "

    class Unconfigured(OtsuMethod):
        def not_configured(self, weights=None):
            return "no model"

    _fails(Raises, "input_check", "raised ZeroDivisionError", tmp_path / "a")
    _fails(Empty, "input_check", "a reason in words", tmp_path / "b")
    _fails(Unconfigured, "input_check", "say how to get a model", tmp_path / "c")


def test_check_method_reports_every_failure_at_once(tmp_path: Path) -> None:
    class TwoFaults(OtsuMethod):
        paper = ""

        @classmethod
        def tool_parser(cls, prog):
            return "no parser"

    with pytest.raises(MethodCheckError, match="2 conformance check") as info:
        check_method(TwoFaults, skip=DEMO_CHECKS, workdir=tmp_path)
    assert "'metadata'" in str(info.value) and "'tool_parser'" in str(info.value)


def test_unknown_check_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown check"):
        method_checks(OtsuMethod, skip=("no_such_check",))
