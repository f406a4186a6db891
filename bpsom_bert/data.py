"""GLUE tasks (see :mod:`bpsom_bert.tasks`): from `datasets` online, local TSV files or any source of :mod:`bpsom_bert.sources`.

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
from typing import Optional, Sequence

import torch

from bpsom_core.errors import InputError

from .tasks import TASKS, TaskSpec, get_task  # noqa: F401  (the task table lives in tasks.py)


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
    def is_label(cell: str) -> bool:
        return task.label_index(cell) is not None or (unlabelled_ok and cell.strip() == "-1")

    header = None
    if layout == "simple":
        cells = rows[0][1]
        if not (is_label(cells[0]) or is_label(cells[-1])):
            header = [c.strip().lower() for c in cells]
    else:
        if not is_label(rows[0][1][task.native_layout[1]]):
            header = [c.strip().lower() for c in rows[0][1]]
    body = rows[1:] if header is not None else rows
    for line, cells in body:
        if len(cells) != width:
            raise InputError(f"expected {width} tab-separated columns, got {len(cells)}", str(p), line)
    if layout == "native":
        label_col, text_cols = task.native_layout[1], task.native_layout[2]
    else:
        label_col = _label_column(header, body, p, is_label)
        text_cols = tuple(i for i in range(simple) if i != label_col)
    split = Split()
    for line, cells in body:
        value = cells[label_col].strip()
        label = -1 if (unlabelled_ok and value == "-1") else task.label_index(value)
        if label is None and _is_int(value):
            raise InputError(f"label {int(value)} out of range 0..{task.num_labels - 1} for {task.name}",
                             str(p), line, "label")
        if label is None:
            raise InputError(f"label must be an integer or one of {', '.join(task.label_names)}, got {value!r}",
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


def _label_column(header: Optional[list[str]], body, p: Path, is_label) -> int:
    """First or last column: by header name, else the column that holds only labels."""
    if not body:
        raise InputError("no examples after the header", str(p))
    last = len(body[0][1]) - 1
    if header is not None:
        for i in (0, last):
            if header[i] in ("label", "labels", "quality", "class", "target", "gold_label", "is_duplicate"):
                return i
    first_ints = all(is_label(cells[0]) for _, cells in body)
    last_ints = all(is_label(cells[last]) for _, cells in body)
    if first_ints and not last_ints:
        return 0
    if last_ints and not first_ints:
        return last
    if first_ints and last_ints:
        return 0
    line = next(ln for ln, cells in body if not is_label(cells[0]))
    raise InputError("no label in the first or last column", str(p), line, "label")


def load_task_data(task: TaskSpec, data_dir=None) -> dict[str, Split]:
    """``{"train": Split, "validation": Split}`` (and ``"test"`` when a test.tsv is there).

    ``data_dir``: a directory of ``train.tsv`` and a dev TSV; a saved
    dataset, data files spec or ``datasets.DatasetDict`` (see
    :mod:`bpsom_bert.sources`); None for the hub.  Use :func:`load_task` to
    also get the task with label names read from the data.
    """
    return load_task(task, data_dir)[1]


def load_task(task: TaskSpec, data_dir=None) -> tuple[TaskSpec, dict[str, Split]]:
    """:func:`load_task_data` plus the task, completed with label names from the data."""
    from . import sources
    if data_dir is not None and not isinstance(data_dir, (str, Path)):
        return sources.from_datasets(data_dir, task)
    if data_dir is not None and not (Path(data_dir) / "train.tsv").is_file():
        if not Path(data_dir).exists() and "=" not in str(data_dir):
            raise InputError("no such file or directory", str(data_dir), field="--data-dir")
        return sources.load_path(str(data_dir), task)
    if data_dir is not None:
        if not task.label_names:
            raise InputError("TSV files need a task from the table; use CSV/JSON/Parquet files or a saved "
                             "dataset with --text-columns", str(data_dir), field="--data-dir")
        d = Path(data_dir)
        _check_tsv_columns(task, d)
        out = {}
        for split, names in (("train", ("train.tsv",)), ("validation", task.dev_files)):
            found = next((d / n for n in names if (d / n).is_file()), None)
            if found is None:
                raise InputError(f"missing {' or '.join(names)}", str(d), field="--data-dir")
            out[split] = read_tsv(found, task)
        if (d / "test.tsv").is_file():
            out["test"] = read_test_tsv(d / "test.tsv", task)
        return task, out
    return task, _load_from_hub(task)


def _check_tsv_columns(task: TaskSpec, data_dir: Path) -> None:
    """GLUE TSV files are read by position (the label first or last), so column names given
    for them (--text-columns, --label-column) would be ignored: refused instead."""
    table = TASKS.get(task.name)
    if table is None:
        return
    for option, given, read in (("--text-columns", task.text_fields, table.text_fields),
                                ("--label-column", task.label_field, table.label_field)):
        if given != read:
            raise InputError("TSV files are read by position (the label first or last column); column names "
                             "apply to CSV, JSON or Parquet files and saved datasets", str(data_dir), field=option)


def _load_from_hub(task: TaskSpec) -> dict[str, Split]:  # pragma: no cover - needs network
    from .hub import prepare_hub_dataset
    from .sources import from_datasets
    config = task.hub_config or task.name
    offline = prepare_hub_dataset()
    try:
        import datasets
        ds = datasets.load_dataset("nyu-mll/glue", config)
    except Exception as exc:
        why = f"not in the datasets cache, and {offline}" if offline else type(exc).__name__
        raise InputError(f"cannot load GLUE '{config}' from the hub ({why}); "
                         "pass --data-dir with train.tsv and dev.tsv", field="--data-dir") from None
    return from_datasets(ds, task, source=f"glue/{config}")[1]


class EncodedSplit(torch.utils.data.Dataset):
    """Tokenised examples (unpadded) with their labels."""

    def __init__(self, split: Split, tokenizer, max_length: int):
        columns = list(zip(*split.texts)) if len(split) else [[]]
        enc = tokenizer(*[list(c) for c in columns], truncation=True, max_length=max_length)
        self.features = [{k: enc[k][i] for k in enc.keys()} for i in range(len(split))]
        self.labels = list(split.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        item = dict(self.features[i])
        item["labels"] = self.labels[i]
        return item


class Collator:
    """Pads a batch to its longest example (dynamic padding)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, items: Sequence[dict]) -> dict:
        labels = torch.tensor([it["labels"] for it in items], dtype=torch.long)
        feats = [{k: v for k, v in it.items() if k != "labels"} for it in items]
        batch = self.tokenizer.pad(feats, return_tensors="pt")
        batch["labels"] = labels
        return dict(batch)
