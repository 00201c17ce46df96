"""EXTENSION slice classifier: grouping by source figure, the split, the bundled model on real slices."""
from __future__ import annotations

import json

import numpy as np
import pytest

from biomedai.methods.covid_ct.pipeline import CovidCTMethod
from biomedai.methods.covid_ct.slices import colour_marks_only, grouped_split, read_slice_set, source_group
from tests.conftest import shared_subdir


def test_source_group_follows_the_data_readme():
    assert source_group("CT_COVID/2020.01.24.919183-p27-132.png") == "CT_COVID/2020.01.24.919183"
    assert source_group("CT_COVID/2020.01.24.919183-p27-133.png") == "CT_COVID/2020.01.24.919183"
    assert source_group("CT_COVID/some paper%3.png") == "CT_COVID/some paper"
    assert source_group("CT_NonCOVID/1%2.png") == source_group("CT_NonCOVID/1%0.png") == "CT_NonCOVID/1"
    assert source_group("CT_NonCOVID/10%2.png") != source_group("CT_NonCOVID/1%2.png")


def test_grouped_split_keeps_groups_apart():
    groups = [f"g{k // 3}" for k in range(150)]
    labels = np.array([(k // 3) % 2 for k in range(150)])
    split = grouped_split(groups, labels, seed=0)
    sets = {name: {groups[i] for i in idx} for name, idx in split.items()}
    assert not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"]) and not (sets["train"] & sets["val"])
    assert sum(len(v) for v in split.values()) == 150


@pytest.fixture(scope="module")
def covid_ct(request):
    return shared_subdir(request.getfixturevalue("shared_data"), "covid_ct")


def test_bundled_model_on_its_test_split(covid_ct, tmp_path):
    dataset = read_slice_set(covid_ct)
    split = grouped_split(dataset.groups, dataset.labels, seed=0)
    test = split["test"]
    assert not {dataset.groups[i] for i in test} & {dataset.groups[i] for i in split["train"]}
    folder = tmp_path / "test_split"
    folder.mkdir()
    lines = ["file,label"] + [f"{covid_ct / dataset.files[i]},{['NonCOVID', 'COVID'][dataset.labels[i]]}"
                              for i in test]
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    result = CovidCTMethod().evaluate(folder, tmp_path / "eval")
    assert result.metrics["n"] == 119
    assert result.metrics["auc"] > 0.8          # 0.864 in MODEL.md; a random model sits near 0.5


def test_predict_scores_pictures_with_the_bundled_model(covid_ct, tmp_path):
    pictures = sorted((covid_ct / "CT_COVID").glob("*.png"))[:2] + sorted((covid_ct / "CT_NonCOVID").glob("*.png"))[:2]
    CovidCTMethod().predict(pictures, tmp_path)
    record = json.loads((tmp_path / "result.json").read_text())
    scores = record["metrics"]["slice_classifier"]
    assert len(scores) == 4 and all(0 <= v <= 1 for v in scores.values())
    assert "EXTENSION" in record["notes"]["slice_classifier"]


def test_colour_marks_probe_is_blank_without_marks(covid_ct):
    path = sorted((covid_ct / "CT_NonCOVID").glob("*.png"))[0]
    assert np.all(colour_marks_only(path, 64) == 0.5)
