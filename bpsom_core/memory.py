"""Memory estimates for sizes a user gives, checked before anything is allocated.

A typo like ``--hidden 100000000`` or a 100000x100000 SOM should be refused
in a millisecond with the figure, not after minutes of swapping or a
MemoryError deep inside NumPy.  The estimates are deliberately rough (within
a small factor); they only have to tell "fits" from "cannot possibly fit".
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

from .errors import InputError

FLOAT = 8  # bytes per float64 (the engines keep a few copies of every weight matrix)


def available_bytes() -> Optional[int]:
    """Memory this process could still get: MemAvailable (Linux), else physical memory; None if unknown."""
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def network_bytes(layer_sizes: Sequence[int], som_dims: Sequence[int], rows: int = 0,
                  copies: int = 4) -> int:
    """Rough bytes for an MLP with SOMs: weights (``copies`` of each: weights, velocity,
    gradients, best snapshot), SOM prototypes, the cell-to-cell distance table of
    each SOM, and one activation vector per data row and layer."""
    total = 0
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        total += copies * (int(n_in) + 1) * (int(n_out) + 1) * FLOAT
    for n_units, dim in zip(layer_sizes[1:], som_dims):
        cells = int(dim) ** 2
        if cells:
            total += 2 * cells * (int(n_units) + 1) * FLOAT   # prototypes and their counts/labels
            total += cells * cells * 2                         # int16 distance table between cells
    total += int(rows) * sum(int(n) for n in layer_sizes) * FLOAT
    return total


EIB = 1024 ** 6   # past this a figure reads "more than 1 EiB" (a 400-digit byte count would overflow a float)


def human(n: float) -> str:
    """Bytes as a short figure (``3.2 GiB``)."""
    if n >= EIB:
        return "more than 1 EiB"
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def check_fits(need: int, what: str, path: Optional[str] = None, field: Optional[str] = None) -> None:
    """Raise InputError when ``need`` bytes exceed the memory available now."""
    have = available_bytes()
    if have is not None and need > have:
        amount = human(need) if need >= EIB else f"about {human(need)}"
        raise InputError(f"{what} needs {amount} of memory, more than the {human(have)} "
                         f"available", path=path, field=field)
