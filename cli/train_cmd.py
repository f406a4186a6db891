"""`bpsom train`: BP-SOM on a table (CSV/TSV, ARFF, .npz), or on the embedded Wine data.

Wiring only: read the data, run the experiment, write the run directory,
draw the report.  The per-epoch table and progress go to stderr; stdout gets
a short summary (or the metrics as JSON with --json).  The run directory is
assembled under a temporary name and renamed into place at the end, so a
failed or interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional

import click

from bpsom_core.errors import InputError


class OneLineCommand(click.Command):
    """A command whose usage errors (unknown option, bad value) are one-line InputErrors, exit 2."""

    def parse_args(self, ctx: click.Context, args: List[str]) -> List[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise InputError(f"{exc.format_message()} (see 'bpsom {self.name} --help')") from None


def _ints(text: str, option: str) -> tuple:
    try:
        values = tuple(int(v) for v in text.replace(" ", "").split(",") if v != "")
    except ValueError:
        raise InputError(f"expected comma-separated integers, got {text!r}", field=option) from None
    if not values:
        raise InputError("expected at least one integer", field=option)
    return values


def _pair(text: str, option: str, kind=float) -> tuple:
    try:
        values = tuple(kind(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise InputError(f"expected MIN,MAX, got {text!r}", field=option) from None
    if len(values) != 2:
        raise InputError(f"expected MIN,MAX, got {text!r}", field=option)
    return values


def _names(values: tuple) -> List[str]:
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


class EpochTable:
    """Prints one aligned row per epoch on stderr, under a transient progress bar."""

    def __init__(self, console, n_layers: int, max_epochs: int, quiet: bool):
        self.console = console
        self.n_layers = n_layers
        self.max_epochs = max_epochs
        self.quiet = quiet
        self.current: Optional[str] = None
        self.last: Optional[Dict[str, object]] = None
        self.history_of_fold: List[Dict[str, object]] = []
        self.progress = None
        self.task = None

    def __enter__(self):
        if not self.quiet and self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=self.console, transient=True)
            self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self._close_fold()
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def _print(self, text: str) -> None:
        if not self.quiet:
            (self.progress.console if self.progress else self.console).print(text, highlight=False)

    def header(self, name: str) -> None:
        som = " ".join(f"SOM{l + 1}%" for l in range(self.n_layers))
        units = "units"
        self._print(f"\n[bold cyan]{name}[/]")
        self._print(f"[bold]{'epoch':>5} {'loss':>8} {'MSE':>7} {'CE%':>6} {'val MSE':>8} {'val CE%':>7} "
                    f"{som:>{7 * self.n_layers}} {units:>{6 * self.n_layers}} {'ctx':>3} {'som lr':>6} {'sec':>5}[/]")
        self._start_task(name)

    def _start_task(self, name: str) -> None:
        if self.progress is not None:
            if self.task is not None:
                self.progress.remove_task(self.task)
            self.task = self.progress.add_task(name, total=self.max_epochs)

    def _close_fold(self) -> None:
        """Summarise the fold that just ended: its best epoch and validation scores there."""
        if self.current is None or not self.current.startswith("fold") or self.last is None:
            return
        best = self.last.get("best_epoch")
        rec = next((h for h in self.history_of_fold if h["epoch"] == best), self.last)
        val = f"val CE {rec['val_ce']:.2f}%  val MSE {rec['val_mse']:.4f}" if "val_ce" in rec else \
            f"train CE {rec['train_ce']:.2f}%"
        self._print(f"[bold cyan]{self.current}[/]: best epoch {best} of {self.last['epoch']}, {val}, "
                    f"units {rec['units_alive']}")

    def row(self, name: str, r: Dict[str, object]) -> None:
        """One epoch; cross-validation folds get one summary line each instead of a table."""
        if name != self.current:
            self._close_fold()
            self.current = name
            self.history_of_fold = []
            if name.startswith("fold"):
                self._start_task(name)
            else:
                self.header(name)
        self.last = r
        self.history_of_fold.append(r)
        if name.startswith("fold"):
            if self.progress is not None and self.task is not None:
                self.progress.update(self.task, completed=r["epoch"])
            return
        fmt = lambda v, w, p: f"{v:>{w}.{p}f}" if isinstance(v, (int, float)) else f"{'-':>{w}}"
        som = " ".join(fmt(u, 6, 1) for u in r["som_usage"])
        units = " ".join(f"{u:>5d}" for u in r["units_alive"])
        star = " [green]*[/]" if r.get("best_epoch") == r["epoch"] and "val_ce" in r else ""
        pruned = sum(len(p) for p in r.get("pruned", []))
        prune_note = f" [red]-{pruned} pruned[/]" if pruned else ""
        self._print(f"{r['epoch']:>5d} {fmt(r['train_loss'], 8, 4)} {fmt(r['train_mse'], 7, 4)} "
                    f"{fmt(r['train_ce'], 6, 2)} {fmt(r.get('val_mse'), 8, 4)} {fmt(r.get('val_ce'), 7, 2)} "
                    f"{som:>{7 * self.n_layers}} {units:>{6 * self.n_layers}} {r['som_context']:>3d} "
                    f"{r['som_lr']:>6.3f} {r['seconds']:>5.2f}{star}{prune_note}")
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=r["epoch"])


@click.command(name="train", cls=OneLineCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("data", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--target", "-t", metavar="COLUMN", help="Class column (default: the last column; 'y' in .npz).")
@click.option("--categorical", multiple=True, metavar="COLS", help="Force these columns to be one-hot encoded.")
@click.option("--numeric", multiple=True, metavar="COLS", help="Force these columns to be numeric.")
@click.option("--hidden", default="20", show_default=True, metavar="N[,N..]", help="Hidden layer sizes.")
@click.option("--som", "som_dims", default="7", show_default=True, metavar="D[,D..]",
              help="SOM grid side per hidden layer (0 = no SOM); one value applies to all layers.")
@click.option("--solver", type=click.Choice(["online", "minibatch"]), default="online", show_default=True,
              help="online = update after every example, as the C program.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Mini-batch size (minibatch solver).")
@click.option("--loss", type=click.Choice(["mse", "cross_entropy"]), default="mse", show_default=True,
              help="mse: sigmoid outputs, 0.1/0.9 targets (the C); cross_entropy: softmax.")
@click.option("--epochs", type=int, default=100, show_default=True, help="Maximum number of epochs.")
@click.option("--patience", type=int, default=30, show_default=True,
              help="Stop after this many epochs without a better validation score.")
@click.option("--lr", "learning_rate", type=float, default=0.15, show_default=True, help="BP learning rate.")
@click.option("--momentum", type=float, default=0.4, show_default=True)
@click.option("--weight-decay", type=float, default=0.0, show_default=True)
@click.option("--som-error-weight", type=float, default=0.25, show_default=True,
              help="Share of the SOM error in the hidden-layer error (the C's SOM_ERROR_USE).")
@click.option("--reliability-threshold", type=int, default=95, show_default=True,
              help="Minimum cell reliability (%) for the SOM error to be used.")
@click.option("--prune-threshold", type=float, default=0.0, show_default=True,
              help="Prune hidden units whose activation std is at most this (0 = off).")
@click.option("--som-context", default="0,2", show_default=True, metavar="MIN,MAX", help="Neighbourhood radius.")
@click.option("--som-lr", default="0.05,0.2", show_default=True, metavar="MIN,MAX", help="SOM learning rate.")
@click.option("--test-fraction", type=float, default=0.2, show_default=True)
@click.option("--val-fraction", type=float, default=0.2, show_default=True)
@click.option("--cv", type=int, default=None, metavar="K", help="K-fold cross-validation instead of a test split.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--output-dir", "-o", type=click.Path(file_okay=False, path_type=Path),
              help="Run directory (default: runs/<UTC timestamp>).")
@click.option("--force", is_flag=True, help="Replace an existing --output-dir.")
@click.option("--no-report", is_flag=True, help="Skip the plots.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No per-epoch table.")
def train(data: Optional[Path], target, categorical, numeric, hidden, som_dims, solver, batch_size, loss,
          epochs, patience, learning_rate, momentum, weight_decay, som_error_weight, reliability_threshold,
          prune_threshold, som_context, som_lr, test_fraction, val_fraction, cv, seed, output_dir, force,
          no_report, as_json, quiet) -> None:
    """Train BP-SOM on tabular data and write a run directory with the model and plots.

    \b
    DATA is a CSV/TSV file with a header row (the class is --target, default
    the last column), an ARFF file, or an .npz archive with arrays X and y.
    Without DATA the embedded Wine data set (178 wines, 13 chemical measures,
    3 cultivars; UCI, CC BY 4.0) is used.

    \b
    Numeric columns are standardised and text columns one-hot encoded, both
    fitted on the training rows only.  Rows are split into train/validation/
    test (stratified), or evaluated with --cv K folds.  The run directory gets
    config.yaml, history.json, metrics.json, model.safetensors + model.json,
    and plots/ (see `bpsom report`).
    """
    from rich.console import Console

    from bpsom_core.data import DEFAULT_DATASET, DEFAULT_TARGET
    from bpsom_core.readers.tabular import read_table
    from bpsom_core.tabular import BPSOMClassifier
    from bpsom_core.tabular.experiment import SplitSpec, run_experiment, write_run

    argv = ["bpsom", "train", *sys.argv[2:]] if len(sys.argv) > 1 and sys.argv[1] == "train" else None
    params = classifier_params(locals())
    _check_split(test_fraction, val_fraction, cv)
    if data is None:
        data_path, target = DEFAULT_DATASET, target or DEFAULT_TARGET
        data_label = f"embedded Wine data ({DEFAULT_DATASET.name})"
    else:
        data_path, data_label = data, str(data)
    table = read_table(data_path, target, _names(categorical), _names(numeric))
    if cv is not None:
        _, counts = _class_counts(table)
        if min(counts) < cv:
            raise InputError(f"--cv {cv} needs at least {cv} rows of every class; the smallest class has "
                             f"{min(counts)}", path=str(data_path), field=table.target)
    final_dir = output_dir or Path("runs") / datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    if final_dir.exists() and any(final_dir.iterdir()) and not force:
        raise InputError("run directory already exists and is not empty (use --force to replace it)",
                         path=str(final_dir))

    err = Console(stderr=True)
    n_layers = len(params["hidden_layer_sizes"])
    if not quiet:
        err.print(f"[bold]bpsom train[/] on {data_label}: {len(table)} rows, {len(table.names)} columns, "
                  f"{len(table.classes)} classes ({', '.join(table.classes[:8])}"
                  f"{', ...' if len(table.classes) > 8 else ''}); target [bold]{table.target}[/]", highlight=False)
    split = SplitSpec(test_fraction=test_fraction, val_fraction=val_fraction, cv=cv, seed=seed)
    t0 = time.perf_counter()
    with EpochTable(err, n_layers, epochs, quiet) as table_out:
        try:
            result = run_experiment(table, params, split, on_epoch=table_out.row)
        except ValueError as exc:
            raise InputError(str(exc), path=str(data_path)) from None
    config = {
        "command": shlex.join(argv) if argv else "bpsom train",
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": {"path": str(data_path), "embedded": data is None, "target": table.target,
                 "rows": len(table), "columns": dict(zip(table.names, table.kinds))},
        "split": {"test_fraction": test_fraction if cv is None else None, "val_fraction": val_fraction,
                  "cv": cv, "seed": seed},
        "classifier": {k: v for k, v in result.classifier.get_params().items() if k != "callback"},
    }
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.", dir=final_dir.parent))
    try:
        write_run(tmp_dir, result, config)
        plots = [] if no_report else _report(tmp_dir)
        if final_dir.exists():
            shutil.rmtree(final_dir)
        os.replace(tmp_dir, final_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    _summary(result.metrics, final_dir, plots, time.perf_counter() - t0, as_json, err, quiet)


def classifier_params(opts: dict) -> dict:
    """BPSOMClassifier parameters from `train`'s option values (also used by `bpsom sweep`); checked."""
    from bpsom_core.tabular import BPSOMClassifier

    params = dict(hidden_layer_sizes=_ints(opts["hidden"], "--hidden"), som_dims=_ints(opts["som_dims"], "--som"),
                  solver=opts["solver"], batch_size=opts["batch_size"], loss=opts["loss"],
                  learning_rate=opts["learning_rate"], momentum=opts["momentum"],
                  weight_decay=opts["weight_decay"], som_error_weight=opts["som_error_weight"],
                  reliability_threshold=opts["reliability_threshold"], prune_threshold=opts["prune_threshold"],
                  som_context=_pair(opts["som_context"], "--som-context", int),
                  som_lr=_pair(opts["som_lr"], "--som-lr"),
                  max_epochs=opts["epochs"], patience=opts["patience"], random_state=opts["seed"])
    if len(params["som_dims"]) == 1:
        params["som_dims"] = params["som_dims"][0]
    try:
        BPSOMClassifier(**params)._settings()
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return params


