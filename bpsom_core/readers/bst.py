"""Reader for the C program's .bst network files (weights, SOM labels, reliabilities, vectors).

The C reads them with ``fscanf`` and trusts every number; we check the
architecture, the counts and every value, and name the line that is wrong.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from ..cnum import is_number, strtof_array
from ..prm_params import M_DIM_SOM_NETWORK, MAX_LAST_LAYER, MAX_UNITS
from ..errors import InputError, read_input_bytes

_TOKEN = re.compile(rb"\S+")


@dataclass
class BstNetwork:
    """Contents of a .bst file, in the C's indexing."""

    N: list[int]
    dims: list[int]
    weights: list[np.ndarray]      # weights[l]: (N[l]+1, N[l+1]) float32, columns j = 1..N[l+1]
    cell_labels: list[np.ndarray]  # per layer: (D*D,) int64, scan order
    reliability: list[np.ndarray]  # per layer: (D*D,) int64
    vectors: list[np.ndarray]      # per layer: (D*D, N[l]) float32

    @property
    def last_layer(self) -> int:
        return max([i for i, n in enumerate(self.N) if n > 0], default=0)


class _Tokens:
    def __init__(self, data: bytes, path: str):
        self.data = data
        self.path = path
        self.spans = [(m.start(), m.group()) for m in _TOKEN.finditer(data)]
        self.pos = 0
        self._newlines = None

    def line_of(self, offset: int) -> int:
        if self._newlines is None:
            self._newlines = [m.start() for m in re.finditer(rb"\n", self.data)]
        return bisect_right(self._newlines, offset - 1) + 1

    def error(self, message: str, field: str, index: int | None = None) -> InputError:
        index = self.pos if index is None else index
        if index < len(self.spans):
            line = self.line_of(self.spans[index][0])
        else:
            line = self.data.count(b"\n") + 1
            message = f"file ends early: {message}"
        return InputError(message, self.path, line, field)

    def take(self, n: int, field: str) -> list[bytes]:
        if self.pos + n > len(self.spans):
            raise self.error(f"expected {n} more values", field, len(self.spans))
        out = [t for _, t in self.spans[self.pos:self.pos + n]]
        self.pos += n
        return out

    def ints(self, n: int, field: str) -> list[int]:
        start = self.pos
        toks = self.take(n, field)
        out = []
        for k, t in enumerate(toks):
            if not re.fullmatch(rb"[+-]?\d+", t):
                raise self.error(f"{t.decode('latin-1')!r} is not a whole number", field, start + k)
            out.append(int(t))
        return out

    def floats(self, n: int, field: str) -> np.ndarray:
        start = self.pos
        toks = self.take(n, field)
        try:
            values = strtof_array([t.decode("ascii") for t in toks])
        except (ValueError, UnicodeDecodeError):
            k = next(k for k, t in enumerate(toks) if not is_number(t))
            raise self.error(f"{toks[k].decode('latin-1')!r} is not a number", field, start + k) from None
        bad = np.nonzero(~np.isfinite(values))[0]
        if bad.size:
            raise self.error("value is not finite", field, start + int(bad[0]))
        return values


def parse_bst(data: bytes, path: str = "<bst>", n_labels: int | None = None) -> BstNetwork:
    """Parse .bst bytes; `n_labels` (when known) bounds the cell labels."""
    tk = _Tokens(data, path)
    if not tk.spans:
        raise InputError("network file is empty", path)
    nl = MAX_LAST_LAYER + 1
    N = tk.ints(nl, "layer sizes")
    for l, n in enumerate(N):
        if not 0 <= n <= MAX_UNITS:
            raise tk.error(f"layer {l} has {n} units (0 .. {MAX_UNITS} allowed)", "layer sizes", l)
    dims = tk.ints(nl, "SOM sizes")
    for l, d in enumerate(dims):
        if not 0 <= d <= M_DIM_SOM_NETWORK:
            raise tk.error(f"SOM {l} is {d}x{d} (0 .. {M_DIM_SOM_NETWORK} allowed)", "SOM sizes", nl + l)
    L = max([i for i, n in enumerate(N) if n > 0], default=0)
    if L == 0:
        raise tk.error("the network has no layer after the input layer", "layer sizes", 0)
    if any(N[l] == 0 for l in range(L)):
        raise tk.error("a layer before the output layer has no units", "layer sizes", 0)
    weights = []
    for l in range(L):
        w = tk.floats((N[l] + 1) * N[l + 1], f"weights of layer {l}")
        weights.append(w.reshape(N[l] + 1, N[l + 1]))
    labels, rel, vectors = [], [], []
    for l in range(L + 1):
        d = dims[l]
        nc = d * d
        lab = np.zeros(nc, np.int64)
        pct = np.zeros(nc, np.int64)
        vec = np.zeros((nc, N[l]), np.float32)
        for c in range(nc):
            field = f"SOM {l} cell ({c // d + 1},{c % d + 1})"
            start = tk.pos
            a, b = tk.ints(2, field)
            if a < 0 or (n_labels is not None and a > n_labels):
                raise tk.error(f"cell label {a} is not a class (0 .. {n_labels})", field, start)
            if not 0 <= b <= 100:
                raise tk.error(f"reliability {b} is not a percentage", field, start + 1)
            lab[c], pct[c] = a, b
            vec[c] = tk.floats(N[l], field)
        labels.append(lab)
        rel.append(pct)
        vectors.append(vec)
    if tk.pos != len(tk.spans):
        raise tk.error("unexpected values after the last SOM", "end of file")
    return BstNetwork(N, dims, weights, labels, rel, vectors)


def read_bst(path: Union[str, Path], n_labels: int | None = None) -> BstNetwork:
    """Read a .bst file, raising InputError (file, line, field) on any problem."""
    return parse_bst(read_input_bytes(path, "network file"), str(path), n_labels)
