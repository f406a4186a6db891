"""`bpsom run`: bad input gives one line, exit code 2, no traceback and no half-written network."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bpsom_core.exact.engine import run_experiment
from bpsom.parity.replay import FIXTURES

CASE = FIXTURES / "wd_1h_som5_basic"


def _bpsom(args, cwd, stdin=subprocess.DEVNULL):
    return subprocess.run([sys.executable, "-m", "bpsom.cli.main", *args], cwd=cwd, capture_output=True, stdin=stdin,
                          env=_env(), timeout=300)


def _env():
    import os
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture
def case_dir(tmp_path):
    for p in CASE.iterdir():
        if not p.name.startswith("expected") and p.name != "meta.json":
            shutil.copy(p, tmp_path / p.name)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_bytes().decode("latin-1")
    assert old in text
    path.write_bytes(text.replace(old, new, 1).encode("latin-1"))


def _assert_clean_error(proc, *fragments):
    err = proc.stderr.decode("latin-1").strip()
    assert proc.returncode == 2, (proc.returncode, err)
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("opening ")]
    assert len(lines) == 1, err
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])


BAD_PRM = [
    ("misspelt key", "N_EPOCHS = 10", "N_EPOCS = 10", ["case.prm:12", "N_EPOCHS"]),
    ("missing key", "TEST_RATIO = 1\n", "", ["case.prm", "TEST_RATIO"]),
    ("not a number", "BP_LEARN_RATE = 0.1", "BP_LEARN_RATE = fast", ["case.prm:20", "BP_LEARN_RATE"]),
    ("trailing junk", "N_EPOCHS = 10", "N_EPOCHS = 10x", ["case.prm:12", "N_EPOCHS"]),
    ("negative size", "BP-architecture = 378 20 20 0 0 0", "BP-architecture = 378 -20 20 0 0 0",
     ["BP-architecture", "out of range"]),
    ("too large size", "BP-architecture = 378 20 20 0 0 0", "BP-architecture = 378 900 20 0 0 0",
     ["BP-architecture", "out of range"]),
    ("grid too large", "SOM-architecture = 0 5 0 0 0 0", "SOM-architecture = 0 500 0 0 0 0", ["SOM-architecture"]),
    ("huge int", "N_EPOCHS = 10", "N_EPOCHS = 99999999999", ["N_EPOCHS", "C int"]),
    ("dump 3", "DUMP = 0", "DUMP = 3", ["DUMP"]),
    ("too few inputs", "BP-architecture = 378 20 20 0 0 0", "BP-architecture = 100 20 20 0 0 0", ["378"]),
    ("labels short of outputs", "-E-|-F-", "", ["lrn.txt", "class"]),
]


@pytest.mark.parametrize("name,old,new,fragments", BAD_PRM, ids=[b[0] for b in BAD_PRM])
def test_bad_prm(case_dir, name, old, new, fragments):
    _edit(case_dir / "case.prm", old, new)
    proc = _bpsom(["run", "case.prm", "--quiet"], case_dir)
    _assert_clean_error(proc, *fragments)
    assert not (case_dir / "case.bst").exists()


BAD_DATA = [
    ("character outside the alphabet", "lrn.txt", 3, lambda line: "ABCDEFGHI" + line[9:], ["lrn.txt:3", "window"]),
    ("unknown class", "val.txt", 2, lambda line: line[:10] + "!", ["val.txt:2", "class"]),
    ("class beyond the output layer", "tst.txt", 5, lambda line: line[:10] + "z", ["tst.txt:5", "output"]),
    ("short line", "lrn.txt", 7, lambda line: line[:5], ["lrn.txt:7"]),
    ("extra field", "lrn.txt", 1, lambda line: line + " 1", ["lrn.txt:1"]),
]


@pytest.mark.parametrize("name,fname,lineno,mutate,fragments", BAD_DATA, ids=[b[0] for b in BAD_DATA])
def test_bad_data_line(case_dir, name, fname, lineno, mutate, fragments):
    path = case_dir / fname
    lines = path.read_bytes().decode("latin-1").split("\n")
    lines[lineno - 1] = mutate(lines[lineno - 1])
    path.write_bytes("\n".join(lines).encode("latin-1"))
    proc = _bpsom(["run", "case.prm", "--quiet"], case_dir)
    _assert_clean_error(proc, *fragments)
    assert not (case_dir / "case.bst").exists()


def test_empty_data_file(case_dir):
    (case_dir / "val.txt").write_bytes(b"")
    _assert_clean_error(_bpsom(["run", "case.prm", "--quiet"], case_dir), "val.txt", "empty")


def test_missing_data_file(case_dir):
    (case_dir / "tst.txt").unlink()
    _assert_clean_error(_bpsom(["run", "case.prm", "--quiet"], case_dir), "tst.txt", "not found")


def test_missing_prm(tmp_path):
    _assert_clean_error(_bpsom(["run", "nope.prm", "--quiet"], tmp_path), "nope.prm", "not found")


def test_empty_prm(case_dir):
    (case_dir / "case.prm").write_bytes(b"")
    _assert_clean_error(_bpsom(["run", "case.prm", "--quiet"], case_dir), "case.prm", "empty")


def test_unknown_option(case_dir):
    proc = _bpsom(["run", "case.prm", "--bogus"], case_dir)
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr


@pytest.mark.parametrize("damage", ["truncate", "garbage", "mismatch"])
def test_bad_old_env(case_dir, damage):
    good = (FIXTURES / "wd_1h_som5_basic" / "expected.bst").read_bytes()
    if damage == "truncate":
        data = good[: len(good) // 2]
    elif damage == "garbage":
        data = good.replace(b"0.", b"x.", 1)
    else:
        data = good.replace(b"378 20 20", b"378 20 9", 1)
    (case_dir / "old.bst").write_bytes(data)
    _edit(case_dir / "case.prm", "OLD_ENV = _", "OLD_ENV = old.bst")
    proc = _bpsom(["run", "case.prm", "--quiet"], case_dir)
    _assert_clean_error(proc, "old.bst")
    assert not (case_dir / "case.bst").exists()


def test_fatal_range_error_keeps_the_c_output_then_exits_2(case_dir):
    """The C prints its warning and 'no default avaiable.'; we print the same, then fail cleanly."""
    _edit(case_dir / "case.prm", "DUMP_LAYER = 0 0 0 0 0 0", "DUMP_LAYER = 0 5 0 0 0 0")
    proc = _bpsom(["run", "case.prm", "--quiet"], case_dir)
    _assert_clean_error(proc, "DUMPLAYER")
    assert proc.stdout == b"\nWarning: DUMPLAYER = 5 out of range (0 .. 1);\nno default avaiable."
    assert (case_dir / "case.log").read_bytes().endswith(b"\n\nEXIT: fatal error")


def test_zero_validation_accuracy_c_mode_fails_like_the_c_but_fixed_mode_keeps_a_network(case_dir):
    """Quirk 11: no .bst is written when validation accuracy never exceeds 0%."""
    # class '8' never occurs in training, so its output unit never wins; validation is all '8'
    lrn = (case_dir / "lrn.txt").read_bytes().split(b"\n")
    (case_dir / "lrn.txt").write_bytes(b"\n".join(l[:10] + b"#" if l.endswith(b"8") else l for l in lrn))
    val = (case_dir / "val.txt").read_bytes().split(b"\n")
    (case_dir / "val.txt").write_bytes(b"\n".join(l[:10] + b"8" if l else l for l in val))
    _edit(case_dir / "case.prm", "N_EPOCHS = 10", "N_EPOCHS = 2")
    _edit(case_dir / "case.prm", "STOP_IF_NOTHING_DONE = 10", "STOP_IF_NOTHING_DONE = 2")
    proc = _bpsom(["run", "case.prm", "--quiet"], case_dir)
    assert not (case_dir / "case.bst").exists()
    _assert_clean_error(proc, "case.bst")
    assert proc.stdout.endswith(b"\nImpossible to open case.bst!")
    (case_dir / "case.log").unlink()
    proc = _bpsom(["run", "case.prm", "--quiet", "--compat", "fixed"], case_dir)
    assert proc.returncode == 0, proc.stderr
    assert (case_dir / "case.bst").exists()


def test_interrupted_save_leaves_previous_network(case_dir, monkeypatch):
    """A crash while writing BEST_ENV (e.g. Ctrl-C) leaves the last good file intact."""
    import bpsom_core.atomic as atomic
    import os
    (case_dir / "case.bst").write_bytes(b"previous good network")
    calls = {"n": 0}

    def interrupted_replace(src, dst):
        calls["n"] += 1
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", interrupted_replace)
    monkeypatch.chdir(case_dir)
    with pytest.raises(KeyboardInterrupt):
        run_experiment("case.prm", stdout=open(os.devnull, "wb"))
    assert calls["n"] == 1
    assert (case_dir / "case.bst").read_bytes() == b"previous good network"
    assert not [p for p in case_dir.iterdir() if p.name.startswith(".case.bst")]


def test_example_runs_and_matches_itself(tmp_path):
    proc = _bpsom(["run", "--example", "--dir", str(tmp_path / "ex"), "--quiet"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().strip().split("\n")
    assert re.fullmatch(r"1/30 LRN=1 MAT=1 MSE=\d\.\d{3} CE=.*", lines[0])
    assert (tmp_path / "ex" / "example.bst").exists()
    assert b"ABSTRACT" in (tmp_path / "ex" / "example.log").read_bytes()
