"""Replay every recorded C case; well-defined ones must be byte-identical (stdout, log, .bst)."""

from __future__ import annotations

import json

import pytest

from bpsom.parity.replay import default_runner, list_cases, replay_case
from bpsom.cli.main import main
from bpsom.parity.runners import EngineInProcessRunner

CASES = list_cases()
IN_PROCESS = EngineInProcessRunner(main)
FIXTURES_CASE = next(c for c in CASES if c.name == "wd_2h_som_both")


def _well_defined(case) -> bool:
    return json.loads((case / "meta.json").read_text())["well_defined"]


@pytest.mark.parametrize("case", [c for c in CASES if _well_defined(c)], ids=lambda c: c.name)
def test_well_defined_case_is_byte_identical(case):
    result = replay_case(case, runner=IN_PROCESS)
    assert result.identical, f"{case.name}: first divergence: {result.first_divergence()}"


@pytest.mark.parametrize("case", [c for c in CASES if not _well_defined(c)], ids=lambda c: c.name)
def test_out_of_bounds_case_is_byte_identical(case):
    """The glibc heap-layout emulation (c mode) reproduces the C's out-of-bounds reads."""
    result = replay_case(case, runner=IN_PROCESS)
    assert result.identical, f"{case.name}: first divergence: {result.first_divergence()}"


def test_fixture_set_is_complete():
    assert sum(_well_defined(c) for c in CASES) == 28
    assert len(CASES) == 32


def test_replay_through_the_installed_command_line():
    """The same bytes through `python -m bpsom run` in a fresh process."""
    result = replay_case(FIXTURES_CASE, runner=default_runner)
    assert result.identical, result.first_divergence()
