"""Tabular data for `bpsom train`: CSV/TSV, ARFF and .npz files, plus preprocessing.

Reading produces a :class:`Table` (named feature columns, numeric or
categorical, a string class label per row, and each row's source line so
errors can point at it).  :class:`Preprocessor` is fitted on training rows
only: numeric columns are standardised, categorical ones one-hot encoded.

Every problem with the input is an :class:`InputError` naming the file, the
line and the field: a missing target column, a non-numeric value in a
numeric column, a missing/NaN/inf value, a ragged row, an empty file, or a
target with a single class.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from ..errors import InputError, check_regular_file

MISSING = {"", "?", "na", "n/a", "nan", "null", "none"}
NUMERIC_MAJORITY = 0.5  # a column is numeric when more than half its cells parse as numbers;
# its other cells are then reported as errors (--categorical overrides)


@dataclass
class Table:
    """Feature columns (float arrays for numeric, str arrays for categorical) and string labels."""

    path: str
    names: List[str]
    kinds: List[str]
    columns: List[np.ndarray]
    target: str
    y: np.ndarray
    lines: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    @property
    def classes(self) -> List[str]:
        return sorted(set(self.y.tolist()), key=_natural_key)

    def take(self, rows: np.ndarray) -> "Table":
        return Table(self.path, self.names, self.kinds, [c[rows] for c in self.columns],
                     self.target, self.y[rows], self.lines[rows])


def _natural_key(label: str):
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


# ---------------------------------------------------------------- entry point

def read_table(path: Union[str, Path], target: Optional[str] = None,
               categorical: Sequence[str] = (), numeric: Sequence[str] = ()) -> Table:
    """Read CSV/TSV/ARFF/.npz by extension; ``target`` names the class column (default: the last)."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", path=str(p))
    check_regular_file(p, "data file")
    suffix = p.suffix.lower()
    if suffix == ".npz":
        table = _read_npz(p, target)
    elif suffix == ".arff":
        table = _read_arff(p, target)
    else:
        table = _read_delimited(p, target, categorical, numeric)
    _check_classes(table)
    return table


def _check_classes(table: Table) -> None:
    if len(table) == 0:
        raise InputError("no data rows", path=table.path)
    labels = table.y.tolist()
    if len(set(labels)) < 2:
        raise InputError(f"the target has a single class ({str(labels[0])!r}); at least 2 are needed",
                         path=table.path, line=int(table.lines[0]), field=table.target)
    for i, label in enumerate(labels):
        if str(label).strip().lower() in MISSING:
            raise InputError(f"missing class label {str(label)!r} (fill or drop the row first)",
                             path=table.path, line=int(table.lines[i]), field=table.target)
    _check_not_continuous(table)


CONTINUOUS_MIN_CLASSES = 20  # fewer distinct values always count as classes


def _check_not_continuous(table: Table) -> None:
    """A target that looks like a measurement (many distinct numbers, most seen once) is refused.

    BP-SOM classifies; a continuous column as target would end in a baffling
    error from the splitter ("classes not seen in fit") or in nonsense scores.
    """
    labels = table.y.tolist()
    distinct = set(labels)
    if len(distinct) < CONTINUOUS_MIN_CLASSES or not all(is_number(v) for v in distinct):
        return
    values = np.asarray([float(v) for v in distinct])
    singletons = sum(1 for c in _counts(labels).values() if c == 1)
    if singletons > 0.5 * len(distinct) or not np.all(values == np.round(values)):
        raise InputError(f"looks continuous ({len(distinct)} distinct numbers among {len(labels)} rows, "
                         f"e.g. {', '.join(sorted(distinct, key=_natural_key)[:3])}); BP-SOM needs a class "
                         f"column: choose another --target, or bin the values into classes first",
                         path=table.path, field=table.target)


def _counts(values) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


# ---------------------------------------------------------------- CSV / TSV

