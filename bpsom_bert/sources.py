"""Input sources besides GLUE-style TSV directories: everything `datasets` reads.

* a directory written by ``Dataset.save_to_disk``/``DatasetDict.save_to_disk``;
* data files: one CSV/JSON/JSON-lines/Parquet file per split, given as a
  directory holding ``train.<ext>`` and ``dev.<ext>`` or ``validation.<ext>``,
  or as ``train=PATH,validation=PATH``;
* in Python, a ``datasets.Dataset`` (split into train and dev by the caller)
  or ``DatasetDict``.

Each becomes the ``{"train": Split, "validation": Split}`` the trainer
reads, through one converter that checks the columns and the labels and
names the source in every error.  Label names come from the task table, or
for other tasks from a ``ClassLabel`` feature or the sorted label values.
"""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
from typing import Any, Optional

from bpsom_core.errors import InputError, check_regular_file, exception_chain, first_line

from .tasks import TaskSpec, with_labels

DATA_FILE_BUILDERS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
TRAIN_NAMES = ("train",)
DEV_NAMES = ("dev", "validation")


def is_saved_dataset(path: Path) -> bool:
    """True for a directory written by ``save_to_disk`` (a Dataset or a DatasetDict)."""
    return path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file())


def data_files_of(spec: str) -> Optional[dict[str, str]]:
    """``{"train": file, "validation": file}`` of a data files spec, or None if ``spec`` is none."""
    if "=" in spec:
        return _spec_files(spec)
    d = Path(spec)
    if not d.is_dir():
        return None
    files = {}
    for split, names in (("train", TRAIN_NAMES), ("validation", DEV_NAMES)):
        for name in names:
            found = sorted(p for p in d.glob(f"{name}.*") if p.suffix in DATA_FILE_BUILDERS)
            if found:
                files[split] = str(found[0])
                break
    return files or None


def _spec_files(spec: str) -> dict[str, str]:
    """``train=FILE,validation=FILE`` (``dev=`` for validation) as a dict; an unknown, repeated
    or empty part is refused, since a typo would otherwise drop a file silently."""
    files: dict[str, str] = {}
    for part in spec.split(","):
        key, eq, path = (p.strip() for p in part.partition("="))
        if not eq:
            raise InputError(f"expected SPLIT=FILE, got {part.strip()!r}", spec, field="--data-dir")
        if key not in TRAIN_NAMES + DEV_NAMES:
            raise InputError(f"unknown split '{key}'; allowed: {', '.join(TRAIN_NAMES + DEV_NAMES)}", spec,
                             field="--data-dir")
        split = "validation" if key in DEV_NAMES else "train"
        if split in files:
            raise InputError(f"split '{key}' given twice", spec, field="--data-dir")
        if not path:
            raise InputError(f"no file after '{key}='", spec, field="--data-dir")
        files[split] = path
    return files


def load_path(spec: str, task: TaskSpec) -> tuple[TaskSpec, dict]:
    """Read a saved dataset directory or a data files spec; ``(task, splits)``."""
    import datasets

    path = Path(spec)
    if is_saved_dataset(path):
        try:
            ds = datasets.load_from_disk(str(path))
        except Exception as exc:  # datasets raises many kinds for a damaged directory
            raise InputError(f"cannot read the saved dataset ({type(exc).__name__}: {str(exc)[:120]})",
                             str(path), field="--data-dir") from None
        return from_datasets(ds, task, source=str(path))
    files = data_files_of(spec)
    if files is None:
        raise InputError("not a directory of train.tsv/dev.tsv, a saved dataset or data files "
                         "(CSV, JSON, Parquet)", spec, field="--data-dir")
    for split in ("train", "validation"):
        if split not in files:
            raise InputError(f"no {split} file (train.<ext> and dev.<ext> or validation.<ext>)", spec,
                             field="--data-dir")
    suffixes = {Path(f).suffix for f in files.values()}
    builders = {DATA_FILE_BUILDERS.get(x) for x in suffixes}
    if len(builders) != 1 or None in builders:
        raise InputError(f"data files must share one format of {', '.join(DATA_FILE_BUILDERS)}, "
                         f"got {', '.join(sorted(suffixes))}", spec, field="--data-dir")
    for f in files.values():
        try:
            check_regular_file(f, "data file")
        except InputError as exc:
            raise InputError(exc.message, exc.path, field="--data-dir") from None
    builder = builders.pop()
    _check_datasets_cache(datasets)
    loaded = {}
    with _quiet_datasets(datasets):
        for split, f in files.items():   # one by one: files whose columns differ are named each on its own
            try:
                loaded[split] = datasets.load_dataset(builder, data_files={split: f})[split]
            except Exception as exc:
                cause = _root_cause(exc)
                if "corresponds to no data" in cause:   # datasets' words for a file of no rows
                    raise InputError("no rows (a header alone, or nothing)", f, field="--data-dir") from None
                raise InputError(f"cannot read the data file ({cause})", f, field="--data-dir") from None
    return from_datasets(datasets.DatasetDict(loaded), task, source=spec, split_sources=files)


