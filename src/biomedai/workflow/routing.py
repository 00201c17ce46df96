"""Declarative routing: which registered methods run on which input.

Rules live in a YAML file (or a list of dicts)::

    rules:
      - name: hip radiographs
        match: {modality: [DX, CR], body_part: [HIP, PELVIS]}
        methods: [hip_dysplasia]
      - name: cryo-ET tomograms
        match: {kind: volume/mrc}
        methods: auto
        priority: 10
      - name: everything else
        match: {}
        methods: auto

The first rule whose ``match`` fits an input unit decides. Match keys (each a string or a list of
shell-style patterns, compared case-insensitively): ``modality``, ``body_part``,
``series_description``, ``kind`` (``image/rgb``, ``dicom/CT``, ``volume/mrc``, ``wsi``, ...),
``format`` (``png``, ``dicom``, ``mrc``, ...) and ``source`` (``upload``, ``watch``, ...).

``methods`` is a list of method names (or mappings ``{name: NAME, weights: PATH, config: {...}}``
giving the method its trained weights and config overrides) or ``auto``: every registered method whose
``input_kinds`` accept the unit's kind. Methods are found only through
:func:`biomedai.methods.registry.list_methods`; a named method whose ``input_kinds`` do not accept
the unit's kind is skipped (logged), so a rule can never feed a method what it cannot read.
``priority`` (default 0) orders the queue (higher first). With no rules file, the one rule
``{match: {}, methods: auto}`` applies.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError

log = logging.getLogger(__name__)

MATCH_KEYS = ("modality", "body_part", "series_description", "kind", "format", "source")


@dataclasses.dataclass(frozen=True)
class Unit:
    """One routable input: a non-DICOM file or one DICOM series."""

    kind: str
    format: str = ""
    modality: str = ""
    body_part: str = ""
    series_description: str = ""
    source: str = "upload"


@dataclasses.dataclass(frozen=True)
class Rule:
    name: str
    match: dict[str, tuple[str, ...]]
    methods: tuple[str, ...] | None  # None means auto
    priority: int = 0
    options: tuple[tuple[str, dict[str, Any]], ...] = ()  # per-method weights/config

    def options_for(self, name: str) -> dict[str, Any]:
        return dict(next((o for n, o in self.options if n == name), {}))

    def matches(self, unit: Unit) -> bool:
        for key, patterns in self.match.items():
            value = str(getattr(unit, key) or "").lower()
            if not any(fnmatch.fnmatchcase(value, p.lower()) for p in patterns):
                return False
        return True


#: kinds that say how pixels are stored, not what they show: ``auto`` sends them only to methods that look
#: at the content (override :meth:`~biomedai.methods.base.Method.check_input`); a rule may still name any method
GENERIC_KINDS = ("image/grey", "image/rgb")


def checks_content(cls: type) -> bool:
    """True when a method class overrides ``check_input`` (it says what it can read)."""
    from ..methods.base import Method

    return getattr(cls, "check_input", Method.check_input) is not Method.check_input


@dataclasses.dataclass(frozen=True)
class Declined:
    """A method that will not run on an input: ``status`` "declined" (content) or "not configured" (no model)."""

    method: str
    status: str
    reason: str


def screen(names: Sequence[str], path: Path, options: Mapping[str, Mapping[str, Any]] | None = None
           ) -> tuple[list[str], list[Declined]]:
    """The methods of ``names`` that can run on ``path`` now, and why the others cannot.

    Each method says itself: :meth:`~biomedai.methods.base.Method.check_input` (what the input shows),
    then :meth:`~biomedai.methods.base.Method.not_configured` (no model; with the weights a rule gives it).
    A check that raises declines with that error (logged), so a broken check never runs its method blindly.
    """
    from ..methods.registry import get_method

    run, declined = [], []
    for name in names:
        opts = dict((options or {}).get(name) or {})
        try:
            cls = get_method(name)
            try:
                method = cls(opts.get("config")) if opts.get("config") else cls()
            except Exception:  # noqa: BLE001 - a config the method refuses fails the job later, with its message
                method = cls()
            reason = method.check_input(Path(path))
            if not reason:
                missing = method.not_configured(Path(opts["weights"]) if opts.get("weights") else None)
                if missing:
                    declined.append(Declined(name, "not configured", missing))
                    continue
        except Exception as exc:
            log.warning("input check of %s on %s failed", name, Path(path).name, exc_info=True)
            reason = f"its input check failed ({type(exc).__name__}: {exc})"
        if reason:
            declined.append(Declined(name, "declined", str(reason)))
        else:
            run.append(name)
    return run, declined


def kind_accepted(kind: str, input_kinds: Sequence[str]) -> bool:
    """True when one of a method's ``input_kinds`` (patterns allowed, e.g. ``dicom/*``) accepts ``kind``."""
    return any(fnmatch.fnmatchcase(kind.lower(), k.lower()) for k in input_kinds)


