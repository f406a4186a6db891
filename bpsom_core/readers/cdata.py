"""Readers for the C program's data files: grapho windows and dense numbers.

grapho (the C's own format): 9 window characters from a Latin-1 alphabet, a
space and one class character per line; each window position activates one
of 42 input units ('onact'), targets are 0.1 except 0.9 for the class.

dense (the C's PROBEN1 variant): N[0] input numbers then N[last] target
numbers per line; the class is the last target above 0.599.

The C loops forever or reads out of bounds on a character outside the
alphabet, an unknown class, or an empty file; we stop with an error naming
the file, the line and the field instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..cnum import strtof_array
from ..cnum import is_number
from ..errors import InputError, read_input_bytes

ALPHABET = b"_'-.abcdefghijklmnopqrstuvwxyz" + bytes([0xE0, 0xE2, 0xE4, 0xE7, 0xE8, 0xE9, 0xEA, 0xEF, 0xF1, 0xF4, 0xF6, 0xFC])
PCLASSES = b"#$+-0123456789<>@DEFGHIJNPQRSTUVXZ[]_bcdfghijklmnpqrstuvwxz{}~"
NRVALS = 42
PATWIDTH = 9
GRAPHO_INPUTS = PATWIDTH * NRVALS  # 378

_ALPHA_INDEX = np.full(256, -1, dtype=np.int32)
for _j, _c in enumerate(ALPHABET):
    _ALPHA_INDEX[_c] = _j
_CLASS_INDEX = np.full(256, -1, dtype=np.int32)
for _j, _c in enumerate(PCLASSES):
    _CLASS_INDEX[_c] = _j


@dataclass
class CDataset:
    """Examples of one data file, as the exact engine consumes them.

    ``labels`` are 1-based class numbers (output unit numbers).  For grapho
    data ``onact`` holds the 9 active input units of each example; for dense
    data ``inputs``/``targets`` hold the numbers.  ``raw`` and ``ends`` (the
    file offset after each example) let the engine emulate the C's stdio
    buffer where its out-of-bounds reads see file contents.
    """

    path: str
    kind: str
    labels: np.ndarray
    onact: Optional[np.ndarray] = None
    inputs: Optional[np.ndarray] = None
    targets: Optional[np.ndarray] = None
    raw: bytes = b""
    ends: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def _read_bytes(path: Union[str, Path]) -> bytes:
    return read_input_bytes(path, "data file", " (the C program would never finish reading it)")


def _next_token_offsets(data: bytes, line_ends: list[int]) -> np.ndarray:
    """File offset after each example: the C's ' %s ' also swallows following white space."""
    out = np.empty(len(line_ends), dtype=np.int64)
    n = len(data)
    for k, pos in enumerate(line_ends):
        while pos < n and data[pos] in b" \t\n\v\f\r":
            pos += 1
        out[k] = pos
    return out


def _grapho_uniform(data: bytes, name: str, n_outputs: int, n_labels: int) -> Optional[CDataset]:
    """The common file, read at once: every line exactly ``WINDOW CLASS\\n``, all valid.

    None for anything else (blank lines, other white space, a bad character or
    class), which the line-by-line reader then reads or reports.
    """
    width = PATWIDTH + 3
    if not data or len(data) % width:
        return None
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, width)
    if not ((rows[:, PATWIDTH] == ord(" ")) & (rows[:, PATWIDTH + 2] == ord("\n"))).all():
        return None
    chars = rows[:, :PATWIDTH]
    label = _CLASS_INDEX[rows[:, PATWIDTH + 1]].astype(np.int64) + 1
    if (_ALPHA_INDEX[chars] < 0).any() or (label < 1).any() or label.max() > min(n_outputs, n_labels):
        return None
    onact = (1 + np.arange(PATWIDTH, dtype=np.int32) * NRVALS + _ALPHA_INDEX[chars]).astype(np.int32)
    ends = np.arange(1, rows.shape[0] + 1, dtype=np.int64) * width  # the next line's first character
    return CDataset(name, "grapho", label.astype(np.int32), onact=onact, raw=data, ends=ends)


def read_grapho(path: Union[str, Path], n_outputs: int, n_labels: int) -> CDataset:
    """Read a grapho window file; classes must fit the output layer and ALL_LABELS."""
    data = _read_bytes(path)
    name = str(path)
    uniform = _grapho_uniform(data, name, n_outputs, n_labels)
    return uniform if uniform is not None else _grapho_lines(data, name, n_outputs, n_labels)


