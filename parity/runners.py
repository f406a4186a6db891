"""Ways to run one experiment in a directory: the C binary or our engine.

Both sides of a comparison are a :class:`Runner`: given a working directory
holding ``case.prm`` and its inputs (plus extra command-line arguments, the C
program's optional seed), run there and return what went to stdout/stderr.
The files the program writes (log, .bst) stay in the directory.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_OUTPUT = 64 * 1024 * 1024  # a runaway program is stopped past this much stdout


@dataclass
class RunOutput:
    """What one run printed, its exit status and how long it took."""

    stdout: bytes
    stderr: bytes
    returncode: int
    seconds: float


class RunFailed(Exception):
    """The program could not finish: crash, timeout, runaway output."""


class Runner(Protocol):
    """Run ``case.prm`` in ``workdir`` with ``args`` after it."""

    name: str

    def __call__(self, workdir: Path, args: list[str]) -> RunOutput: ...


def _run_capped(cmd: list[str], cwd: Path, timeout: float, env: dict | None = None) -> RunOutput:
    """Run ``cmd`` with stdin closed, stdout/stderr to files, a timeout and an output cap."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                env=env, start_new_session=True)
        reason = None
        while proc.poll() is None:
            elapsed = time.perf_counter() - start
            if elapsed > timeout:
                reason = f"timed out after {timeout:g} s"
            elif os.fstat(out.fileno()).st_size > MAX_OUTPUT:
                reason = f"printed more than {MAX_OUTPUT >> 20} MiB"
            if reason:
                proc.kill()
                proc.wait()
                raise RunFailed(reason)
            time.sleep(0.002 if elapsed < 0.2 else 0.02)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        return RunOutput(out.read(), err.read(), proc.returncode, seconds)


class CRunner:
    """The original C program: ``BINARY case.prm [SEED]``.

    The C exits 0 even on its own fatal errors; a signal (negative status),
    another status or a timeout means the C itself failed on this case.
    """

    def __init__(self, binary: Path | str, timeout: float = 60.0, name: str = "C"):
        self.binary = str(Path(binary).resolve())
        self.timeout = timeout
        self.name = name

    def __call__(self, workdir: Path, args: list[str]) -> RunOutput:
        result = _run_capped([self.binary, "case.prm", *args], workdir, self.timeout)
        if result.returncode != 0:
            raise RunFailed(f"exit status {result.returncode}")
        return result


def engine_command(args: list[str], compat: str | None = "c") -> list[str]:
    """``bpsom run`` arguments for ``case.prm`` and the C's optional seed.

    ``--`` keeps a negative seed from being read as an option.
    """
    cmd = ["run", "--quiet"]
    if compat:
        cmd += ["--compat", compat]
    return cmd + ["--", "case.prm", *args]


class EngineSubprocessRunner:
    """Our engine in a fresh ``python -m bpsom run`` process (fully isolated)."""

    def __init__(self, timeout: float = 600.0, compat: str | None = "c", name: str = "bpsom"):
        self.timeout = timeout
        self.compat = compat
        self.name = name

    def __call__(self, workdir: Path, args: list[str]) -> RunOutput:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [sys.executable, "-m", "bpsom.cli.main", *engine_command(args, self.compat)]
        return _run_capped(cmd, workdir, self.timeout, env)


class EngineInProcessRunner:
    """Our engine called in this process: no interpreter start, compiled kernels stay warm.

    ``entry`` is the ``bpsom`` command's entry point (``bpsom.cli.main.main``, which
    takes the argument list), handed in by the caller so that the harness does
    not depend on the command line layer.  stdout and stderr are swapped for
    byte buffers and the working directory is changed for the duration of the
    call (not thread-safe: one run at a time).
    """

    def __init__(self, entry: Callable[[list[str]], object], compat: str | None = "c", name: str = "bpsom",
                 timeout: float = 600.0):
        self.entry = entry
        self.compat = compat
        self.name = name
        self.timeout = timeout

    def __call__(self, workdir: Path, args: list[str]) -> RunOutput:
        out, err = _ByteStream(), _ByteStream()
        old_cwd = os.getcwd()
        start = time.perf_counter()
        code = 0
        try:
            os.chdir(workdir)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _alarm(self.timeout):
                try:
                    self.entry(engine_command(args, self.compat))
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            os.chdir(old_cwd)
        out.flush()
        err.flush()
        return RunOutput(out.getvalue_bytes(), err.getvalue_bytes(), code, time.perf_counter() - start)


@contextlib.contextmanager
def _alarm(seconds: float):
    """Raise RunFailed if the block runs past ``seconds`` (main thread only; else no guard)."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def expire(signum, frame):
        raise RunFailed(f"timed out after {seconds:g} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class _ByteStream(io.TextIOWrapper):
    """A text stream with a ``.buffer``, like sys.stdout, that keeps the bytes.

    Latin-1 so text the engine prints maps one character to one byte.
    """

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="latin-1", newline="", write_through=True)

    def isatty(self) -> bool:
        return False

    def getvalue_bytes(self) -> bytes:
        self.flush()
        return self.buffer.getvalue()  # type: ignore[attr-defined]
