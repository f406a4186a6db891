"""One error type for bad input, so every reader reports it the same way.

The CLI turns an :class:`InputError` into a single line on stderr and exit
code 2; nothing else should ever reach the user as a traceback.
"""

from __future__ import annotations

from typing import Optional


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


def read_input_bytes(path, what: str, empty_note: str = "") -> bytes:
    """Read a user's input file, turning every I/O problem into an InputError.

    `what` names the kind of file in messages ("data file", "parameter file").
    """
    from pathlib import Path

    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} not found", str(path)) from None
    except IsADirectoryError:
        raise InputError(f"is a directory, not a {what}", str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror}", str(path)) from None
    if not data.strip():
        raise InputError(f"{what} is empty{empty_note}", str(path))
    return data
