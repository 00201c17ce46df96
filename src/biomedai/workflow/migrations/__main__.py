"""``python -m biomedai.workflow.migrations upgrade|current|revision``."""
from __future__ import annotations

from . import main

raise SystemExit(main())
