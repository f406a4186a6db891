"""The parity harness itself: comparison, generation, shrinking, reproducers.

Runs without the C program: a deterministic fake plays it (tests/parity_fakes.py).
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpsom.parity.generate import GenOptions, cases, example_case
from bpsom.parity.grapho_data import ALPHABET, PCLASSES, DataSpec, render
from bpsom.parity.live import run_live
from bpsom.parity.replay import (Divergence, compare_outputs, first_difference, list_cases,
                           normalise_log, replay_case)
from parity_fakes import FakeC, dump_bug, oob_bug

FAST = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


# ------------------------------------------------------------------ comparison

def test_first_difference_names_the_first_differing_line():
    d = first_difference("log", b"a\nb\nc\n", b"a\nB\nc\n")
    assert d == Divergence("log", 2, "b", "B")


def test_first_difference_treats_two_missing_files_as_equal():
    assert first_difference("bst", None, None) is None
    assert first_difference("bst", None, b"x").expected == "<missing>"
    assert first_difference("bst", b"x", None).actual == "<missing>"


def test_first_difference_reports_a_missing_final_newline():
    d = first_difference("stdout", b"a\n", b"a")
    assert d is not None and d.line == 2


def test_normalise_log_only_touches_time_lines():
    log = b"NEW SESSION\nTime: Thu Nov 26 03:12:12 2026\nDUMP = 0\nTimex\n"
    assert normalise_log(log) == b"NEW SESSION\nTime: <normalised>\nDUMP = 0\nTimex\n"


def test_compare_outputs_orders_stdout_log_bst():
    exp = {"stdout": b"1\n", "log": b"a\n", "bst": b"w\n"}
    act = {"stdout": b"1\n", "log": b"b\n", "bst": b"v\n"}
    assert [d.output for d in compare_outputs(exp, act)] == ["log", "bst"]


# ------------------------------------------------------------------ data and .prm

@FAST
@given(st.integers(0, 2**31 - 1), st.integers(1, 60), st.integers(1, 62), st.booleans(), st.booleans(),
       st.booleans())
def test_grapho_lines_are_always_valid_for_the_c(seed, n, k, crlf, trailing, dup):
    data = render(DataSpec(seed, n, k, duplicates=dup, crlf=crlf, trailing_newline=trailing), 7)
    lines = data.split(b"\r\n" if crlf else b"\n")
    if trailing:
        assert lines.pop() == b""
    assert len(lines) >= n if dup else len(lines) == n
    for line in lines:
        assert len(line) == 11 and line[9:10] == b" "
        assert all(c in ALPHABET for c in line[:9])
        assert line[10] in PCLASSES[:k]


@FAST
@given(cases(GenOptions()))
def test_generated_cases_respect_the_c_bounds(spec):
    prm = spec.prm.render().decode("latin-1")
    arch = [int(x) for x in re.search(r"BP-architecture\s*=\s*([-\d ]+)", prm).group(1).split()]
    dump = int(re.search(r"DUMP\s*=\s*([-+\d]+)", prm).group(1))
    assert dump != 3, "DUMP 3 makes the C read examples from stdin"
    labels = re.search(r"ALL_LABELS\s*=\s*(\S+)", prm).group(1)
    n_labels = (len(labels) + 1) // 4
    classes = {line.split()[-1] for name in ("lrn.txt", "data.lrn", "val.txt", "tst.txt")
               for line in spec.files.get(name, b"").decode("latin-1").splitlines() if line.strip()}
    assert all(PCLASSES.decode("latin-1").index(c) < n_labels for c in classes)
    if "fatal:architecture" not in spec.features and "old_env" not in spec.features:
        last = max(i for i, n in enumerate(arch) if n > 0)
        assert all(arch[i] <= arch[last] for i in range(1, last)), "hidden layer above output"
        assert all(PCLASSES.decode("latin-1").index(c) < arch[last] for c in classes)
    assert spec.well_defined


def test_allow_oob_is_needed_for_out_of_bounds_cases():
    seen = []

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(cases(GenOptions(allow_oob=True)))
    def draw(spec):
        seen.append(spec.well_defined)

    draw()
    assert False in seen and True in seen


def test_prm_keeps_the_c_line_order():
    prm = example_case(3).prm.render().decode("latin-1")
    keys = [line.split("=")[0].strip() for line in prm.splitlines() if "=" in line]
    assert keys[:3] == ["DUMP", "DUMP_LAYER", "SEED"]
    assert keys.index("BP-architecture") < keys.index("SOM-architecture") < keys.index("SOM_MIN_LEARN_RATE")
    assert keys[-1] == "SOM_MIN_LEARN_RATE"


# ------------------------------------------------------------------ live loop

def test_live_identical_programs_pass(tmp_path):
    stats = run_live(FakeC(), FakeC(), examples=25, seed=1, repro_root=tmp_path)
    assert stats.passed and stats.examples == 25 and stats.identical == 25
    assert not list(tmp_path.iterdir())


def test_live_finds_shrinks_and_writes_a_replayable_reproducer(tmp_path):
    stats = run_live(FakeC(), FakeC(bug=dump_bug), examples=100, seed=2, repro_root=tmp_path)
    assert not stats.passed
    failure = stats.failure
    assert failure.outcome.divergences[0].output == "stdout"
    repro = failure.reproducer
    prm = (repro / "case.prm").read_text(encoding="latin-1")
    assert re.search(r"^DUMP = 1$", prm, re.M), "shrinks to the smallest DUMP that fails"
    # shrunk: the minimal case has the smallest data hypothesis could find
    assert {"som:none", "n_epochs:1", "label_noise:0.0"} <= set(failure.spec.features)
    assert (repro / "expected.stdout").exists() and (repro / "actual.stdout").exists()
    assert "first difference at line 1" in (repro / "DIVERGENCE.txt").read_text()
    # the reproducer is a case directory: replaying it shows the same divergence
    [case] = list_cases(tmp_path)
    assert replay_case(case, FakeC()).identical
    bad = replay_case(case, FakeC(bug=dump_bug))
    assert not bad.identical and bad.divergences[0].output == "stdout"


def test_live_counts_c_failures_separately():
    # the fake "C" crashes on about a third of the cases, whatever the generator draws
    stats = run_live(FakeC(fail_if=lambda prm: hashlib.md5(prm).digest()[0] % 3 == 0), FakeC(),
                     examples=60, seed=3)
    assert stats.passed
    assert stats.c_failed > 0 and stats.identical + stats.c_failed == stats.examples


def test_keep_writes_every_case_with_meta(tmp_path):
    stats = run_live(FakeC(), FakeC(), examples=5, seed=4, keep=tmp_path)
    kept = list_cases(tmp_path)
    assert len(kept) == stats.examples == 5
    meta = json.loads((kept[0] / "meta.json").read_text())
    assert meta["result"] == "identical" and "well_defined" in meta
    assert all(replay_case(k, FakeC()).identical for k in kept)


def test_replay_reads_output_names_and_args_from_meta(tmp_path):
    spec = example_case(11)
    spec.args = ["123"]
    spec.log_name, spec.bst_name = "run.log", "best.env"
    spec.prm.values.update(LOG="run.log", BEST_ENV="best.env")
    from bpsom.parity.casedir import run_side, write_case_dir
    write_case_dir(tmp_path / "c1", spec, run_side(FakeC(), spec, catch_all=False))
    meta = json.loads((tmp_path / "c1" / "meta.json").read_text())
    assert meta["args"] == ["123"] and meta["log"] == "run.log"
    assert replay_case(tmp_path / "c1", FakeC()).identical


@pytest.mark.parametrize("case", list_cases()[:3], ids=lambda p: p.name)
def test_fixture_layout_is_readable(case):
    meta = json.loads((case / "meta.json").read_text())
    assert {"seed", "well_defined", "features"} <= set(meta)


def test_out_of_bounds_differences_count_but_fail_only_when_strict(tmp_path):
    opts = GenOptions(allow_oob=True, old_env=False, fatal=False)
    lax = run_live(FakeC(), FakeC(bug=oob_bug), examples=60, seed=6, options=opts)
    assert lax.passed and lax.oob_differ > 0 and lax.oob_identical == 0
    strict = run_live(FakeC(), FakeC(bug=oob_bug), examples=60, seed=6, options=opts,
                      repro_root=tmp_path, strict_oob=True)
    assert not strict.passed and not strict.failure.spec.well_defined
    assert "oob:hidden_layer_larger_than_output" in strict.failure.spec.features


@pytest.mark.parametrize("case", list_cases(), ids=lambda p: p.name)
def test_observed_tags_agree_with_the_recordings(case):
    """Our reading of the C's output gives the tags the fixtures were recorded with."""
    from bpsom.parity.tags import observed_tags

    recorded = {f for f in json.loads((case / "meta.json").read_text())["features"]
                if f.startswith("observed:")}
    ours = set(observed_tags((case / "expected.stdout").read_bytes(), (case / "expected.log").read_bytes()))
    ours -= {"observed:fatal_error", "observed:fatal_no_default"}  # not in the fixtures' vocabulary
    assert ours == recorded
