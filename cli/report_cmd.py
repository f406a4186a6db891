"""`bpsom report RUN_DIR`: redraw the plots of a run directory and write the SOM cell explorer."""

from __future__ import annotations

from pathlib import Path

import click

from bpsom.cli.commands import OneLineCommand


@click.command(name="report", cls=OneLineCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_dir", type=click.Path(path_type=Path))
def report(run_dir: Path) -> None:
    """Draw PNG plots for a `bpsom train` RUN_DIR into RUN_DIR/plots, and the SOM cell explorer.

    \b
    som_layerN.png     SOM class-label map, shaded by cell reliability
    umatrix_layerN.png U-matrix of the SOM prototypes
    history.png        train/validation CE and MSE, SOM usage, units alive
    unit_std.png       hidden-unit activation std against the pruning threshold
    confusion.png      confusion matrix (test rows or out-of-fold predictions)
    som_cells.tsv      per layer and cell: position, label, reliability, count and
                       the examples nearest to the prototype (rows and their most
                       distinctive feature values; sentences for glue runs)
    som_explorer.html  the maps in an interactive page that opens offline: colour
                       = label, shade = reliability, hover a cell for its examples,
                       a slider steps through the epochs with snapshots

    \b
    RUN_DIR may also be a `bpsom glue` BP-SOM run (OUTPUT_DIR/<task>/bpsom):
    then only som_cells.tsv and som_explorer.html are written, one map per epoch.
    """
    from bpsom_core.errors import InputError
    from bpsom_core.explorer_sources import run_kind

    if not run_dir.is_dir():
        raise InputError("no such run directory", path=str(run_dir))
    kind = run_kind(run_dir)
    if kind is None:
        raise InputError("not a `bpsom train` run directory: model.json is missing (nor a `bpsom glue` "
                         "run: no som_snapshots/)", path=str(run_dir))
    written = []
    if kind == "train":
        from bpsom_core.tabular.report import make_report
        written += make_report(run_dir)
    for path in written + _explorer(run_dir, kind):
        click.echo(str(path))


def _explorer(run_dir: Path, kind: str):
    from bpsom_core.explorer import write_explorer
    from bpsom_core.explorer_sources import glue_maps, tabular_maps

    from bpsom_core.errors import InputError

    try:
        maps, classes = tabular_maps(run_dir) if kind == "train" else glue_maps(run_dir)
    except InputError as exc:
        if kind != "train":
            raise
        click.echo(f"bpsom: note: no SOM cell explorer: {exc.one_line()}", err=True)   # the plots stand
        return []
    if not maps:
        return []
    title = f"SOM cell explorer: {run_dir.resolve().name}"
    return write_explorer(run_dir, maps, classes, title)
