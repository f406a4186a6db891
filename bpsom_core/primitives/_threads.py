"""Split a per-example numba kernel's rows over a few Python threads.

The kernels release the GIL (``nogil=True``), so plain threads run them in
parallel.  The calling thread works too, and rows are handed out in chunks
from a shared counter: when the machine is busy and a helper thread is not
scheduled, the caller simply takes the remaining chunks itself, so a call is
never slower than the serial kernel by more than one chunk.  (numba's own
``parallel=True`` waits at a barrier for every thread instead, which costs
milliseconds when the cores are shared with other jobs.)

Rows are independent and every row is computed by exactly one kernel call,
so results do not depend on the split.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

MAX_THREADS = 4          # helpers + the caller
MIN_WORK = 1 << 21       # below this many (row x unit of work) steps stay serial
CHUNKS_PER_THREAD = 4

_pool: ThreadPoolExecutor | None = None
_pool_pid = -1
_pool_lock = threading.Lock()


def n_threads() -> int:
    """Threads a split may use (the caller included): the CPUs we may run on, capped,
    less those the 1-minute load average says other work keeps busy.

    The caller's own thread counts as one unit of load; a helper is only worth
    starting on a CPU that is mostly idle, since a helper that loses its CPU
    in the middle of a chunk makes the caller wait for it.
    """
    global _budget
    now = time.monotonic()
    if now - _budget[0] <= 1.0:  # CPUs and load move slowly: decide at most once a second
        return _budget[1]
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    n = max(1, min(n, MAX_THREADS))
    if n > 1:
        busy = max(_load_average(), 1.0) - 1.0  # runnable work besides the caller
        n = max(1, min(n, 1 + int(n - 1 - busy + 0.5)))
    _budget = (now, n)
    return n


_budget = (-10.0, 1)  # (when decided, threads) for n_threads
_load = (-1.0, 0.0)  # (when read, value): the average moves slowly, read it once a second


def _load_average() -> float:
    global _load
    now = time.monotonic()
    if now - _load[0] > 1.0:
        try:
            _load = (now, os.getloadavg()[0])
        except (AttributeError, OSError):  # pragma: no cover - no load average
            _load = (now, 0.0)
    return _load[1]


def _helpers(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():  # new process after fork: new threads
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="bpsom-rows")
            _pool_pid = os.getpid()
        return _pool


class _Job:
    __slots__ = ("fn", "args", "n_rows", "chunk", "next", "done", "lock", "finished", "error")

    def __init__(self, fn, args, n_rows, chunk):
        self.fn, self.args, self.n_rows, self.chunk = fn, args, n_rows, chunk
        self.next = 0
        self.done = 0
        self.lock = threading.Lock()
        self.finished = threading.Event()
        self.error: BaseException | None = None

    def work(self) -> None:
        while True:
            with self.lock:
                start = self.next
                if start >= self.n_rows:
                    return
                stop = self.next = min(start + self.chunk, self.n_rows)
            try:
                self.fn(*self.args, start, stop)
            except BaseException as exc:  # pragma: no cover - re-raised by the caller
                self.error = exc
            with self.lock:
                self.done += stop - start
                if self.done == self.n_rows:
                    self.finished.set()


def run_rows(fn: Callable[..., Any], n_rows: int, row_work: int, *args: Any,
             min_work: int | None = None) -> None:
    """Call ``fn(*args, start, stop)`` over ``0..n_rows`` in chunks, on up to
    :func:`n_threads` threads when the work (``n_rows * row_work``) reaches
    ``min_work`` (default :data:`MIN_WORK`).

    ``fn`` must write disjoint outputs for disjoint row ranges.
    """
    if n_rows <= 0:
        return
    small = n_rows < 2 or n_rows * row_work < (MIN_WORK if min_work is None else min(min_work, MIN_WORK))
    n = 1 if small else n_threads()
    if n == 1:
        fn(*args, 0, n_rows)
        return
    chunk = max(1, -(-n_rows // (n * CHUNKS_PER_THREAD)))
    job = _Job(fn, args, n_rows, chunk)
    pool = _helpers(n - 1)
    for _ in range(min(n - 1, -(-n_rows // chunk) - 1)):
        pool.submit(job.work)
    job.work()
    job.finished.wait()  # only chunks a helper already took can be outstanding
    if job.error is not None:
        raise job.error