def _check_datasets_cache(datasets: Any) -> None:
    """datasets writes every file it reads into its cache: a cache that cannot be a directory
    (HF_HOME naming a file, say) is named, rather than the data file datasets was reading."""
    import os

    cache = Path(datasets.config.HF_DATASETS_CACHE)
    if cache.exists() and not cache.is_dir():
        raise InputError("the datasets cache is not a directory", str(cache), field=_cache_variable())
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"the datasets cache cannot be made here ({exc.strerror or exc})", str(cache),
                         field=_cache_variable()) from None
    if not os.access(cache, os.W_OK | os.X_OK):
        raise InputError("the datasets cache is not a writable directory", str(cache), field=_cache_variable())


def _cache_variable() -> Optional[str]:
    """The environment variable that placed the datasets cache, if one did."""
    import os

    return next((v for v in ("HF_DATASETS_CACHE", "HF_HOME") if os.environ.get(v)), None)


def _root_cause(exc: BaseException, limit: int = 160) -> str:
    """``Type: message`` of the innermost exception: datasets wraps the useful one in a
    DatasetGenerationError that says only "An error occurred while generating the dataset"."""
    *_, exc = exception_chain(exc)
    text = first_line(exc, limit)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextlib.contextmanager
def _quiet_datasets(datasets: Any):
    """Without datasets' own "Generating split" bars and error log lines: our progress and
    our one-line errors speak for the run."""
    was_on = datasets.is_progress_bar_enabled()
    verbosity = datasets.utils.logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets.utils.logging.set_verbosity(logging.CRITICAL + 1)
    try:
        yield
    finally:
        datasets.utils.logging.set_verbosity(verbosity)
        if was_on:
            datasets.enable_progress_bars()


def from_datasets(ds: Any, task: TaskSpec, source: str = "dataset",
                  split_sources: Optional[dict[str, str]] = None) -> tuple[TaskSpec, dict]:
    """A ``DatasetDict`` (train + dev split) as ``(task, {"train": Split, "validation": Split})``.

    The dev split is the task's (``validation_matched`` for MNLI), else
    ``validation`` or ``dev``.  A plain ``Dataset`` is refused: there is no
    dev split to choose the best epoch on.  ``split_sources`` names the file
    each split came from, for messages (else ``source[split]``).
    """
    import datasets

    if isinstance(ds, datasets.Dataset):
        raise InputError("a single Dataset has no dev split; pass a DatasetDict with train and "
                         "validation (e.g. ds.train_test_split(test_size=0.1, seed=0) renamed)", source)
    if not isinstance(ds, (datasets.DatasetDict, dict)):
        raise InputError(f"expected a datasets.DatasetDict, got {type(ds).__name__}", source)
    if "train" not in ds:
        raise InputError(f"no 'train' split (splits: {', '.join(ds)})", source)
    dev_name = next((n for n in (task.dev_split, "validation", "dev") if n in ds), None)
    if dev_name is None:
        raise InputError(f"no '{task.dev_split}' split (splits: {', '.join(ds)})", source)
    where = {n: (split_sources or {}).get(n) or f"{source}[{n}]" for n in ("train", dev_name)}
    task = _complete_labels(task, ds["train"], where["train"])
    return task, {"train": _split(ds["train"], task, where["train"]),
                  "validation": _split(ds[dev_name], task, where[dev_name])}


