"""`bpsom parity`: check our engine against the original C program (modes: see HELP)."""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import click
from rich.console import Console

from bpsom_core.errors import InputError


def _c_runner(binary: Optional[str], timeout: float, name: str = "C"):
    from bpsom.parity.runners import CRunner

    if binary is None:
        raise InputError("this mode needs the original C program: pass --c-binary PATH "
                         "(or set BPSOM_C_BINARY)")
    path = Path(binary)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise InputError("not an executable file", path=str(path), field="--c-binary")
    return CRunner(path, timeout=timeout, name=name)


def _ours_runner(engine: str, compat: str, against: Optional[str], timeout: float):
    from bpsom.parity.runners import EngineInProcessRunner, EngineSubprocessRunner

    if against is not None:  # harness self-test: a second C binary plays "ours"
        return _c_runner(against, timeout, name="ours")
    if engine == "subprocess":
        return EngineSubprocessRunner(compat=compat)
    from .main import main

    return EngineInProcessRunner(main, compat=compat)


def _case_dirs(root: Path) -> list[Path]:
    from bpsom.parity.replay import list_cases

    if not root.is_dir():
        raise InputError("no such directory", path=str(root), field="--cases")
    if (root / "case.prm").exists():
        return [root]
    found = list_cases(root)
    if not found and (root / "cases").is_dir():
        found = list_cases(root / "cases")
    if not found:
        raise InputError("no case directories (with a case.prm) here", path=str(root), field="--cases")
    return found


HELP = """Check our engine against the original C program.

\b
Three modes, one report style:
  --c-binary PATH               live: generate random C experiments with
                                hypothesis, run both programs, shrink the
                                first mismatch to a minimal reproducer
  --cases DIR                   replay recorded cases (the project's fixtures
                                or any directory in the same layout)
  --cases DIR --record --c-binary PATH
                                record new cases from a C binary into DIR

\b
Examples:
  bpsom parity --cases parity/fixtures/cases
  bpsom parity --c-binary ./bpsom_c --examples 500 --seed 1
  bpsom parity --cases DIR    (replay a reproducer the live mode wrote)
  bpsom parity --cases parity/fixtures/cases --c-binary ./bpsom_c
                                (does your C build match the recordings?)

Compared: stdout, the log (Time: lines normalised) and the .bst, byte for
byte.  Exit status: 0 when every well-defined case is identical, 1 when one
differs, 2 on bad arguments.  The C program is not shipped: build your own
from LanguageMachines/bp-som.  Details: docs/parity.md.
"""


@click.command(name="parity", help=HELP)
@click.option("--c-binary", type=click.Path(dir_okay=False), envvar="BPSOM_C_BINARY",
              help="The original C program (your own build). Env: BPSOM_C_BINARY.")
@click.option("--examples", type=click.IntRange(1), default=100, show_default=True,
              help="Live mode: how many random cases to generate.")
@click.option("--seed", type=int, default=None,
              help="Live mode: hypothesis seed (default: random, printed so the run can be repeated).")
@click.option("--keep", type=click.Path(file_okay=False), default=None,
              help="Keep every generated case and the reproducer under DIR "
                   "(default: only the reproducer, in a new temporary directory).")
@click.option("--cases", "cases_dir", type=click.Path(file_okay=False), default=None,
              help="Replay the recorded cases under DIR (or record into DIR with --record).")
@click.option("--record", is_flag=True,
              help="With --cases DIR and --c-binary: add the C's outputs to every case directory in DIR "
                   "that has inputs only, and with --examples N record N new generated cases there.")
@click.option("--allow-oob", is_flag=True,
              help="Also generate hidden layers larger than the output layer (the C reads out of "
                   "bounds; compared, but not a failure).")
@click.option("--strict-oob", is_flag=True,
              help="With --allow-oob: an out-of-bounds case that differs is a failure (and is shrunk).")
@click.option("--lenient", is_flag=True,
              help="Also generate inputs the C accepts beyond the documented format: extra "
                   "whitespace, blank lines, inf/nan and '+' in the .prm, empty layers.")
@click.option("--no-fatal", is_flag=True,
              help="Do not generate parameters without a C default (the C stops with 'no default').")
@click.option("--exclude", multiple=True, metavar="TAG",
              help="Never generate cases with a feature tag starting with TAG (repeatable), e.g. "
                   "--exclude lenient:empty_hidden_layer for a known, accepted difference.")
@click.option("--max-lines", type=click.IntRange(1, 5000), default=120, show_default=True,
              help="Live mode: most learning lines per case.")
