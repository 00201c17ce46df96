"""Configuration dataclasses: loadable from YAML/JSON/dicts, validated with errors that name the key."""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError

C = TypeVar("C", bound="BaseConfig")


@dataclasses.dataclass
class BaseConfig:
    """Base of every config. Subclasses add fields with the paper's defaults.

    Example:
        >>> @dataclasses.dataclass
        ... class MyConfig(BaseConfig):
        ...     epochs: int = 10
        >>> MyConfig.from_dict({"epochs": 3}).epochs
        3
    """

    seed: int = 0

    @classmethod
    def from_dict(cls: type[C], values: dict[str, Any] | None, source: str = "config") -> C:
        """Build and validate from a mapping; unknown keys and wrong types raise ``ConfigError``."""
        values = dict(values or {})
        known = {f.name: f for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"{source}: unknown key {unknown[0]!r} for {cls.__name__}; "
                              f"known keys: {', '.join(sorted(known))}")
        hints = typing.get_type_hints(cls)
        converted = {}
        for key, value in values.items():
            converted[key] = _coerce(value, hints.get(key, Any), f"{source}: key {key!r}")
        try:
            config = cls(**converted)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: {exc}") from exc
        config.validate()
        return config

    @classmethod
    def from_file(cls: type[C], path: str | Path) -> C:
        """Load from a YAML or JSON file."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        text = path.read_text(encoding="utf-8")
        try:
            if path.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text)
        except Exception as exc:  # noqa: BLE001 - turn any parser error into one clear message
            raise ConfigError(f"{path}: not valid YAML/JSON ({exc.__class__.__name__}: {exc})") from exc
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"{path}: top level must be a mapping of keys to values")
        return cls.from_dict(data, source=str(path))

    def replace(self: C, **changes: Any) -> C:
        """A validated copy with some fields changed (e.g. from ``--set key=value``)."""
        merged = self.to_dict()
        merged.update(changes)
        return type(self).from_dict(merged)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def check_rules(self, checks: typing.Iterable[tuple[str, bool, str]]) -> None:
        """Raise ``ConfigError`` naming the key, the rule and the value for the first ``(key, ok, rule)``
        whose ``ok`` is false (the shared tail of every subclass's ``validate``)."""
        for key, ok, rule in checks:
            if not ok:
                raise ConfigError(f"key {key!r} {rule}, got {getattr(self, key)!r}")

    def validate(self) -> None:
        """Check value ranges; override and raise ``ConfigError`` naming the key."""
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"key 'seed' must be a non-negative integer, got {self.seed!r}")


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """Parse ``key=value`` strings (values as YAML scalars/lists) from the command line."""
    import yaml

    result: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {pair!r} must look like key=value")
        result[key.strip()] = yaml.safe_load(raw)
    return result


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against a type hint, converting lists to tuples and ints to floats."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or hint is typing.Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: unexpected value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where} must be one of {list(args)}, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where} needs {len(args)} values, got {len(value)}")
            items = [_coerce(v, a, where) for v, a in zip(value, args)]
        else:
            item_hint = args[0] if args else Any
            items = [_coerce(v, item_hint, where) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    if hint is Path:
        if not isinstance(value, (str, Path)):
            raise ConfigError(f"{where} must be a path, got {value!r}")
        return Path(value)
    return value
