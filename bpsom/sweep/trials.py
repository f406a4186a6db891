"""Run one trial in-process (inside a Ray worker) and return its row of metrics.

`train` trials call the tabular API directly (one fold, or the
train/validation/test split); `run` trials run a `.prm` experiment in a
temporary copy of its directory; `glue` trials run the `glue` command
in-process into the trial's own directory.  Any failure becomes a
``failed`` row with a one-line error instead of an exception, so one bad
setting never stops a sweep.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Dict

from bpsom_core.errors import InputError
from .spec import Trial


def run_trial(trial: Trial, out_dir: str) -> Dict[str, Any]:
    """The trial's result: status ok with its metrics, or failed with a one-line error."""
    t0 = time.perf_counter()
    try:
        metrics = _RUNNERS[trial.command](trial, Path(out_dir))
        status, error = "ok", ""
    except InputError as exc:
        metrics, status, error = {}, "failed", exc.one_line()
    except Exception as exc:  # a trial's fault must not end the sweep
        last = traceback.extract_tb(exc.__traceback__)[-1]
        metrics, status = {}, "failed"
        error = f"{type(exc).__name__}: {exc} ({Path(last.filename).name}:{last.lineno})"
    return {"status": status, "error": " ".join(error.split())[:500], **metrics,
            "seconds": round(time.perf_counter() - t0, 3)}


# --- train -------------------------------------------------------------------------------

def load_table(data: str):
    """The table a `train` trial reads: 'wine' (embedded), 'sklearn:NAME', or a data file."""
    from bpsom_core.readers.tabular import read_table

    if data == "wine":
        from bpsom_core.data import DEFAULT_DATASET, DEFAULT_TARGET
        return read_table(DEFAULT_DATASET, DEFAULT_TARGET)
    if data.startswith("sklearn:"):
        return _sklearn_table(data[len("sklearn:"):])
    return read_table(data, None)


def train_table(data: str, opts: Dict[str, Any]):
    """The table a `train` trial fits: ``data`` read with the options' target, categorical and numeric columns."""
    table = load_table(data)
    if opts.get("target") or opts.get("categorical") or opts.get("numeric"):
        from bpsom_core.readers.tabular import read_table
        names = lambda v: [n.strip() for n in str(v or "").split(",") if n.strip()]
        table = read_table(table.path, opts.get("target"), names(opts.get("categorical")),
                           names(opts.get("numeric")))
    return table


def _sklearn_table(name: str):
    """A scikit-learn toy data set as a table (written once to a temp .npz, read by the usual reader)."""
    import numpy as np
    from sklearn import datasets

    from bpsom_core.readers.tabular import read_table

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.npz"
        np.savez(path, X=X.astype(float), y=y.astype(str))
        return read_table(path, None)


def _train(trial: Trial, out_dir: Path) -> Dict[str, Any]:
    from bpsom.cli.train_cmd import _check_split, classifier_params, train

    from bpsom_core.tabular.experiment import SplitSpec, run_fold, run_split
    from .options import option_table

    opts = dict(train.make_context("train", []).params)      # the command's defaults
    table_of = option_table("train")
    for name, value in trial.options.items():
        opts[table_of[name].param] = str(value) if table_of[name].kind in ("str", "ints") else value
    opts["seed"] = trial.seed
    params = classifier_params(opts)
    _check_split(opts["test_fraction"], opts["val_fraction"], opts["cv"])
    table = train_table(trial.data, opts)
    split = SplitSpec(test_fraction=opts["test_fraction"], val_fraction=opts["val_fraction"],
                      cv=opts["cv"], seed=trial.seed)
    try:
        if trial.fold is not None:
            return run_fold(table, params, split, trial.fold)
        return run_split(table, params, split)
    except ValueError as exc:
        raise InputError(str(exc)) from None


# --- run (.prm) ---------------------------------------------------------------------------

def prm_with(text: str, values: Dict[str, Any]) -> str:
    """The .prm text with these keys' values replaced (lists as space-separated numbers)."""
    for key, value in values.items():
        shown = " ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        pattern = re.compile(rf"^([ \t]*{re.escape(key)}[ \t]*=).*$", re.MULTILINE)
        text, n = pattern.subn(lambda m: f"{m.group(1)} {shown}", text, count=1)
        if n == 0:
            text = text.rstrip("\n") + f"\n{key} = {shown}\n"
    return text


