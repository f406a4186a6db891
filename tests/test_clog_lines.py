"""The pass line, pruning marks and abstract of clog match a recorded C log."""

from __future__ import annotations

from pathlib import Path

import pytest

from bpsom_core.writers import clog

CASE = Path(__file__).resolve().parents[1] / "parity" / "fixtures" / "cases" / "wd_prune_1h" / "expected.log"


@pytest.fixture
def c_log() -> str:
    return CASE.read_text(encoding="latin-1")   # recorded from the C program, shipped in the repository


def test_pass_line_and_prune_marks_as_the_c(c_log):
    line = (clog.pass_line(1, 8, 0, 2, 0.630, 25.0 + 50.0, {1: 0.0}) + "*"
            + "".join(clog.prune_mark(1, k) for k in (1, 2, 3)))
    assert line == "\n1/8 LRN=0 MAT=2 MSE=0.630 CE= 75.00 USE SOM1=  0.0* 1:-1 1:-2 1:-3"
    assert line in c_log


def test_abstract_as_the_c(c_log):
    text = clog.abstract([(8, (0.41, 38.20), (0.48, 49.50), (0.48, 45.00), {1: 68.00}),
                          (9, (0.41, 38.20), (0.48, 49.50), (0.48, 45.00), {1: 68.00})])
    assert text in c_log
    assert clog.pruned_units({1: 3}) in c_log


def test_abstract_without_a_material_prints_dashes():
    text = clog.abstract([(2, (0.1, 5.0), (0.2, 10.0), None, {})])
    assert text.endswith("\n||    2,  0.10,  5.00,  0.20, 10.00,     -,     -, ")
