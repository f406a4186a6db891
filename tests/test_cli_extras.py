"""A missing optional dependency ends as one line naming the extra to install, exit 2."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run_without(module: str, *args: str) -> subprocess.CompletedProcess:
    """Run the entry point with ``module`` made unimportable (as on a base install)."""
    code = (f"import sys; sys.modules[{module!r}] = None; sys.path.insert(0, {str(ROOT)!r}); "
            f"from bpsom.cli.main import main; main({list(args)!r})")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("module,args,extra", [
    ("torch", ["glue", "--task", "sst2", "--data-dir", "nowhere"], "bert"),
    ("transformers", ["glue", "--task", "sst2"], "bert"),
    ("sklearn", ["train", "--epochs", "1"], "tabular"),
    ("hypothesis", ["parity", "--c-binary", "/bin/true", "--examples", "3"], "parity"),
])
def test_missing_extra_is_one_line_exit_2(module, args, extra, tmp_path):
    r = _run_without(module, *args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("bpsom: error: ") and f"pip install 'bpsom[{extra}]'" in lines[0]
    assert f"'{module}'" in lines[0]


def test_a_missing_non_optional_module_is_not_disguised():
    from bpsom.cli.main import missing_extra_message
    assert missing_extra_message("glue", ModuleNotFoundError("x", name="not_ours")) is None


def test_replaying_recorded_cases_needs_no_hypothesis():
    """Only generating live cases uses hypothesis; the recorded C cases replay without it."""
    r = _run_without("hypothesis", "parity", "--cases", str(ROOT / "parity" / "fixtures" / "cases"))
    assert r.returncode == 0, r.stderr
    assert re.search(r"\n(\d+) cases: \1 identical;", r.stdout), r.stdout[-300:]
