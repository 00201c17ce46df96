"""Patient-level splits: no patient (group) ever appears in two parts of a split.

Images of one patient are correlated; putting some in training and others in testing inflates
every metric. :func:`split_by_group` makes train/val/test parts whose sizes (in items) match the
requested fractions as closely as whole groups allow; :func:`group_kfold` makes k folds with
scikit-learn's ``GroupKFold`` or, given labels, ``StratifiedGroupKFold``. Both are deterministic
for a seed, and :func:`save_split` / :func:`load_split` keep them as JSON next to the results.

Example:
    >>> ids = [f"img{i}" for i in range(20)]
    >>> patients = [f"p{i // 2}" for i in range(20)]
    >>> split = split_by_group(ids, patients, fractions=(0.6, 0.2, 0.2), seed=0)
    >>> sorted(len(v) for v in split.parts.values())
    [4, 4, 12]
"""
from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from biomedai.errors import InvalidInputError
from biomedai.utils import write_json_atomic

logger = logging.getLogger(__name__)

__all__ = ["Split", "split_by_group", "group_kfold", "save_split", "load_split"]

Id = Union[str, int]
_FORMAT = "biomedai.split"


@dataclass
class Split:
    """Named parts (``{"train": [...], "val": [...], "test": [...]}``) of a list of item ids.

    ``groups`` maps each id (as a string) to its group (patient) so that the split can be checked
    for leaks after loading; ``seed`` and ``method`` record how it was made.
    """

    parts: dict[str, list[Id]]
    seed: int | None = None
    groups: dict[str, str] | None = None
    method: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> list[Id]:
        return self.parts[name]

    def part_of(self, item: Id) -> str:
        """The name of the part holding ``item``."""
        for name, items in self.parts.items():
            if item in items:
                return name
        raise KeyError(item)

    def validate(self, path: str | Path | None = None) -> None:
        """Raise :class:`InvalidInputError` if an id or a group appears in two parts."""
        seen: dict[Id, str] = {}
        group_part: dict[str, str] = {}
        for name, items in self.parts.items():
            for item in items:
                if item in seen:
                    raise InvalidInputError(f"id {item!r} is in both {seen[item]!r} and {name!r}", path)
                seen[item] = name
                if self.groups is not None:
                    group = self.groups.get(str(item))
                    if group is None:
                        raise InvalidInputError(f"id {item!r} has no group", path)
                    if group_part.setdefault(group, name) != name:
                        raise InvalidInputError(
                            f"group {group!r} leaks: it is in both {group_part[group]!r} and {name!r}", path)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of the split."""
        return {"parts": self.parts, "seed": self.seed, "groups": self.groups, "method": self.method,
                "info": self.info}


def _plain_ids(ids: Sequence[Any]) -> list[Id]:
    out: list[Id] = []
    for item in ids:
        if isinstance(item, np.generic):
            item = item.item()
        if isinstance(item, Path):
            item = str(item)
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise InvalidInputError(f"ids must be strings or integers, got {type(item).__name__} {item!r}")
        out.append(item)
    if len(set(out)) != len(out):
        dup = next(i for i in out if out.count(i) > 1)
        raise InvalidInputError(f"ids must be unique; {dup!r} appears more than once")
    return out


def _check_inputs(ids: Sequence[Any], groups: Sequence[Hashable]) -> tuple[list[Id], list[str]]:
    plain = _plain_ids(list(ids))
    groups = [str(g.item() if isinstance(g, np.generic) else g) for g in groups]
    if len(plain) != len(groups):
        raise InvalidInputError(f"ids and groups differ in length ({len(plain)} vs {len(groups)})")
    if not plain:
        raise InvalidInputError("cannot split an empty list of ids")
    return plain, groups


def split_by_group(ids: Sequence[Any], groups: Sequence[Hashable],
                   fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0,
                   names: Sequence[str] | None = None) -> Split:
    """Split ``ids`` into parts of about ``fractions`` of the items, keeping each group whole.

    Groups are shuffled with ``seed``, then each goes to the part furthest below its target
    number of items, so part sizes are within about one group of the target. ``names`` defaults
    to ``train``/``val``/``test`` (``train``/``test`` for two fractions). A part with a positive
    fraction may stay empty when there are too few groups (a warning is logged).

    Example:
        >>> s = split_by_group(range(6), [0, 0, 1, 1, 2, 2], fractions=(2 / 3, 1 / 3), seed=1)
        >>> sorted(s.parts), len(s["train"]), len(s["test"])
        (['test', 'train'], 4, 2)
    """
    plain, groups_s = _check_inputs(ids, groups)
    fr = np.asarray([float(f) for f in fractions])
    if fr.ndim != 1 or fr.size < 2 or np.any(fr < 0) or abs(fr.sum() - 1.0) > 1e-6:
        raise InvalidInputError(f"fractions must be >= 0, at least two, and sum to 1; got {tuple(fractions)}")
    if names is None:
        names = ("train", "test") if fr.size == 2 else ("train", "val", "test") if fr.size == 3 else \
            tuple(f"part{i}" for i in range(fr.size))
    names = tuple(names)
    if len(names) != fr.size or len(set(names)) != len(names):
        raise InvalidInputError(f"names must be {fr.size} distinct strings, got {names}")

    members: dict[str, list[Id]] = {}
    for item, g in zip(plain, groups_s):
        members.setdefault(g, []).append(item)
    order = sorted(members)  # input-order independent, then shuffled by the seed
    rng = np.random.default_rng(seed)
    order = [order[i] for i in rng.permutation(len(order))]
    target = fr * len(plain)
    counts = np.zeros(fr.size)
    parts: dict[str, list[Id]] = {n: [] for n in names}
    for g in order:
        k = int(np.argmax(np.where(fr > 0, target - counts, -np.inf)))
        parts[names[k]].extend(members[g])
        counts[k] += len(members[g])
    for n, f in zip(names, fr):
        if f > 0 and not parts[n]:
            logger.warning("part %r is empty: %d groups are too few for fractions %s", n, len(order), tuple(fr))
    id_group = {str(i): g for i, g in zip(plain, groups_s)}
    split = Split(parts, seed=seed, groups=id_group, method="split_by_group",
                  info={"fractions": fr.tolist(), "n_groups": len(order)})
    split.validate()
    return split


def group_kfold(ids: Sequence[Any], groups: Sequence[Hashable], n_splits: int = 5,
                labels: Sequence[Hashable] | None = None, seed: int = 0) -> list[Split]:
    """``n_splits`` folds, each a :class:`Split` with ``train`` and ``val`` parts, groups kept whole.

    With ``labels`` the folds are stratified (scikit-learn ``StratifiedGroupKFold``), otherwise
    balanced by size (``GroupKFold``); both shuffled with ``seed``. Every id is in exactly one
    ``val`` part across the folds. For a held-out test set, split it off first with
    :func:`split_by_group` and run the folds on the rest.

    Example:
        >>> folds = group_kfold(range(10), [i // 2 for i in range(10)], n_splits=5)
        >>> [len(f["val"]) for f in folds]
        [2, 2, 2, 2, 2]
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    plain, groups_s = _check_inputs(ids, groups)
    n_groups = len(set(groups_s))
    if not 2 <= n_splits <= n_groups:
        raise InvalidInputError(f"n_splits must be between 2 and the number of groups ({n_groups}), got {n_splits}")
    x = np.zeros((len(plain), 1))
    if labels is not None:
        y = [str(v) for v in labels]
        if len(y) != len(plain):
            raise InvalidInputError(f"labels and ids differ in length ({len(y)} vs {len(plain)})")
        splitter: Any = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        method = "StratifiedGroupKFold"
    else:
        y = None
        if "shuffle" in inspect.signature(GroupKFold).parameters:
            splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        else:  # scikit-learn < 1.6: GroupKFold cannot shuffle
            logger.warning("this scikit-learn's GroupKFold cannot shuffle; folds do not depend on the seed")
            splitter = GroupKFold(n_splits=n_splits)
        method = "GroupKFold"
    id_group = {str(i): g for i, g in zip(plain, groups_s)}
    folds = []
    for k, (train, val) in enumerate(splitter.split(x, y, groups_s)):
        split = Split({"train": [plain[i] for i in train], "val": [plain[i] for i in val]}, seed=seed,
                      groups=id_group, method=method, info={"fold": k, "n_splits": n_splits})
        split.validate()
        folds.append(split)
    return folds


def save_split(path: str | Path, split: Split | Sequence[Split]) -> Path:
    """Write a split or a list of folds to ``path`` as JSON, atomically; returns the path."""
    single = isinstance(split, Split)
    splits = [split] if single else list(split)
    if not splits or not all(isinstance(s, Split) for s in splits):
        raise InvalidInputError("save_split needs a Split or a non-empty list of Split", path)
    for s in splits:
        s.validate(path)
    doc = {"format": _FORMAT, "version": 1, "kind": "split" if single else "folds",
           "splits": [s.to_dict() for s in splits]}
    return write_json_atomic(path, doc)


def load_split(path: str | Path) -> Split | list[Split]:
    """Read what :func:`save_split` wrote: a :class:`Split`, or a list of them for folds.

    Raises :class:`InvalidInputError` naming the file if it is missing, not JSON, not a split, or
    leaks an id or a group between parts.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError("split file not found", path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"not a JSON split file ({exc})", path) from None
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT or not isinstance(doc.get("splits"), list):
        raise InvalidInputError(f"not a biomedai split file (expected format {_FORMAT!r})", path)
    splits = []
    for entry in doc["splits"]:
        parts = entry.get("parts") if isinstance(entry, dict) else None
        if not isinstance(parts, dict) or not all(isinstance(v, list) for v in parts.values()):
            raise InvalidInputError("a split has no valid 'parts' mapping", path)
        split = Split({str(k): list(v) for k, v in parts.items()}, seed=entry.get("seed"),
                      groups=entry.get("groups"), method=entry.get("method", ""), info=entry.get("info") or {})
        split.validate(path)
        splits.append(split)
    if doc.get("kind") == "split":
        if len(splits) != 1:
            raise InvalidInputError(f"kind 'split' needs exactly one split, found {len(splits)}", path)
        return splits[0]
    return splits
