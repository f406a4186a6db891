"""Stand-ins for the C program, so the parity harness is testable without one.

``FakeC`` is a deterministic function of the case's input files: it writes a
stdout, a log (with a ``Time:`` line that changes every run, as the real one
does) and a .bst whose bytes depend on every input.  ``BuggyFake`` is the same
program with one planted bug, so a test can check the harness finds it,
shrinks it and writes a reproducer that still shows it.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Callable, Optional

from bpsom.parity.runners import RunFailed, RunOutput


def _field(prm: bytes, key: str) -> str:
    for line in prm.replace(b"\r", b"").split(b"\n"):
        text = line.decode("latin-1")
        if text.startswith(key) and "=" in text:
            return text.split("=", 1)[1].strip()
    return ""


class FakeC:
    """A deterministic toy 'C program' reading the same .prm layout."""

    name = "fakeC"

    def __init__(self, bug: Optional[Callable[[bytes, dict[str, bytes]], bool]] = None,
                 fail_if: Optional[Callable[[bytes], bool]] = None):
        self.bug = bug
        self.fail_if = fail_if

    def __call__(self, workdir: Path, args: list[str]) -> RunOutput:
        prm = (workdir / "case.prm").read_bytes()
        if self.fail_if and self.fail_if(prm):
            raise RunFailed("timed out after 60 s")
        inputs = {p.name: p.read_bytes() for p in sorted(workdir.iterdir()) if p.is_file()}
        digest = hashlib.sha256(b"".join(inputs[k] for k in sorted(inputs)) + repr(args).encode())
        stdout = f"1/1 LRN=1 MAT=1 MSE=0.500 CE= 50.00 USE\n{digest.hexdigest()[:16]}\n".encode()
        if self.bug and self.bug(prm, inputs):
            stdout = stdout.replace(b"CE= 50.00", b"CE= 50.01")
        log_name = _field(prm, "LOG") or "case.log"
        bst_name = _field(prm, "BEST_ENV") or "case.bst"
        old_log = inputs.get(log_name, b"")
        (workdir / log_name).write_bytes(
            old_log + f"NEW SESSION\nTime: {time.time_ns()}\nDUMP = {_field(prm, 'DUMP')}\n".encode())
        (workdir / bst_name).write_bytes(digest.hexdigest().encode() + b"\n")
        return RunOutput(stdout, b"", 0, 0.001)


def dump_bug(prm: bytes, inputs: dict[str, bytes]) -> bool:
    """The planted bug: a wrong CE whenever DUMP is 1 or 2."""
    return _field(prm, "DUMP") in ("1", "2")


def oob_bug(prm: bytes, inputs: dict[str, bytes]) -> bool:
    """The planted bug: wrong output whenever a hidden layer is larger than the output layer."""
    arch = [int(x) for x in _field(prm, "BP-architecture").split()]
    last = max((i for i, n in enumerate(arch) if n > 0), default=0)
    return "old.bst" not in _field(prm, "OLD_ENV") and any(arch[i] > arch[last] for i in range(1, last))
