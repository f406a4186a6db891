"""Entry point of the `bpsom` command.

Subcommands live in their own modules (``cli/<name>_cmd.py``) and are imported
only when used, so `bpsom run` never pays for importing torch.
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading
from typing import Optional

import click

from bpsom_core import __version__
from bpsom_core.errors import Terminated

# subcommand name -> (module, attribute, one-line help)
SUBCOMMANDS = {
    "run": ("bpsom.cli.run_cmd", "run", "Run a classic C-format .prm experiment (byte-identical to the C program)."),
    "train": ("bpsom.cli.train_cmd", "train", "Train BP-SOM on tabular data (CSV/TSV, ARFF, .npz)."),
    "report": ("bpsom.cli.report_cmd", "report", "Draw plots and the SOM cell explorer for a run directory."),
    "glue": ("bpsom.cli.glue_cmd", "glue", "Fine-tune a Transformer with a BP-SOM head on GLUE."),
    "parity": ("bpsom.cli.parity_cmd", "parity", "Check our engine against the original C program."),
    "sweep": ("bpsom.cli.sweep_cmd", "sweep", "Run a hyper-parameter sweep of train/run/glue trials on Ray."),
}


# optional dependency (top-level import name) -> the extra that installs it
OPTIONAL_DEPENDENCIES = {
    "torch": "bert", "transformers": "bert", "datasets": "bert", "accelerate": "bert",
    "safetensors": "tabular", "tensorboard": "tensorboard",
    "sklearn": "tabular", "scipy": "tabular", "matplotlib": "tabular", "arff": "tabular",
    "hypothesis": "parity",
}


def missing_extra_message(command: str, exc: ModuleNotFoundError) -> str | None:
    """One line naming the extra that provides the missing module (None: not optional)."""
    top = (exc.name or "").split(".")[0]
    extra = OPTIONAL_DEPENDENCIES.get(top)
    if extra is None:
        return None
    if command == "glue" and extra != "tensorboard":   # everything else glue needs comes with bert
        extra = "bert"
    what = f"'bpsom {command}'" if command else "this command"
    return f"{what} needs the optional dependency '{top}', which is not installed: pip install 'bpsom[{extra}]'"


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str):
        if name not in SUBCOMMANDS:
            return None
        module_name, attr, short = SUBCOMMANDS[name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            message = missing_extra_message(name, exc)
            if message is None:
                raise

            @click.command(name=name, help=short, context_settings={"ignore_unknown_options": True})
            @click.argument("args", nargs=-1, type=click.UNPROCESSED)
            def unavailable(args):
                raise click.ClickException(message)
            return unavailable
        return getattr(module, attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:   # past click's handler, which would print a blank line first
            raise _Stopped(exc) from exc

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][2]) for name in SUBCOMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bpsom")
def cli() -> None:
    """BP-SOM: back-propagation networks whose hidden layers carry self-organizing maps.

    \b
    Start here:
      bpsom run --example        a classic C experiment, in seconds
      bpsom train                BP-SOM on the embedded tabular data set
      bpsom run FILE.prm         rerun a C experiment, byte-identical to the C program
    """


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every failure at the program's edge ends as one line on stderr and exit code 2.

    This is the one place that turns exceptions into messages (see
    bpsom_core.errors.user_message); a closed stdout pipe (`| head`) ends
    quietly, with no message (exit 1 where click notices it, else 141, the
    status of a process stopped by SIGPIPE).
    """
    from bpsom_core.errors import exception_chain, user_message

    _terminate_like_ctrl_c()
    try:
        cli.main(args=argv, prog_name="bpsom", standalone_mode=False)
        sys.stdout.flush()
    except _Stopped as exc:
        _fail_interrupted(exc.interruption)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, EOFError):   # click turns any EOFError into Abort
            _fail(f"error: unexpected end of input ({exc.__context__ or 'an empty or truncated file'})", 2)
        # click turns KeyboardInterrupt (and Terminated) into Abort, after its own blank line
        _fail_interrupted(exc.__context__, close_echo=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        hint = f" (see 'bpsom {exc.ctx.info_name} --help')" if exc.ctx is not None and exc.ctx.parent else " (see 'bpsom --help')"
        _fail(f"error: {exc.format_message()}{hint}", 2)
    except click.ClickException as exc:
        _fail(f"error: {exc.format_message()}", 2 if exc.exit_code in (1, 2) else exc.exit_code)
    except KeyboardInterrupt as exc:
        _fail_interrupted(exc)
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(141)
    except ModuleNotFoundError as exc:   # a subcommand imports its optional dependencies when it runs
        command = next((a for a in (argv if argv is not None else sys.argv[1:]) if a in SUBCOMMANDS), "")
        message = missing_extra_message(command, exc)
        if message is None:
            raise
        _fail(f"error: {message}", 2)
    except Exception as exc:  # noqa: BLE001 - the program's edge: known failures become one line
        # a signal that lands while compiled code runs (numba's dispatcher, loading a cached
        # kernel) comes back wrapped in SystemError("... returned a result with an exception set")
        interrupt = next((e for e in exception_chain(exc) if isinstance(e, KeyboardInterrupt)), None)
        if interrupt is not None:
            _fail_interrupted(interrupt)
        message = user_message(exc)
        if message is None:
            raise
        _fail(f"error: {message}", 2)
    sys.exit(0)


class _Stopped(BaseException):
    """Carries a command's Ctrl-C or SIGTERM past click, which answers either with a blank line."""

    def __init__(self, interruption: KeyboardInterrupt):
        super().__init__()
        self.interruption = interruption


def _fail_interrupted(exc: Optional[BaseException], close_echo: bool = True) -> None:
    """SIGTERM ends as "terminated" (exit 143), Ctrl-C as "interrupted" (exit 130).

    After Ctrl-C at a terminal a newline first closes the line the terminal echoed ``^C`` on.
    """
    if isinstance(exc, Terminated) or _SIGTERM_RECEIVED.is_set():
        _fail("terminated", 143)
    if close_echo and sys.stderr.isatty():
        click.echo(err=True)
    _fail("interrupted", 130)


# Set by the SIGTERM handler: compiled code that runs the handler (Ray's waits) may report what
# it raised as a plain KeyboardInterrupt, and the exit code must still say "terminated".
_SIGTERM_RECEIVED = threading.Event()


def _raise_terminated(signum, frame) -> None:
    _SIGTERM_RECEIVED.set()
    raise Terminated()


def _terminate_like_ctrl_c() -> None:
    _SIGTERM_RECEIVED.clear()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def _fail(message: str, code: int) -> None:
    """One `bpsom: ...` line on stderr, after making sure a broken stdout cannot add more."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        _silence_stdout()
    from bpsom_core.errors import printable_line

    click.echo(printable_line(f"bpsom: {message}".replace("\n", " ")), err=True)
    sys.exit(code)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush has nothing left to fail on."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def entry() -> None:
    """The `bpsom` program: :func:`main`, then deaf to Ctrl-C and SIGTERM while the interpreter
    shuts down, when every result is written and every line said.  A signal then would only
    break torch's exit hooks into a traceback, or kill the process after its exit code was set."""
    try:
        main()
    except SystemExit as exc:
        # after a sweep, Ray's native teardown can abort an exit that has written every result
        # and said every line (seen after SIGTERM): its exit hooks are skipped
        if "ray._raylet" in sys.modules:
            _exit_now(exc.code)
        raise
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _exit_now(code) -> None:
    """Flush what was said, then exit with ``code`` without the interpreter's exit hooks."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


if __name__ == "__main__":  # pragma: no cover
    entry()
