"""JSON history of a run: one record per pass, for plotting and scripts."""

from __future__ import annotations

import json
import os
from typing import Any

from ..atomic import atomic_write_text


def write_history(path: str | os.PathLike, history: Any) -> None:
    """Write `history` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(history, indent=1) + "\n")
