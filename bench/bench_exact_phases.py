#!/usr/bin/env python3
"""Where the time of one `bpsom run` goes: start-up, reading, and each pass.

Runs the configuration of `bench_exact_vs_c.py` (the C program's grapho
example, 60,823 learning examples, 1 epoch) in this process and prints wall
and CPU seconds for: importing the engine, the start-up (the .prm and the
data, the compiled kernels loaded from numba's cache, the initial weights),
and every pass (learning, labelling, validation, test, and the abstract's
two).  A CPU share above 1 means the
pass ran on more than one core.  Run it twice: the first run in a fresh
checkout also compiles the kernels.

Needs the grapho reference data of the C program's repository
(LanguageMachines/bp-som; --grapho-dir or BPSOM_GRAPHO_DIR).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    from bench_exact_vs_c import DEFAULT_GRAPHO, grapho_dir_or_exit, prepare

    ap.add_argument("--grapho-dir", default=os.environ.get("BPSOM_GRAPHO_DIR", str(DEFAULT_GRAPHO)))
    args = ap.parse_args()
    grapho = grapho_dir_or_exit(args.grapho_dir, "bench_exact_phases")

    rows = []
    clock = [time.perf_counter(), time.process_time()]

    def mark(label: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        rows.append((label, wall - clock[0], cpu - clock[1]))
        clock[:] = [wall, cpu]

    from bpsom_core.exact import engine
    mark("import the engine (numba, NumPy)")
    names = {(1, 1): "learning pass", (0, 1): "labelling pass", (0, 2): "validation pass", (0, 3): "test pass"}
    pending = ["start-up: .prm, data, kernels from numba's cache, weights"]

    def start_pass(epoch: int, lrn: int, material: int, n: int) -> None:
        mark(pending.pop())
        pending.append(f"{names[(lrn, material)]} ({n:,} examples)")

    with tempfile.TemporaryDirectory(prefix="bpsom-phases-") as tmp:
        prm = prepare(grapho, Path(tmp))
        old = os.getcwd()
        os.chdir(tmp)
        try:
            engine.run_experiment(prm.name, stdout=io.BytesIO(), progress=engine.Progress(start_pass=start_pass))
        finally:
            os.chdir(old)
        mark(pending.pop())
    total_wall = sum(r[1] for r in rows)
    print(f"bpsom run, grapho 378-200-62, SOM 20x20, 1 epoch ({os.cpu_count()} CPUs)")
    print(f"{'phase':58s} {'wall s':>7s} {'CPU s':>7s} {'CPU/wall':>8s}")
    for label, wall, cpu in rows:
        print(f"{label:58s} {wall:7.2f} {cpu:7.2f} {cpu / wall if wall > 0 else 0:8.2f}")
    print(f"{'total':58s} {total_wall:7.2f}")


if __name__ == "__main__":
    main()