def _grapho_lines(data: bytes, name: str, n_outputs: int, n_labels: int) -> CDataset:
    """Any grapho file, line by line, with the error of the first bad line."""
    windows, classes, line_ends = [], [], []
    offset = 0
    for lineno, line in enumerate(data.split(b"\n"), start=1):
        start = offset
        offset += len(line) + 1
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise InputError(f"expected 9 window characters, a space and a class character, found {len(parts)} fields",
                             name, lineno, "line")
        window, cls = parts
        if len(window) != PATWIDTH:
            raise InputError(f"window has {len(window)} characters, expected {PATWIDTH}", name, lineno, "window")
        bad = [c for c in window if _ALPHA_INDEX[c] < 0]
        if bad:
            raise InputError(f"character {bytes([bad[0]]).decode('latin-1')!r} is not in the grapho alphabet",
                             name, lineno, "window")
        if len(cls) != 1 or _CLASS_INDEX[cls[0]] < 0:
            raise InputError(f"unknown class {cls.decode('latin-1')!r} (classes are characters of "
                             f"{PCLASSES.decode()})", name, lineno, "class")
        label = int(_CLASS_INDEX[cls[0]]) + 1
        if label > n_outputs:
            raise InputError(f"class {cls.decode('latin-1')!r} is output unit {label}, but the output layer "
                             f"has {n_outputs} units", name, lineno, "class")
        if label > n_labels:
            raise InputError(f"class {cls.decode('latin-1')!r} is label {label}, but ALL_LABELS names only "
                             f"{n_labels}", name, lineno, "class")
        windows.append(window)
        classes.append(label)
        line_ends.append(start + len(line.rstrip(b" \t\r\v\f")))
    chars = np.frombuffer(b"".join(windows), dtype=np.uint8).reshape(-1, PATWIDTH)
    onact = (1 + np.arange(PATWIDTH, dtype=np.int32) * NRVALS + _ALPHA_INDEX[chars]).astype(np.int32)
    return CDataset(name, "grapho", np.asarray(classes, dtype=np.int32), onact=onact,
                    raw=data, ends=_next_token_offsets(data, line_ends))


def read_dense(path: Union[str, Path], n_inputs: int, n_outputs: int, n_labels: int) -> CDataset:
    """Read a dense file: n_inputs numbers then n_outputs targets per line."""
    data = _read_bytes(path)
    name = str(path)
    width = n_inputs + n_outputs
    rows, line_ends, linenos = [], [], []
    offset = 0
    for lineno, line in enumerate(data.split(b"\n"), start=1):
        start = offset
        offset += len(line) + 1
        parts = line.replace(b",", b" ").split()
        if not parts:
            continue
        if len(parts) != width:
            raise InputError(f"expected {n_inputs} inputs and {n_outputs} targets ({width} numbers), "
                             f"found {len(parts)}", name, lineno, "line")
        try:
            values = strtof_array([p.decode("ascii") for p in parts])
        except (ValueError, UnicodeDecodeError):
            bad = next(i for i, p in enumerate(parts) if not is_number(p))
            field_name = f"input {bad + 1}" if bad < n_inputs else f"target {bad - n_inputs + 1}"
            raise InputError(f"{parts[bad].decode('latin-1')!r} is not a number", name, lineno, field_name) from None
        if not np.all(np.isfinite(values)):
            bad = int(np.nonzero(~np.isfinite(values))[0][0])
            field_name = f"input {bad + 1}" if bad < n_inputs else f"target {bad - n_inputs + 1}"
            raise InputError("value is not finite", name, lineno, field_name)
        rows.append(values)
        linenos.append(lineno)
        line_ends.append(start + len(line.rstrip()))
    if not rows:
        raise InputError("no examples: the file holds no line with numbers", name)
    table = np.vstack(rows).astype(np.float32)
    targets = table[:, n_inputs:]
    above = targets > np.float32(0.599)
    if not above.any(axis=1).all():
        k = int(np.nonzero(~above.any(axis=1))[0][0])
        raise InputError("no target is above 0.599, so the example has no class", name, linenos[k], "targets")
    labels = (n_outputs - np.argmax(above[:, ::-1], axis=1)).astype(np.int32)  # the last target above 0.599
    over = labels > n_labels
    if over.any():
        k = int(np.nonzero(over)[0][0])
        raise InputError(f"class {labels[k]} is beyond the {n_labels} labels of ALL_LABELS", name, linenos[k], "targets")
    return CDataset(name, "dense", labels, inputs=np.ascontiguousarray(table[:, :n_inputs]),
                    targets=np.ascontiguousarray(targets), raw=data, ends=_next_token_offsets(data, line_ends))