def _read_delimited(p: Path, target: Optional[str], categorical: Sequence[str],
                    numeric: Sequence[str]) -> Table:
    path = str(p)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    if not text.strip():
        raise InputError("empty file", path=path)
    if (nul := text.find("\0")) >= 0:   # binary data, or a file cut and padded by a crash
        raise InputError("NUL byte in the text: not a CSV/TSV table", path=path, line=text.count("\n", 0, nul) + 1)
    delim = "\t" if p.suffix.lower() in (".tsv", ".tab") else _sniff(text)
    reader = csv.reader(io.StringIO(text), delimiter=delim)
    header: Optional[List[str]] = None
    rows: List[List[str]] = []
    lines: List[int] = []
    for record in _records(reader, path):
        if not record or all(not c.strip() for c in record):
            continue
        if header is None:
            header = [c.strip() for c in record]
            header_line = reader.line_num
            continue
        if len(record) != len(header):
            raise InputError(f"{len(record)} fields, the header has {len(header)}",
                             path=path, line=reader.line_num)
        rows.append([c.strip() for c in record])
        lines.append(reader.line_num)
    if header is None:
        raise InputError("no header row: the file holds only separators or quotes", path=path)
    _check_header(header, path, header_line)
    if not rows:
        raise InputError("no data rows after the header", path=path, line=header_line)
    t_idx = _target_index(header, target, path, header_line)
    for name in list(categorical) + list(numeric):
        if name not in header:
            raise InputError(f"unknown column (columns: {', '.join(header)})", path=path, field=name)
    line_arr = np.asarray(lines, dtype=np.int64)
    cells = list(zip(*rows))
    names, kinds, columns = [], [], []
    for j, name in enumerate(header):
        if j == t_idx:
            continue
        col = cells[j]
        _check_missing(col, line_arr, path, name)
        if name in categorical:
            kind = "categorical"
        elif name in numeric:
            kind = "numeric"
        else:
            parsed = sum(is_number(v) for v in col)
            kind = "numeric" if parsed > NUMERIC_MAJORITY * len(col) else "categorical"
        names.append(name)
        kinds.append(kind)
        columns.append(_to_float(col, line_arr, path, name) if kind == "numeric" else np.asarray(col, dtype=object))
    y = np.asarray(cells[t_idx], dtype=object)
    _check_missing(y, line_arr, path, header[t_idx])
    if not names:
        raise InputError("no feature columns besides the target", path=path, line=header_line)
    return Table(path, names, kinds, columns, header[t_idx], y.astype(str), line_arr)


def _records(reader, path: str):
    """The reader's rows; the csv module's own errors (a field over its size limit, a NUL byte)
    become InputErrors naming the line."""
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"not readable as CSV ({exc})", path=path, line=reader.line_num) from None
        yield record


def _sniff(text: str) -> str:
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _check_header(header: List[str], path: str, line: int) -> None:
    seen = set()
    for i, name in enumerate(header):
        if not name:
            raise InputError(f"column {i + 1} has an empty name in the header", path=path, line=line)
        if name in seen:
            raise InputError("duplicate column name in the header", path=path, line=line, field=name)
        seen.add(name)


def _target_index(header: List[str], target: Optional[str], path: str, line: int) -> int:
    if target is None:
        return len(header) - 1
    if target in header:
        return header.index(target)
    raise InputError(f"target column not found (columns: {', '.join(header)})",
                     path=path, line=line, field=target)


def is_number(value: str) -> bool:
    """True when ``float`` reads the text (a number cell of a table or a results file)."""
    try:
        float(value)
    except ValueError:
        return False
    return True


def _check_missing(col: Sequence[str], lines: np.ndarray, path: str, name: str) -> None:
    for i, v in enumerate(col):
        if v.strip().lower() in MISSING:
            raise InputError(f"missing value {v!r} (fill or drop it first)", path=path,
                             line=int(lines[i]), field=name)


def _to_float(col: Sequence[str], lines: np.ndarray, path: str, name: str) -> np.ndarray:
    out = np.empty(len(col))
    for i, v in enumerate(col):
        try:
            x = float(v)
        except ValueError:
            raise InputError(f"non-numeric value {v!r} in a numeric column", path=path,
                             line=int(lines[i]), field=name) from None
        if not math.isfinite(x):
            raise InputError(f"non-finite value {v!r}", path=path, line=int(lines[i]), field=name)
        out[i] = x
    return out


# ---------------------------------------------------------------- ARFF

