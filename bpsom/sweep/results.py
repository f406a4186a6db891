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
from bpsom_core.readers.tabular import is_number
from .spec import SweepSpec, Trial


def columns_for(spec: SweepSpec) -> List[str]:
    """trial id, swept parameters, seed, fold, metrics (units kept last), seconds, status, error."""
    return ["trial_id", *spec.param_names, "seed", "fold", *numeric_columns(spec.metrics), "status", "error"]


def numeric_columns(metrics: Sequence[str]) -> List[str]:
    """The columns that hold a number (or nothing, for a failed trial): the metrics and seconds."""
    return [*metrics, "seconds"]


class ResultsFile:
    """The rows of one sweep directory."""

    def __init__(self, path: Path, columns: Sequence[str], numeric: Sequence[str] = ()):
        self.path = Path(path)
        self.columns = list(columns)
        self.numeric = list(numeric)
        self.rows: Dict[str, Dict[str, str]] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        for row in read_rows(self.path, self.columns, self.numeric):
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


def read_rows(path: Path, columns: Optional[Sequence[str]] = None,
              numeric: Sequence[str] = ()) -> List[Dict[str, str]]:
    """All rows of a results.csv, each checked: a damaged row is an error naming its line,
    never a trial silently counted as failed (or skipped) on a rerun, nor a traceback in the summary.

    ``columns``: the header the current spec writes (another spec's file is refused).
    ``numeric``: the metric columns (and seconds), which hold a number or nothing.
    An empty file holds no rows yet; a UTF-8 BOM (a spreadsheet's save) is accepted.
    """
    check_regular_file(path, "sweep results file")
    rows: List[Dict[str, str]] = []
    seen: Dict[str, int] = {}
    line = 0
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh, strict=True)
            header = reader.fieldnames or []
            if not header:
                return rows
            line = reader.line_num
            if columns is not None and header != list(columns):
                raise InputError("its header differs from the columns this spec writes (a spec with other "
                                 "swept options or metrics, or a damaged header); choose another --output-dir",
                                 str(path), 1)
            for need in ("trial_id", "status"):
                if need not in header:
                    raise InputError(f"no {need} column; not a bpsom sweep results file", str(path))
            for row in reader:
                where = (str(path), line + 1)
                line = reader.line_num
                _check_row(row, len(header), [c for c in numeric if c in header], where)
                if row["trial_id"] in seen:
                    raise InputError(f"{row['trial_id'][:40]!r} repeats line {seen[row['trial_id']]}; "
                                     "delete one of the two rows", *where, field="trial_id")
                seen[row["trial_id"]] = where[1]
                rows.append(row)
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 text (byte {exc.start})", str(path)) from None
    except csv.Error as exc:
        raise InputError(f"not a readable CSV file ({exc}); fix or delete the row", str(path),
                         line + 1) from None
    return rows


def _check_row(row: Dict[str, Any], n_columns: int, numeric: Sequence[str], where: tuple) -> None:
    """One row's shape and cells; ``where`` is (path, the row's first line)."""
    if None in row or None in row.values():
        raise InputError(f"has {n_columns} columns in the header but not on this row; "
                         "fix or delete the row", *where)
    for name in ("trial_id", "status"):       # a quote left open swallows the rows after it
        if "\n" in row[name] or "\r" in row[name]:
            raise InputError("runs over several lines (a quote left open?); fix or delete the row",
                             *where, field=name)
    if not row["trial_id"]:
        raise InputError("empty; fix or delete the row", *where, field="trial_id")
    if row["status"] not in STATUSES:
        raise InputError(f"{row['status'][:40]!r} is not one of {', '.join(STATUSES)}; "
                         "fix or delete the row", *where, field="status")
    for name in numeric:                      # empty: a failed trial has no metrics
        if row[name] != "" and not is_number(row[name]):
            raise InputError(f"not a number ({row[name][:40]!r}); fix or delete the row", *where, field=name)

