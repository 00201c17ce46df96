from __future__ import annotations

import pytest

from biomedai.errors import ConfigError
from biomedai.methods.registry import list_methods
from biomedai.workflow.routing import Router, Unit, checks_content, kind_accepted


def test_first_matching_rule_decides(wf_methods, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("""
rules:
  - name: urgent hips
    match: {modality: [DX, CR], body_part: HIP, series_description: "*AP*"}
    methods: [wf_slow]
    priority: 5
  - name: rgb
    match: {kind: "image/rgb"}
    methods: auto
  - name: ignore the rest
    match: {}
    methods: []
""")
    router = Router.from_yaml(rules)
    hip = Unit(kind="image/grey", modality="dx", body_part="HIP", series_description="AP pelvis")
    assert router.route(hip) == (["wf_slow"], 5, "urgent hips")
    rgb = router.route(Unit(kind="image/rgb"))
    expected = [m.name for m in list_methods() if kind_accepted("image/rgb", m.input_kinds) and checks_content(m)]
    assert rgb[0] == expected and "wf_brightness" in expected and rgb[2] == "rgb"
    assert router.route(Unit(kind="volume/mrc")) == ([], 0, "ignore the rest")


def test_named_method_that_cannot_read_the_kind_is_skipped(wf_methods):
    router = Router.from_data({"rules": [{"match": {}, "methods": ["wf_brightness"]}]})
    assert router.route(Unit(kind="volume/mrc"))[0] == []


def test_default_router_is_auto(wf_methods):
    names = Router().route(Unit(kind="image/grey"))[0]
    assert "wf_brightness" in names and "wf_slow" in names


@pytest.mark.parametrize("data, message", [
    ({"rules": [{"match": {"colour": "red"}, "methods": "auto"}]}, "unknown match key 'colour'"),
    ({"rules": [{"match": {}, "methods": ["no_such_method"]}]}, "no method named 'no_such_method'"),
    ({"rules": [{"match": {}, "methods": "auto", "priority": "high"}]}, "'priority' must be an integer"),
    ({"rules": [{"match": {}, "methods": 3}]}, "'methods' must be"),
    ({"rule": []}, "unknown top-level key"),
])
def test_bad_rules_name_the_problem(data, message, wf_methods):
    with pytest.raises(ConfigError, match=message):
        Router.from_data(data)


def test_method_entries_carry_weights_and_config_to_the_job(wf_methods, tmp_path, store):
    from biomedai.workflow.intake import ingest
    from biomedai.workflow.models import Job

    from .conftest import make_png

    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - match: {}\n    methods:\n      - {name: wf_brightness, weights: w/model.pt, "
                     "config: {seed: 3}}\n")
    router = Router.from_yaml(rules)
    report = ingest(store, [("a.png", make_png(tmp_path / "a.png"))], router=router)
    with store.session() as s:
        job = s.get(Job, report.jobs[0])
    assert job.options == {"weights": str(tmp_path / "w" / "model.pt"), "config": {"seed": 3}}
    with pytest.raises(ConfigError, match="unknown key"):
        Router.from_data({"rules": [{"methods": [{"name": "wf_brightness", "weight": "x"}]}]})
