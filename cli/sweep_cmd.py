"""`bpsom sweep SPEC.yaml`: a grid of train/run/glue trials on Ray; results, summary and plots.

Wiring only: check the spec, run the unfinished trials, summarise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from bpsom_core.errors import InputError

from bpsom.cli.commands import OneLineCommand


@click.command(name="sweep", cls=OneLineCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("spec_path", metavar="SPEC.yaml", type=click.Path(path_type=Path))
@click.option("--output-dir", "-o", type=click.Path(file_okay=False, path_type=Path),
              help="Sweep directory (default: sweeps/<spec name>).")
@click.option("--address", metavar="ADDR",
              help="Join this Ray cluster (e.g. ray://head:10001 or auto) instead of starting Ray locally.")
@click.option("--max-concurrent", type=click.IntRange(min=1), metavar="N",
              help="At most N trials at a time (default: one per CPU, or per GPU for glue).")
@click.option("--retry-failed", is_flag=True, help="Run failed trials again (finished ones are always skipped).")
@click.option("--top", type=click.IntRange(min=0), default=20, show_default=True,
              help="Print this many ranked settings (0 = all).")
def sweep(spec_path: Path, output_dir: Optional[Path], address: Optional[str], max_concurrent: Optional[int],
          retry_failed: bool, top: int) -> None:
    """Run a hyper-parameter sweep described by SPEC.yaml on Ray.

    \b
    SPEC.yaml names the command (train, run or glue), its data, fixed
    options, a grid of values (every combination is tried), optional random
    samples, seeds and the metric to rank by; see configs/sweep_wine.yaml
    (train) and docs/sweep.md (run and glue, configuration keys such as
    bpsom.som_error_weight).
    Each trial is one fit (one CV fold for train --cv).  Trials run on a
    local Ray on this machine's cores, or on the cluster at --address.

    \b
    In the sweep directory DIR (--output-dir):
    DIR/results.csv    one row per finished trial (rewritten atomically)
    DIR/summary.csv    mean and sd over seeds and folds per setting, ranked
    DIR/plots/         metric against each swept option, units kept against
                       the pruning threshold, metric against units (Pareto)
    Rerunning into the same DIR skips finished trials; Ctrl-C keeps every
    finished row.
    """
    from bpsom.sweep.runner import import_ray, run_sweep
    from bpsom.sweep.spec import load_spec

    spec = load_spec(spec_path)
    import_ray()
    out_dir = output_dir or Path("sweeps") / spec_path.stem
    say = lambda line: click.echo(line, err=True)
    try:
        outcome = run_sweep(spec, out_dir, address=address, max_concurrent=max_concurrent,
                            retry_failed=retry_failed, say=say)
        interruption = outcome.interruption
    except KeyboardInterrupt as exc:   # a signal after the last row (Ray shutting down): summarise all the same
        interruption = exc
    _summarise(spec, out_dir, top, say)
    if interruption is not None:       # Ctrl-C exits 130, SIGTERM 143, once the finished rows are summarised
        raise interruption


def _summarise(spec, out_dir: Path, top: int, say) -> None:
    from bpsom_core.errors import plural
    from bpsom.sweep.plots import write_plots
    from bpsom.sweep.summary import summary_table, write_summary

    if not (out_dir / "results.csv").exists():
        return
    summaries, rows, others = write_summary(out_dir, spec.param_names, spec.metrics, spec.metric,
                                    {t.trial_id for t in spec.trials()})
    plots = write_plots(out_dir, summaries, spec.param_names, spec.metric)
    failed = sum(r["status"] != "ok" for r in rows)
    click.echo(summary_table(summaries, spec.param_names, spec.metric, top), nl=False)
    say(f"{plural(len(rows), 'trial')} of this spec recorded ({failed} failed) in {out_dir / 'results.csv'}"
        + (f" ({plural(others, 'row')} of other specs left out of the summary)" if others else "")
        + f"; summary in {out_dir / 'summary.csv'}; plots: {', '.join(p.name for p in plots)}")
    if rows and failed == len(rows):
        first = next((r.get("error") for r in rows if r.get("error")), "") or "see results.csv"
        raise InputError(f"every trial failed; the first: {first}", str(out_dir / "results.csv"))