@click.option("--min-lines", type=click.IntRange(1, 5000), default=1, show_default=True,
              help="Live mode: fewest lines per data file (bigger data sets; no DUMP 1/2 above 24).")
@click.option("--max-epochs", type=click.IntRange(1, 1000), default=6, show_default=True,
              help="Live mode: most epochs per case (in range; out-of-range values also occur).")
@click.option("--timeout", type=float, default=60.0, show_default=True,
              help="Seconds before a C run counts as 'C failed'.")
@click.option("--engine", type=click.Choice(["inprocess", "subprocess"]), default="inprocess",
              show_default=True, help="Run our engine in this process (fast) or a fresh one per case.")
@click.option("--compat", type=click.Choice(["c", "fixed"]), default="c", show_default=True,
              help="Our engine's mode (byte identity is only expected of 'c').")
@click.option("--no-shrink", is_flag=True, help="Report the first mismatch as found, without shrinking.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the report as JSON (atomically).")
@click.option("--against-c-binary", type=click.Path(dir_okay=False), default=None, hidden=True,
              help="Harness self-test: compare the C binary with another C binary.")
def parity(c_binary, examples, seed, keep, cases_dir, record, allow_oob, strict_oob, lenient, no_fatal, exclude, max_lines,
           min_lines, max_epochs, timeout, engine, compat, no_shrink, json_path, against_c_binary) -> None:
    console = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 160)
    if json_path is not None:
        from bpsom_core.atomic import check_output_file
        check_output_file(json_path, "JSON report")
    if timeout != timeout or timeout <= 0:
        raise InputError(f"must be a positive number of seconds, got {timeout}", field="--timeout")
    if record:
        if cases_dir is None:
            raise InputError("--record needs --cases DIR (where the new cases go)")
        # generate new cases only when asked (--examples); input-only case dirs are always recorded
        ctx = click.get_current_context()
        n_new = examples if ctx.get_parameter_source("examples") == click.core.ParameterSource.COMMANDLINE else 0
        code = _record(_c_runner(c_binary, timeout), Path(cases_dir), n_new, seed,
                       _options(allow_oob, lenient, no_fatal, max_lines, max_epochs, min_lines), console)
    elif cases_dir is not None:
        # --cases with --c-binary on the command line checks the C build itself
        # against the recordings; BPSOM_C_BINARY alone does not switch sides
        explicit = click.get_current_context().get_parameter_source("c_binary") == \
            click.core.ParameterSource.COMMANDLINE
        runner = (_c_runner(c_binary, timeout) if explicit and against_c_binary is None
                  else _ours_runner(engine, compat, against_c_binary, timeout))
        code = _replay(Path(cases_dir), runner, console, json_path)
    else:
        if c_binary is None:
            raise InputError("nothing to do: pass --c-binary PATH (live check) or --cases DIR (replay)")
        c = _c_runner(c_binary, timeout)
        ours = _ours_runner(engine, compat, against_c_binary, timeout)
        flags = [f for f, on in (("--allow-oob", allow_oob), ("--strict-oob", strict_oob),
                                 ("--lenient", lenient), ("--no-fatal", no_fatal),
                                 (f"--max-lines {max_lines}", max_lines != 120),
                                 (f"--min-lines {min_lines}", min_lines != 1),
                                 (f"--max-epochs {max_epochs}", max_epochs != 6),
                                 (f"--compat {compat}", compat != "c"),
                                 (f"--engine {engine}", engine != "inprocess"),
                                 ("--no-shrink", no_shrink)) if on]
        flags += [f"--exclude {e}" for e in exclude]
        code = _live(c, ours, examples, seed, keep, _options(allow_oob, lenient, no_fatal, max_lines, max_epochs, min_lines),
                     not no_shrink, console, json_path, tuple(exclude), " ".join(flags), strict_oob)
    sys.exit(code)


def _options(allow_oob: bool, lenient: bool, no_fatal: bool, max_lines: int, max_epochs: int,
             min_lines: int = 1):
    from bpsom.parity.generate import GenOptions

    if min_lines > max_lines:
        raise InputError(f"--min-lines {min_lines} is above --max-lines {max_lines}")
    return GenOptions(allow_oob=allow_oob, lenient=lenient, fatal=not no_fatal, max_lines=max_lines,
                      min_lines=min_lines, max_epochs=max_epochs)


