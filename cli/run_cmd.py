"""`bpsom run FILE.prm [SEED]`: the C program's experiment, byte-identical output."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click

from bpsom_core.errors import InputError

PRM_HELP = """\b
The .prm file lists these keys in this order (as the C program reads them):
  DUMP = 0..2                  per-example dumps in the log (0 none, 1 results, 2 also errors)
  DUMP_LAYER = 0/1 x6          which layers' activations DUMP writes
  SEED = 0..32000              seed of the C's rand() (a SEED argument overrides it)
  LRN/VAL/TST = FILE           learning, validation and test data
  LOG = FILE                   log file (appended)
  OLD_ENV = FILE|_             continue from a saved .bst network ('_' = start fresh)
  BEST_ENV = FILE              where the best network is saved
  ALL_LABELS = -a-|-b-|...     class labels, 3 characters each
  N_EPOCHS, STOP_IF_NOTHING_DONE, TEST_RATIO
  SOM_ERROR_USE (alpha), RELIABILITY_THRESHOLD (percent), PRUNE_THRESHOLD (std)
  BP-architecture = N0 N1 ...  (6 numbers, 0 = no layer)
  BP_LEARN_RATE, MOMENTUM, MM_AFTER_N_EXAMPLES, ERROR_LEARN_THRESHOLD, WEIGHT_DECAY_RATE
  SOM-architecture = D0 D1 ... (grid size per layer, 0 = no SOM)
  SOM_MAX_CONTEXT, SOM_MIN_CONTEXT, SOM_MAX_LEARN_RATE, SOM_MIN_LEARN_RATE
  FORMAT = grapho|dense        (optional, ours) data format
Out-of-range values get the C's defaults with the C's warnings.  File names
are relative to the current directory, as in the C; LOG and BEST_ENV may name
any file you can write (another directory too), whose directory must exist.

\b
SEED argument: a whole number 0..32000.  With an explicit --compat c any text
is taken as the C's atoi() takes it ('abc' is 0, 99999 is 99999).
"""


@click.command("run", epilog=PRM_HELP)
@click.argument("prm", required=False, type=click.Path(dir_okay=False))
@click.argument("seed", required=False)
@click.option("--compat", type=click.Choice(["c", "fixed"]), default="c", show_default=True,
              help="c: reproduce the C program bug for bug; fixed: correct its plain errors (docs/quirks.md).")
@click.option("--format", "data_format", type=click.Choice(["grapho", "dense"]), default=None,
              help="Data format (default: the .prm's FORMAT key, else grapho).")
@click.option("--example", is_flag=True, help="Run the small example shipped with bpsom in a new directory.")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="With --example: where to put it (default: ./bpsom-example).")
@click.option("--history", "history", type=click.Path(dir_okay=False), default=None,
              help="Also write the run as one JSON document to this file (atomically, at the end): "
                   "{prm, compat, passes: [one object per pass: epoch, phase, abstract, examples, mse, "
                   "classification_error, som_use_percent per layer, units; new_best, pruned when they "
                   "happen]}.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar on stderr.")
def run(prm: Optional[str], seed: Optional[str], compat: str, data_format: Optional[str], example: bool,
        directory: Optional[str], history: Optional[str], quiet: bool) -> None:
    """Run a classic BP-SOM experiment described by a C-format .prm file.

    Behaves like the original C program `bpsom FILE.prm [SEED]`: run it in the
    directory holding the files the .prm names. stdout carries exactly the C's
    lines, so `diff` against C output works; the LOG file is appended and the
    best network is saved to BEST_ENV (atomically).
    """
    import os

    from bpsom_core._numba_cache import ENGINE_MODULES, compiling_note
    from bpsom_core.exact.engine import run_experiment

    from .progress import engine_progress

    ctx = click.get_current_context()
    explicit_c = ctx.get_parameter_source("compat") is not click.core.ParameterSource.DEFAULT and compat == "c"
    if directory is not None and not example:
        raise click.UsageError("--dir only works with --example")
    if seed is not None and not explicit_c:
        _check_seed(seed)
    if history is not None:
        from bpsom_core.atomic import check_output_file
        check_output_file(history, "history file")
        history = os.path.abspath(history)
    if example:
        from bpsom_core.examples import install_example
        target = Path(directory or "bpsom-example")
        prm_path = install_example(target)
        os.chdir(target)
        prm = prm_path.name
        click.echo(f"bpsom: running the shipped example in {target}/ ({prm})", err=True)
    if prm is None:
        raise click.UsageError("give a .prm file (or --example)")
    prm = os.fsencode(prm) if isinstance(prm, str) else prm   # the name's bytes, as the C opens it
    if not os.path.lexists(prm):
        raise InputError("parameter file not found", os.fsdecode(prm))
    note = None if quiet else compiling_note(ENGINE_MODULES)
    if note:
        click.echo(note, err=True)
    with _exclusive_log(prm), engine_progress(quiet) as progress:
        run_experiment(os.fsdecode(prm), seed=seed, compat=compat, progress=progress, data_format=data_format,
                       stderr=sys.stderr.buffer, history_path=history)


SEED_RANGE = (0, 32000)


def _check_seed(seed: str) -> None:
    """The documented SEED argument: a whole number in 0..32000 (the C's atoi took anything)."""
    import re

    text = seed.strip()
    if not re.fullmatch(r"[+-]?\d+", text) or not SEED_RANGE[0] <= int(text) <= SEED_RANGE[1]:
        raise InputError(f"must be a whole number {SEED_RANGE[0]}..{SEED_RANGE[1]}, got {seed!r} (give "
                         f"--compat c explicitly to take it as the C's atoi() does)", field="SEED")


def _exclusive_log(prm: bytes):
    """Lock the experiment's LOG for this run, after checking BEST_ENV can be written.

    Two runs of one experiment in one directory would interleave their lines
    in the appended log (and race for BEST_ENV); the second is refused.
    A .prm the reader refuses is left for the engine to report.
    """
    import contextlib
    import os

    from bpsom_core.atomic import check_output_file, exclusive_lock
    from bpsom_core.readers.prm import c_filename, read_prm

    try:
        params = read_prm(os.fsdecode(prm))
    except InputError:
        return contextlib.nullcontext()
    if len(params.BEST_ENV.strip()) > 0:
        check_output_file(c_filename(params.BEST_ENV), "BEST_ENV network file")
    log = Path(c_filename(params.LOG))
    if not log.parent.is_dir():
        return contextlib.nullcontext()    # the engine reports it exactly as the C does
    return exclusive_lock(log.parent / f".{log.name}.lock",
                          f"another bpsom run is writing the log {params.LOG} now; wait for it to finish")
