"""``results.csv``: one row per finished trial, rewritten atomically after each one.

The file is always complete: each new row is written with the old rows to a
temporary file that then replaces the old one, so Ctrl-C or a crash leaves
every finished row intact.  Rows are looked up by trial id on a rerun.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Dict, List, Sequence

from bpsom_core.atomic import atomic_write_text
from bpsom_core.errors import InputError
from .spec import SweepSpec, Trial


def columns_for(spec: SweepSpec) -> List[str]:
    """trial id, swept parameters, seed, fold, metrics (units kept last), seconds, status, error."""
    return ["trial_id", *spec.param_names, "seed", "fold", *spec.metrics, "seconds", "status", "error"]


class ResultsFile:
    """The rows of one sweep directory."""

    def __init__(self, path: Path, columns: Sequence[str]):
        self.path = Path(path)
        self.columns = list(columns)
        self.rows: Dict[str, Dict[str, str]] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        with open(self.path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames != self.columns:
                raise InputError("holds the results of another spec (its columns differ); "
                                 "choose another --output-dir", str(self.path))
            for row in reader:
                self.rows[row["trial_id"]] = row

    def status(self, trial_id: str) -> str:
        """'ok', 'failed', or '' when the trial has no row yet."""
        return self.rows.get(trial_id, {}).get("status", "")

    def record(self, trial: Trial, result: Dict[str, Any]) -> None:
        """Add (or replace) the trial's row and rewrite the file atomically."""
        row = {"trial_id": trial.trial_id, **{k: _cell(v) for k, v in trial.params.items()},
               "seed": trial.seed, "fold": "" if trial.fold is None else trial.fold}
        row.update({k: _cell(v) for k, v in result.items() if k in self.columns})
        self.rows[trial.trial_id] = {c: str(row.get(c, "")) for c in self.columns}
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows.values())
        atomic_write_text(self.path, buf.getvalue())


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def read_rows(path: Path) -> List[Dict[str, str]]:
    """All rows of a results.csv."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
