"""Per-run logs: a text log in the spirit of the C log, a JSON event log, history.json.

The text log keeps the C's shapes where they carry over: epoch lines
(``3/10 LRN=1 MAT=1 LOSS=... CE=... USE SOM1=...``), the class-labelling
table of the SOM (reliability, label and count per cell, x across, y down),
``AVG and STD`` of the hidden units with ``*`` on prunable ones, and pruning
events (`` 1:-3``).  Every file is rewritten atomically after each epoch, so
an interrupted run leaves complete files.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from bpsom_core.atomic import atomic_write_text
from bpsom_core.writers.jsonable import json_default


def format_som_labeling(labels: np.ndarray, reliability: np.ndarray, counts: np.ndarray,
                        dim: int, label_names: Sequence[str]) -> str:
    """The C's ``dump_som_labeling`` table for one SOM (cells in scan order).

    ``labels`` are 1-based (0 = none); ``label_names[c-1]`` is printed for c.
    """
    lines = ["", "", "Class labeling SOM: 1", "", "   " + "".join(f"{x:4d}" for x in range(1, dim + 1))]
    weighted, n = 0.0, 0
    for y in range(dim):
        cells = [x * dim + y for x in range(dim)]
        lines.append("   " + "".join(f" {int(reliability[k]):3d}" for k in cells))
        lab = "".join(f" {label_names[int(labels[k]) - 1][:3]:>3s}" if labels[k] > 0 else "    " for k in cells)
        lines.append(f"{y + 1:3d}" + lab)
        best = [int(counts[k, int(labels[k])]) if labels[k] > 0 else 0 for k in cells]
        lines.append("   " + "".join(f" {c:3d}" for c in best))
        for k, c in zip(cells, best):
            weighted += 0.01 * int(reliability[k]) * c
            n += c
    lines.append(f"weighted reliability: {100.0 * weighted / n:6.2f}" if n
                 else "weighted reliability: n_examples=0 !!!")
    return "\n".join(lines)


def format_avg_std(mean: np.ndarray, std: np.ndarray, threshold: float) -> str:
    """The C's ``dump_avg_std`` block for the head's hidden layer."""
    ids = "".join(f"{j + 1:5d}*" if s <= threshold else f"{j + 1:5d} " for j, s in enumerate(std))
    return "\n".join(["", "", "AVG and STD layer 1:", "      " + ids,
                      "AVG:  " + "".join(f"{m:5.3f} " for m in mean),
                      "STD:  " + "".join(f"{s:5.3f} " for s in std), ""])


class RunLog:
    """Collects one run's text log, JSON events and per-epoch history."""

    def __init__(self, directory: Path, enabled: bool = True):
        self.dir = Path(directory)
        self.enabled = enabled
        self.text: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        if enabled:
            self.dir.mkdir(parents=True, exist_ok=True)

    def line(self, text: str) -> None:
        """Append text to the text log (no newline added inside)."""
        self.text.append(text)

    def event(self, kind: str, **data: Any) -> None:
        """Append one structured event to the JSON log."""
        self.events.append({"event": kind, "time": round(time.time(), 3), **data})

    def epoch(self, record: dict[str, Any]) -> None:
        """Append one epoch's summary to history.json."""
        self.history.append(record)

    def flush(self, summary: Optional[dict[str, Any]] = None) -> None:
        """Write train.log, log.json and history.json atomically."""
        if not self.enabled:
            return
        atomic_write_text(self.dir / "train.log", "".join(self.text) + "\n")
        doc = {"events": self.events}
        if summary is not None:
            doc["summary"] = summary
        atomic_write_text(self.dir / "log.json", json.dumps(doc, indent=2, default=json_default))
        atomic_write_text(self.dir / "history.json", json.dumps(self.history, indent=2, default=json_default))