def _read_arff(p: Path, target: Optional[str]) -> Table:
    import arff  # liac-arff

    path = str(p)
    text = p.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise InputError("empty file", path=path)
    try:
        data = arff.loads(text)
    except arff.ArffException as exc:
        line = getattr(exc, "line", None)
        try:
            why = str(exc)
        except Exception:  # liac-arff's own message formatting can fail on odd input
            why = type(exc).__name__
        raise InputError(f"not valid ARFF: {why}", path=path,
                         line=line if isinstance(line, int) and line > 0 else None) from None
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        # liac-arff lets these escape on malformed @relation/@attribute lines
        raise InputError(f"not valid ARFF: {exc}", path=path) from None
    attrs = data["attributes"]
    header = [a[0] for a in attrs]
    rows = data["data"]
    lines = np.asarray(_arff_data_lines(text)[:len(rows)], dtype=np.int64)
    if len(lines) < len(rows):  # pragma: no cover - defensive
        lines = np.arange(1, len(rows) + 1)
    if not rows:
        raise InputError("no data rows after @data", path=path)
    t_idx = _target_index(header, target, path, None)
    names, kinds, columns = [], [], []
    for j, (name, kind) in enumerate(attrs):
        col = [r[j] for r in rows]
        for i, v in enumerate(col):
            if v is None:
                raise InputError("missing value '?' (fill or drop it first)", path=path,
                                 line=int(lines[i]), field=name)
        if j == t_idx:
            y = np.asarray([str(v) for v in col])
            continue
        if isinstance(kind, list) or str(kind).upper() == "STRING":
            names.append(name)
            kinds.append("categorical")
            columns.append(np.asarray([str(v) for v in col], dtype=object))
        else:
            arr = np.asarray(col, dtype=float)
            bad = ~np.isfinite(arr)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InputError(f"non-finite value {col[i]!r}", path=path, line=int(lines[i]), field=name)
            names.append(name)
            kinds.append("numeric")
            columns.append(arr)
    if not names:
        raise InputError("no feature attributes besides the target", path=path)
    return Table(path, names, kinds, columns, header[t_idx], y, lines)


def _arff_data_lines(text: str) -> List[int]:
    """1-based line numbers of the data rows (after @data, skipping blanks and % comments)."""
    out, in_data = [], False
    for n, raw in enumerate(text.splitlines(), start=1):
        s = raw.strip()
        if not in_data:
            in_data = s.lower().startswith("@data")
            continue
        if s and not s.startswith("%"):
            out.append(n)
    return out


# ---------------------------------------------------------------- NPZ

def _read_npz(p: Path, target: Optional[str]) -> Table:
    """Arrays ``X`` (n, d) numeric and ``y`` (n,); optional ``feature_names``. Lines are row numbers."""
    path = str(p)
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:
        raise InputError(f"not a readable .npz archive ({type(exc).__name__})", path=path) from None
    y_key = target or "y"
    if "X" in arrays and "feature_names" in arrays and arrays["feature_names"].ndim != 1:
        raise InputError("feature_names must be a 1-d array of names", path=path, field="feature_names")
    for key in ("X", y_key):
        if key not in arrays:
            raise InputError(f"array not found (arrays: {', '.join(sorted(arrays)) or 'none'})",
                             path=path, field=key)
    X, y = arrays["X"], arrays[y_key]
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise InputError(f"need X of shape (n, d) and {y_key} of shape (n,); got {X.shape} and {y.shape}",
                         path=path, field="X")
    if X.size == 0:
        raise InputError("no data rows", path=path, field="X")
    if np.iscomplexobj(X) or not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
        raise InputError(f"X must hold real numbers, got dtype {X.dtype}", path=path, field="X")
    if np.iscomplexobj(y) or y.dtype.kind not in "biufUS":
        raise InputError(f"{y_key} must hold numbers or strings, got dtype {y.dtype}", path=path, field=y_key)
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        i = int(np.flatnonzero(~np.isfinite(y))[0])
        raise InputError(f"non-finite label {float(y[i])} (row {i + 1})", path=path, line=i + 1, field=y_key)
    names = [str(n) for n in arrays["feature_names"]] if "feature_names" in arrays else \
        [f"x{j + 1}" for j in range(X.shape[1])]
    if len(names) != X.shape[1]:
        raise InputError(f"{len(names)} feature_names for {X.shape[1]} columns", path=path, field="feature_names")
    X = X.astype(float)
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise InputError(f"non-finite value {float(X[i, j])} (row {i + 1})", path=path, line=i + 1,
                         field=names[j])
    lines = np.arange(1, len(y) + 1)
    return Table(path, names, ["numeric"] * len(names), [X[:, j] for j in range(X.shape[1])],
                 y_key, np.asarray([str(v) for v in y.tolist()]), lines)


