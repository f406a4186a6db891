"""`bpsom train`: BP-SOM on a table (CSV/TSV, ARFF, .npz), or on the embedded Wine data.

Wiring only: read the data, run the experiment, write the run directory,
draw the report.  The per-epoch table and progress go to stderr; stdout gets
a short summary (or the metrics as JSON with --json).  The run directory is
assembled under a temporary name and renamed into place at the end, so a
failed or interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import List, Optional

import click

from bpsom_core.atomic import RunDirectory
from bpsom_core.errors import InputError
from bpsom_core.params import MAX_EPOCHS, TABULAR_DEFAULTS as SOM

from .commands import OneLineCommand


def _ints(text: str, option: str, minimum: int = 0) -> tuple:
    try:
        values = tuple(int(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise InputError(f"expected comma-separated integers, got {text!r}", field=option) from None
    if any(v < minimum for v in values):
        raise InputError(f"every value must be at least {minimum}, got {text!r}", field=option)
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
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True, help="Mini-batch size (minibatch solver).")
@click.option("--loss", type=click.Choice(["mse", "cross_entropy"]), default="mse", show_default=True,
              help="mse: sigmoid outputs, 0.1/0.9 targets (the C); cross_entropy: softmax.")
@click.option("--epochs", type=click.IntRange(1, MAX_EPOCHS), default=100, show_default=True, help="Maximum number of epochs.")
@click.option("--patience", type=click.IntRange(0), default=30, show_default=True,
              help="Stop after this many epochs without a better validation score.")
@click.option("--lr", "learning_rate", type=float, default=0.15, show_default=True, help="BP learning rate.")
@click.option("--momentum", type=float, default=0.4, show_default=True)
@click.option("--weight-decay", type=float, default=0.0, show_default=True)
@click.option("--som-error-weight", type=float, default=SOM.som_error_weight, show_default=True,
              help="Share of the SOM error in the hidden-layer error (the C's SOM_ERROR_USE).")
@click.option("--reliability-threshold", type=int, default=SOM.reliability_threshold, show_default=True,
              help="Minimum cell reliability (%) for the SOM error to be used.")
@click.option("--prune-threshold", type=float, default=SOM.prune_threshold, show_default=True,
              help="Prune hidden units whose activation std is at most this (0 = off).")
@click.option("--som-context", default="{},{}".format(*SOM.som_context), show_default=True, metavar="MIN,MAX",
              help="Neighbourhood radius.")
@click.option("--som-lr", default="{},{}".format(*SOM.som_lr), show_default=True, metavar="MIN,MAX",
              help="SOM learning rate.")
@click.option("--test-fraction", type=float, default=0.2, show_default=True)
@click.option("--val-fraction", type=float, default=0.2, show_default=True,
              help="Share of all rows held out for early stopping (a 60/20/20 split with --test-fraction). "
                   "The Python API's validation_fraction (0.1, as scikit-learn's MLPClassifier) is a share "
                   "of the rows given to fit(), used only when no validation data is passed.")
@click.option("--cv", type=int, default=None, metavar="K", help="K-fold cross-validation instead of a test split.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
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
    from bpsom_core.tabular.epoch_table import EpochTable
    from bpsom_core.tabular.experiment import SplitSpec, run_experiment, write_run

    argv = ["bpsom", "train", *sys.argv[2:]] if len(sys.argv) > 1 and sys.argv[1] == "train" else None
    params = classifier_params(locals())
    _check_numbers(test_fraction=test_fraction, val_fraction=val_fraction)
    _check_split(test_fraction, val_fraction, cv)
    if data is None:
        data_path, target = DEFAULT_DATASET, target or DEFAULT_TARGET
        data_label = f"embedded Wine data ({DEFAULT_DATASET.name})"
    else:
        data_path, data_label = data, str(data)
    table = read_table(data_path, target, _names(categorical), _names(numeric))
    if cv is not None:
        check_cv_fits(table, cv, data_path)
    final_dir = output_dir or Path("runs") / datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    _check_sizes(params, table)
    _warn_small(table, test_fraction, val_fraction, cv, quiet)

    err = Console(stderr=True, soft_wrap=True)   # long lines are not broken at 80 columns in a log file
    n_layers = len(params["hidden_layer_sizes"])
    if not quiet:
        err.print(f"[bold]bpsom train[/] on {data_label}: {len(table)} rows, {len(table.names)} columns, "
                  f"{len(table.classes)} classes ({', '.join(table.classes[:8])}"
                  f"{', ...' if len(table.classes) > 8 else ''}); target [bold]{table.target}[/]", highlight=False)
    split = SplitSpec(test_fraction=test_fraction, val_fraction=val_fraction, cv=cv, seed=seed)
    from bpsom_core._numba_cache import PRIMITIVE_MODULES, compiling_note
    note = None if quiet else compiling_note(PRIMITIVE_MODULES)
    if note:
        click.echo(note, err=True)
    t0 = time.perf_counter()
    run_dir = RunDirectory(final_dir, force)
    with run_dir as tmp_dir:   # locked and checked before training, swapped into place after it
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
        write_run(tmp_dir, result, config)
        plots = [] if no_report else [final_dir / "plots" / p.name for p in _report(tmp_dir)]
        run_dir.commit()
    if "stopped" in result.metrics:
        click.echo(f"bpsom: warning: {result.metrics['stopped']} (learning rate too high?); training stopped "
                   f"there and the run keeps the network of epoch {result.metrics['best_epoch']}", err=True)
    _summary(result.metrics, final_dir, plots, time.perf_counter() - t0, as_json, err, quiet)


def classifier_params(opts: dict) -> dict:
    """BPSOMClassifier parameters from `train`'s option values (also used by `bpsom sweep`); checked."""
    from bpsom_core.tabular import BPSOMClassifier

    params = dict(hidden_layer_sizes=_ints(opts["hidden"], "--hidden", minimum=1), som_dims=_ints(opts["som_dims"], "--som"),
                  solver=opts["solver"], batch_size=opts["batch_size"], loss=opts["loss"],
                  learning_rate=opts["learning_rate"], momentum=opts["momentum"],
                  weight_decay=opts["weight_decay"], som_error_weight=opts["som_error_weight"],
                  reliability_threshold=opts["reliability_threshold"], prune_threshold=opts["prune_threshold"],
                  som_context=_pair(opts["som_context"], "--som-context", int),
                  som_lr=_pair(opts["som_lr"], "--som-lr"),
                  max_epochs=opts["epochs"], patience=opts["patience"], random_state=opts["seed"])
    if len(params["som_dims"]) == 1:
        params["som_dims"] = params["som_dims"][0]
    _check_numbers(lr=opts["learning_rate"], momentum=opts["momentum"], weight_decay=opts["weight_decay"],
                   som_error_weight=opts["som_error_weight"], prune_threshold=opts["prune_threshold"],
                   som_lr=params["som_lr"])
    try:
        BPSOMClassifier(**params)._settings()
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return params


