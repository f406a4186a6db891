"""One error type for bad input, so every reader reports it the same way.

The CLI turns an :class:`InputError` into a single line on stderr and exit
code 2; nothing else should ever reach the user as a traceback.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional


class InputError(Exception):
    """Bad user input: names the file, the line (1-based) and the field."""

    def __init__(self, message: str, path: Optional[str] = None,
                 line: Optional[int] = None, field: Optional[str] = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        what = f"{self.field}: " if self.field else ""
        return f"{where}{what}{self.message}".replace("\n", " ")


class Terminated(KeyboardInterrupt):
    """SIGTERM (kill, a batch system's time limit), raised where the program is, so that it
    cleans up as after Ctrl-C: locks released, temporaries removed, the last good result kept."""


def expand_home(name: str):
    """``name`` as a Path with ``~`` or ``~user`` expanded; where that user has no home the name
    stays as written (and is then not found), where pathlib would raise RuntimeError."""
    from pathlib import Path

    try:
        return Path(name).expanduser()
    except RuntimeError:
        return Path(name)


def check_regular_file(path, what: str) -> None:
    """Refuse what is not a regular file (FIFO, device, socket, directory) before opening it.

    Reading a FIFO blocks until a writer comes and /dev/zero never ends, so
    a user's input must be a plain file; the check costs one stat.
    """
    import os
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(f"{what} not found", _name(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {_strerror(exc)}", _name(path)) from None
    if stat.S_ISDIR(mode):
        raise InputError(f"is a directory, not a {what}", _name(path))
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
                "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
                "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise InputError(f"is {kind}, not a regular {what}", _name(path))


def read_input_bytes(path, what: str, empty_note: str = "") -> bytes:
    """Read a user's input file, turning every I/O problem into an InputError.

    `what` names the kind of file in messages ("data file", "parameter file").
    """
    from pathlib import Path

    check_regular_file(path, what)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} not found", _name(path)) from None
    except IsADirectoryError:
        raise InputError(f"is a directory, not a {what}", _name(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {_strerror(exc)}", _name(path)) from None
    if not data.strip():
        raise InputError(f"{what} is empty{empty_note}", _name(path))
    return data


def _name(path) -> str:
    """A path as text for messages; undecodable bytes stay visible as escapes."""
    import os

    if isinstance(path, bytes):
        return os.fsdecode(path).encode("utf-8", "backslashreplace").decode("utf-8")
    text = str(path)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _strerror(exc: OSError) -> str:
    import errno

    special = {errno.ENOSPC: "no space left on device", errno.EFBIG: "file too large (the file size limit "
               "was reached)", errno.EDQUOT: "disk quota exceeded", errno.EROFS: "read-only file system"}
    if exc.errno in special:
        return special[exc.errno]
    return exc.strerror.lower() if exc.strerror else (str(exc) or type(exc).__name__)


# Libraries whose own exceptions mean "this file is not what it should be".
_FILE_LIBRARIES = ("safetensors", "transformers", "tokenizers", "huggingface_hub", "yaml", "arff")


LONG_WORD = 120      # characters; a longer word in a message is shown by its ends
LONG_LINE = 2000     # characters; a longer message is cut


def shown(value: Any, limit: int = 80) -> str:
    """A value from YAML or the command line as an error message quotes it: null, true and false
    as YAML spells them, lists and mappings by their kind (their repr can be huge, or build
    gigabytes from YAML anchors), everything else as a repr of at most ``limit``."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, (list, tuple, dict)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'}"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 25]}...{text[-10:]} ({len(text)} characters)"


def plural(n: int, word: str) -> str:
    """'1 trial', '2 trials'."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def printable_line(line: str) -> str:
    """One message line fit for a terminal: control characters escaped, long words and the
    line itself shortened (a 5,000-digit option value or a pasted blob would bury the message)."""
    line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)

    def cut(word: str) -> str:
        return word if len(word) <= LONG_WORD else f"{word[:60]}...{word[-20:]} ({len(word)} characters)"
    line = " ".join(cut(w) for w in line.split(" "))
    return line if len(line) <= LONG_LINE else f"{line[:LONG_LINE - 40]}... ({len(line)} characters)"


def exception_chain(exc: Optional[BaseException]) -> Iterator[BaseException]:
    """``exc``, then what caused it (``__cause__``, else ``__context__``), each once, innermost last."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def user_message(exc: BaseException) -> Optional[str]:
    """The one line a user sees for a failure at the program's edge; None for a real bug.

    Covers bad input (InputError), the operating system (full disk, file size
    limit, permissions, missing paths), memory, text decoding, and the
    exceptions of the file-reading libraries we call (json, yaml, safetensors,
    transformers, tokenizers).
    """
    import json
    import sys

    if isinstance(exc, InputError):
        return exc.one_line()
    if isinstance(exc, MemoryError):
        detail = str(exc)
        return "out of memory" + (f" ({detail})" if detail else "") + \
            ": use smaller layers, SOMs or batches, or less data"
    if isinstance(exc, OSError):
        if exc.errno is None:    # raised by a library with a message of its own (transformers, shutil)
            lib = library_of(exc)
            return f"{lib}: {first_line(exc)}" if lib else first_line(exc) or type(exc).__name__
        if exc.filename is None:
            return f"write or read failed: {_strerror(exc)}"
        return f"{_name(exc.filename)}: {_strerror(exc)}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not valid {exc.encoding} text (byte {exc.start}: {exc.reason})"
    if isinstance(exc, UnicodeError):
        return f"text encoding failed: {exc}"
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})"
    yaml = sys.modules.get("yaml")
    if yaml is not None and isinstance(exc, yaml.YAMLError):
        mark = getattr(exc, "problem_mark", None)
        where = f"{mark.name}:{mark.line + 1}: " if mark is not None and mark.name not in (None, "<unicode string>") \
            else ""
        return f"{where}not valid YAML: {first_line(exc)}"
    lib = library_of(exc)
    if lib is not None:
        return f"{lib}: {first_line(exc) or type(exc).__name__}"
    return None


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first non-blank line of an exception's message ("" if none), cut at a word past
    ``limit`` characters: a library's message can run to paragraphs."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    return text if len(text) <= limit else text[:limit - 4].rsplit(" ", 1)[0] + " ..."


def library_of(exc: BaseException) -> Optional[str]:
    """The file-reading library an exception came from (its type's module or its innermost frame)."""
    module = type(exc).__module__.split(".")[0]
    if module.startswith("safetensors"):
        return "safetensors"
    if module in _FILE_LIBRARIES:
        return module
    if isinstance(exc, (AssertionError, NameError, AttributeError, SyntaxError)):
        return None
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_globals.get("__name__", "")
        tb = tb.tb_next
    top = (last or "").split(".")[0]
    return top if top in _FILE_LIBRARIES else None