def _class_counts(table):
    import numpy as np

    return np.unique(table.y, return_counts=True)


def _check_split(test_fraction: float, val_fraction: float, cv: Optional[int]) -> None:
    if not 0.0 <= test_fraction < 1.0:
        raise InputError(f"must be in [0, 1), got {test_fraction}", field="--test-fraction")
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"must be in [0, 1), got {val_fraction}", field="--val-fraction")
    if cv is None and test_fraction + val_fraction >= 0.9:
        raise InputError("--test-fraction plus --val-fraction leave under 10% for training",
                         field="--val-fraction")
    if cv is not None and cv < 2:
        raise InputError(f"needs at least 2 folds, got {cv}", field="--cv")


def _report(run_dir: Path) -> List[Path]:
    from bpsom_core.tabular.report import make_report

    return make_report(run_dir)


def _summary(metrics: dict, run_dir: Path, plots: List[Path], seconds: float, as_json: bool, err,
             quiet: bool) -> None:
    if as_json:
        click.echo(json.dumps({"run_dir": str(run_dir), **metrics}))
        return
    lines = [f"run directory: {run_dir}"]
    if "cv" in metrics:
        cvm = metrics["cv"]
        lines.append(f"{metrics['mode']}: accuracy {100 * cvm['accuracy_mean']:.2f}% "
                     f"(sd {100 * cvm['accuracy_sd']:.2f})")
    for part in ("train", "validation", "test"):
        m = metrics.get(part)
        if m:
            lines.append(f"{part:>10}: accuracy {100 * m['accuracy']:6.2f}%  MSE {m['mse']:.4f}  ({m['n']} rows)")
    lines.append(f"best epoch {metrics['best_epoch']} of {metrics['epochs_run']}; hidden units kept "
                 f"{metrics['units_alive']}; {seconds:.1f} s")
    if plots:
        lines.append(f"plots: {', '.join(p.name for p in plots)} (in {run_dir / 'plots'})")
    click.echo("\n".join(lines))
