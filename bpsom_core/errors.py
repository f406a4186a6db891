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
