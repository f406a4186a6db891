"""A parallel kernel is compiled only when a run has done enough work to pay for it.

Compiling a ``parallel=True`` kernel costs seconds; a small first run must not
pay that (issue: first contact), a long run must still get its second core.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from bpsom_core.primitives._fast import parallel as _parallel

ROOT = Path(__file__).resolve().parents[1]


class FakeDispatcher:
    """Just what :func:`worth_compiling` reads of a numba dispatcher."""

    def __init__(self, signatures=()):
        self.signatures = list(signatures)


def test_cold_kernel_waits_until_serial_work_pays_for_its_compile(monkeypatch):
    monkeypatch.setattr(_parallel, "PAYBACK_WORK", 1000)
    kernel = FakeDispatcher()
    assert [_parallel.worth_compiling(kernel, 300) for _ in range(3)] == [False, False, False]
    assert _parallel.worth_compiling(kernel, 300)        # 1,200 >= 1,000: compile it now
    assert _parallel.worth_compiling(kernel, 1)          # and from then on, whatever the work
    other = FakeDispatcher()
    assert not _parallel.worth_compiling(other, 999)     # each kernel keeps its own account


def test_compiled_kernel_is_used_at_once(monkeypatch):
    monkeypatch.setattr(_parallel, "PAYBACK_WORK", 10 ** 18)
    assert _parallel.worth_compiling(FakeDispatcher(["(float64[:],)"]), 1)


def test_cached_kernel_is_used_at_once(monkeypatch, tmp_path):
    monkeypatch.setattr(_parallel, "PAYBACK_WORK", 10 ** 18)
    index = tmp_path / "kernel.nbi"
    kernel = FakeDispatcher()
    kernel._cache = type("C", (), {"_cache_file": type("F", (), {"_index_path": str(index)})()})()
    assert not _parallel.worth_compiling(kernel, 1)
    index.write_bytes(b"")
    assert _parallel.worth_compiling(kernel, 1)


def test_chunks_for_declines_a_cold_kernel_before_probing_threads(monkeypatch):
    from bpsom_core.primitives._fast import threads as _threads
    monkeypatch.setattr(_threads, "n_threads", lambda: 2)
    monkeypatch.setattr(_parallel, "PAYBACK_WORK", 10 ** 18)
    probed = []
    monkeypatch.setattr(_parallel, "parallel_usable", lambda: probed.append(1) or True)
    assert _parallel.chunks_for(1000, 10 ** 9, kernel=FakeDispatcher()) == 0
    assert probed == []                                  # nothing parallel was even started
    assert _parallel.chunks_for(1000, 10 ** 9, kernel=FakeDispatcher(["sig"])) == 2


def test_a_small_first_run_compiles_no_parallel_kernel(tmp_path):
    """In a fresh cache, a small SOM step on two free cores runs (and compiles) only the
    serial kernels; with the payback reached, the same call goes parallel, same result."""
    script = textwrap.dedent("""
        import numpy as np
        from bpsom_core import primitives as P
        from bpsom_core.primitives import step
        from bpsom_core.primitives._fast import parallel, threads
        threads.MIN_WORK, threads.n_threads = 0, (lambda: 2)
        rng = np.random.default_rng(0)
        args = (rng.random((16, 8)), rng.random((25, 8)), rng.integers(0, 3, 25), rng.integers(1, 3, 16),
                rng.integers(0, 101, 25), 50, 5, 1, 0.2)
        first = P.som_step(*args)
        print(len(step._step_serial.signatures), len(step._step_parallel.signatures))
        parallel.PAYBACK_WORK = 0
        again = P.som_step(*args)
        same = all(np.array_equal(a, b) for a, b in zip(first, again))
        print(len(step._step_parallel.signatures) if parallel.parallel_usable() else 1, same)
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "0", "1", "True"], out.stdout
