"""Speed of the batched SOM step against a per-example NumPy loop doing the same.

The step: overall winner (first minimum), partial winner (last minimum among
cells of the example's class), SOM error term, and the in-order SOM update
with winners fixed at batch start.  Both versions are checked to agree before
they are timed.  Prints the ratio.

    python3 bench/bench_som_step.py [--batch 256 --dim 20 --units 128 --repeat 20]
                                    [--blas-threads N]

The loop is single-threaded NumPy.  On NumPy the batched "exact" step may
split its examples over a second thread when a CPU is idle (see
``bpsom_core/primitives/_threads.py``); the "fast" step's one matmul runs on
the BLAS library's threads, which on a small, busy machine can cost
milliseconds of waiting: ``--blas-threads 1`` keeps it on one core.
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
from bpsom_core.primitives import _threads  # noqa: E402


def batched_step(acts, protos, labels, reliability, classes, dim, context, lr, threshold, method):
    winner, partial, win_d2, _ = P.find_winners(acts, protos, labels, classes, method=method)
    err, use = P.som_error(acts, protos, partial, reliability, threshold)
    new = P.som_update(protos, acts, winner, dim, context, lr, active=P.update_mask(win_d2))
    return winner, partial, err, use, new


def loop_step(acts, protos, labels, reliability, classes, dim, context, lr, threshold):
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
            p = int(cand[len(dc) - 1 - int(np.argmin(dc[::-1]))])  # last minimum
            partial[k] = p
            if reliability[p] >= threshold:
                use[k] = True
                err[k] = (0.01 * reliability[p] * (protos[p] - a).astype(np.float64)).astype(acts.dtype)
        else:
            partial[k] = -1
        if d[w] > P.DONOTHING:
            x, y = divmod(w, dim)
            x0, x1, y0, y1 = max(0, x - context), min(dim, x + context + 1), max(0, y - context), min(dim, y + context + 1)
            cheb = np.maximum(np.abs(np.arange(x0, x1) - x)[:, None], np.abs(np.arange(y0, y1) - y)[None, :])
            power = (lr32 / np.exp2(cheb)).astype(protos.dtype)[:, :, None]
            box = grid[x0:x1, y0:y1]
            box += power * (a - box)
    return winner, partial, err, use, new


def _blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "?"
    numpy_blas = [i for i in threadpool_info() if i["user_api"] == "blas" and "numpy" in i["filepath"]]
    return ",".join(str(i["num_threads"]) for i in numpy_blas) or "?"


def timeit(fn, repeat):
    fn()
    best = float("inf")
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
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="limit the BLAS library's threads (needs threadpoolctl)")
    args = ap.parse_args(argv)
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.blas_threads, user_api="blas")
    rng = np.random.default_rng(args.seed)
    n_c = args.dim * args.dim
    acts = rng.random((args.batch, args.units), dtype=np.float32)
    protos = rng.random((n_c, args.units), dtype=np.float32)
    labels = rng.integers(0, args.classes + 1, n_c)
    reliability = rng.integers(0, 101, n_c)
    classes = rng.integers(1, args.classes + 1, args.batch)
    common = (acts, protos, labels, reliability, classes, args.dim, args.context, 0.2, 90)

    ref = loop_step(*common)
    for method in ("exact", "fast"):
        got = batched_step(*common, method=method)
        for name, r, g in zip(("winner", "partial", "error", "use"), ref[:4], got[:4]):
            if not np.allclose(r, g, atol=1e-5):
                raise SystemExit(f"batched ({method}) and loop disagree on {name}")
        np.testing.assert_allclose(got[4], ref[4], atol=2e-5)

    t_loop = timeit(lambda: loop_step(*common), max(3, args.repeat // 5))
    print(f"SOM step, batch {args.batch}, {args.dim}x{args.dim} grid, {args.units} units, float32, "
          f"context {args.context}")
    print(f"  threads: kernels up to {_threads.n_threads()} now (load average {os.getloadavg()[0]:.1f}), "
          f"BLAS {_blas_threads()}")
    print(f"  per-example NumPy loop      {t_loop * 1e3:8.2f} ms")
    for method in ("exact", "fast"):
        t = timeit(lambda: batched_step(*common, method=method), args.repeat)
        print(f"  batched, {method:5} distances  {t * 1e3:8.2f} ms   ratio {t_loop / t:6.1f}x")
    try:
        import torch
    except ImportError:
        return 0
    tc = [torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x for x in common]
    t = timeit(lambda: batched_step(*tc, method="fast"), args.repeat)
    print(f"  batched, torch CPU (fast)   {t * 1e3:8.2f} ms   ratio {t_loop / t:6.1f}x")
    if torch.cuda.is_available():
        tg = [x.cuda() if isinstance(x, torch.Tensor) else x for x in tc]

        def gpu():
            batched_step(*tg, method="fast")
            torch.cuda.synchronize()
        t = timeit(gpu, args.repeat)
        print(f"  batched, torch CUDA (fast)  {t * 1e3:8.2f} ms   ratio {t_loop / t:6.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
