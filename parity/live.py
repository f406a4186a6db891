"""Live parity: hypothesis generates C experiments, both programs run them.

Each generated case runs under the C binary and under our engine in separate
temporary directories; stdout, the log (``Time:`` lines normalised) and the
.bst must be byte-identical.  On the first mismatch hypothesis shrinks the
case to a minimal one that still differs; the last failing call is that
minimal case (hypothesis replays it at the end), so that is what becomes the
reproducer directory.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed

from bpsom.parity.casedir import CaseOutcome, compare_case, write_case_dir, write_reproducer
from bpsom.parity.generate import CaseSpec, GenOptions, cases, excluding
from bpsom.parity.runners import Runner
from bpsom.parity.tags import coverage_tags


CHUNK = 100  # cases per hypothesis round


class ParityMismatch(AssertionError):
    """Our outputs differ from the C's on a well-defined case."""


@dataclass
class Failure:
    """The minimal failing case hypothesis found."""

    spec: CaseSpec
    outcome: CaseOutcome
    reproducer: Optional[Path] = None


@dataclass
class LiveStats:
    """Counts for the summary table."""

    examples: int = 0             # cases generated before the first failure
    runs: int = 0                 # every execution, shrinking included
    identical: int = 0
    c_failed: int = 0
    oob_differ: int = 0           # out-of-bounds cases: compared, never a failure
    oob_identical: int = 0
    ours_exit_nonzero: int = 0    # identical outputs, but we ended with exit 2 where the C hit a fatal error
    diverged: int = 0             # failing executions (the first one and the shrink steps)
    c_failures: Counter = field(default_factory=Counter)
    coverage: Counter = field(default_factory=Counter)
    seconds_c: float = 0.0
    seconds_ours: float = 0.0
    wall: float = 0.0
    failure: Optional[Failure] = None
    error: Optional[str] = None   # hypothesis itself gave up (flaky, health check)
    shrunk: bool = True           # False with --no-shrink: the failure is reported as found

    @property
    def passed(self) -> bool:
        return self.failure is None and self.error is None


def _count(stats: LiveStats, spec: CaseSpec, outcome: CaseOutcome) -> None:
    """Add one generated case's outcome to the summary counts."""
    if outcome.status == "c_failed":
        stats.c_failed += 1
        stats.c_failures[outcome.c.failure or "?"] += 1
    elif not spec.well_defined:
        if outcome.status == "identical":
            stats.oob_identical += 1
        else:
            stats.oob_differ += 1
    elif outcome.status == "identical":
        stats.identical += 1
        stats.ours_exit_nonzero += outcome.ours.returncode != 0


def run_live(c_runner: Runner, ours_runner: Runner, examples: int, seed: Optional[int],
             options: GenOptions = GenOptions(), keep: Optional[Path] = None,
             repro_root: Optional[Path] = None, command: str = "bpsom parity",
             progress: Optional[Callable[[LiveStats], None]] = None,
             shrink: bool = True, exclude: tuple[str, ...] = (), strict_oob: bool = False) -> LiveStats:
    """Generate ``examples`` cases, compare both programs, shrink the first mismatch.

    ``keep``: also write every generated case (inputs + C outputs) there.
    ``repro_root``: where the minimal failing case is written.
    ``exclude``: feature-tag prefixes never to generate (known, accepted differences).
    ``strict_oob``: an out-of-bounds case that differs is a failure too (and gets shrunk),
    for work on the engine's emulation of the C's out-of-bounds reads.
    """
    stats = LiveStats(shrunk=shrink)
    state = {"failed_once": False, "last": None}
    start = time.perf_counter()

    def check(spec: CaseSpec) -> None:
        outcome = compare_case(spec, c_runner, ours_runner)
        stats.runs += 1
        stats.seconds_c += outcome.c.seconds
        stats.seconds_ours += outcome.ours.seconds
        if not state["failed_once"]:  # while shrinking, counts stay those of the generated cases
            stats.examples += 1
            _count(stats, spec, outcome)
        if not state["failed_once"] and outcome.status != "c_failed":
            stats.coverage.update(coverage_tags(spec.features, outcome.c.outputs.get("stdout") or b"",
                                                  outcome.c.outputs.get("log") or b""))
            if keep is not None:
                write_case_dir(keep / f"case_{stats.examples:05d}", spec, outcome.c,
                               {"result": outcome.status, "first_divergence": outcome.first()})
        if progress is not None:
            progress(stats)
        if outcome.status == "diverged" and (spec.well_defined or strict_oob):
            stats.diverged += 1
            state["failed_once"] = True
            state["last"] = (spec, outcome)
            raise ParityMismatch(outcome.first())

    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if shrink else [])
    # Hypothesis explores by mutating the cases it has already made, so one long
    # run keeps to one region; rounds of CHUNK cases with their own seeds spread out.
    done = 0
    for round_no in range(math.ceil(examples / CHUNK)):
        size = min(CHUNK, examples - done)
        done += size
        test = given(excluding(cases(options), exclude))(check)
        test = settings(max_examples=size, deadline=None, database=None, phases=phases,
                        verbosity=Verbosity.quiet, print_blob=False, report_multiple_bugs=False,
                        suppress_health_check=list(HealthCheck))(test)
        if seed is not None:
            test = hypothesis_seed(seed * 1000 + round_no)(test)
        try:
            test()
        except ParityMismatch:
            break
        except Exception as exc:  # Flaky and friends: report, never hide
            if state["last"] is None:
                raise
            stats.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            break
    if state["last"] is not None:
        spec, outcome = state["last"]
        failure = Failure(spec, outcome)
        if repro_root is not None:
            failure.reproducer = repro_root / f"repro_seed{seed if seed is not None else 'random'}"
            write_reproducer(failure.reproducer, spec, outcome, command)
        stats.failure = failure
    stats.wall = time.perf_counter() - start
    return stats
