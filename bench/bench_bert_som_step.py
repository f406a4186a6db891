"""Bench (a): one SOM step of the BERT head vs a per-example Python loop over cells.

Batch 32, 20x20 grid, 128 hidden units, CPU.  The reference loop is what the
2026 adaptation did per batch (for each example: a Python loop over all cells
for the winner, another for the partial winner, a loop over the neighbourhood
for the update, then the SOM error).  Ours is ``BPSOMHead.som_step`` with
the bpsom_core primitives, twice: on the torch backend (what a GPU runs: one
distance matmul, argmins, the closed-form in-order update) and with the
head's default ``backend="auto"``, which for CPU tensors runs the same
primitives' NumPy backend on zero-copy views (compiled kernels).  Prints the
times and the ratios, measured here and against a reference figure of 860 ms per batch;
goal >= 1000x.

    python3 bench/bench_bert_som_step.py [--loop-batches 3] [--repeats 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bpsom_bert.head import BPSOMHead  # noqa: E402

B, D, H, LABELS = 32, 20, 128, 2


def _bmu(protos: torch.Tensor, labels: torch.Tensor, a: torch.Tensor, class_label=None):
    """The adaptation's find_best_matching_unit: a Python loop over every cell."""
    min_dist, bmu = float("inf"), -1
    for x in range(D):
        for y in range(D):
            if class_label is not None and labels[x * D + y] != class_label:
                continue
            dist = torch.sum((a - protos[x * D + y]) ** 2)
            if dist < min_dist:
                min_dist, bmu = dist, x * D + y
    return bmu, float(min_dist)


def loop_step(protos: torch.Tensor, labels: torch.Tensor, rel: torch.Tensor, acts: torch.Tensor,
              classes1: torch.Tensor, lr: float, context: int, threshold: int) -> torch.Tensor:
    """Per example: winner loop, partial-winner loop, neighbourhood loop, error (mutates protos)."""
    errs = []
    for i in range(acts.shape[0]):
        a, c = acts[i], int(classes1[i])
        win, best = _bmu(protos, labels, a)
        part, _ = _bmu(protos, labels, a, class_label=c)
        if best > 1e-4:
            wx, wy = divmod(win, D)
            for x in range(max(0, wx - context), min(D, wx + context + 1)):
                for y in range(max(0, wy - context), min(D, wy + context + 1)):
                    k = x * D + y
                    power = lr / 2 ** max(abs(x - wx), abs(y - wy))
                    protos[k] += power * (a - protos[k])
        if part >= 0 and int(rel[part]) >= threshold:
            errs.append(0.01 * float(rel[part]) * (protos[part] - a))
        else:
            errs.append(torch.zeros_like(a))
    return torch.stack(errs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loop-batches", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch/BLAS threads (default 1: tiny matrices only lose to thread hand-offs)")
    ap.add_argument("--reference-ms", type=float, default=860.0,
                    help="a reference time for the per-example loop (ms per batch)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        try:
            import threadpoolctl
            threadpoolctl.threadpool_limits(args.threads)
        except ImportError:
            pass
    acts = torch.rand(B, H, generator=torch.Generator().manual_seed(1))
    classes1 = torch.randint(1, LABELS + 1, (B,), generator=torch.Generator().manual_seed(2))
    heads = {}
    for backend in ("torch", "auto"):
        head = BPSOMHead(768, H, LABELS, grid_size=D, seed=0, backend=backend)
        head.cell_labels.copy_(torch.randint(1, LABELS + 1, (D * D,), generator=torch.Generator().manual_seed(3)))
        head.reliability.copy_(torch.randint(80, 101, (D * D,), generator=torch.Generator().manual_seed(4)))
        head.set_schedule(1, 10, 0.05, 0.20, 0, 2)
        heads[backend] = head

    head = heads["torch"]
    protos = head.prototypes.clone()
    loop_times = []
    for _ in range(args.loop_batches):
        t0 = time.perf_counter()
        loop_step(protos, head.cell_labels, head.reliability, acts, classes1, head._lr, head._context, 95)
        loop_times.append(time.perf_counter() - t0)
    loop_ms = statistics.median(loop_times) * 1e3
    print(f"SOM step, batch {B}, {D}x{D} grid, {H} units, CPU, {torch.get_num_threads()} threads")
    print(f"  per-example Python loop over cells: {loop_ms:9.2f} ms/batch (median of {args.loop_batches})")
    labels = {"torch": "torch backend, matmul distances", "auto": "auto: NumPy views + compiled kernels"}
    for backend, head in heads.items():
        for _ in range(20):
            head.som_step(acts, classes1)
        ours = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            head.som_step(acts, classes1)
            ours.append(time.perf_counter() - t0)
        ms = statistics.median(ours) * 1e3
        print(f"  BPSOMHead.som_step, {labels[backend]:37s}: {ms:7.4f} ms/batch  "
              f"ratio {loop_ms / ms:6.0f}x measured, {args.reference_ms / ms:6.0f}x vs the reference "
              f"{args.reference_ms:.0f} ms")
    print("  goal: >= 1000x")


if __name__ == "__main__":
    main()