def _check_numbers(**values: float) -> None:
    """NaN or infinite option values are refused by name (the classifier's range checks miss NaN)."""
    for name, value in values.items():
        for v in (value if isinstance(value, tuple) else (value,)):
            if not math.isfinite(v):
                raise InputError(f"must be a finite number, got {v}", field="--" + name.replace("_", "-"))


def _check_sizes(params: dict, table) -> None:
    """Refuse layer and SOM sizes whose memory cannot fit, before anything is allocated."""
    from bpsom_core.memory import check_fits, network_bytes

    n_in = sum(1 if kind == "numeric" else len(set(col.tolist()))
               for kind, col in zip(table.kinds, table.columns))
    hidden = list(params["hidden_layer_sizes"])
    dims = params["som_dims"]
    dims = [dims] * len(hidden) if isinstance(dims, int) else list(dims)
    need = network_bytes([n_in, *hidden, len(table.classes)], dims, rows=len(table))
    check_fits(need, f"a {n_in}-{'-'.join(map(str, hidden))}-{len(table.classes)} network with "
               f"{'/'.join(f'{d}x{d}' for d in dims)} SOMs", field="--hidden/--som")


def _warn_small(table, test_fraction: float, val_fraction: float, cv: Optional[int], quiet: bool) -> None:
    """Say so when the data are too few for the requested splits (results will be noise)."""
    _, counts = _class_counts(table)
    n, k = len(table), len(counts)
    if cv is not None:
        n_train = n - n // cv
        n_val = round(val_fraction * n_train)
        held = [("validation", n_val)]
    else:
        n_test = round(test_fraction * n)
        n_val = round(val_fraction * n)
        n_train = n - n_test - n_val
        held = [("test", n_test), ("validation", n_val)]
    notes = []
    if n_train < 2 * k:
        notes.append(f"{n_train} training rows for {k} classes")
    notes += [f"{m} {name} rows for {k} classes" for name, m in held if 0 < m < k]
    notes += [f"the {name} split is empty" for name, m in held if m == 0 and
              (name == "test" and test_fraction > 0 or name == "validation" and val_fraction > 0)]
    if min(counts) < 2:
        notes.append(f"a class with {min(counts)} row")
    if notes:
        click.echo(f"bpsom: warning: {n} rows are too few for the requested splits ({'; '.join(notes)}); "
                   f"the scores will mostly be noise", err=True)


def check_cv_fits(table, cv: int, data_path) -> None:
    """Every one of the ``cv`` stratified folds needs a row of every class; else each fold fails alike."""
    _, counts = _class_counts(table)
    if min(counts) < cv:
        raise InputError(f"--cv {cv} needs at least {cv} rows of every class; the smallest class has "
                         f"{min(counts)}", path=str(data_path), field=table.target)


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
        lines.append("the saved model, refitted on all rows (its scores are not a CV estimate):")
    for part in ("train", "validation", "test"):
        m = metrics.get(part)
        if m:
            label = f"refit {part}" if "cv" in metrics else part
            lines.append(f"{label:>{16 if 'cv' in metrics else 10}}: accuracy {100 * m['accuracy']:6.2f}%  MSE {m['mse']:.4f}  ({m['n']} rows)")
    lines.append(f"best epoch {metrics['best_epoch']} of {metrics['epochs_run']}; hidden units kept "
                 f"{metrics['units_alive']}; " + (f"{metrics['seconds']:.1f} s training, " if "seconds" in metrics
                                                   else "") + f"{seconds:.1f} s in all")
    if plots:
        lines.append(f"plots: {', '.join(p.name for p in plots)} (in {run_dir / 'plots'})")
    click.echo("\n".join(lines))