def _complete_labels(task: TaskSpec, train, source: str) -> TaskSpec:
    """Label names of a task outside the table: a ClassLabel's names, else the sorted values."""
    if task.label_names:
        return task
    check_columns(task, train.column_names, source)
    feature = train.features[task.label_field]
    names = getattr(feature, "names", None)
    if names is None:
        names = sorted({str(v) for v in train[task.label_field] if not _is_missing(v)},
                       key=lambda s: (not s.lstrip("-").isdigit(), int(s) if s.lstrip("-").isdigit() else 0, s))
        if all(n.isdigit() for n in names) and names != [str(i) for i in range(len(names))]:
            raise InputError(f"integer labels must be 0..n-1, got {', '.join(names[:10])}", source,
                             field=task.label_field)
    if len(names) < 2:
        raise InputError(f"need at least 2 classes, got {len(names)}", source, field=task.label_field)
    return with_labels(task, names)


def check_columns(task: TaskSpec, columns: list, source: str) -> None:
    """The task's text and label columns are in the data; each missing one is named with the
    option that sets it (--text-columns, --label-column)."""
    missing = [(c, "--text-columns") for c in task.text_fields if c not in columns]
    if task.label_field not in columns:
        missing.append((task.label_field, "--label-column"))
    if missing:
        flags = list(dict.fromkeys(flag for _, flag in missing))
        names = "; ".join(f"no column {c!r}" + (f" ({flag})" if len(flags) > 1 else "")
                          for c, flag in missing)
        raise InputError(f"{names} (columns: {', '.join(columns)})", source, field=", ".join(flags))


def _split(rows, task: TaskSpec, source: str):
    """One ``datasets.Dataset`` as a :class:`~bpsom_bert.data.Split`, every row checked."""
    from .data import Split

    check_columns(task, rows.column_names, source)
    texts = list(zip(*(rows[f] for f in task.text_fields)))
    split = Split()
    for i, (text, value) in enumerate(zip(texts, rows[task.label_field])):
        split.labels.append(_label(task, value, i + 1, source))
        split.texts.append(_texts(task, text, i + 1, source))
    if not split.labels:
        raise InputError("no examples", source)
    return split


def _is_missing(value: Any) -> bool:
    """An empty cell: CSV readers give None or NaN for it."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _label(task: TaskSpec, value: Any, row: int, source: str) -> int:
    """The 0-based label of one row's label cell.

    A label column with an empty cell is read as floats, so ``1`` arrives
    as ``1.0``: a whole float counts as its integer.
    """
    if _is_missing(value):
        raise InputError(f"row {row}: label is empty (missing value)", source, field=task.label_field)
    label = task.label_index(value)
    if label is None and isinstance(value, float) and value.is_integer():
        label = task.label_index(int(value))
    if label is None:
        raise InputError(f"row {row}: label {value!r} is not one of {', '.join(task.label_names)} "
                         f"(or 0..{task.num_labels - 1})", source, field=task.label_field)
    return label


def _texts(task: TaskSpec, text: tuple, row: int, source: str) -> tuple[str, ...]:
    """One row's text cells as strings; a JSON object or list is no text (its repr would be trained on)."""
    for column, cell in zip(task.text_fields, text):
        if cell is None:
            raise InputError(f"row {row}: empty text", source, field=column)
        if isinstance(cell, (dict, list, tuple)):
            kind = "an object" if isinstance(cell, dict) else "a list"
            raise InputError(f"row {row}: text must be a string, got {kind}", source, field=column)
    return tuple(str(t) for t in text)