# ---------------------------------------------------------------- preprocessing

@dataclass
class Preprocessor:
    """Standardise numeric columns and one-hot categorical ones; fitted on training rows only."""

    names: List[str] = field(default_factory=list)
    kinds: List[str] = field(default_factory=list)
    means: Dict[str, float] = field(default_factory=dict)
    scales: Dict[str, float] = field(default_factory=dict)
    categories: Dict[str, List[str]] = field(default_factory=dict)

    @classmethod
    def fit(cls, table: Table) -> "Preprocessor":
        pre = cls(list(table.names), list(table.kinds))
        for name, kind, col in zip(table.names, table.kinds, table.columns):
            if kind == "numeric":
                sd = float(col.std())
                pre.means[name] = float(col.mean())
                pre.scales[name] = sd if sd > 0 else 1.0
            else:
                pre.categories[name] = sorted(set(col.tolist()))
        return pre

    @property
    def feature_names_out(self) -> List[str]:
        out = []
        for name, kind in zip(self.names, self.kinds):
            out += [name] if kind == "numeric" else [f"{name}={c}" for c in self.categories[name]]
        return out

    def transform(self, table: Table) -> np.ndarray:
        """Feature matrix; categories unseen in training encode as all zeros."""
        parts = []
        for name, kind, col in zip(self.names, self.kinds, table.columns):
            if kind == "numeric":
                parts.append(((col - self.means[name]) / self.scales[name])[:, None])
            else:
                cats = self.categories[name]
                parts.append((col[:, None] == np.asarray(cats, dtype=object)[None, :]).astype(float))
        return np.hstack(parts) if parts else np.zeros((len(table), 0))

    def to_dict(self) -> dict:
        return {"names": self.names, "kinds": self.kinds, "means": self.means, "scales": self.scales,
                "categories": self.categories}

    @classmethod
    def from_dict(cls, d: dict, n_features: Optional[int] = None) -> "Preprocessor":
        """The saved preprocessing, checked (a hand-edited model.json must not crash a transform):
        ValueError naming what is wrong; ``n_features``: the model's input width to match."""
        if not isinstance(d, dict) or not all(k in d for k in ("names", "kinds", "means", "scales", "categories")):
            raise ValueError("must be an object with names, kinds, means, scales and categories")
        names, kinds, means, scales, cats = d["names"], d["kinds"], d["means"], d["scales"], d["categories"]
        if not (isinstance(names, list) and isinstance(kinds, list) and len(names) == len(kinds)
                and all(isinstance(n, str) for n in names) and all(k in ("numeric", "categorical") for k in kinds)):
            raise ValueError("names and kinds must be equally long lists (kinds numeric or categorical)")
        if not (isinstance(means, dict) and isinstance(scales, dict) and isinstance(cats, dict)):
            raise ValueError("means, scales and categories must be objects keyed by column name")
        for name, kind in zip(names, kinds):
            if kind == "numeric":
                m, sd = means.get(name), scales.get(name)
                if not (_finite_number(m) and _finite_number(sd) and sd > 0):
                    raise ValueError(f"column {name!r} needs a finite mean and a positive finite scale")
            elif not (isinstance(cats.get(name), list) and all(isinstance(c, str) for c in cats[name])):
                raise ValueError(f"column {name!r} needs a list of categories")
        pre = cls(list(names), list(kinds), dict(means), dict(scales), {k: list(v) for k, v in cats.items()})
        if n_features is not None and len(pre.feature_names_out) != n_features:
            raise ValueError(f"gives {len(pre.feature_names_out)} features, the model takes {n_features}")
        return pre


def _finite_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