def _run(trial: Trial, out_dir: Path) -> Dict[str, Any]:
    """The .prm in a temp copy of its directory; its stdout, log and history go to DIR/trials/<id>/."""
    from bpsom_core.atomic import atomic_write_bytes
    from bpsom_core.exact.engine import run_experiment
    from bpsom_core.readers.prm import read_prm

    prm = Path(trial.data)
    keep = (out_dir / "trials" / trial.trial_id).resolve()     # before the chdir below
    keep.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bpsom-sweep-") as tmp:
        work = Path(tmp) / "run"
        shutil.copytree(prm.parent, work)
        (work / prm.name).write_text(prm_with(prm.read_text(encoding="latin-1"), trial.options),
                                     encoding="latin-1")
        stdout = io.BytesIO()
        here = os.getcwd()
        os.chdir(work)
        try:
            history = run_experiment(prm.name, seed=str(trial.seed), stdout=stdout, stderr=io.BytesIO(),
                                     history_path=keep / "history.json")
        finally:
            os.chdir(here)
            atomic_write_bytes(keep / "stdout.txt", stdout.getvalue())
        log = work / read_prm(work / prm.name).LOG
        if log.is_file():
            shutil.copyfile(log, keep / "run.log")
    return run_metrics(history)


def run_metrics(history: list) -> Dict[str, Any]:
    """Scores of a `.prm` run from its pass records: the best validation epoch's test pass."""
    validate = [r for r in history if r["phase"] == "validate" and not r.get("abstract")]
    best = [r for r in validate if r.get("new_best")] or validate
    if not best:
        raise InputError("the run finished without a validation pass")
    best_epoch = best[-1]["epoch"]
    tests = [r for r in history if r["phase"] == "test" and r["epoch"] == best_epoch] or \
        [r for r in history if r["phase"] == "validate" and r["epoch"] == best_epoch]
    last = tests[-1]
    units = last.get("units") or best[-1]["units"]     # input, hidden..., output
    return {"accuracy": round(1 - last["classification_error"] / 100, 6),
            "val_accuracy": round(1 - best[-1]["classification_error"] / 100, 6),
            "mse": last["mse"], "best_epoch": best_epoch,
            "epochs_run": max(r["epoch"] for r in history if not r.get("abstract")),
            "units_kept": int(sum(units[1:-1]))}


# --- glue ---------------------------------------------------------------------------------

def glue_argv(trial: Trial, out_dir: Path) -> list:
    """The `bpsom glue` arguments of a trial (its own output directory and seed)."""
    argv = ["--task", trial.data, "--output-dir", str((out_dir / "trials" / trial.trial_id).resolve()),
            "--seed", str(trial.seed), "--no-progress"]
    for name, value in trial.options.items():
        if "." in name:                      # a configuration key, bpsom.som_error_weight
            argv += ["--set", f"{name}={json.dumps(value)}"]
        elif isinstance(value, bool):
            argv += [f"--{name}"] if value else []
        else:
            argv += [f"--{name}", str(value)]
    return argv


def _glue(trial: Trial, out_dir: Path) -> Dict[str, Any]:
    import click

    from bpsom.cli.glue_cmd import glue

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            glue.main(glue_argv(trial, out_dir), prog_name="bpsom glue", standalone_mode=False)
        except click.ClickException as exc:
            raise InputError(exc.format_message()) from None
    summary = json.loads(buf.getvalue()[buf.getvalue().index("{"):])
    (mode, res), = summary["results"].items()
    units = res.get("hidden_units")
    return {**res["dev"], "best_epoch": res["best_epoch"],
            "units_kept": sum(units) if isinstance(units, list) else units,
            **ran_with(trial, summary)}


def ran_with(trial: Trial, summary: dict) -> Dict[str, Any]:
    """The swept values the glue command changed (a max length cut to the encoder's positions),
    as the row should record them, and its note for the progress line."""
    from bpsom.cli.glue_cmd import OPTION_KEYS

    out: Dict[str, Any] = {}
    for key, value in summary.get("adjusted", {}).items():
        names = [key, *(option for option, k in OPTION_KEYS.items() if ".".join(k) == key)]
        out.update({name: value for name in names if name in trial.options})
    if summary.get("notes"):
        out["note"] = "; ".join(summary["notes"])
    return out


_RUNNERS = {"train": _train, "run": _run, "glue": _glue}
