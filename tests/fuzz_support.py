"""Shared pieces of the fuzz tests: byte strategies, a hang guard, reader lookup.

Every reader must turn any bytes into either a result or an InputError (one
line, exit 2 from the CLI) - never another exception, never a hang.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import signal
from pathlib import Path
from typing import Callable, Iterator

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Bounded so all fuzz tests together stay well under a minute on two cores;
# BPSOM_FUZZ_EXAMPLES raises it for a longer local hunt.
# In CI the examples are derandomized (the same inputs every run, so a red
# build is never luck); setting BPSOM_FUZZ_EXAMPLES hunts with fresh ones.
FUZZ_EXAMPLES = int(os.environ.get("BPSOM_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
                derandomize="BPSOM_FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=list(HealthCheck))
HANG_SECONDS = 20


class Hang(Exception):
    """A reader ran past HANG_SECONDS on one input."""


@contextlib.contextmanager
def no_hang(seconds: int = HANG_SECONDS) -> Iterator[None]:
    """Fail the example if the block runs longer than ``seconds`` (main thread only)."""
    def alarm(signum, frame):
        raise Hang(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_cli(argv: list[str], cwd: Path) -> tuple[int, str]:
    """`bpsom ARGV` in this process, in ``cwd``: (exit code, stderr text)."""
    from bpsom.cli.main import main

    err = io.StringIO()
    old = os.getcwd()
    code = 0
    try:
        os.chdir(cwd)
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(old)
    return code, err.getvalue()


def assert_clean_exit(code: int, stderr: str) -> None:
    """Exit 0, or exit 2 with exactly one 'bpsom: error:' line last; never a traceback."""
    assert "Traceback" not in stderr, stderr
    assert code in (0, 2), (code, stderr)
    if code == 2:
        lines = [line for line in stderr.splitlines() if line.startswith("bpsom:")]
        assert len(lines) == 1 and lines[0].startswith("bpsom: error: "), stderr
        assert stderr.rstrip("\n").splitlines()[-1] == lines[0]


def reader(module: str, name: str) -> Callable:
    """The reader function, or a clean skip naming what is missing."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        pytest.skip(f"{module} is not there yet ({exc.name} missing)")
    fn = getattr(mod, name, None)
    if fn is None:
        pytest.skip(f"{module}.{name} is not there yet")
    return fn


@st.composite
def mutated(draw, seed: bytes, specials: bytes = b"\x00\r\n\t =-.|#_e+\xff\xe9") -> bytes:
    """``seed`` with a few random edits: flips, deletions, insertions, truncation.

    Mutations of a valid file get past the first checks and into the deep
    parts of a reader, where random bytes rarely go.
    """
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "delete", "insert", "special", "truncate", "repeat"]))
        if op == "flip":
            data[pos] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 8))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "special":
            data[pos:pos] = bytes([draw(st.sampled_from(list(specials)))])
        elif op == "truncate":
            del data[pos:]
        else:
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 40))]
    return bytes(data)


def fuzz_bytes(seed: bytes) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, text-like bytes, or a mutated valid file."""
    return st.one_of(st.binary(max_size=400),
                     st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
                     mutated(seed))
