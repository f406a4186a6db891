"""The PNG files of a `bpsom glue` run, drawn from plain arrays.

``som_combined_epoch_X.png`` (cell labels coloured, reliability as opacity and
number), ``som_umatrix_epoch_X.png`` (mean prototype distance to the 4
neighbours), ``training_history.png`` and, for ``--mode both``,
``comparison_*.png``.  SOM plots use :mod:`bpsom_core.plots` when it offers
them, so the tabular and BERT runs draw maps the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> None:
    """Render to bytes and write atomically (a PNG is complete or absent)."""
    import io

    from bpsom_core.atomic import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def umatrix(prototypes: np.ndarray, dim: int) -> np.ndarray:
    """(dim, dim) mean Euclidean distance of each cell's prototype to its 4-neighbours.

    Indexed [x, y] with cells flattened in scan order k = x*dim + y.
    """
    grid = prototypes.reshape(dim, dim, -1)
    total = np.zeros((dim, dim))
    count = np.zeros((dim, dim))
    for dx, dy in ((1, 0), (0, 1)):
        d = np.linalg.norm(grid[dx:, dy:] - grid[:dim - dx, :dim - dy], axis=-1)
        total[dx:, dy:] += d
        count[dx:, dy:] += 1
        total[:dim - dx, :dim - dy] += d
        count[:dim - dx, :dim - dy] += 1
    return total / np.maximum(count, 1)


def som_combined(path: Path, labels: np.ndarray, reliability: np.ndarray, dim: int,
                 label_names: Sequence[str], title: str = "") -> None:
    """Cell labels as colours, reliability as opacity and printed percent."""
    plt = _plt()
    lab = labels.reshape(dim, dim).T          # rows = y, columns = x, as the C's table
    rel = reliability.reshape(dim, dim).T
    cmap = plt.get_cmap("tab10")
    img = np.ones((dim, dim, 4))
    for c in range(1, len(label_names) + 1):
        img[lab == c] = cmap(c - 1)
    img[..., 3] = np.where(lab > 0, 0.25 + 0.75 * rel / 100.0, 1.0)
    img[lab == 0, :3] = 0.92
    fig, ax = plt.subplots(figsize=(0.35 * dim + 2.5, 0.35 * dim + 1.5))
    ax.imshow(img, origin="upper", interpolation="nearest")
    if dim <= 30:
        for y in range(dim):
            for x in range(dim):
                if lab[y, x] > 0:
                    ax.text(x, y, f"{int(rel[y, x])}", ha="center", va="center", fontsize=6)
    handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(i)) for i in range(len(label_names))]
    ax.legend(handles, list(label_names), loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.set_xticks(range(dim), [str(i + 1) for i in range(dim)], fontsize=6)
    ax.set_yticks(range(dim), [str(i + 1) for i in range(dim)], fontsize=6)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title or "SOM labels (colour) and reliability % (number, opacity)", fontsize=9)
    _save(fig, path)
    plt.close(fig)


def som_umatrix(path: Path, prototypes: np.ndarray, dim: int, title: str = "") -> None:
    """U-matrix heat map: bright ridges separate clusters."""
    plt = _plt()
    u = umatrix(prototypes, dim).T
    fig, ax = plt.subplots(figsize=(0.3 * dim + 2.5, 0.3 * dim + 1.5))
    im = ax.imshow(u, origin="upper", cmap="viridis", interpolation="nearest")
    fig.colorbar(im, ax=ax, label="mean distance to neighbours")
    ax.set_title(title or "U-matrix", fontsize=9)
    _save(fig, path)
    plt.close(fig)


def training_history(path: Path, history: Sequence[dict], metric: str) -> None:
    """Loss, dev metric, SOM usage and hidden units per epoch."""
    plt = _plt()
    ep = [h["epoch"] for h in history]
    panels = [("train_loss", "train loss"), ("dev_" + metric, f"dev {metric}"),
              ("som_usage", "SOM usage (train)"), ("hidden_units", "hidden units")]
    panels = [(k, t) for k, t in panels if any(k in h and h[k] is not None for h in history)]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3))
    for ax, (k, t) in zip(np.atleast_1d(axes), panels):
        ax.plot(ep, [h.get(k) for h in history], marker="o")
        ax.set_title(t, fontsize=9)
        ax.set_xlabel("epoch")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def comparison(path: Path, histories: dict[str, Sequence[dict]], key: str, title: str) -> None:
    """One curve per mode (baseline vs bpsom) of ``key`` over epochs."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for mode, hist in histories.items():
        ax.plot([h["epoch"] for h in hist], [h.get(key) for h in hist], marker="o", label=mode)
    ax.set_xlabel("epoch")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
