"""The PNG files of a `bpsom glue` run.

SOM pictures come from :mod:`bpsom_core.plots` (the tabular report draws the
same maps): ``som_combined_epoch_X.png`` (cell labels as colours, reliability
as shade and printed percent) and ``som_umatrix_epoch_X.png``.  The curves
are BERT-run specific: ``training_history.png`` (loss, the task's metric,
SOM usage in %, hidden units per epoch; labelled axes, integer epochs,
markers so a one-epoch run shows its points) and, for ``--mode both``,
``comparison_*.png``.  SOM maps name the task's classes in their legends.
All figures are built without pyplot, so the caller's backend is untouched,
and written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from bpsom_core import plots as core_plots


def som_combined(path: Path, labels: np.ndarray, reliability: np.ndarray, dim: int,
                 label_names: Sequence[str], title: str = "") -> None:
    """Labels + reliability of a SOM whose cells are flattened in scan order (k = x*D + y)."""
    fig = core_plots.plot_som_map(np.asarray(labels).reshape(dim, dim),
                                  np.asarray(reliability).reshape(dim, dim), list(label_names),
                                  title=title or "SOM class labels")
    core_plots.save_png(fig, path)


def som_umatrix(path: Path, prototypes: np.ndarray, dim: int, title: str = "") -> None:
    """U-matrix of (D*D, H) prototypes in scan order."""
    p = np.asarray(prototypes)
    fig = core_plots.plot_umatrix(p.reshape(dim, dim, p.shape[-1]), title=title or "U-matrix")
    core_plots.save_png(fig, path)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


_LABELS = {"accuracy": "accuracy (%)", "f1": "F1 (%)", "matthews_correlation": "Matthews correlation"}
_PERCENT = ("accuracy", "f1", "som_usage")


def axis_label(metric: str) -> str:
    """Y-axis label of a task metric, with its unit."""
    return _LABELS.get(metric, metric)


def _values(history: Sequence[dict], key: str) -> list:
    """``key`` per epoch, as percent where the quantity is a fraction (accuracy, F1, SOM usage)."""
    scale = 100.0 if any(key.endswith(k) for k in _PERCENT) else 1.0
    return [None if h.get(key) is None else scale * h[key] for h in history]


def _epoch_axis(ax, epochs: Sequence[int]) -> None:
    """Integer epoch ticks; a one-epoch run still gets a readable axis."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    if epochs:
        lo, hi = min(epochs), max(epochs)
        ax.set_xlim(lo - 0.5, hi + 0.5)
        if hi - lo < 12:
            ax.set_xticks(range(lo, hi + 1))
            return
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def training_history(path: Path, history: Sequence[dict], metric: str) -> None:
    """Loss, dev (and test) metric, SOM usage and hidden units per epoch (panels present in the data)."""
    ep = [h["epoch"] for h in history]
    panels = [
        ("loss", "cross-entropy", [("train_loss", "train"), ("dev_loss", "dev"), ("test_loss", "test")]),
        (metric, axis_label(metric), [(f"train_{metric}", "train"), (f"dev_{metric}", "dev"),
                                      (f"test_{metric}", "test")]),
        ("SOM usage (train)", "examples steered by the SOM (%)", [("som_usage", "SOM usage")]),
        ("hidden units", "units kept", [("hidden_units", "hidden units")]),
    ]
    panels = [(t, y, [(k, n) for k, n in curves if any(h.get(k) is not None for h in history)])
              for t, y, curves in panels]
    panels = [p for p in panels if p[2]]
    fig = _figure(3.8 * len(panels), 3.2)
    for i, (title, ylabel, curves) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for key, name in curves:
            ax.plot(ep, _values(history, key), marker="o", label=name)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(ylabel, fontsize=8)
        _epoch_axis(ax, ep)
        if len(curves) > 1:
            ax.legend(fontsize=7)
    fig.tight_layout()
    core_plots.save_png(fig, path)


def comparison(path: Path, histories: dict[str, Sequence[dict]], key: str, title: str,
               ylabel: str = "") -> None:
    """One curve per mode (baseline vs bpsom) of ``key`` over epochs."""
    fig = _figure(5.0, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    _compare_on(ax, histories, key, title, ylabel)
    fig.tight_layout()
    core_plots.save_png(fig, path)


def comparison_panels(path: Path, histories: dict[str, Sequence[dict]], metric: str) -> None:
    """Both modes side by side: dev metric and train loss per epoch."""
    fig = _figure(9.0, 3.4)
    _compare_on(fig.add_subplot(1, 2, 1), histories, f"dev_{metric}", f"dev {metric}", axis_label(metric))
    _compare_on(fig.add_subplot(1, 2, 2), histories, "train_loss", "train loss", "cross-entropy")
    fig.tight_layout()
    core_plots.save_png(fig, path)


def _compare_on(ax, histories: dict[str, Sequence[dict]], key: str, title: str, ylabel: str) -> None:
    epochs: list[int] = []
    for mode, hist in histories.items():
        ep = [h["epoch"] for h in hist]
        epochs += ep
        ax.plot(ep, _values(hist, key), marker="o", label=mode)
    _epoch_axis(ax, epochs)
    ax.set_ylabel(ylabel or key, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
