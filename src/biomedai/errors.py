"""Exceptions raised by biomedai. The CLI turns any of them into one line and exit code 2."""
from __future__ import annotations

from pathlib import Path


class BiomedaiError(Exception):
    """Base class of every error biomedai raises on purpose."""


class InvalidInputError(BiomedaiError, ValueError):
    """A file or array is corrupt, truncated, empty, of the wrong type or otherwise unusable."""

    def __init__(self, problem: str, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)


class UnsupportedFormatError(InvalidInputError):
    """A file's format is not one biomedai reads or writes."""


class ConfigError(BiomedaiError, ValueError):
    """A configuration value or key is wrong; the message names the key."""


class MethodNotFoundError(BiomedaiError, KeyError):
    """No method is registered under the given name."""

    def __str__(self) -> str:  # KeyError quotes its message; we do not want that
        return str(self.args[0]) if self.args else "method not found"


class WeightsError(BiomedaiError):
    """Model weights are missing, do not match their checksum or do not fit the model."""
