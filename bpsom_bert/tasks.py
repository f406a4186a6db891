"""The GLUE task table: one row per task, read by every input source.

A row says which text columns a task has, its label names (index = the
integer label of the GLUE data on the hub), its metrics, which split is its
dev set (on the hub and as a local file), and the column layout of GLUE's own
TSV files.  STS-B is a regression task and is refused with a clear message:
the SOM labels its cells with classes.  Tasks outside GLUE are built with
:func:`custom_task` from ``--text-columns``/``--label-column``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from bpsom_core.errors import InputError


@dataclass(frozen=True)
class TaskSpec:
    """What a task looks like: text columns, labels, metrics, dev split, GLUE TSV layout."""

    name: str
    text_fields: tuple[str, ...]
    label_names: tuple[str, ...]
    metrics: tuple[str, ...]
    # GLUE's own TSV layout besides the label + text columns convention:
    # (n_columns, label column, text columns)
    native_layout: Optional[tuple[int, int, tuple[int, ...]]] = None
    label_field: str = "label"
    hub_config: Optional[str] = None            # GLUE config name on the hub (default: name)
    dev_split: str = "validation"               # the hub split used as dev
    dev_files: tuple[str, ...] = ("dev.tsv", "validation.tsv")
    primary: Optional[str] = None               # model-selection metric (default: the first)

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def primary_metric(self) -> str:
        return self.primary or self.metrics[0]

    def label_index(self, value) -> Optional[int]:
        """0-based label of an integer, an integer string or a label name (None: not a label)."""
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value if 0 <= value < self.num_labels else None
        text = str(value).strip()
        if text.lstrip("-").isdigit():
            i = int(text)
            return i if 0 <= i < self.num_labels else None
        try:
            return self.label_names.index(text)
        except ValueError:
            return None


_PAIR = ("sentence1", "sentence2")
TASKS: dict[str, TaskSpec] = {t.name: t for t in (
    TaskSpec("sst2", ("sentence",), ("negative", "positive"), ("accuracy",)),
    TaskSpec("mrpc", _PAIR, ("not_equivalent", "equivalent"), ("accuracy", "f1"),
             native_layout=(5, 0, (3, 4))),
    TaskSpec("cola", ("sentence",), ("unacceptable", "acceptable"), ("accuracy", "matthews_correlation"),
             native_layout=(4, 1, (3,)), primary="matthews_correlation"),
    TaskSpec("qnli", ("question", "sentence"), ("entailment", "not_entailment"), ("accuracy",),
             native_layout=(4, 3, (1, 2))),
    TaskSpec("rte", _PAIR, ("entailment", "not_entailment"), ("accuracy",), native_layout=(4, 3, (1, 2))),
    TaskSpec("wnli", _PAIR, ("not_entailment", "entailment"), ("accuracy",), native_layout=(4, 3, (1, 2))),
    TaskSpec("qqp", ("question1", "question2"), ("not_duplicate", "duplicate"), ("accuracy", "f1"),
             native_layout=(6, 5, (3, 4))),
    TaskSpec("mnli", ("premise", "hypothesis"), ("entailment", "neutral", "contradiction"), ("accuracy",),
             dev_split="validation_matched", dev_files=("dev_matched.tsv",)),
    TaskSpec("mnli-mm", ("premise", "hypothesis"), ("entailment", "neutral", "contradiction"), ("accuracy",),
             hub_config="mnli", dev_split="validation_mismatched", dev_files=("dev_mismatched.tsv",)),
)}
_ALIASES = {"sst-2": "sst2", "mnli-m": "mnli", "mnli-matched": "mnli", "mnli-mismatched": "mnli-mm"}
_REGRESSION = {"stsb", "sts-b"}


def get_task(name: str) -> TaskSpec:
    """The task's row, or a one-line error listing the known tasks."""
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key in _REGRESSION:
        raise InputError("STS-B is a regression task (a similarity score from 0 to 5); bpsom glue trains "
                         "classifiers, whose SOM labels its cells with classes", field="--task")
    if key not in TASKS:
        raise InputError(f"unknown task '{name}'; known tasks: {', '.join(TASKS)} "
                         "(others: pass --text-columns and --label-column)", field="--task")
    return TASKS[key]


def custom_task(name: str, text_columns: Sequence[str], label_column: str = "label",
                label_names: Optional[Sequence[str]] = None, base: Optional[TaskSpec] = None) -> TaskSpec:
    """A task outside the table (or a table task with other column names).

    ``label_names`` may be left out and filled in later from the data
    (:func:`with_labels`).  Metrics: accuracy, plus F1 of class 1 when there
    are two classes.
    """
    if not text_columns or len(text_columns) > 2:
        raise InputError("give one or two text columns (a sentence or a sentence pair)", field="--text-columns")
    if len(set(text_columns)) < len(text_columns):
        raise InputError(f"names {text_columns[0]!r} twice; a sentence pair needs two columns",
                         field="--text-columns")
    if label_column in text_columns:
        raise InputError(f"{label_column!r} is the label column (--label-column); the model would read "
                         "the answer", field="--text-columns")
    names = tuple(label_names) if label_names is not None else (base.label_names if base else ())
    metrics = base.metrics if base else ("accuracy",)
    return TaskSpec(name=base.name if base else name, text_fields=tuple(text_columns), label_names=names,
                    metrics=metrics, label_field=label_column,
                    hub_config=base.hub_config if base else None,
                    dev_split=base.dev_split if base else "validation",
                    dev_files=base.dev_files if base else ("dev.tsv", "validation.tsv"),
                    primary=base.primary if base else None)


def with_labels(task: TaskSpec, label_names: Sequence[str]) -> TaskSpec:
    """``task`` with label names read from the data; two classes also report F1."""
    from dataclasses import replace
    metrics = task.metrics
    if len(label_names) == 2 and "f1" not in metrics and task.name not in TASKS:
        metrics = ("accuracy", "f1")
    return replace(task, label_names=tuple(str(n) for n in label_names), metrics=metrics)
