"""Reader for the C program's .prm parameter file.

The C reads the file with a fixed sequence of ``fscanf`` formats, so keys
must come in its order.  We follow the same sequence (so every file the C
reads correctly means the same here), but where the C would silently carry
on with garbage (a misspelled key, a missing value, a non-number) we stop
with an error naming the line and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

from ..cnum import c_float_prefix, c_int_prefix
from ..prm_params import NAME_L, CParams
from ..errors import InputError, read_input_bytes

_WS = b" \t\n\v\f\r"
_LENGTH_ALL_LABELS = 1024

# (key as written in the file, attribute, kind, count); kind: d=int, f=float, s=string
_SEQUENCE = [
    ("DUMP", "DUMP", "d", 1),
    ("DUMP_LAYER", "DUMP_LAYER", "d", 6),
    ("SEED", "SEED", "d", 1),
    ("LRN", "LRN", "s", 1),
    ("VAL", "VAL", "s", 1),
    ("TST", "TST", "s", 1),
    ("LOG", "LOG", "s", 1),
    ("OLD_ENV", "OLD_ENV", "s", 1),
    ("BEST_ENV", "BEST_ENV", "s", 1),
    ("ALL_LABELS", "ALL_LABELS", "s", 1),
    ("N_EPOCHS", "N_EPOCHS", "d", 1),
    ("STOP_IF_NOTHING_DONE", "STOP_IF_NOTHING_DONE", "d", 1),
    ("TEST_RATIO", "TEST_RATIO", "d", 1),
    ("SOM_ERROR_USE", "SOM_ERROR_USE", "f", 1),
    ("RELIABILITY_THRESHOLD", "RELIABILITY_THRESHOLD", "d", 1),
    ("PRUNE_THRESHOLD", "PRUNE_THRESHOLD", "f", 1),
    ("BP-architecture", "N", "d", 6),
    ("BP_LEARN_RATE", "BP_LEARN_RATE", "f", 1),
    ("MOMENTUM", "MOMENTUM", "f", 1),
    ("MM_AFTER_N_EXAMPLES", "MM_AFTER_N_EXAMPLES", "d", 1),
    ("ERROR_LEARN_THRESHOLD", "ERROR_LEARN_THRESHOLD", "f", 1),
    ("WEIGHT_DECAY_RATE", "WEIGHT_DECAY_RATE", "f", 1),
    ("SOM-architecture", "DIM_SOM", "d", 6),
    ("SOM_MAX_CONTEXT", "SOM_MAX_CONTEXT", "d", 1),
    ("SOM_MIN_CONTEXT", "SOM_MIN_CONTEXT", "d", 1),
    ("ALL_LABELS", "ALL_LABELS", "s", 1),           # optional second ALL_LABELS, as the C allows
    ("SOM_MAX_LEARN_RATE", "SOM_MAX_LEARN_RATE", "f", 1),
    ("SOM_MIN_LEARN_RATE", "SOM_MIN_LEARN_RATE", "f", 1),
    ("FORMAT", "FORMAT", "s", 1),                   # optional: our extension (grapho | dense)
]
_OPTIONAL = {25, 28}
KEYS = tuple(dict.fromkeys(k for k, *_ in _SEQUENCE))


class _Cursor:
    def __init__(self, data: bytes, path: str):
        self.data = data
        self.pos = 0
        self.path = path

    def line(self) -> int:
        return self.data.count(b"\n", 0, self.pos) + 1

    def skip_ws(self) -> None:
        while self.pos < len(self.data) and self.data[self.pos] in _WS:
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.data)


def _fail(cur: _Cursor, key: str, message: str) -> InputError:
    return InputError(message, cur.path, cur.line(), key)


def _read_value(cur: _Cursor, key: str, kind: str):
    cur.skip_ws()
    rest = cur.data[cur.pos:]
    if kind == "d":
        got = c_int_prefix(rest)
        if got is None:
            raise _fail(cur, key, "expected a whole number")
        value, used = got
        if not -2**31 <= value < 2**31:
            raise _fail(cur, key, f"number {value} does not fit a C int")
    elif kind == "f":
        got = c_float_prefix(rest)
        if got is None:
            raise _fail(cur, key, "expected a number")
        value, used = got
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise _fail(cur, key, "expected a finite number")
    else:
        used = 0
        while used < len(rest) and rest[used] not in _WS:
            used += 1
        if used == 0:
            raise _fail(cur, key, "expected a value")
        value = rest[:used].decode("latin-1")
        limit = _LENGTH_ALL_LABELS if key == "ALL_LABELS" else NAME_L
        if used >= limit:
            raise _fail(cur, key, f"value is {used} characters long (the C program allows {limit - 1})")
    after = rest[used:used + 1]
    if kind != "s" and after and after not in _WS:
        raise _fail(cur, key, f"unexpected text {rest[used:used + 12].decode('latin-1')!r} after the number")
    cur.pos += used
    return value


def _match_key(cur: _Cursor, key: str) -> bool:
    """Match 'KEY =' as the C's format does (white space around '=' optional)."""
    cur.skip_ws()
    k = key.encode("ascii")
    if not cur.data.startswith(k, cur.pos):
        return False
    end = cur.pos + len(k)
    probe = end
    while probe < len(cur.data) and cur.data[probe] in _WS:
        probe += 1
    if probe >= len(cur.data) or cur.data[probe:probe + 1] != b"=":
        return False
    cur.pos = probe + 1
    return True


def parse_prm(data: bytes, path: str = "<prm>") -> CParams:
    """Parse .prm bytes into CParams (values as written, before range checks)."""
    cur = _Cursor(data, path)
    params = CParams()
    for index, (key, attr, kind, count) in enumerate(_SEQUENCE):
        if not _match_key(cur, key):
            if index in _OPTIONAL:
                continue
            cur.skip_ws()
            found = cur.data[cur.pos:cur.pos + 40].split(b"\n")[0].decode("latin-1")
            where = f"found {found!r}" if found else "found the end of the file"
            raise _fail(cur, key, f"expected '{key} = ...' here (keys must follow the C program's order); {where}")
        values = [_read_value(cur, key, kind) for _ in range(count)]
        setattr(params, attr, values if count > 1 else values[0])
    cur.skip_ws()
    if not cur.at_end():
        found = cur.data[cur.pos:cur.pos + 40].split(b"\n")[0].decode("latin-1")
        raise _fail(cur, "end of file", f"unexpected text {found!r} after the last parameter")
    if params.FORMAT not in ("grapho", "dense"):
        raise InputError(f"unknown data format {params.FORMAT!r} (use grapho or dense)", path, None, "FORMAT")
    return params


def c_filename(name: str) -> str:
    """A file name from a .prm as the path of the very bytes the C would open.

    The .prm is decoded as Latin-1 (one character per byte), so encoding the
    name back gives its bytes; the file system's decoding of those bytes is
    the name Python must open (a Latin-1 or UTF-8 name both work).
    """
    import os

    return os.fsdecode(name.encode("latin-1"))


def read_prm(path: Union[str, Path]) -> CParams:
    """Read a .prm file; raise InputError naming the file, line and key on bad input."""
    data = read_input_bytes(path, "parameter file")
    return parse_prm(data, str(path))
