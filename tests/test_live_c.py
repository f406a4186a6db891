"""Live parity against a real build of the original C program (pytest -m live_c).

Needs BPSOM_C_BINARY (the path of your own build; the project ships none).
Without it these tests report themselves skipped.  BPSOM_LIVE_EXAMPLES sets
how many random experiments the hypothesis test runs (default 100).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bpsom.parity.generate import GenOptions
from bpsom.parity.live import run_live
from bpsom.parity.replay import list_cases, replay_case
from bpsom.cli.main import main
from bpsom.parity.runners import CRunner, EngineInProcessRunner

BINARY = os.environ.get("BPSOM_C_BINARY")
EXAMPLES = int(os.environ.get("BPSOM_LIVE_EXAMPLES", "100"))

pytestmark = [
    pytest.mark.live_c,
    pytest.mark.skipif(not BINARY, reason="set BPSOM_C_BINARY to a build of the original C program"),
]


@pytest.fixture(scope="module")
def c_runner() -> CRunner:
    path = Path(BINARY or "")
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"BPSOM_C_BINARY={BINARY!r} is not an executable file")
    return CRunner(path, timeout=60)


def test_binary_reproduces_the_recorded_cases(c_runner):
    """The user's build must match the recordings, or live results mean nothing."""
    bad = [(c.name, r.first_divergence()) for c in list_cases()
           if not (r := replay_case(c, c_runner)).identical and r.well_defined]
    assert not bad, f"this C build differs from the recorded one: {bad[:3]}"


def test_live_parity_random_experiments(c_runner, tmp_path):
    """Random valid experiments: our engine's stdout, log and .bst equal the C's."""
    stats = run_live(c_runner, EngineInProcessRunner(main), examples=EXAMPLES,
                     seed=int(os.environ.get("BPSOM_LIVE_SEED", "20260")), options=GenOptions(),
                     repro_root=tmp_path)
    if stats.failure is not None:
        d = stats.failure.outcome.divergences[0]
        pytest.fail(f"{d.describe()}\ncase: {stats.failure.spec.summary()}\n"
                    f"reproducer: {stats.failure.reproducer}")
    assert stats.error is None, stats.error
    assert stats.identical + stats.c_failed == stats.examples == EXAMPLES
