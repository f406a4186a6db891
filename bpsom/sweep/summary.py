"""Mean ± sd over seeds and folds per setting, ranked by the spec's metric (maximised)."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

from bpsom_core.atomic import atomic_write_text
from .results import numeric_columns, read_rows


@dataclass
class SettingSummary:
    """One setting's aggregate: parameter values, trial counts, and (mean, sd) per metric."""

    params: Dict[str, str]
    n: int
    failed: int
    stats: Dict[str, Tuple[float, float]]


def _mean_sd(values: List[float]) -> Tuple[float, float]:
    n = len(values)
    if not n:
        return math.nan, math.nan
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, sd


def summarise(rows: Sequence[Dict[str, str]], param_names: Sequence[str], metrics: Sequence[str],
              metric: str) -> List[SettingSummary]:
    """Group rows by their swept values; settings without a finished trial rank last.  Two rows
    with the same values, seed and fold are one sample (two grid values the command ran alike,
    a max length cut to the encoder's): counted once, a finished one first."""
    groups: Dict[Tuple[str, ...], List[Dict[str, str]]] = {}
    samples = set()
    for row in sorted(rows, key=lambda r: r["status"] != "ok"):
        key = tuple(row[p] for p in param_names)
        if (key, row.get("seed"), row.get("fold")) not in samples:
            samples.add((key, row.get("seed"), row.get("fold")))
            groups.setdefault(key, []).append(row)
    out = []
    for key, group in groups.items():
        ok = [r for r in group if r["status"] == "ok"]
        stats = {m: _mean_sd([float(r[m]) for r in ok if r.get(m, "") != ""]) for m in (*metrics, "seconds")}
        out.append(SettingSummary(dict(zip(param_names, key)), len(ok), len(group) - len(ok), stats))
    out.sort(key=lambda s: (math.isnan(s.stats[metric][0]), -s.stats[metric][0]
                            if not math.isnan(s.stats[metric][0]) else 0.0))
    return out


def summary_csv(summaries: Sequence[SettingSummary], param_names: Sequence[str], metrics: Sequence[str]) -> str:
    """summary.csv text: rank, parameters, n, failed, then mean and sd of each metric and of seconds."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    names = [*metrics, "seconds"]
    w.writerow(["rank", *param_names, "n", "failed", *[f"{m}_{s}" for m in names for s in ("mean", "sd")]])
    for rank, s in enumerate(summaries, start=1):
        w.writerow([rank, *[s.params[p] for p in param_names], s.n, s.failed,
                    *[f"{v:.6g}" for m in names for v in s.stats[m]]])
    return buf.getvalue()


def summary_table(summaries: Sequence[SettingSummary], param_names: Sequence[str], metric: str,
                  limit: int = 0) -> str:
    """A Markdown table of the ranked settings (the top ``limit`` when given)."""
    show_units = metric != "units_kept" and "units_kept" in summaries[0].stats if summaries else False
    head = ["rank", *param_names, f"{metric} (mean ± sd)", *(["units kept"] if show_units else []), "n", "failed"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for rank, s in enumerate(summaries[:limit or None], start=1):
        mean, sd = s.stats[metric]
        cells = [str(rank), *[_short(s.params[p]) for p in param_names], _pm(mean, sd)]
        if show_units:
            cells.append(_num(s.stats["units_kept"][0]))
        cells += [str(s.n), str(s.failed)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _short(value: str) -> str:
    return Path(value).name if "/" in value else value


def _num(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.4g}"


def _pm(mean: float, sd: float) -> str:
    return "-" if math.isnan(mean) else f"{mean:.4f} ± {sd:.4f}"


def write_summary(out_dir: Path, param_names: Sequence[str], metrics: Sequence[str], metric: str,
                  trial_ids: Optional[Set[str]] = None):
    """Read results.csv, write summary.csv; returns the ranked settings, the rows and how many
    rows were left out.

    ``trial_ids``: the spec's trials; rows of other trials in the file (an earlier spec with
    other fixed options, run into the same directory) are left out of the summary."""
    every = read_rows(out_dir / "results.csv", numeric=numeric_columns(metrics))
    rows = every if trial_ids is None else [r for r in every if r["trial_id"] in trial_ids]
    summaries = summarise(rows, param_names, metrics, metric)
    atomic_write_text(out_dir / "summary.csv", summary_csv(summaries, param_names, metrics))
    return summaries, rows, len(every) - len(rows)
