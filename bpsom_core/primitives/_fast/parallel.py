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

Compiling a ``parallel=True`` kernel takes seconds (4-5 s for the winner
search or the exact engine's evaluation pass on an idle core), more than a
small run spends in it.  So a parallel kernel that is neither compiled in
this process nor in numba's on-disk cache is only compiled once the serial
kernel has done about as much work as that compile costs (the ski-rental
rule: a run never pays more than twice the better choice).  Small runs never
compile it; long ones switch over early; results are the same either way.
"""

from __future__ import annotations

import os
import threading

import numba as _nb

from . import threads as _threads
from ..._numba_cache import cached_on_disk

_FAST_LAYERS = ("omp", "tbb")
_layer: str | None = None      # numba's threading layer, once a parallel kernel ran here
_inherited = False             # a fork copied a started OpenMP layer into this process
_lock = threading.Lock()
# Work units (row x unit steps, as :func:`chunks_for` counts them) a serial kernel does in
# about the time a parallel twin takes to compile: 4-5 s at roughly 1e9 steps/s.
PAYBACK_WORK = 4_000_000_000
_serial_work: dict[int, int] = {}   # id(parallel kernel) -> work done serially while it was cold
_ready: set[int] = set()            # parallel kernels compiled or cached: no more waiting


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


def worth_compiling(kernel, work: int) -> bool:
    """True when ``kernel`` (a parallel numba dispatcher) is compiled or cached, or the
    serial kernel has now done enough work to pay for compiling it (module doc)."""
    key = id(kernel)
    if key in _ready:
        return True
    if kernel.signatures or cached_on_disk(kernel):
        _ready.add(key)
        return True
    done = _serial_work.get(key, 0) + work
    _serial_work[key] = done
    if done >= PAYBACK_WORK:
        _ready.add(key)
        return True
    return False


def chunks_for(n_rows: int, work: int, min_work: int | None = None, kernel=None) -> int:
    """How many chunks to split ``n_rows`` rows (``work`` steps in all) into for a
    parallel kernel: 0 means run the serial kernel (small work, one free CPU,
    no usable parallel layer here, or ``kernel``, the parallel dispatcher the
    caller would launch, not yet worth its compile: :func:`worth_compiling`)."""
    if n_rows < 2 or work < (_threads.MIN_WORK if min_work is None else min(min_work, _threads.MIN_WORK)):
        return 0
    n = min(_threads.n_threads(), n_rows)
    if n < 2 or (kernel is not None and not worth_compiling(kernel, work)) or not parallel_usable():
        return 0
    n = min(n, _nb.config.NUMBA_NUM_THREADS)
    return n if n >= 2 else 0
