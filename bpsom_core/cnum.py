"""C number conversions that NumPy and Python do not give exactly.

``scanf("%f")`` rounds a decimal string straight to float32 (``strtof``);
``np.float32(float(s))`` rounds twice and can differ when the double lands
exactly half-way between two float32 values.  ``strtof`` here detects that
case and settles it with exact rational arithmetic.
"""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np

_FLOAT_PREFIX = re.compile(rb"[ \t\n\v\f\r]*([+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan))",
                           re.IGNORECASE)
_INT_PREFIX = re.compile(rb"[ \t\n\v\f\r]*([+-]?\d+)")


def strtof(text: str) -> np.float32:
    """Correctly rounded decimal -> float32, as glibc's ``strtof``."""
    d = float(text)
    with np.errstate(over="ignore"):   # beyond float32's range is inf, as strtof gives
        f = np.float32(d)
    if not np.isfinite(f) or float(f) == d:
        return f
    # neighbour on the other side of d
    with np.errstate(over="ignore"):
        other = np.nextafter(f, np.float32(np.inf) if d > float(f) else np.float32(-np.inf), dtype=np.float32)
    if not np.isfinite(other):
        return f  # beyond the largest float32 the double already decides (overflow threshold is no tie here)
    mid = (Fraction(float(f)) + Fraction(float(other))) / 2
    if Fraction(d) != mid:
        return f  # d is not a tie: rounding d once more is correct
    exact = Fraction(text.strip())
    if exact == mid:  # a true tie: round half to even
        return f if (int(f.view(np.uint32)) & 1) == 0 else other
    closer_to_other = (exact > mid) == (float(other) > float(f))
    return other if closer_to_other else f


def strtof_array(tokens: list[str]) -> np.ndarray:
    """``strtof`` over many tokens, fast for the common no-tie case."""
    d = np.array([float(t) for t in tokens], dtype=np.float64)
    with np.errstate(over="ignore"):
        f = d.astype(np.float32)
    suspicious = np.nonzero(f.astype(np.float64) != d)[0]
    if suspicious.size:
        # only values that may sit on a float32 midpoint need the slow path
        with np.errstate(over="ignore"):
            up = np.nextafter(f[suspicious], np.float32(np.inf))
            down = np.nextafter(f[suspicious], np.float32(-np.inf))
        ds = d[suspicious]
        other = np.where(ds > f[suspicious].astype(np.float64), up, down)
        mid = (f[suspicious].astype(np.float64) + other.astype(np.float64)) / 2.0
        for k in np.nonzero(mid == ds)[0]:
            idx = suspicious[k]
            f[idx] = strtof(tokens[idx])
    return f


def c_int_prefix(data: bytes) -> tuple[int, int] | None:
    """Parse an int as ``%d`` does: skip white space, sign, digits.

    Returns (value, bytes consumed) or None when no digits follow.
    """
    m = _INT_PREFIX.match(data)
    if not m:
        return None
    return int(m.group(1)), m.end()


def c_float_prefix(data: bytes) -> tuple[np.float32, int] | None:
    """Parse a float as ``%f`` does; returns (float32, bytes consumed) or None."""
    m = _FLOAT_PREFIX.match(data)
    if not m:
        return None
    return strtof(m.group(1).decode("ascii")), m.end()


def to_int32(value: int) -> int:
    """Wrap an integer the way a C ``int`` would hold it."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= (1 << 31) else value


def is_number(token: bytes) -> bool:
    """Does `token` parse as a (Python) float?"""
    try:
        float(token.decode("ascii"))
        return True
    except (ValueError, UnicodeDecodeError):
        return False
