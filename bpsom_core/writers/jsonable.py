"""One JSON helper for every writer: NumPy values, tuples and paths as plain Python."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plain(x: Any) -> Any:
    """A JSON/YAML-safe copy: str keys, tuples as lists, NumPy scalars and arrays as Python, paths as str.

    Anything else is returned as it is.
    """
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    return x


def json_default(x: Any) -> Any:
    """``default=`` for :func:`json.dumps`: :func:`plain`, or the text of what has no JSON form."""
    out = plain(x)
    return str(x) if out is x else out
