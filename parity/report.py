"""Parity reports: a table per replayed case, a summary for a live run, JSON.

Reports go to stdout (they are the command's result); rich draws them as
tables on a terminal and as plain aligned text in a pipe or a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from rich.console import Console
from rich.table import Table

from bpsom_core.atomic import atomic_write_text
from bpsom.parity.replay import CaseResult

if TYPE_CHECKING:  # live parity needs hypothesis; replaying recorded cases must not
    from bpsom.parity.live import LiveStats


def _status(r: CaseResult) -> str:
    if r.identical:
        return "identical"
    if not r.well_defined:
        return "differs (out of bounds)"
    return "ERROR" if r.error else "DIFFERS"


def cases_table(results: list[CaseResult], title: str) -> Table:
    """One row per replayed case with its first divergence."""
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("case", no_wrap=True)
    table.add_column("well-defined")
    table.add_column("result")
    table.add_column("first divergence", overflow="fold")
    for r in results:
        style = "green" if r.identical else ("yellow" if not r.well_defined else "red")
        table.add_row(r.name, "yes" if r.well_defined else "no",
                      f"[{style}]{_status(r)}[/{style}]", r.first_divergence())
    return table


def cases_summary(results: list[CaseResult]) -> dict:
    """Counts for a replay: failures are well-defined cases that differ."""
    wd = [r for r in results if r.well_defined]
    oob = [r for r in results if not r.well_defined]
    return {"cases": len(results),
            "identical": sum(r.identical for r in results),
            "well_defined": len(wd),
            "well_defined_identical": sum(r.identical for r in wd),
            "out_of_bounds": len(oob),
            "out_of_bounds_identical": sum(r.identical for r in oob),
            "failures": [{"case": r.name, "first_divergence": r.first_divergence()}
                         for r in wd if not r.identical]}


def print_cases_report(results: list[CaseResult], console: Console, title: str) -> dict:
    """The per-case table and one summary line; returns the summary."""
    console.print(cases_table(results, title))
    s = cases_summary(results)
    console.print(f"{s['cases']} cases: {s['identical']} identical; well-defined "
                  f"{s['well_defined_identical']}/{s['well_defined']} identical; out-of-bounds "
                  f"{s['out_of_bounds_identical']}/{s['out_of_bounds']} identical (not a target); "
                  f"{len(s['failures'])} failure(s).")
    return s


def live_summary(stats: LiveStats, seed: Optional[int], examples: int) -> dict:
    """Everything the live summary table shows, as plain data."""
    out = {"seed": seed, "examples_requested": examples, "cases_run": stats.examples,
           "identical": stats.identical, "identical_ours_exit_2": stats.ours_exit_nonzero,
           "c_failed": stats.c_failed,
           "c_failure_reasons": dict(stats.c_failures),
           "out_of_bounds_identical": stats.oob_identical, "out_of_bounds_differ": stats.oob_differ,
           "executions_incl_shrinking": stats.runs, "wall_s": round(stats.wall, 1),
           "c_s": round(stats.seconds_c, 1), "ours_s": round(stats.seconds_ours, 1),
           "coverage": dict(sorted(stats.coverage.items())), "failures": [], "error": stats.error}
    if stats.failure is not None:
        f = stats.failure
        out["failures"].append({
            "case": f.spec.summary(),
            "divergences": [d.describe() for d in f.outcome.divergences],
            "reproducer": str(f.reproducer) if f.reproducer else None})
    return out


def print_live_report(stats: LiveStats, console: Console, seed: Optional[int], examples: int) -> dict:
    """Summary table (counts, failure, coverage) of a live run; returns it as data."""
    s = live_summary(stats, seed, examples)
    table = Table(title=f"bpsom parity: C program vs bpsom (seed {seed})", title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("count", justify="right")
    table.add_row("cases run", str(s["cases_run"]))
    table.add_row("identical (stdout, log, .bst)", f"[green]{s['identical']}[/green]")
    table.add_row("  of which ours exited 2 at a C fatal error", str(s["identical_ours_exit_2"]))
    table.add_row("C failed (skipped)", str(s["c_failed"]))
    if s["out_of_bounds_identical"] or s["out_of_bounds_differ"]:
        table.add_row("out-of-bounds identical / differ", f"{s['out_of_bounds_identical']} / {s['out_of_bounds_differ']}")
    n_fail = len(s["failures"])
    table.add_row("failures", f"[{'red' if n_fail else 'green'}]{n_fail}[/]")
    table.add_row("runs incl. shrinking", str(s["executions_incl_shrinking"]))
    table.add_row("time: wall / C / bpsom (s)", f"{s['wall_s']} / {s['c_s']} / {s['ours_s']}")
    console.print(table)
    for f in s["failures"]:
        how = "minimal case after shrinking" if stats.shrunk else "as found, not shrunk"
        console.print(f"[red]FAILURE[/red] ({how}): {f['case']}")
        for d in f["divergences"]:
            console.print(f"  first divergence: {d}", markup=False)
        if f["reproducer"]:
            console.print(f"  reproducer: {f['reproducer']}  (replay: bpsom parity --cases "
                          f"{Path(f['reproducer']).parent})", markup=False)
    for reason, n in s["c_failure_reasons"].items():
        console.print(f"C failed {n}x: {reason}", markup=False)
    if s["error"]:
        console.print(f"[red]hypothesis stopped:[/red] {s['error']}")
    if s["coverage"]:
        cov = Table(title="what the generated cases exercised (cases run)", title_justify="left")
        cov.add_column("feature")
        cov.add_column("cases", justify="right")
        for k, v in s["coverage"].items():
            cov.add_row(k, str(v))
        console.print(cov)
    return s


def write_json(path: Path, data: dict) -> None:
    """The report as JSON, written atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")
