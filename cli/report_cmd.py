"""`bpsom report RUN_DIR`: redraw the plots of a `bpsom train` run directory."""

from __future__ import annotations

from pathlib import Path

import click

from cli.commands import OneLineCommand


@click.command(name="report", cls=OneLineCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_dir", type=click.Path(path_type=Path))
def report(run_dir: Path) -> None:
    """Draw PNG plots for RUN_DIR into RUN_DIR/plots.

    \b
    som_layerN.png     SOM class-label map, shaded by cell reliability
    umatrix_layerN.png U-matrix of the SOM prototypes
    history.png        train/validation CE and MSE, SOM usage, units alive
    unit_std.png       hidden-unit activation std against the pruning threshold
    confusion.png      confusion matrix (test rows or out-of-fold predictions)
    """
    from bpsom_core.errors import InputError
    from bpsom_core.tabular.report import make_report

    if not run_dir.is_dir():
        raise InputError("no such run directory", path=str(run_dir))
    for path in make_report(run_dir):
        click.echo(str(path))
