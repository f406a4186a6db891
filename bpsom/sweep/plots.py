"""The sweep's plots: the metric against each swept parameter, units kept against the
pruning threshold, and the metric against units kept with the Pareto front marked."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from bpsom_core import plots as base
from .summary import SettingSummary

PRUNE_NAMES = ("prune-threshold", "PRUNE_THRESHOLD")
MAX_LINES = 8


def _as_number(values: Sequence[str]):
    try:
        return [float(v) for v in values]
    except ValueError:
        return None


def _axis(values: Sequence[str]):
    """x positions and tick labels: numbers as themselves, anything else as categories."""
    uniq = list(dict.fromkeys(values))
    nums = _as_number(uniq)
    if nums is not None:
        order = sorted(range(len(uniq)), key=lambda i: nums[i])
        return {uniq[i]: nums[i] for i in order}, None
    return {v: float(i) for i, v in enumerate(uniq)}, [Path(v).name for v in uniq]


def plot_metric_vs(summaries: Sequence[SettingSummary], param: str, others: Sequence[str], metric: str):
    """One line per setting of the other parameters, mean ± sd over seeds and folds."""
    fig = base._figure()
    ax = fig.add_subplot()
    pos, ticks = _axis([s.params[param] for s in summaries])
    lines: Dict[tuple, List[SettingSummary]] = {}
    for s in summaries:
        lines.setdefault(tuple(s.params[o] for o in others), []).append(s)
    if len(lines) > MAX_LINES:   # too many to read: the mean over the other parameters instead
        pooled: Dict[str, List[float]] = {}
        for s in summaries:
            if not math.isnan(s.stats[metric][0]):
                pooled.setdefault(s.params[param], []).append(s.stats[metric][0])
        xs = sorted(pooled, key=lambda v: pos[v])
        ax.errorbar([pos[v] for v in xs], [np.mean(pooled[v]) for v in xs],
                    yerr=[np.std(pooled[v]) for v in xs], marker="o", capsize=3,
                    label=f"mean over {len(lines)} settings of the other parameters")
    else:
        for key, group in lines.items():
            group = sorted(group, key=lambda s: pos[s.params[param]])
            label = ", ".join(f"{o}={Path(v).name}" for o, v in zip(others, key)) or None
            ax.errorbar([pos[s.params[param]] for s in group], [s.stats[metric][0] for s in group],
                        yerr=[s.stats[metric][1] for s in group], marker="o", capsize=3, label=label)
    if ticks is not None:
        ax.set_xticks(list(pos.values()), ticks, rotation=20)
    ax.set_xlabel(param)
    ax.set_ylabel(f"{metric} (mean ± sd over seeds/folds)")
    ax.set_title(f"{metric} against {param}")
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize="small")
    return fig


def plot_units_vs_prune(summaries: Sequence[SettingSummary], param: str, others: Sequence[str]):
    """Hidden units kept against the pruning threshold (one line per other setting)."""
    fig = plot_metric_vs(summaries, param, others, "units_kept")
    fig.axes[0].set_title(f"hidden units kept against {param}")
    fig.axes[0].set_ylabel("hidden units kept (mean ± sd)")
    return fig


def pareto_front(points: Sequence[tuple]) -> List[int]:
    """Indices of the (units, score) points no other point beats: fewer or equal units and a higher
    or equal score, better in one.  Sorted by units."""
    front = []
    for i, (u, s) in enumerate(points):
        dominated = any((u2 <= u and s2 >= s) and (u2 < u or s2 > s) for j, (u2, s2) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def plot_pareto(summaries: Sequence[SettingSummary], param_names: Sequence[str], metric: str):
    """Each setting's metric against its hidden units kept; the Pareto front joined and labelled."""
    fig = base._figure()
    ax = fig.add_subplot()
    keep = [s for s in summaries if not math.isnan(s.stats[metric][0]) and not math.isnan(s.stats["units_kept"][0])]
    pts = [(s.stats["units_kept"][0], s.stats[metric][0]) for s in keep]
    if pts:
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="0.6", label="settings")
        front = pareto_front(pts)
        ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], "o-", color="C3", label="Pareto front")
        for i in front:
            label = ", ".join(f"{p}={Path(keep[i].params[p]).name}" for p in param_names)
            ax.annotate(label, pts[i], fontsize="x-small", xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel("hidden units kept (mean)")
    ax.set_ylabel(f"{metric} (mean)")
    ax.set_title(f"{metric} against hidden units kept")
    if pts:
        ax.legend(fontsize="small")
    return fig


def write_plots(out_dir: Path, summaries: Sequence[SettingSummary], param_names: Sequence[str],
                metric: str) -> List[Path]:
    """Every sweep plot as a PNG in ``out_dir/plots``; returns the paths."""
    plots_dir = out_dir / "plots"
    plots_dir.mkdir(exist_ok=True)
    written = []
    if not summaries:
        return written
    for param in param_names:
        others = [p for p in param_names if p != param]
        written.append(base.save_png(plot_metric_vs(summaries, param, others, metric),
                                     plots_dir / f"{metric}_vs_{_file(param)}.png"))
        if param in PRUNE_NAMES and "units_kept" in summaries[0].stats:
            written.append(base.save_png(plot_units_vs_prune(summaries, param, others),
                                         plots_dir / f"units_vs_{_file(param)}.png"))
    if "units_kept" in summaries[0].stats and metric != "units_kept":
        written.append(base.save_png(plot_pareto(summaries, param_names, metric),
                                     plots_dir / f"{metric}_vs_units_pareto.png"))
    return written


def _file(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()
