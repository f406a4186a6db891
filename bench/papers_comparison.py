"""The BP-SOM papers' claim, checked on classic data sets that scikit-learn ships.

Weijters, Van den Bosch and Van den Herik (1997, 1998) report that BP-SOM
generalises at least as well as plain back-propagation (BP) and BP with
weight decay (BPWD), and that its hidden layers can be pruned further.  The
experiment is a sweep spec, ``configs/sweep_papers.yaml`` (stratified 10-fold
cross-validation of BP, BP-SOM and BPWD, each with and without variance
pruning, on Iris, Wine, Breast Cancer and Digits); this script runs it with
``bpsom sweep`` (resuming a partial sweep directory) and turns its
``summary.csv`` into the Markdown table of ``docs/papers_comparison.md``:

    bpsom sweep configs/sweep_papers.yaml --output-dir sweeps/papers
    python3 bench/papers_comparison.py --sweep-dir sweeps/papers --out docs/papers_comparison_table.md

(the script runs the sweep itself when the directory is incomplete).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SPEC = Path(__file__).resolve().parents[1] / "configs" / "sweep_papers.yaml"
# (som, weight-decay) -> method name; prune-threshold > 0 adds "+ pruning"
METHODS = {("0", "0"): "BP", ("7", "0"): "BP-SOM", ("0", "0.001"): "BPWD", ("7", "0.001"): "BP-SOM + WD"}


def method_name(row: dict) -> str:
    name = METHODS.get((row["som"], row["weight-decay"]), f"som {row['som']}, wd {row['weight-decay']}")
    return name + (" + pruning" if float(row["prune-threshold"]) > 0 else "")


def render(summary_rows, spec_path: Path, datasets, folds: int) -> str:
    """The Markdown table: per method and data set, accuracy % mean ± sd, units kept, seconds per fold
    (a cell with fewer than ``folds`` finished folds says how many it has)."""
    methods = sorted({method_name(r) for r in summary_rows},
                     key=lambda m: (list(METHODS.values()).index(m.replace(" + pruning", ""))
                                    if m.replace(" + pruning", "") in METHODS.values() else 99, m))
    cell = {(r["data"], method_name(r)): r for r in summary_rows}
    shown = os.path.relpath(spec_path)
    shown = spec_path.name if shown.startswith("..") else shown
    lines = [f"Sweep: `bpsom sweep {shown}` ({sum(int(r['n']) for r in summary_rows)} trials, "
             f"{sum(int(r['failed']) for r in summary_rows)} failed); table written {time.strftime('%Y-%m-%d')} "
             f"on {os.cpu_count()} CPU cores ({platform.machine()}, Python {platform.python_version()}).", ""]
    lines.append("| method | " + " | ".join(f"{d.split(':')[-1]} acc % | units | s/fold" for d in datasets) + " |")
    lines.append("|---|" + "---:|---:|---:|" * len(datasets))
    for m in methods:
        cells = []
        for d in datasets:
            r = cell.get((d, m))
            if r is None or r["accuracy_mean"] in ("", "nan"):
                cells.append("- | - | -")
                continue
            partial = f" (n={r['n']})" if int(r["n"]) < folds else ""
            cells.append(f"{100 * float(r['accuracy_mean']):.1f} ± {100 * float(r['accuracy_sd']):.1f}{partial} | "
                         f"{float(r['units_kept_mean']):.1f} | {float(r['seconds_mean']):.1f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", type=Path, default=SPEC)
    ap.add_argument("--sweep-dir", type=Path, default=Path("sweeps/papers"))
    ap.add_argument("--address", default=None, help="Ray cluster to run the sweep on (default: local)")
    ap.add_argument("--out", type=Path, default=None, help="also write the Markdown table here")
    args = ap.parse_args(argv)
    from bpsom_core.atomic import atomic_write_text
    from bpsom.sweep.runner import run_sweep
    from bpsom.sweep.spec import load_spec
    from bpsom.sweep.summary import write_summary

    spec = load_spec(args.spec)
    outcome = run_sweep(spec, args.sweep_dir, address=args.address, say=lambda s: print(s, file=sys.stderr))
    if outcome.interrupted:
        return 130
    write_summary(args.sweep_dir, spec.param_names, spec.metrics, spec.metric, {t.trial_id for t in spec.trials()})
    with open(args.sweep_dir / "summary.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    table = render(rows, args.spec, spec.data, len(spec.folds) * len(spec.seeds))
    print(table)
    if args.out:
        atomic_write_text(args.out, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
