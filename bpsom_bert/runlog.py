"""Per-run logs of `bpsom glue`: the C-style text log, a JSON event log, the history.

The text blocks are the C program's, from :mod:`bpsom_core.writers.clog`
(one writer for both engines): the class fractions, pass lines
(``3/10 LRN=1 MAT=1 MSE=... CE=... USE SOM1=...`` with ``LOSS=``/``ACC=``
and the task's other metrics as extra fields), the class-labelling table
with the task's label names (abbreviated to the C's 3-character cells; the
log's header gives the key), ``AVG and STD``, the running pruning marks
(`` 1:-1 1:-2``) and the closing ``ABSTRACT``.

Files (rewritten atomically after each epoch, so an interrupted run leaves
complete files), in both layouts: ``train.log`` = ``logs/bpsom_experiment.log``,
``log.json`` = ``logs/bpsom_experiment.json``, ``history.json`` =
``<mode>_history.json`` (the 2026 adaptation's names).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from bpsom_core.atomic import atomic_write_text
from bpsom_core.writers import clog
from bpsom_core.writers.jsonable import json_default


def c_labels(label_names: Sequence[str]) -> list[bytes]:
    """Label names as the C's 1-based ``classlabel`` table (entry 0 unused)."""
    return [b""] + [n.encode("latin-1", "replace") for n in label_names]


def table_names(label_names: Sequence[str]) -> list[str]:
    """Names as they fit the C's 3-character table cells: ``neg``/``pos``, ``not``/``equ``, ...

    The first three letters where those differ between classes, else ``c1``, ``c2``, ...
    """
    short = [n[:3] for n in label_names]
    return short if len(set(short)) == len(short) else [f"c{i + 1}" for i in range(len(short))]


def format_label_key(label_names: Sequence[str]) -> str:
    """``labels: neg = negative, pos = positive`` (the key to the tables' abbreviations)."""
    return "labels: " + ", ".join(f"{s} = {n}" for s, n in zip(table_names(label_names), label_names))


def format_som_labeling(labels: np.ndarray, reliability: np.ndarray, counts: np.ndarray,
                        dim: int, label_names: Sequence[str]) -> str:
    """The C's ``dump_som_labeling`` table for the head's SOM (cells in scan order, labels 1-based)."""
    return clog.som_labeling(1, dim, labels, reliability, counts, c_labels(table_names(label_names)))


def format_avg_std(mean: np.ndarray, std: np.ndarray, threshold: float) -> str:
    """The C's ``dump_avg_std`` block for the head's hidden layer (0-based arrays)."""
    pad = np.zeros(1, dtype=np.float32)
    return clog.avg_std(1, len(mean), np.concatenate([pad, np.asarray(mean, np.float32)]),
                        np.concatenate([pad, np.asarray(std, np.float32)]), threshold)


def format_fractions(labels: Sequence[int], n_labels: int) -> str:
    """``Class fractions in the learning material`` from 0-based training labels."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_labels)[:n_labels]
    total = max(int(counts.sum()), 1)
    return clog.fractions(n_labels, [1.0] + [float(np.float32(c / total)) for c in counts])


def format_pass(epoch: int, n_epochs: int, lrn: int, material: int, result: dict[str, float],
                som_usage: Optional[float] = None, is_bpsom: bool = False) -> str:
    """One pass line: the C's MSE/CE/USE fields, then LOSS, ACC and the task's other metrics.

    ``result`` holds ``mse``, ``accuracy``, ``loss`` and metric values;
    ``som_usage`` is a fraction (counted on learning passes only, as the C).
    """
    som = {1: 100.0 * (som_usage or 0.0)} if is_bpsom else None
    text = clog.pass_line(epoch, n_epochs, lrn, material, result["mse"],
                          100.0 * (1.0 - result["accuracy"]), som)
    text += f" LOSS={result['loss']:5.3f} ACC={100.0 * result['accuracy']:6.2f}"
    for key, value in result.items():
        if key not in ("mse", "accuracy", "loss", "som_accuracy"):
            text += f" {_SHORT.get(key, key.upper())}={value:.4f}"
    return text


_SHORT = {"matthews_correlation": "MCC", "f1": "F1"}


class RunLog:
    """Collects one run's text log, JSON events and per-epoch history."""

    def __init__(self, directory: Path, enabled: bool = True, mode: str = "bpsom"):
        self.dir = Path(directory)
        self.enabled = enabled
        self.mode = mode
        self.text: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        if enabled:
            for sub in ("logs", "visualizations"):
                (self.dir / sub).mkdir(parents=True, exist_ok=True)

    def line(self, text: str) -> None:
        """Append text to the text log (no newline added inside)."""
        self.text.append(text)

    def event(self, kind: str, **data: Any) -> None:
        """Append one structured event to the JSON log."""
        self.events.append({"event": kind, "time": round(time.time(), 3), **data})

    def epoch(self, record: dict[str, Any]) -> None:
        """Append one epoch's summary to the history."""
        self.history.append(record)

    def flush(self, summary: Optional[dict[str, Any]] = None) -> None:
        """Write the text log, the JSON log and the history, under both layouts' names."""
        if not self.enabled:
            return
        text = "".join(self.text) + "\n"
        doc: dict[str, Any] = {"events": self.events}
        if summary is not None:
            doc["summary"] = summary
        events = json.dumps(doc, indent=2, default=json_default)
        history = json.dumps(self.history, indent=2, default=json_default)
        for path, content in ((self.dir / "train.log", text),
                              (self.dir / "logs" / "bpsom_experiment.log", text),
                              (self.dir / "log.json", events),
                              (self.dir / "logs" / "bpsom_experiment.json", events),
                              (self.dir / "history.json", history),
                              (self.dir / f"{self.mode}_history.json", history)):
            atomic_write_text(path, content)

