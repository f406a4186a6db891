"""Headless plots of BP-SOM state, drawn from plain arrays.

Every function takes NumPy arrays (or lists) and returns a matplotlib
``Figure`` built without pyplot, so nothing depends on a display or changes
the caller's matplotlib backend; :func:`save_png` writes a figure atomically.
The tabular report and the BERT head both draw through these functions.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

PathLike = Union[str, Path]


def _figure(width: float = 6.0, height: float = 4.5):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig, path: PathLike) -> Path:
    """Render ``fig`` as PNG and write it atomically."""
    from .atomic import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def _class_colours(n: int) -> np.ndarray:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return np.array([cmap(i % cmap.N)[:3] for i in range(n)])


def _grid_ticks(ax, shape) -> None:
    """1-based cell numbers, as the C's log prints them (every cell up to 30, else every 5th)."""
    for axis, n in ((ax.xaxis, shape[0]), (ax.yaxis, shape[1])):
        step = 1 if n <= 30 else 5
        ticks = list(range(0, n, step))
        axis.set_ticks(ticks)
        axis.set_ticklabels([str(t + 1) for t in ticks], fontsize=7)


def umatrix(prototypes: np.ndarray) -> np.ndarray:
    """Mean Euclidean distance from each cell's prototype to its 4-neighbours; (D, D, H) -> (D, D)."""
    p = np.asarray(prototypes, dtype=float)
    d1, d2 = p.shape[:2]
    total = np.zeros((d1, d2))
    count = np.zeros((d1, d2))
    dx = np.linalg.norm(p[1:] - p[:-1], axis=-1)
    dy = np.linalg.norm(p[:, 1:] - p[:, :-1], axis=-1)
    total[1:] += dx
    total[:-1] += dx
    count[1:] += 1
    count[:-1] += 1
    total[:, 1:] += dy
    total[:, :-1] += dy
    count[:, 1:] += 1
    count[:, :-1] += 1
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


def plot_som_map(labels: np.ndarray, reliability: np.ndarray, class_names: Sequence[str],
                 title: str = "SOM class labels", counts: Optional[np.ndarray] = None):
    """Cells coloured by class label, paler where less reliable; numbers are reliabilities (%).

    labels (D, D) with 0 = unlabelled and k = class_names[k-1]; reliability (D, D) in 0..100;
    the grid is drawn with x (the C's outer index) across and y down, as in the C's log.
    """
    labels = np.asarray(labels, dtype=int)
    rel = np.asarray(reliability, dtype=float)
    colours = _class_colours(len(class_names))
    rgb = np.ones(labels.shape + (3,))
    for k in range(1, len(class_names) + 1):
        alpha = (rel / 100.0)[..., None]
        shade = 1.0 - alpha * (1.0 - colours[k - 1])
        rgb = np.where((labels == k)[..., None], shade, rgb)
    side = max(4.0, min(10.0, 0.45 * labels.shape[0] + 3))
    fig = _figure(side + 2.0, side)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(rgb.transpose(1, 0, 2), origin="upper", interpolation="nearest")
    if labels.shape[0] <= 20:
        for x in range(labels.shape[0]):
            for y in range(labels.shape[1]):
                if labels[x, y] > 0:
                    ax.text(x, y, f"{int(rel[x, y])}", ha="center", va="center", fontsize=7)
    _grid_ticks(ax, labels.shape)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title)
    from matplotlib.patches import Patch

    handles = [Patch(color=colours[i], label=str(n)) for i, n in enumerate(class_names)]
    handles.append(Patch(facecolor="white", edgecolor="grey", label="unlabelled"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8,
              title="label (shade = reliability)", title_fontsize=8)
    return fig


def plot_umatrix(prototypes: np.ndarray, title: str = "U-matrix"):
    """The U-matrix of a (D, D, H) prototype grid: light = close neighbours, dark = borders."""
    u = umatrix(prototypes)
    fig = _figure(5.5, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(u.T, cmap="bone_r", origin="upper", interpolation="nearest")
    fig.colorbar(im, ax=ax, label="mean distance to neighbours")
    _grid_ticks(ax, u.shape)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title)
    return fig


def plot_history(epochs: Sequence[int], ce: Mapping[str, Sequence[float]], mse: Mapping[str, Sequence[float]],
                 som_usage: Mapping[str, Sequence[float]] = {}, units_alive: Mapping[str, Sequence[float]] = {},
                 best_epoch: Optional[int] = None, title: str = "Training history"):
    """Four panels: classification error %, MSE, SOM usage %, hidden units alive.

    Each mapping is ``series name -> values per epoch`` (None values are skipped).
    """
    fig = _figure(10.0, 7.0)
    panels = [(ce, "classification error (%)"), (mse, "MSE"), (som_usage, "SOM error used (%)"),
              (units_alive, "hidden units alive")]
    x = np.asarray(epochs)
    for i, (series, label) in enumerate(panels):
        ax = fig.add_subplot(2, 2, i + 1)
        for name, values in series.items():
            v = np.array([np.nan if y is None else y for y in values], dtype=float)
            if np.isfinite(v).any():   # a marker on every point when there are too few to draw a line
                few = np.isfinite(v).sum() < 3
                ax.plot(x[:len(v)], v, label=name, drawstyle="steps-mid" if i == 3 else "default",
                        marker="o" if few else None, markersize=5)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle=":", linewidth=1, label="best epoch")
        from matplotlib.ticker import MaxNLocator

        if 0 < len(x) <= 12:   # epochs are whole numbers: few of them each get a tick
            ax.set_xticks(sorted(set(int(e) for e in x)))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if 0 < len(x) < 3:   # one or two epochs: room around the points
            ax.set_xlim(min(x) - 0.5, max(x) + 0.5)
        if i == 2:  # SOM usage is a percentage of examples
            ax.set_ylim(0, 100)
        if i == 3:  # unit counts: integers, from zero
            top = max([max((y for y in v if y is not None), default=0) for v in series.values()], default=0)
            ax.set_ylim(0, top * 1.08 + 1)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if series:
            ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def history_series(records: List[Dict[str, object]]):
    """Turn history records (dicts per epoch) into the arrays :func:`plot_history` takes."""
    epochs = [r["epoch"] for r in records]
    ce = {"train": [r.get("train_ce") for r in records]}
    mse = {"train": [r.get("train_mse") for r in records]}
    if any("val_ce" in r for r in records):
        ce["validation"] = [r.get("val_ce") for r in records]
        mse["validation"] = [r.get("val_mse") for r in records]
    n_layers = max((len(r.get("units_alive", [])) for r in records), default=0)
    usage = {f"layer {l + 1}": [(r.get("som_usage") or [None] * n_layers)[l] for r in records]
             for l in range(n_layers)
             if any((r.get("som_usage") or [None] * n_layers)[l] is not None for r in records)}
    alive = {f"layer {l + 1}": [r["units_alive"][l] for r in records] for l in range(n_layers)}
    best = records[-1].get("best_epoch") if records else None
    return epochs, ce, mse, usage, alive, best


