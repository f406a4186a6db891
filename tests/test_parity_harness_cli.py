"""`bpsom parity` end to end: argument errors, replay, JSON, and the live mode.

The live mode runs against a stand-in "C binary": a shell script that runs
our own engine (so both sides must agree); no real C program is needed.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bpsom.parity.replay import FIXTURES
from bpsom.parity.runners import REPO_ROOT


def bpsom(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("BPSOM_C_BINARY", None)
    full_env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "bpsom.cli.main", "parity", *args], cwd=cwd or REPO_ROOT,
                          capture_output=True, text=True, env=full_env, timeout=600)


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_no_mode_is_a_one_line_error():
    assert "--c-binary" in _one_error_line(bpsom())


def test_missing_binary_is_a_one_line_error(tmp_path):
    assert "not an executable" in _one_error_line(bpsom("--c-binary", str(tmp_path / "nope")))


def test_record_needs_a_cases_dir(tmp_path):
    assert "--cases" in _one_error_line(bpsom("--record", "--c-binary", sys.executable))


def test_cases_dir_without_cases(tmp_path):
    assert "no case directories" in _one_error_line(bpsom("--cases", str(tmp_path)))


def test_replay_one_fixture_writes_json(tmp_path):
    out = tmp_path / "report.json"
    proc = bpsom("--cases", str(FIXTURES / "wd_dump1_tiny"), "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "wd_dump1_tiny" in proc.stdout and "1 cases: 1 identical" in proc.stdout
    report = json.loads(out.read_text())
    assert report["mode"] == "cases" and report["identical"] == 1 and report["failures"] == []


@pytest.fixture()
def engine_as_c(tmp_path) -> Path:
    """A 'C binary' that is our engine; exits 0 like the C even on its fatal errors."""
    script = tmp_path / "engine_as_c.sh"
    script.write_text(f"#!/bin/sh\nPYTHONPATH={REPO_ROOT} {sys.executable} -m bpsom run --quiet -- \"$@\"\n"
                      "exit 0\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_live_mode_end_to_end(engine_as_c, tmp_path):
    pytest.importorskip("bpsom_core.exact.engine")
    out = tmp_path / "live.json"
    proc = bpsom("--c-binary", str(engine_as_c), "--examples", "4", "--seed", "5", "--max-lines", "20",
                 "--keep", str(tmp_path / "keep"), "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cases run" in proc.stdout and "seed 5" in proc.stdout
    report = json.loads(out.read_text())
    assert report["cases_run"] == 4 and report["identical"] + report["c_failed"] == 4
    assert len(list((tmp_path / "keep").glob("case_*/case.prm"))) == 4


def test_record_fills_input_only_cases_and_generates_new_ones(engine_as_c, tmp_path):
    pytest.importorskip("bpsom_core.exact.engine")
    mine = tmp_path / "cases" / "mine"
    mine.mkdir(parents=True)
    for name in ("case.prm", "lrn.txt", "val.txt", "tst.txt"):
        (mine / name).write_bytes((FIXTURES / "wd_dump1_tiny" / name).read_bytes())
    proc = bpsom("--record", "--c-binary", str(engine_as_c), "--cases", str(tmp_path / "cases"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (mine / "expected.stdout").read_bytes() == (FIXTURES / "wd_dump1_tiny" / "expected.stdout").read_bytes()
    assert json.loads((tmp_path / "cases" / "index.json").read_text())["n_cases"] == 1
    proc = bpsom("--record", "--c-binary", str(engine_as_c), "--cases", str(tmp_path / "cases"),
                 "--examples", "2", "--seed", "9", "--max-lines", "12")
    assert proc.returncode == 0 and len(list((tmp_path / "cases").glob("gen_s9_*"))) == 2
