"""When a numba ``parallel=True`` kernel may run, and over how many chunks.

numba's OpenMP and TBB layers start a parallel loop in about 2 us, against
15-25 us for handing rows to Python threads, which matters for sub-millisecond
steps.  Two cases must not launch one:

* numba chose its ``workqueue`` layer (no OpenMP or TBB): launching costs
  tens of microseconds and it is not thread-safe;
* GNU OpenMP was started in this process's parent, which then forked us:
  libgomp cannot run in a forked child, and numba terminates the child.

A fork hook notes whether the layer had started before the fork (whoever
started it); :func:`chunks_for` then says 0, and the caller runs its serial
kernel instead.
"""

from __future__ import annotations

import os
import threading

import numba as _nb

from . import threads as _threads

_FAST_LAYERS = ("omp", "tbb")
_layer: str | None = None      # numba's threading layer, once a parallel kernel ran here
_inherited = False             # a fork copied a started OpenMP layer into this process
_lock = threading.Lock()


def _started_layer() -> str | None:
    """numba's threading layer if some parallel kernel has started it, else None."""
    try:
        return _nb.threading_layer()
    except Exception:  # ValueError: no parallel kernel has run yet
        return None


def _after_fork_in_child() -> None:
    global _inherited
    if _started_layer() == "omp":
        _inherited = True


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


@_nb.njit(parallel=True, cache=True)
def _probe(out):  # pragma: no cover - compiled
    for j in _nb.prange(out.shape[0]):
        out[j] = j


def parallel_usable() -> bool:
    """True when a ``parallel=True`` kernel may be launched in this process (module doc)."""
    global _layer
    if _inherited:
        return False
    if _layer is None:
        with _lock:
            if _layer is None:
                import numpy as np
                try:
                    _probe(np.zeros(2))
                    _layer = _nb.threading_layer()
                except Exception:  # no threading layer can be loaded here
                    _layer = "none"
    return _layer in _FAST_LAYERS


def chunks_for(n_rows: int, work: int, min_work: int | None = None) -> int:
    """How many chunks to split ``n_rows`` rows (``work`` steps in all) into for a
    parallel kernel: 0 means run the serial kernel (small work, one free CPU,
    or no usable parallel layer here)."""
    if n_rows < 2 or work < (_threads.MIN_WORK if min_work is None else min(min_work, _threads.MIN_WORK)):
        return 0
    n = min(_threads.n_threads(), n_rows)
    if n < 2 or not parallel_usable():
        return 0
    n = min(n, _nb.config.NUMBA_NUM_THREADS)
    return n if n >= 2 else 0
