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
from typing import Callable, Optional, Union

from bpsom.parity.runners import RunOutput

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cases"
TIME_LINE = re.compile(rb"^Time: .*$", re.M)
COMPARED = (("stdout", "expected.stdout", "stdout.txt"),
            ("log", "expected.log", "case.log"),
            ("bst", "expected.bst", "case.bst"))
OUTPUT_NAMES = ("stdout", "log", "bst")


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


def first_difference(name: str, expected: Optional[bytes], actual: Optional[bytes]) -> Optional[Divergence]:
    """The first differing line of two byte strings, or None when identical.

    ``None`` stands for a file that was not written (the C writes no .bst when
    it stops on a fatal error), so two ``None`` agree.
    """
    if expected is None and actual is None:
        return None
    if actual is None:
        return Divergence(name, 0, "<file>", "<missing>")
    if expected is None:
        return Divergence(name, 0, "<missing>", "<file>")
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


NOT_INPUTS = ("expected", "actual", "DIVERGENCE")


def case_inputs(case_dir: Path) -> list[Path]:
    """Every file of a case that is an input to the program."""
    return [p for p in sorted(Path(case_dir).iterdir())
            if p.is_file() and not p.name.startswith(NOT_INPUTS) and p.name != "meta.json"]


def read_meta(case_dir: Path) -> dict:
    """meta.json of a case, or {} when it has none."""
    path = Path(case_dir) / "meta.json"
    return json.loads(path.read_text()) if path.exists() else {}


def output_names(meta: dict) -> tuple[str, str]:
    """The log and .bst file names the case's .prm asks for (LOG, BEST_ENV)."""
    return meta.get("log", "case.log"), meta.get("bst", "case.bst")


def collect_outputs(workdir: Path, stdout: bytes, meta: dict) -> dict[str, Optional[bytes]]:
    """stdout, the normalised log and the .bst a run left in ``workdir``."""
    log_name, bst_name = output_names(meta)
    log = workdir / log_name
    bst = workdir / bst_name
    return {"stdout": stdout,
            "log": normalise_log(log.read_bytes()) if log.exists() else None,
            "bst": bst.read_bytes() if bst.exists() else None}


def expected_outputs(case_dir: Path) -> dict[str, Optional[bytes]]:
    """The recorded outputs of a case (``expected.*``); absent files are None."""
    out: dict[str, Optional[bytes]] = {}
    for name in OUTPUT_NAMES:
        path = Path(case_dir) / f"expected.{name}"
        data = path.read_bytes() if path.exists() else None
        out[name] = normalise_log(data) if (name == "log" and data is not None) else data
    return out


def compare_outputs(expected: dict[str, Optional[bytes]],
                    actual: dict[str, Optional[bytes]]) -> list[Divergence]:
    """First differing line of each output (stdout, log, bst), in that order."""
    found = []
    for name in OUTPUT_NAMES:
        diff = first_difference(name, expected.get(name), actual.get(name))
        if diff is not None:
            found.append(diff)
    return found


def default_runner(workdir: Path, extra_args: list[str]) -> bytes:
    """Run ``bpsom run case.prm`` in ``workdir`` and return its stdout."""
    cmd = [sys.executable, "-m", "bpsom.cli.main", "run", "case.prm", "--quiet", *extra_args]
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"bpsom run exited {proc.returncode}: "
                           f"{proc.stderr.decode(errors='replace').strip()[-500:]}")
    return proc.stdout


RunnerResult = Union[bytes, RunOutput]


def replay_case(case_dir: Path,
                runner: Callable[[Path, list[str]], RunnerResult] = default_runner,
                extra_args: Optional[list[str]] = None) -> CaseResult:
    """Replay one recorded case and compare stdout, log and .bst.

    ``runner`` returns the run's stdout, or a :class:`RunOutput` (then a
    non-zero exit status is reported as the run failing).  Command-line
    arguments recorded in meta.json (``args``: the C's seed) come first.
    """
    case_dir = Path(case_dir)
    meta = read_meta(case_dir)
    result = CaseResult(case_dir.name, bool(meta.get("well_defined", True)))
    with tempfile.TemporaryDirectory(prefix="bpsom-replay-") as tmp:
        work = Path(tmp)
        for p in case_inputs(case_dir):
            shutil.copy(p, work / p.name)
        try:
            out = runner(work, [*meta.get("args", []), *(extra_args or [])])
        except Exception as exc:  # reported, not raised: one bad case must not hide the others
            result.error = f"run failed: {exc}"
            return result
        status = 0
        if isinstance(out, RunOutput):
            status, stderr, out = out.returncode, out.stderr, out.stdout
        result.divergences = compare_outputs(expected_outputs(case_dir),
                                             collect_outputs(work, out, meta))
        if status != 0 and result.divergences:
            # exit 2 is how our engine ends where the C stops on a fatal error;
            # it only matters when the outputs differ too
            tail = stderr.decode("latin-1").strip().splitlines()[-1:] or [""]
            result.error = f"run failed: exit status {status}: {tail[0][:300]}"
    return result


def list_cases(root: Path = FIXTURES) -> list[Path]:
    """All case directories under ``root``, sorted by name."""
    return sorted(p for p in Path(root).iterdir() if (p / "case.prm").exists())
