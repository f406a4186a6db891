"""Fuzz `bpsom run` end to end: one input file of a tiny case replaced by junk.

Whatever the bytes, the command must finish with exit 0 (the input happened
to be valid) or exit 2 with a single ``bpsom: error:`` line on stderr: no
traceback, no hang.  The command runs in this process (as `bpsom parity`
does), so each example costs milliseconds, not an interpreter start.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpsom.parity.grapho_data import DataSpec, render
from bpsom.cli.main import main
from bpsom.parity.runners import EngineInProcessRunner
from fuzz_support import FUZZ, HANG_SECONDS, assert_clean_exit, fuzz_bytes, no_hang, run_cli

TINY_PRM = b"""DUMP = 0
DUMP_LAYER = 0 0 0 0 0 0
SEED = 5

LRN = lrn.txt
VAL = val.txt
TST = tst.txt
LOG = case.log
OLD_ENV = %s
BEST_ENV = case.bst
ALL_LABELS = -#-|-$-|-+-
N_EPOCHS = 2
STOP_IF_NOTHING_DONE = 2
TEST_RATIO = 1
SOM_ERROR_USE = 0.25
RELIABILITY_THRESHOLD = 95
PRUNE_THRESHOLD = 0.0

BP-architecture = 378 3 3 0 0 0
BP_LEARN_RATE = 0.1
MOMENTUM = 0.1
MM_AFTER_N_EXAMPLES = 0
ERROR_LEARN_THRESHOLD = 0.1
WEIGHT_DECAY_RATE = 0.005
\t\t
SOM-architecture = 0 2 0 0 0 0
SOM_MAX_CONTEXT = 1
SOM_MIN_CONTEXT = 0
SOM_MAX_LEARN_RATE = 0.200000
SOM_MIN_LEARN_RATE = 0.050000
"""


def _tiny_case(old_env: bool) -> dict[str, bytes]:
    files = {"case.prm": TINY_PRM % (b"old.bst" if old_env else b"_"),
             "lrn.txt": render(DataSpec(1, 20, 3), 9),
             "val.txt": render(DataSpec(2, 8, 3), 9),
             "tst.txt": render(DataSpec(3, 8, 3), 9)}
    return files


def _first_bst() -> bytes:
    """A .bst of the tiny network, written by a clean run (seed for mutations)."""
    out = _run(_tiny_case(False))
    assert out[0] == 0, out
    return out[2]


def _run(files: dict[str, bytes]) -> tuple[int, str, bytes]:
    runner = EngineInProcessRunner(main, timeout=HANG_SECONDS)  # raises RunFailed past it: a hang
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, data in files.items():
            (work / name).write_bytes(data)
        result = runner(work, [])
        bst = (work / "case.bst").read_bytes() if (work / "case.bst").exists() else b""
    return result.returncode, result.stderr.decode("latin-1"), bst


def _assert_clean(code: int, stderr: str) -> None:
    assert_clean_exit(code, stderr)


@pytest.fixture(scope="module")
def engine():
    pytest.importorskip("bpsom_core.exact.engine", reason="the exact engine is not there yet")
    return True


def test_tiny_case_runs_clean(engine):
    code, stderr, bst = _run(_tiny_case(False))
    assert code == 0 and bst.startswith(b"378 3 3 0 0 0")


@FUZZ
@given(name=st.sampled_from(["lrn.txt", "val.txt", "tst.txt"]),
       data=fuzz_bytes(render(DataSpec(4, 10, 3), 9)))
def test_fuzz_run_data_file(engine, name, data):
    files = _tiny_case(False)
    files[name] = data
    _assert_clean(*_run(files)[:2])


@FUZZ
@given(data=fuzz_bytes(TINY_PRM % b"_"))
def test_fuzz_run_prm(engine, data):
    files = _tiny_case(False)
    files["case.prm"] = data
    _assert_clean(*_run(files)[:2])


@pytest.fixture(scope="module")
def bst_seed(engine) -> bytes:
    return _first_bst()


@FUZZ
@given(data=st.data())
def test_fuzz_run_old_env(bst_seed, data):
    files = _tiny_case(True)
    files["old.bst"] = data.draw(fuzz_bytes(bst_seed))
    _assert_clean(*_run(files)[:2])


def test_missing_data_file_is_one_line(engine):
    files = _tiny_case(False)
    del files["val.txt"]
    code, stderr, _ = _run(files)
    # the C prints "Impossible to open val.txt!" and stops; we also exit 2 with one line
    _assert_clean(code, stderr)


CSV = b"a,b,colour,class\n" + b"".join(
    b"%d,%d,%s,%s\n" % (i % 7, (i * 3) % 5, (b"red", b"blue")[i % 2], (b"x", b"y")[(i // 2) % 2])
    for i in range(24))


@FUZZ
@given(data=fuzz_bytes(CSV))
def test_fuzz_train_csv(data):
    """`bpsom train` on junk CSV: a tiny, fast configuration so valid inputs finish quickly."""
    pytest.importorskip("bpsom_core.tabular", reason="the tabular engine is not there yet")
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "data.csv").write_bytes(data)
        with no_hang(60):
            code, stderr = run_cli(["train", "data.csv", "--epochs", "1", "--hidden", "2", "--som", "2",
                                    "--no-report", "--quiet", "-o", "out"], Path(tmp))
    assert_clean_exit(code, stderr)


DENSE_LINES = b"".join(b"%d %d %d %d 0.9 0.1 0.1\n" % (i % 2, (i // 2) % 2, 1, 0) for i in range(12))


def _tiny_dense_case() -> dict[str, bytes]:
    prm = (TINY_PRM % b"_").replace(b"378 3 3 0 0 0", b"4 3 3 0 0 0") + b"FORMAT = dense\n"
    return {"case.prm": prm, "lrn.txt": DENSE_LINES, "val.txt": DENSE_LINES[:40], "tst.txt": DENSE_LINES[:40]}


def test_tiny_dense_case_runs_clean(engine):
    code, stderr, bst = _run(_tiny_dense_case())
    assert code == 0, stderr
    assert bst.startswith(b"4 3 3 0 0 0")


@FUZZ
@given(data=fuzz_bytes(DENSE_LINES))
def test_fuzz_run_dense_data(engine, data):
    files = _tiny_dense_case()
    files["lrn.txt"] = data
    _assert_clean(*_run(files)[:2])
