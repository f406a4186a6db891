"""Run one case on both sides and write case directories in the fixtures' layout.

A live comparison, a recording and a reproducer all produce the same thing:
a directory with the inputs, the C's ``expected.*`` outputs and meta.json, so
``bpsom parity --cases`` can replay any of them later.  A reproducer also holds
our ``actual.*`` outputs and a DIVERGENCE.txt that says what differs.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from bpsom_core.atomic import atomic_write_bytes, atomic_write_text
from bpsom.parity.generate import CaseSpec
from bpsom.parity.replay import Divergence, collect_outputs, compare_outputs
from bpsom.parity.runners import RunFailed, RunOutput, Runner
from bpsom.parity.tags import observed_tags


@dataclass
class SideResult:
    """One side's run: its outputs (None when it failed) and timing."""

    outputs: dict[str, Optional[bytes]] = field(default_factory=dict)
    stderr: bytes = b""
    returncode: int = 0
    seconds: float = 0.0
    failure: Optional[str] = None


@dataclass
class CaseOutcome:
    """The comparison of one case: 'identical', 'diverged' or 'c_failed'."""

    status: str
    divergences: list[Divergence]
    c: SideResult
    ours: SideResult

    def first(self) -> str:
        return self.divergences[0].describe() if self.divergences else ""


def run_side(runner: Runner, spec: CaseSpec, catch_all: bool) -> SideResult:
    """Write the case to a fresh directory, run it there and collect the outputs."""
    with tempfile.TemporaryDirectory(prefix=f"bpsom-{runner.name}-") as tmp:
        work = Path(tmp)
        spec.write(work)
        (work / "meta.json").unlink()
        try:
            out: RunOutput = runner(work, list(spec.args))
        except RunFailed as exc:
            return SideResult(failure=str(exc))
        except Exception as exc:  # our engine crashing in-process is a finding, not a harness bug
            if not catch_all:
                raise
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            return SideResult(failure=f"raised {tb}")
        meta = spec.meta()
        return SideResult(outputs=collect_outputs(work, out.stdout, meta), stderr=out.stderr,
                          returncode=out.returncode, seconds=out.seconds)


def compare_case(spec: CaseSpec, c_runner: Runner, ours_runner: Runner) -> CaseOutcome:
    """Run the C and our engine on ``spec`` and compare stdout, log and .bst."""
    c = run_side(c_runner, spec, catch_all=False)
    if c.failure is not None:
        return CaseOutcome("c_failed", [], c, SideResult())
    ours = run_side(ours_runner, spec, catch_all=True)
    if ours.failure is not None:
        return CaseOutcome("diverged", [Divergence("run", 0, "a finished run", ours.failure)], c, ours)
    # Only the three outputs are compared: our engine may end a run the C ends
    # with its own fatal error ("no default", "Impossible to open") with exit
    # status 2 and a one-line reason, on top of the same stdout and log.
    diffs = compare_outputs(c.outputs, ours.outputs)
    if diffs and ours.returncode != 0:
        why = f"exit status {ours.returncode}: {_last_line(ours.stderr)}"
        diffs.insert(0, Divergence("run", 0, f"exit status {c.returncode}", why))
    return CaseOutcome("diverged" if diffs else "identical", diffs, c, ours)


def _last_line(data: bytes) -> str:
    lines = data.decode("latin-1").strip().splitlines()
    return lines[-1][:300] if lines else ""


def write_case_dir(directory: Path, spec: CaseSpec, c: SideResult,
                   meta_extra: Optional[dict] = None) -> None:
    """Inputs, the C's outputs as ``expected.*`` and meta.json: a replayable case."""
    if directory.exists():
        shutil.rmtree(directory)
    spec.write(directory)
    for name, data in c.outputs.items():
        if data is not None:
            atomic_write_bytes(directory / f"expected.{name}", data)
    atomic_write_bytes(directory / "expected.stderr", c.stderr)
    meta = spec.meta()
    meta["c_runtime_s"] = round(c.seconds, 3)
    meta["features"] = meta["features"] + observed_tags(c.outputs.get("stdout") or b"",
                                                        c.outputs.get("log") or b"")
    meta.update(meta_extra or {})
    atomic_write_text(directory / "meta.json", json.dumps(meta, indent=2) + "\n")


def write_reproducer(directory: Path, spec: CaseSpec, outcome: CaseOutcome, command: str) -> None:
    """A self-contained failing case: inputs, both sides' outputs, what differs."""
    write_case_dir(directory, spec, outcome.c)
    for name, data in outcome.ours.outputs.items():
        if data is not None:
            atomic_write_bytes(directory / f"actual.{name}", data)
    atomic_write_bytes(directory / "actual.stderr", outcome.ours.stderr)
    atomic_write_text(directory / "DIVERGENCE.txt", divergence_text(spec, outcome, command))


def divergence_text(spec: CaseSpec, outcome: CaseOutcome, command: str) -> str:
    """Human-readable account of a mismatch and how to rerun it."""
    lines = ["bpsom parity: our engine's output differs from the C program's.", "",
             f"case: {spec.summary()}", ""]
    for d in outcome.divergences:
        lines += [f"{d.output}: first difference at line {d.line}",
                  f"  C:     {d.expected!r}", f"  ours:  {d.actual!r}", ""]
        lines += _context(outcome, d)
    args = " ".join(spec.args)
    lines += ["Files: expected.* = the C program's outputs, actual.* = ours (log with",
              "'Time:' lines normalised).", "",
              "Rerun:",
              f"  bpsom parity --cases {Path('..')}   (from inside this directory: replays it)",
              f"  bpsom run case.prm {args}".rstrip() + "   (ours, in a copy of this directory)",
              f"  /path/to/bpsom_c case.prm {args}".rstrip() + "   (the C program)",
              "", f"Found by: {command}", ""]
    return "\n".join(lines)


def _context(outcome: CaseOutcome, d: Divergence, before: int = 3) -> list[str]:
    """A few lines before the first difference, shared by both outputs."""
    data = outcome.c.outputs.get(d.output)
    if not data or d.line <= 1:
        return []
    rows = data.decode("latin-1").split("\n")
    lo = max(0, d.line - 1 - before)
    return ["  context (both sides agree):"] + [f"    {i + 1:6d}  {rows[i]}" for i in range(lo, d.line - 1)] + [""]
