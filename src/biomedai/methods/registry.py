"""The method registry: the CLI, demo, benchmarks and workflow find methods only through it."""
from __future__ import annotations

import importlib
import importlib.metadata
import logging
import pkgutil

from ..errors import MethodNotFoundError
from .base import Method

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "biomedai.methods"
_REGISTRY: dict[str, type[Method]] = {}
_discovered = False


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make a :class:`Method` subclass findable by its ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"{cls!r} is not a Method subclass")
    name = getattr(cls, "name", None)
    if not name or not isinstance(name, str):
        raise TypeError(f"{cls.__name__} needs a string class attribute 'name'")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"method name {name!r} is taken by {existing.__module__}.{existing.__qualname__}")
    _REGISTRY[name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove a method (used by tests that register temporary methods)."""
    _REGISTRY.pop(name, None)


def discover() -> None:
    """Import every ``biomedai.methods.<name>`` package and every ``biomedai.methods`` entry point."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    package = importlib.import_module("biomedai.methods")
    for info in pkgutil.iter_modules(package.__path__):
        if info.ispkg:
            importlib.import_module(f"biomedai.methods.{info.name}")
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            register(entry.load())
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not break the toolkit
            log.warning("could not load method plug-in %s: %s", entry.name, exc)


def list_methods() -> list[type[Method]]:
    """All registered methods, sorted by name."""
    discover()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_method(name: str) -> type[Method]:
    """The method class registered as ``name``."""
    discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none registered yet"
        raise MethodNotFoundError(f"no method named {name!r} (known: {known})") from None