def _rule_from_dict(raw: Any, index: int, source: str) -> Rule:
    where = f"{source}: rule {index + 1}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a mapping with 'match' and 'methods'")
    unknown = set(raw) - {"name", "match", "methods", "priority"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    name = str(raw.get("name") or f"rule {index + 1}")
    match_raw = raw.get("match") or {}
    if not isinstance(match_raw, Mapping):
        raise ConfigError(f"{where} ({name}): key 'match' must be a mapping")
    match: dict[str, tuple[str, ...]] = {}
    for key, value in match_raw.items():
        if key not in MATCH_KEYS:
            raise ConfigError(f"{where} ({name}): unknown match key {key!r} (known: {', '.join(MATCH_KEYS)})")
        values = [value] if isinstance(value, (str, int, float)) else value
        if not isinstance(values, Sequence) or not values or not all(isinstance(v, (str, int, float)) for v in values):
            raise ConfigError(f"{where} ({name}): match key {key!r} must be a string or a list of strings")
        match[key] = tuple(str(v) for v in values)
    methods_raw = raw.get("methods", "auto")
    options: list[tuple[str, dict[str, Any]]] = []
    if methods_raw == "auto":
        methods = None
    elif isinstance(methods_raw, Sequence) and not isinstance(methods_raw, str):
        names = []
        for entry in methods_raw:
            if isinstance(entry, str):
                names.append(entry)
            elif isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
                extra = set(entry) - {"name", "weights", "config"}
                if extra:
                    raise ConfigError(f"{where} ({name}): method entry has unknown key(s) {', '.join(sorted(extra))}")
                if "config" in entry and not isinstance(entry["config"], Mapping):
                    raise ConfigError(f"{where} ({name}): 'config' of method {entry['name']!r} must be a mapping")
                names.append(entry["name"])
                options.append((entry["name"], {k: (str(v) if k == "weights" else dict(v))
                                                for k, v in entry.items() if k in ("weights", "config")}))
            else:
                raise ConfigError(f"{where} ({name}): key 'methods' must be 'auto' or a list of method names")
        methods = tuple(names)
    else:
        raise ConfigError(f"{where} ({name}): key 'methods' must be 'auto' or a list of method names")
    priority = raw.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ConfigError(f"{where} ({name}): key 'priority' must be an integer")
    return Rule(name=name, match=match, methods=methods, priority=priority, options=tuple(options))


class Router:
    """Chooses methods for input units from a rule list, through the method registry."""

    def __init__(self, rules: Sequence[Rule] | None = None) -> None:
        self.rules = list(rules) if rules else [Rule("default", {}, None, 0)]

    @classmethod
    def from_data(cls, data: Any, source: str = "routing rules", check_methods: bool = True) -> Router:
        if isinstance(data, Mapping):
            unknown = set(data) - {"rules"}
            if unknown:
                raise ConfigError(f"{source}: unknown top-level key(s) {', '.join(sorted(unknown))}")
            data = data.get("rules")
        if not isinstance(data, Sequence) or isinstance(data, str):
            raise ConfigError(f"{source}: key 'rules' must be a list of rules")
        router = cls([_rule_from_dict(r, i, source) for i, r in enumerate(data)])
        if check_methods:
            router.check_methods()
        return router

    @classmethod
    def from_yaml(cls, path: str | Path, check_methods: bool = True) -> Router:
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read routing rules ({exc.strerror})") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
        router = cls.from_data(data or {"rules": []}, source=str(path), check_methods=check_methods)
        for rule in router.rules:  # weights paths are relative to the rules file
            for _name, opts in rule.options:
                if "weights" in opts and not Path(opts["weights"]).is_absolute():
                    opts["weights"] = str((path.parent / opts["weights"]).resolve())
        return router

    def check_methods(self) -> None:
        """Every method a rule names must be registered (raises ConfigError naming the rule)."""
        from ..errors import MethodNotFoundError
        from ..methods.registry import get_method

        for rule in self.rules:
            for name in rule.methods or ():
                try:
                    get_method(name)
                except MethodNotFoundError as exc:
                    raise ConfigError(f"routing rule {rule.name!r}: {exc}") from None

    def rule_for(self, unit: Unit) -> Rule | None:
        return next((r for r in self.rules if r.matches(unit)), None)

    def route(self, unit: Unit) -> tuple[list[str], int, str]:
        """``(method names, priority, rule name)`` for one unit; no methods when no rule matches.

        The weights/config a rule gives a method are in ``self.rule_for(unit).options_for(name)``.
        """
        from ..methods.registry import get_method, list_methods

        rule = self.rule_for(unit)
        if rule is None:
            return [], 0, ""
        if rule.methods is None:
            names = [m.name for m in list_methods() if kind_accepted(unit.kind, m.input_kinds)
                     and (unit.kind not in GENERIC_KINDS or checks_content(m))]
        else:
            names = []
            for name in rule.methods:
                cls = get_method(name)
                if kind_accepted(unit.kind, cls.input_kinds):
                    names.append(name)
                else:
                    log.warning("routing rule %r names %s, which does not accept %s (input_kinds %s); skipped",
                                rule.name, name, unit.kind, list(cls.input_kinds))
        return names, rule.priority, rule.name
