"""GLUE tasks (SST-2, MRPC, CoLA): from `datasets` online, or from local TSV files.

Local files follow the GLUE layout: ``<data-dir>/train.tsv``,
``<data-dir>/dev.tsv`` and, optionally, ``<data-dir>/test.tsv``.  A test file
may be labelled (read like the others) or unlabelled as GLUE ships it
(``index<TAB>sentence``, or labels -1): then its labels are -1 and its
``ids`` keep the index column for a submission file.  A file may or may not start with a header, and the
label may be the first or the last column (``label<TAB>sentence`` as in the
shared SST-2 subset, ``sentence<TAB>label`` as GLUE's SST-2 train.tsv).  The
original GLUE layouts of CoLA (4 columns, no header) and MRPC (5 columns with
a ``Quality`` header) are read too.  Every problem is an
:class:`~bpsom_core.errors.InputError` naming file, line and column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from bpsom_core.errors import InputError


@dataclass(frozen=True)
class TaskSpec:
    """What a GLUE task looks like: text columns, labels, metrics."""

    name: str
    text_fields: tuple[str, ...]
    label_names: tuple[str, ...]
    metrics: tuple[str, ...]
    # original GLUE TSV layout without our two-/three-column convention:
    # (n_columns, label column, text columns)
    native_layout: Optional[tuple[int, int, tuple[int, ...]]] = None

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def primary_metric(self) -> str:
        return self.metrics[-1] if self.name == "cola" else self.metrics[0]


TASKS = {
    "sst2": TaskSpec("sst2", ("sentence",), ("negative", "positive"), ("accuracy",)),
    "mrpc": TaskSpec("mrpc", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"),
                     ("accuracy", "f1"), native_layout=(5, 0, (3, 4))),
    "cola": TaskSpec("cola", ("sentence",), ("unacceptable", "acceptable"),
                     ("accuracy", "matthews_correlation"), native_layout=(4, 1, (3,))),
}


def get_task(name: str) -> TaskSpec:
    """The task's spec, or a one-line error listing the known tasks."""
    key = name.lower().replace("-", "")
    if key not in TASKS:
        raise InputError(f"unknown task '{name}'; known tasks: {', '.join(TASKS)}", field="--task")
    return TASKS[key]


@dataclass
class Split:
    """One split: texts (one tuple per example) and 0-based labels."""

    texts: list[tuple[str, ...]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    ids: Optional[list[str]] = None   # GLUE test index column (unlabelled test files)

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: Optional[int]) -> "Split":
        """The first ``n`` examples (all when ``n`` is None)."""
        if n is None:
            return self
        return Split(self.texts[:n], self.labels[:n], None if self.ids is None else self.ids[:n])

    @property
    def labelled(self) -> bool:
        """False for a GLUE test file without labels (all -1)."""
        return not any(label < 0 for label in self.labels)


def _is_int(s: str) -> bool:
    s = s.strip()
    return s.lstrip("-").isdigit()


def read_tsv(path: str | Path, task: TaskSpec, unlabelled_ok: bool = False) -> Split:
    """Read one GLUE-style TSV file of ``task`` (see the module docstring).

    ``unlabelled_ok`` (test files): label -1 means "no label".
    """
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", str(p)) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", str(p)) from None
    rows = [(i + 1, line.rstrip("\r").split("\t")) for i, line in enumerate(raw) if line.strip()]
    if not rows:
        raise InputError("no examples", str(p))
    n_text = len(task.text_fields)
    simple = n_text + 1
    width = len(rows[0][1])
    layout = None
    if width == simple:
        layout = "simple"
    elif task.native_layout and width == task.native_layout[0]:
        layout = "native"
    else:
        allowed = f"{simple} (label + {n_text} text column{'s' if n_text > 1 else ''})"
        if task.native_layout:
            allowed += f" or {task.native_layout[0]} (GLUE's own {task.name} layout)"
        raise InputError(f"expected {allowed} tab-separated columns, got {width}", str(p), rows[0][0])
    header = None
    if layout == "simple":
        cells = rows[0][1]
        if not (_is_int(cells[0]) or _is_int(cells[-1])):
            header = [c.strip().lower() for c in cells]
    else:
        if not _is_int(rows[0][1][task.native_layout[1]]):
            header = [c.strip().lower() for c in rows[0][1]]
    body = rows[1:] if header is not None else rows
    for line, cells in body:
        if len(cells) != width:
            raise InputError(f"expected {width} tab-separated columns, got {len(cells)}", str(p), line)
    if layout == "native":
        label_col, text_cols = task.native_layout[1], task.native_layout[2]
    else:
        label_col = _label_column(header, body, p)
        text_cols = tuple(i for i in range(simple) if i != label_col)
    split = Split()
    for line, cells in body:
        value = cells[label_col].strip()
        if not _is_int(value):
            raise InputError(f"label must be an integer, got {value!r}", str(p), line, "label")
        label = int(value)
        if not 0 <= label < task.num_labels and not (unlabelled_ok and label == -1):
            raise InputError(f"label {label} out of range 0..{task.num_labels - 1} for {task.name}",
                             str(p), line, "label")
        split.texts.append(tuple(cells[i] for i in text_cols))
        split.labels.append(label)
    if not split.labels:
        raise InputError("no examples after the header", str(p))
    if unlabelled_ok and not split.labelled and any(label >= 0 for label in split.labels):
        line = next(ln for ln, cells in body if cells[label_col].strip() == "-1")
        raise InputError("labels -1 (unlabelled) mixed with real labels", str(p), line, "label")
    return split


