"""The JSON-lines metrics log: one JSON object per line, per epoch and optionally every N steps."""
from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ..utils import json_default, write_text_atomic

logger = logging.getLogger(__name__)


class JsonlLogger:
    """Append records to ``path`` as JSON lines (NaN/inf written as ``null``); disabled off rank 0.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "metrics.jsonl"
        >>> JsonlLogger(path).log({"kind": "epoch", "epoch": 1, "train_loss": 0.5})
        >>> read_jsonl(path)
        [{'kind': 'epoch', 'epoch': 1, 'train_loss': 0.5}]
    """

    def __init__(self, path: str | Path | None, enabled: bool = True) -> None:
        self.path = Path(path) if path is not None else None
        self.enabled = enabled and self.path is not None

    def log(self, record: dict[str, Any]) -> None:
        """Append one record as a JSON line."""
        if not self.enabled:
            return
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(_finite(record), default=json_default, allow_nan=False)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()

    def keep_epochs_up_to(self, epoch: int) -> None:
        """On resume: drop records of epochs after ``epoch`` (written after the checkpoint), atomically."""
        if not self.enabled or self.path is None or not self.path.is_file():
            return
        kept = [r for r in read_jsonl(self.path) if int(r.get("epoch", 0)) <= epoch]
        write_text_atomic(self.path, "".join(json.dumps(r, default=json_default) + "\n" for r in kept))


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """All records of a JSON-lines file; a truncated last line (a crash mid-write) is skipped with a warning."""
    return list(iter_jsonl(path))


def iter_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the records of a JSON-lines file one by one."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):
                logger.warning("%s: skipping truncated last line %d", path, number)
                return
            raise InvalidInputError(f"line {number} is not valid JSON ({exc.msg})", path) from exc


def _finite(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