def _replay(root: Path, runner, console: Console, json_path: Optional[str]) -> int:
    from bpsom.parity.replay import replay_case
    from bpsom.parity.report import print_cases_report, write_json

    results = []
    dirs = _case_dirs(root)
    compared = [d for d in dirs if _has_recording(d)]
    if not compared:
        raise InputError("no case here has recorded outputs (expected.stdout/.log/.bst) to compare with; "
                         "record them with --record --c-binary PATH", path=str(root), field="--cases")
    for d in dirs:
        if d not in compared:
            click.echo(f"bpsom: warning: {d}: no recorded outputs (expected.*); not compared", err=True)
        _warn_stale_log(d)
    dirs = compared
    for i, d in enumerate(dirs, 1):
        _progress(f"[{i}/{len(dirs)}] {d.name}")
        results.append(replay_case(d, runner))
    _progress(None)
    summary = print_cases_report(results, console, f"bpsom parity --cases {root} ({runner.name})")
    if json_path:
        write_json(Path(json_path), {"mode": "cases", "root": str(root), **summary})
    return 1 if summary["failures"] else 0


def _has_recording(case_dir: Path) -> bool:
    from bpsom.parity.replay import OUTPUT_NAMES

    return any((case_dir / f"expected.{name}").is_file() for name in OUTPUT_NAMES)


def _warn_stale_log(case_dir: Path) -> None:
    """A LOG file left in a case directory is copied in and appended to, so the log would differ."""
    from bpsom.parity.replay import output_names, read_meta

    try:
        log_name = output_names(read_meta(case_dir))[0]
    except ValueError:
        return
    if (case_dir / log_name).exists():
        click.echo(f"bpsom: warning: {case_dir / log_name}: a stale LOG file left by an earlier run; the replay appends to "
                   f"it (as the C does), so the log comparison will differ: delete it", err=True)


def _live(c, ours, examples: int, seed: Optional[int], keep: Optional[str], options, shrink: bool,
          console: Console, json_path: Optional[str], exclude: tuple[str, ...] = (), flags: str = "",
          strict_oob: bool = False) -> int:
    from bpsom.parity.live import run_live
    from bpsom.parity.report import print_live_report, write_json

    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    keep_dir = Path(keep) if keep else None
    repro_root = (keep_dir / "failures") if keep_dir else Path(tempfile.mkdtemp(prefix="bpsom-parity-"))
    command = f"bpsom parity --c-binary {c.binary} --examples {examples} --seed {seed} {flags}".rstrip()
    console.print(f"{command}: {examples} cases, C vs {ours.name}", markup=False)
    t0 = time.perf_counter()

    def progress(stats) -> None:
        if stats.runs % 10 == 0 or stats.failure:
            phase = "shrinking" if stats.diverged else "cases"
            _progress(f"{phase}: {stats.examples}/{examples} run, {stats.identical} identical, "
                      f"{stats.c_failed} C failed, {time.perf_counter() - t0:.0f} s")

    stats = run_live(c, ours, examples, seed, options, keep=keep_dir, repro_root=repro_root,
                     command=command, progress=progress, shrink=shrink, exclude=exclude,
                     strict_oob=strict_oob)
    _progress(None)
    summary = print_live_report(stats, console, seed, examples)
    if json_path:
        write_json(Path(json_path), {"mode": "live", **summary})
    return 0 if stats.passed else 1


def _record(c, out_dir: Path, examples: int, seed: Optional[int], options, console: Console) -> int:
    from bpsom.parity.record import needs_recording, record_generated, record_inputs, update_index

    failed = 0
    if out_dir.is_dir():
        for d in sorted(p for p in out_dir.iterdir() if p.is_dir() and needs_recording(p)):
            why = record_inputs(c, d)
            console.print(f"recorded {d.name}" if why is None else f"C failed on {d.name}: {why}",
                          markup=False)
            failed += why is not None
    if examples:
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        written = record_generated(c, out_dir, examples, seed, options,
                                   progress=lambda name: _progress(f"recorded {name}"))
        _progress(None)
        console.print(f"recorded {len(written)} generated case(s) under {out_dir} (seed {seed})",
                      markup=False)
    if out_dir.is_dir():
        update_index(out_dir)
    return 1 if failed else 0


def _progress(text: Optional[str]) -> None:
    """One self-overwriting status line on stderr, only on a terminal."""
    if not sys.stderr.isatty():
        return
    if text is None:
        sys.stderr.write("\r\033[K")
    else:
        sys.stderr.write("\r\033[K" + text[:150])
    sys.stderr.flush()