def plot_unit_std(stds: Sequence[np.ndarray], threshold: float, unit_ids: Optional[Sequence[np.ndarray]] = None,
                  title: str = "Hidden-unit activation std", n_units: Optional[Sequence[int]] = None):
    """Bars of each hidden unit's activation std per layer, with the pruning threshold as a line.

    ``stds[l]`` belongs to the surviving units ``unit_ids[l]`` (0-based ids of
    the original layer); with ``n_units`` (the original layer sizes) the
    pruned units keep their place on the axis, marked with a grey cross.
    """
    n = len(stds)
    fig = _figure(max(5.0, 4.0 * n), 3.8)
    for l, sd in enumerate(stds):
        sd = np.asarray(sd, dtype=float)
        ids = np.arange(len(sd)) if unit_ids is None else np.asarray(unit_ids[l], dtype=int)
        total = max(int(n_units[l]), int(ids.max(initial=-1)) + 1) if n_units is not None else len(sd)
        pos = ids if n_units is not None else np.arange(len(sd))
        ax = fig.add_subplot(1, n, l + 1)
        below = sd <= threshold
        ax.bar(pos, sd, color=np.where(below, "tab:red", "tab:blue"))
        pruned = np.setdiff1d(np.arange(total), ids) if n_units is not None else np.array([], dtype=int)
        if len(pruned):
            ax.plot(pruned, np.zeros(len(pruned)), linestyle="none", marker="x", color="grey",
                    label=f"pruned ({len(pruned)})")
        if total <= 40:
            ax.set_xticks(range(total) if n_units is not None else range(len(sd)))
            ax.set_xticklabels([str(i + 1) for i in (range(total) if n_units is not None else ids)],
                               fontsize=6, rotation=90)
        if threshold > 0:
            ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1,
                       label=f"prune threshold {threshold:g}")
        else:
            ax.set_title("pruning off", fontsize=8)
        if threshold > 0 or len(pruned):
            ax.legend(fontsize=7)
        ax.set_xlabel(f"unit (layer {l + 1})")
        ax.set_ylabel("std of activation")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion(matrix: np.ndarray, class_names: Sequence[str], title: str = "Confusion matrix"):
    """Rows are true classes, columns predicted; cells show counts."""
    m = np.asarray(matrix)
    k = len(class_names)
    side = max(4.0, min(12.0, 0.6 * k + 3))
    fig = _figure(side + 1.0, side)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(m, cmap="Blues")
    fig.colorbar(im, ax=ax)
    if k <= 30:
        top = m.max() if m.size else 0
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(int(m[i, j])), ha="center", va="center", fontsize=8,
                        color="white" if top and m[i, j] > top / 2 else "black")
    ax.set_xticks(range(k))
    ax.set_xticklabels(class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k))
    ax.set_yticklabels(class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return fig
