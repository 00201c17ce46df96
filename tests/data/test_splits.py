"""Patient-level splits: no leaks, sizes near the fractions, reproducible, safe on disk."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from biomedai.data.splits import Split, group_kfold, load_split, save_split, split_by_group
from biomedai.errors import InvalidInputError


def _cohort(n_patients: int = 200, seed: int = 0) -> tuple[list[str], list[str], list[int]]:
    """Patients with 1-6 images each; a binary label per patient (30 % positive)."""
    rng = np.random.default_rng(seed)
    ids, groups, labels = [], [], []
    for p in range(n_patients):
        label = int(rng.random() < 0.3)
        for k in range(int(rng.integers(1, 7))):
            ids.append(f"p{p:03d}_img{k}")
            groups.append(f"p{p:03d}")
            labels.append(label)
    return ids, groups, labels


def _groups_of(items, id_to_group) -> set[str]:
    return {id_to_group[i] for i in items}


def test_split_by_group_never_leaks_and_covers_everything() -> None:
    ids, groups, _ = _cohort()
    split = split_by_group(ids, groups, fractions=(0.7, 0.15, 0.15), seed=0)
    id_to_group = dict(zip(ids, groups))
    parts = split.parts
    assert list(parts) == ["train", "val", "test"]
    assert sorted(i for p in parts.values() for i in p) == sorted(ids)
    g = {name: _groups_of(items, id_to_group) for name, items in parts.items()}
    assert not (g["train"] & g["val"]) and not (g["train"] & g["test"]) and not (g["val"] & g["test"])
    # item proportions within 2 % of the request (groups hold at most 6 of ~700 items)
    for name, frac in zip(parts, (0.7, 0.15, 0.15)):
        assert abs(len(parts[name]) / len(ids) - frac) < 0.02


def test_split_by_group_is_reproducible_and_seed_dependent() -> None:
    ids, groups, _ = _cohort(60)
    a = split_by_group(ids, groups, seed=5)
    b = split_by_group(ids, groups, seed=5)
    c = split_by_group(ids, groups, seed=6)
    assert a.parts == b.parts
    assert a.parts != c.parts
    # input order does not matter for a seed
    order = np.random.default_rng(0).permutation(len(ids))
    d = split_by_group([ids[i] for i in order], [groups[i] for i in order], seed=5)
    assert {k: set(v) for k, v in d.parts.items()} == {k: set(v) for k, v in a.parts.items()}


def test_split_by_group_two_parts_and_bad_input() -> None:
    s = split_by_group(range(10), [i // 2 for i in range(10)], fractions=(0.8, 0.2), seed=0)
    assert sorted(s.parts) == ["test", "train"] and len(s["test"]) == 2
    assert s.part_of(s["test"][0]) == "test"
    with pytest.raises(InvalidInputError, match="unique"):
        split_by_group(["a", "a"], [1, 2])
    with pytest.raises(InvalidInputError, match="length"):
        split_by_group(["a", "b"], [1])
    with pytest.raises(InvalidInputError, match="fractions"):
        split_by_group(["a", "b"], [1, 2], fractions=(0.5, 0.6))
    with pytest.raises(InvalidInputError, match="strings or integers"):
        split_by_group([1.5, 2.5], [1, 2])


def test_group_kfold_every_id_validated_once() -> None:
    ids, groups, _ = _cohort(50)
    folds = group_kfold(ids, groups, n_splits=5, seed=0)
    id_to_group = dict(zip(ids, groups))
    val_counts = Counter(i for f in folds for i in f["val"])
    assert set(val_counts) == set(ids) and set(val_counts.values()) == {1}
    for f in folds:
        assert not _groups_of(f["train"], id_to_group) & _groups_of(f["val"], id_to_group)
        assert len(f["train"]) + len(f["val"]) == len(ids)
    assert [f["val"] for f in folds] == [f["val"] for f in group_kfold(ids, groups, n_splits=5, seed=0)]


def test_stratified_group_kfold_keeps_label_balance() -> None:
    ids, groups, labels = _cohort(150, seed=1)
    overall = np.mean(labels)
    label_of = dict(zip(ids, labels))
    folds = group_kfold(ids, groups, n_splits=4, labels=labels, seed=2)
    assert folds[0].method == "StratifiedGroupKFold"
    for f in folds:
        assert abs(np.mean([label_of[i] for i in f["val"]]) - overall) < 0.08
    with pytest.raises(InvalidInputError, match="n_splits"):
        group_kfold(ids[:4], ["a", "a", "b", "b"], n_splits=3)


def test_save_and_load_roundtrip(tmp_path) -> None:
    ids, groups, _ = _cohort(30)
    split = split_by_group(ids, groups, seed=3)
    path = save_split(tmp_path / "splits" / "split.json", split)
    assert [p.name for p in path.parent.iterdir()] == ["split.json"]  # no temporary file left
    loaded = load_split(path)
    assert isinstance(loaded, Split)
    assert loaded.parts == split.parts and loaded.seed == 3 and loaded.groups == split.groups
    folds = group_kfold(ids, groups, n_splits=3, seed=1)
    loaded_folds = load_split(save_split(tmp_path / "folds.json", folds))
    assert isinstance(loaded_folds, list) and [f.parts for f in loaded_folds] == [f.parts for f in folds]


def test_load_split_rejects_bad_files(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInputError, match="bad.json"):
        load_split(bad)
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(InvalidInputError, match="not a biomedai split"):
        load_split(bad)
    with pytest.raises(InvalidInputError, match="not found"):
        load_split(tmp_path / "missing.json")
    leaked = {"format": "biomedai.split", "version": 1, "kind": "split",
              "splits": [{"parts": {"train": ["a", "b"], "test": ["c"]},
                          "groups": {"a": "p1", "b": "p2", "c": "p1"}}]}
    bad.write_text(json.dumps(leaked))
    with pytest.raises(InvalidInputError, match="group 'p1' leaks"):
        load_split(bad)
    with pytest.raises(InvalidInputError, match="leaks"):
        save_split(tmp_path / "x.json", Split({"a": ["1"], "b": ["2"]}, groups={"1": "g", "2": "g"}))
