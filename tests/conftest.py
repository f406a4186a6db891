"""Fixtures shared by the test modules."""

from __future__ import annotations

from typing import NamedTuple

import pytest


class Result(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def bpsom(capsys):
    """Run the `bpsom` entry point in-process (torch is imported once per session)."""
    from bpsom.cli.main import main

    def run(*args) -> Result:
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            main([str(a) for a in args])
        out = capsys.readouterr()
        return Result(e.value.code, out.out, out.err)
    return run
