"""The PNG files of a `bpsom glue` run.

SOM pictures come from :mod:`bpsom_core.plots` (the tabular report draws the
same maps): ``som_combined_epoch_X.png`` (cell labels as colours, reliability
as shade and printed percent) and ``som_umatrix_epoch_X.png``.  The curves
are BERT-run specific: ``training_history.png`` (loss, dev metric, SOM usage,
hidden units per epoch) and, for ``--mode both``, ``comparison_*.png``.
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


def training_history(path: Path, history: Sequence[dict], metric: str) -> None:
    """Train loss, dev metric, SOM usage and hidden units per epoch (panels present in the data)."""
    ep = [h["epoch"] for h in history]
    panels = [("train_loss", "train loss"), ("dev_" + metric, f"dev {metric}"),
              ("som_usage", "SOM usage (train)"), ("hidden_units", "hidden units")]
    panels = [(k, t) for k, t in panels if any(h.get(k) is not None for h in history)]
    fig = _figure(3.6 * len(panels), 3.0)
    for i, (k, t) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        ax.plot(ep, [h.get(k) for h in history], marker="o")
        ax.set_title(t, fontsize=9)
        ax.set_xlabel("epoch")
    fig.tight_layout()
    core_plots.save_png(fig, path)


def comparison(path: Path, histories: dict[str, Sequence[dict]], key: str, title: str) -> None:
    """One curve per mode (baseline vs bpsom) of ``key`` over epochs."""
    fig = _figure(5.0, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    for mode, hist in histories.items():
        ax.plot([h["epoch"] for h in hist], [h.get(key) for h in hist], marker="o", label=mode)
    ax.set_xlabel("epoch")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    core_plots.save_png(fig, path)
