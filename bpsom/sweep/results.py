"""``results.csv``: one row per finished trial, rewritten atomically after each one.

The file is always complete: each new row is written with the old rows to a
temporary file that then replaces the old one, so Ctrl-C or a crash leaves
every finished row intact.  Rows are looked up by trial id on a rerun.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from bpsom_core.atomic import atomic_write_text
from bpsom_core.errors import InputError, check_regular_file
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
        for row in read_rows(self.path, self.columns):
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


STATUSES = ("ok", "failed")


def read_rows(path: Path, columns: Optional[Sequence[str]] = None) -> List[Dict[str, str]]:
    """All rows of a results.csv, each checked: a damaged row is an error naming its line,
    never a trial silently counted as failed (or skipped) on a rerun.

    ``columns``: the header the current spec writes (another spec's file is refused).
    """
    check_regular_file(path, "sweep results file")
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            if columns is not None and header != list(columns):
                raise InputError("holds the results of another spec (its columns differ); "
                                 "choose another --output-dir", str(path))
            for need in ("trial_id", "status"):
                if need not in header:
                    raise InputError(f"no {need} column; not a bpsom sweep results file", str(path))
            for row in reader:
                where = (str(path), reader.line_num)
                if None in row or None in row.values():
                    raise InputError(f"has {len(header)} columns in the header but not on this row; "
                                     "fix or delete the row", *where)
                if not row["trial_id"]:
                    raise InputError("empty; fix or delete the row", *where, field="trial_id")
                if row["status"] not in STATUSES:
                    raise InputError(f"{row['status'][:40]!r} is not one of {', '.join(STATUSES)}; "
                                     "fix or delete the row", *where, field="status")
                rows.append(row)
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 text (byte {exc.start})", str(path)) from None
    except csv.Error as exc:
        raise InputError(f"not a readable CSV file ({exc})", str(path)) from None
    return rows
