"""Speed of the batched SOM step against a per-example NumPy loop doing the same.

The step, as every BP-SOM trainer runs it per batch: overall winner (first
minimum) and partial winner (last minimum among the cells of the example's
class) with the batch-start prototypes, the in-order SOM update (examples one
after another, winners fixed at batch start), and the SOM error term from the
moved prototypes.  The loop and every batched variant are checked to agree
before they are timed.  Prints the ratios.

    python3 bench/bench_som_step.py [--batch 256 --dim 20 --units 128 --repeat 50 --rounds 5]

The batched variants: :func:`bpsom_core.primitives.som_step` with exact
distances (the C's sums; ties as the C) and with the expansion's "fast"
distances, and the same step composed from the three primitives
(``find_winners``, ``som_update``, ``som_error``).  The loop is
single-threaded NumPy; the batched kernels use a second core when one is free
(``bpsom_core/primitives/_fast/parallel.py``), which the header line reports; the
"one thread" lines run the same kernels serially.  Times are the best of
``--rounds`` rounds of ``--repeat`` calls (a tenth as many calls for the loop).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bpsom_core import primitives as P  # noqa: E402
from bpsom_core.primitives._fast import parallel as _parallel, threads as _threads  # noqa: E402

THRESHOLD = 90


def fused_step(acts, protos, labels, reliability, classes, dim, context, lr, method):
    s = P.som_step(acts, protos, labels, classes, reliability, THRESHOLD, dim, context, lr, method=method)
    return s.winner, s.partial, s.error, s.use, s.prototypes


def composed_step(acts, protos, labels, reliability, classes, dim, context, lr, method):
    winner, partial, win_d2, _ = P.find_winners(acts, protos, labels, classes, method=method)
    new = P.som_update(protos, acts, winner, dim, context, lr, active=P.update_mask(win_d2))
    err, use = P.som_error(acts, new, partial, reliability, THRESHOLD)
    return winner, partial, err, use, new


def loop_step(acts, protos, labels, reliability, classes, dim, context, lr):
    """The same step, one example at a time, in plain NumPy."""
    n_b, n_h = acts.shape
    winner = np.empty(n_b, np.int64)
    partial = np.empty(n_b, np.int64)
    err = np.zeros_like(acts)
    use = np.zeros(n_b, bool)
    new = protos.copy()
    grid = new.reshape(dim, dim, n_h)
    lr32 = protos.dtype.type(lr)
    for k in range(n_b):
        a = acts[k]
        d = ((protos - a) ** 2).sum(1)               # batch-start prototypes
        w = int(np.argmin(d))                        # first minimum
        winner[k] = w
        cand = np.flatnonzero(labels == classes[k])
        if len(cand):
            dc = d[cand]
            partial[k] = int(cand[len(dc) - 1 - int(np.argmin(dc[::-1]))])  # last minimum
        else:
            partial[k] = -1
        if d[w] > P.DONOTHING:
            x, y = divmod(w, dim)
            x0, x1, y0, y1 = max(0, x - context), min(dim, x + context + 1), max(0, y - context), min(dim, y + context + 1)
            cheb = np.maximum(np.abs(np.arange(x0, x1) - x)[:, None], np.abs(np.arange(y0, y1) - y)[None, :])
            power = (lr32 / np.exp2(cheb)).astype(protos.dtype)[:, :, None]
            box = grid[x0:x1, y0:y1]
            box += power * (a - box)
    for k in range(n_b):                             # the error term from the moved prototypes
        p = partial[k]
        if p >= 0 and reliability[p] >= THRESHOLD:
            use[k] = True
            err[k] = (0.01 * reliability[p] * (new[p] - acts[k]).astype(np.float64)).astype(acts.dtype)
    return winner, partial, err, use, new


def _blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "?"
    numpy_blas = [i for i in threadpool_info() if i["user_api"] == "blas" and "numpy" in i["filepath"]]
    return ",".join(str(i["num_threads"]) for i in numpy_blas) or "?"


def timeit(fn, repeat, rounds):
    """Best time of ``rounds`` rounds of ``repeat`` calls, with short pauses between
    rounds: on a shared machine the second core comes and goes, and the best
    round is the machine's own speed (as ``timeit`` advises)."""
    fn()
    best = float("inf")
    for r in range(rounds):
        if r:
            time.sleep(0.2)
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--dim", type=int, default=20)
    ap.add_argument("--units", type=int, default=128)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--context", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    _parallel.PAYBACK_WORK = 0  # steady state: compile the multi-core kernels now, not after a while
    rng = np.random.default_rng(args.seed)
    n_c = args.dim * args.dim
    acts = rng.random((args.batch, args.units), dtype=np.float32)
    protos = rng.random((n_c, args.units), dtype=np.float32)
    labels = rng.integers(0, args.classes + 1, n_c)
    reliability = rng.integers(0, 101, n_c)
    classes = rng.integers(1, args.classes + 1, args.batch)
    common = (acts, protos, labels, reliability, classes, args.dim, args.context, 0.2)

    ref = loop_step(*common)
    variants = [(f"som_step, {m} distances", fused_step, m) for m in ("exact", "fast")]
    variants.append(("three primitives, exact", composed_step, "exact"))
    for name, fn, method in variants:
        got = fn(*common, method=method)
        for what, r, g in zip(("winner", "partial", "error", "use"), ref[:4], got[:4]):
            if not np.allclose(r, g, atol=1e-5):
                raise SystemExit(f"{name} and the loop disagree on {what}")
        np.testing.assert_allclose(got[4], ref[4], atol=2e-5)

    t_loop = timeit(lambda: loop_step(*common), max(3, args.repeat // 10), args.rounds)
    threads = _threads.n_threads() if _parallel.chunks_for(args.batch, args.batch * protos.size) else 1
    print(f"SOM step, batch {args.batch}, {args.dim}x{args.dim} grid, {args.units} units, float32, "
          f"context {args.context}")
    print(f"  batched kernels on {threads} thread(s) (load average {os.getloadavg()[0]:.1f}, "
          f"{len(os.sched_getaffinity(0))} CPUs)")
    print(f"  per-example NumPy loop           {t_loop * 1e3:8.2f} ms")
    for name, fn, method in variants:
        t = timeit(lambda: fn(*common, method=method), args.repeat, args.rounds)
        print(f"  {name:31} {t * 1e3:8.2f} ms   ratio {t_loop / t:6.1f}x")
    saved = _threads.n_threads
    _threads.n_threads = lambda: 1  # the same kernels, serially: what one core gives
    try:
        for method in ("exact", "fast"):
            t = timeit(lambda: fused_step(*common, method=method), args.repeat, args.rounds)
            print(f"  {'som_step, ' + method + ', one thread':31} {t * 1e3:8.2f} ms   ratio {t_loop / t:6.1f}x")
    finally:
        _threads.n_threads = saved
    try:
        import torch
    except ImportError:
        return 0
    tc = [torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x for x in common]
    t = timeit(lambda: fused_step(*tc, method="fast"), args.repeat, args.rounds)
    print(f"  {'som_step on torch CPU, fast':31} {t * 1e3:8.2f} ms   ratio {t_loop / t:6.1f}x")
    if torch.cuda.is_available():
        tg = [x.cuda() if isinstance(x, torch.Tensor) else x for x in tc]

        def gpu():
            fused_step(*tg, method="fast")
            torch.cuda.synchronize()
        t = timeit(gpu, args.repeat, args.rounds)
        print(f"  {'som_step on torch CUDA, fast':31} {t * 1e3:8.2f} ms   ratio {t_loop / t:6.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
