#!/usr/bin/env python3
"""Time `bpsom run` against the original C program on the grapho configuration, side by side.

The configuration is the C program's own example (`example-grapho.prm`,
378-200-62 with a 20x20 SOM) with the 60,823-line validation file as LRN and
1 epoch.  Both programs run in fresh copies of the same directory, one after
the other, `--repeat` times; the script prints each time, the best times and
the ratio bpsom / C (goal: at most 1/3), and whether stdout and the .bst
agree byte for byte.

Needs: the grapho reference data of the C program's repository
(LanguageMachines/bp-som; --grapho-dir or BPSOM_GRAPHO_DIR; exits 1 without it) and a C binary (BPSOM_C_BINARY or
--c-binary).  Without the C binary it times bpsom alone and says so.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_GRAPHO = REPO.parent / "shared" / "reference" / "grapho"


def prepare(grapho: Path, workdir: Path) -> Path:
    prm = (grapho / "example-grapho.prm").read_text(encoding="latin-1")
    prm = re.sub(r"^LRN = .*$", "LRN = exp-grapho-bpsom-a.val", prm, flags=re.M)
    prm = re.sub(r"^N_EPOCHS = .*$", "N_EPOCHS = 1", prm, flags=re.M)
    prm = re.sub(r"^STOP_IF_NOTHING_DONE = .*$", "STOP_IF_NOTHING_DONE = 1", prm, flags=re.M)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "bench.prm").write_text(prm, encoding="latin-1")
    for name in ("exp-grapho-bpsom-a.val", "exp-grapho-bpsom-a.tst"):
        shutil.copy(grapho / name, workdir / name)
    return workdir / "bench.prm"


def timed(cmd: list[str], cwd: Path) -> tuple[float, bytes]:
    for stale in cwd.glob("*.log"):
        stale.unlink()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed with exit code {proc.returncode}")
    return elapsed, proc.stdout


def grapho_dir_or_exit(path: str, prog: str) -> Path:
    """The grapho reference data's folder; without it the bench stops, saying where to get it."""
    grapho = Path(path)
    if not (grapho / "example-grapho.prm").exists():
        sys.exit(f"{prog}: the grapho reference data (example-grapho.prm and its data files) is not "
                 f"in {grapho}; get it from the C program's repository, LanguageMachines/bp-som (its "
                 f"example-grapho files), and pass --grapho-dir DIR or set BPSOM_GRAPHO_DIR")
    return grapho


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--c-binary", default=os.environ.get("BPSOM_C_BINARY"))
    ap.add_argument("--grapho-dir", default=os.environ.get("BPSOM_GRAPHO_DIR", str(DEFAULT_GRAPHO)))
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--compat", default="c", choices=["c", "fixed"])
    args = ap.parse_args()
    grapho = grapho_dir_or_exit(args.grapho_dir, "bench_exact_vs_c")
    bpsom = [sys.executable, "-m", "bpsom.cli.main", "run", "bench.prm", "--quiet", "--compat", args.compat]
    with tempfile.TemporaryDirectory(prefix="bpsom-bench-") as tmp:
        tmp = Path(tmp)
        ours_dir = tmp / "bpsom"
        prepare(grapho, ours_dir)
        env_note = f"{os.cpu_count()} CPUs"
        # compile (or load) the numba kernels once, outside the timing
        warm = tmp / "warm"
        subprocess.run([sys.executable, "-m", "bpsom.cli.main", "run", "--example", "--dir", str(warm), "--quiet"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        c_dir = None
        if args.c_binary:
            c_dir = tmp / "c"
            prepare(grapho, c_dir)
        else:
            print("NOTE: no C binary (set BPSOM_C_BINARY or --c-binary): timing bpsom only, no ratio")
        ours_t, c_t = [], []
        ours_out = c_out = b""
        for r in range(args.repeat):
            t, ours_out = timed(bpsom, ours_dir)
            ours_t.append(t)
            line = f"run {r + 1}: bpsom {t:7.2f} s"
            if c_dir is not None:
                t, c_out = timed([str(Path(args.c_binary).resolve()), "bench.prm"], c_dir)
                c_t.append(t)
                line += f"   C {t:7.2f} s"
            print(line, flush=True)
        print(f"\ngrapho 378-200-62, SOM 20x20, 60,823 learning examples, 1 epoch ({env_note}, --compat {args.compat})")
        print(f"bpsom best: {min(ours_t):.2f} s")
        if c_dir is not None:
            print(f"C best:     {min(c_t):.2f} s")
            print(f"ratio bpsom/C: {min(ours_t) / min(c_t):.3f}  (goal <= 0.333)")
            same_out = ours_out == c_out
            same_bst = (ours_dir / "exp-grapho-bpsom-a.bst").read_bytes() == (c_dir / "exp-grapho-bpsom-a.bst").read_bytes()
            print(f"stdout identical: {same_out}   .bst identical: {same_bst}")


if __name__ == "__main__":
    main()