def read_test_tsv(path: str | Path, task: TaskSpec) -> Split:
    """A test file: labelled as the others, or GLUE's unlabelled ``index<TAB>text...``.

    GLUE's test files start with an ``index`` header and keep the text in
    the last columns; their examples get label -1 and ``ids`` from the index.
    """
    p = Path(path)
    try:
        first = p.read_text(encoding="utf-8").split("\n", 1)[0]
    except (OSError, UnicodeDecodeError):
        return read_tsv(p, task, unlabelled_ok=True)    # raises the one-line error
    if first.split("\t")[0].strip().lower() not in ("index", "id", "idx"):
        split = read_tsv(p, task, unlabelled_ok=True)
        if not split.labelled:
            split.ids = [str(i) for i in range(len(split))]
        return split
    lines = p.read_text(encoding="utf-8").splitlines()
    width = len(first.split("\t"))
    n_text = len(task.text_fields)
    if width < n_text + 1:
        raise InputError(f"expected an index and {n_text} text column{'s' if n_text > 1 else ''}, "
                         f"got {width} columns", str(p), 1)
    split = Split(ids=[])
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.rstrip("\r").split("\t")
        if len(cells) != width:
            raise InputError(f"expected {width} tab-separated columns, got {len(cells)}", str(p), i)
        split.ids.append(cells[0].strip())
        split.texts.append(tuple(cells[width - n_text:]))
        split.labels.append(-1)
    if not split.labels:
        raise InputError("no examples after the header", str(p))
    return split


def _label_column(header: Optional[list[str]], body, p: Path) -> int:
    """First or last column: by header name, else the column that is all integers."""
    last = len(body[0][1]) - 1
    if header is not None:
        for i in (0, last):
            if header[i] in ("label", "labels", "quality", "class", "target"):
                return i
    first_ints = all(_is_int(cells[0]) for _, cells in body)
    last_ints = all(_is_int(cells[last]) for _, cells in body)
    if first_ints and not last_ints:
        return 0
    if last_ints and not first_ints:
        return last
    if first_ints and last_ints:
        return 0
    line = next(ln for ln, cells in body if not _is_int(cells[0]))
    raise InputError("no integer label in the first or last column", str(p), line, "label")


def load_task_data(task: TaskSpec, data_dir: Optional[str | Path] = None) -> dict[str, Split]:
    """``{"train": Split, "validation": Split}`` (and ``"test"`` when a test.tsv is there)."""
    if data_dir is not None:
        d = Path(data_dir)
        if not d.is_dir():
            raise InputError("not a directory", str(d), field="--data-dir")
        out = {}
        for split, names in (("train", ("train.tsv",)), ("validation", ("dev.tsv", "validation.tsv"))):
            found = next((d / n for n in names if (d / n).is_file()), None)
            if found is None:
                raise InputError(f"missing {' or '.join(names)}", str(d), field="--data-dir")
            out[split] = read_tsv(found, task)
        if (d / "test.tsv").is_file():
            out["test"] = read_test_tsv(d / "test.tsv", task)
        return out
    return _load_from_hub(task)


def _load_from_hub(task: TaskSpec) -> dict[str, Split]:  # pragma: no cover - needs network
    try:
        import datasets
        ds = datasets.load_dataset("glue", task.name)
    except Exception as exc:
        raise InputError(f"cannot load GLUE '{task.name}' through datasets ({type(exc).__name__}); "
                         "offline? pass --data-dir with train.tsv and dev.tsv", field="--data-dir") from None
    out = {}
    for split in ("train", "validation"):
        rows = ds[split]
        texts = list(zip(*(rows[f] for f in task.text_fields)))
        out[split] = Split([tuple(t) for t in texts], [int(x) for x in rows["label"]])
    return out
