"""``python -m biomedai`` is the same as the ``biomedai`` command."""
from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
