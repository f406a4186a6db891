"""Replay recorded C runs and compare our outputs with theirs, byte for byte.

A case directory holds the inputs (``case.prm``, data files, optional
``old.bst``) and the C program's ``expected.stdout``, ``expected.log`` and
``expected.bst`` (layout: ``parity/fixtures/README.md``).  Replaying copies the
inputs to a scratch directory, runs ``bpsom run case.prm`` there and reports,
per output, the first line that differs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cases"
TIME_LINE = re.compile(rb"^Time: .*$", re.M)
COMPARED = (("stdout", "expected.stdout", "stdout.txt"),
            ("log", "expected.log", "case.log"),
            ("bst", "expected.bst", "case.bst"))


def normalise_log(data: bytes) -> bytes:
    """Replace each ``Time: ...`` line as the recordings did."""
    return TIME_LINE.sub(b"Time: <normalised>", data)


@dataclass
class Divergence:
    """Where one output first differs from the recorded one."""

    output: str
    line: int
    expected: Optional[str]
    actual: Optional[str]

    def describe(self) -> str:
        return (f"{self.output} line {self.line}: expected {self.expected!r}, "
                f"got {self.actual!r}")


@dataclass
class CaseResult:
    """The outcome of replaying one case."""

    name: str
    well_defined: bool
    divergences: list[Divergence] = field(default_factory=list)
    error: Optional[str] = None

    @property
    def identical(self) -> bool:
        return self.error is None and not self.divergences

    def first_divergence(self) -> str:
        if self.error:
            return self.error
        if self.divergences:
            return self.divergences[0].describe()
        return ""


def first_difference(name: str, expected: bytes, actual: Optional[bytes]) -> Optional[Divergence]:
    """The first differing line of two byte strings, or None when identical."""
    if actual is None:
        return Divergence(name, 0, "<file>", "<missing>")
    if expected == actual:
        return None
    exp_lines = expected.split(b"\n")
    act_lines = actual.split(b"\n")
    for i in range(max(len(exp_lines), len(act_lines))):
        e = exp_lines[i] if i < len(exp_lines) else None
        a = act_lines[i] if i < len(act_lines) else None
        if e != a:
            dec = lambda b: None if b is None else b.decode("latin-1")
            return Divergence(name, i + 1, dec(e), dec(a))
    return Divergence(name, len(exp_lines), "<same lines>", "<different bytes>")


def case_inputs(case_dir: Path) -> list[Path]:
    """Every file of a case that is an input to the program."""
    return [p for p in sorted(case_dir.iterdir())
            if p.is_file() and not p.name.startswith("expected") and p.name != "meta.json"]


def default_runner(workdir: Path, extra_args: list[str]) -> bytes:
    """Run ``bpsom run case.prm`` in ``workdir`` and return its stdout."""
    cmd = [sys.executable, "-m", "cli.main", "run", "case.prm", "--quiet", *extra_args]
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"bpsom run exited {proc.returncode}: "
                           f"{proc.stderr.decode(errors='replace').strip()[-500:]}")
    return proc.stdout


def replay_case(case_dir: Path,
                runner: Callable[[Path, list[str]], bytes] = default_runner,
                extra_args: Optional[list[str]] = None) -> CaseResult:
    """Replay one recorded case and compare stdout, log and .bst."""
    case_dir = Path(case_dir)
    meta = json.loads((case_dir / "meta.json").read_text()) if (case_dir / "meta.json").exists() else {}
    result = CaseResult(case_dir.name, bool(meta.get("well_defined", True)))
    with tempfile.TemporaryDirectory(prefix="bpsom-replay-") as tmp:
        work = Path(tmp)
        for p in case_inputs(case_dir):
            shutil.copy(p, work / p.name)
        try:
            stdout = runner(work, list(extra_args or []))
        except Exception as exc:  # reported, not raised: one bad case must not hide the others
            result.error = f"run failed: {exc}"
            return result
        (work / "stdout.txt").write_bytes(stdout)
        for name, expected_name, actual_name in COMPARED:
            expected = (case_dir / expected_name).read_bytes()
            actual_path = work / actual_name
            actual = actual_path.read_bytes() if actual_path.exists() else None
            if name == "log":
                expected = normalise_log(expected)
                actual = None if actual is None else normalise_log(actual)
            diff = first_difference(name, expected, actual)
            if diff is not None:
                result.divergences.append(diff)
    return result


def list_cases(root: Path = FIXTURES) -> list[Path]:
    """All case directories under ``root``, sorted by name."""
    return sorted(p for p in Path(root).iterdir() if (p / "case.prm").exists())
