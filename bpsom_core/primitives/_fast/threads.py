"""How many CPUs the kernels may use now, and a Python-thread split of row kernels.

:func:`n_threads` is the policy every parallel kernel follows (also the
numba-parallel ones, :mod:`.parallel`): the CPUs this process may run on,
capped, less the CPUs other processes kept busy over the last second.

:func:`run_rows` splits a per-example numba kernel's rows over plain Python
threads (the kernels release the GIL).  The calling thread works too, and
rows are handed out in chunks from a shared counter: when the machine is busy
and a helper thread is not scheduled, the caller simply takes the remaining
chunks itself.  A hand-off costs 15-25 us, so sub-millisecond kernels use
numba's OpenMP layer instead (:mod:`.parallel`, about 2 us).

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
    less those that other processes kept busy over the last second or so.

    A helper is only worth starting on a CPU that is mostly idle, since a
    helper that loses its CPU in the middle of a chunk makes the caller wait
    for it.  Our own process's CPU time does not count as "busy": a long run
    of our own kernels must not talk us out of our second core.
    """
    global _budget
    now = time.monotonic()
    if now - _budget[0] <= 1.0:  # decide at most once a second
        return _budget[1]
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    n = max(1, min(n, MAX_THREADS))
    if n > 1:
        n = max(1, min(n, n - int(_others_busy(now) + 0.5)))
    _budget = (now, n)
    return n


_budget = (-10.0, 1)  # (when decided, threads) for n_threads
_sample: tuple | None = None  # (monotonic time, busy CPU-seconds of the machine, our CPU-seconds)


def _forget_samples() -> None:
    """A forked child starts its own CPU clock: the parent's samples mean nothing there."""
    global _budget, _sample
    _budget, _sample = (-10.0, 1), None


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_samples)


def _machine_busy_seconds() -> float | None:
    """CPU-seconds the whole machine has spent busy (steal included), from /proc/stat."""
    try:
        with open("/proc/stat", "rb") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if len(fields) < 5 or fields[0] != b"cpu":
        return None
    ticks = [int(v) for v in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _others_busy(now: float) -> float:
    """CPUs' worth of work other processes did since the last sample: the machine's
    busy time less our own (all our threads).  Without /proc/stat, or on the first
    call, the 1-minute load average less one (the caller) stands in."""
    global _sample
    busy = _machine_busy_seconds()
    times = os.times()
    ours = times.user + times.system
    last, _sample = _sample, (None if busy is None else (now, busy, ours))
    if last is None or busy is None or now - last[0] < 0.2:
        try:
            return max(os.getloadavg()[0], 1.0) - 1.0
        except (AttributeError, OSError):  # pragma: no cover - no load average
            return 0.0
    return max(0.0, ((busy - last[1]) - (ours - last[2])) / (now - last[0]))


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
