"""`bpsom report`: PNG plots of a tabular run directory, from its files alone."""

from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np

from .. import plots
from ..errors import InputError
from .model_io import load_model, read_json_file

REQUIRED = ("model.json", "model.safetensors", "history.json", "metrics.json")


def make_report(run_dir: Path) -> List[Path]:
    """Draw every plot of ``run_dir`` into ``run_dir/plots``; returns the PNG paths."""
    run_dir = Path(run_dir)
    for name in REQUIRED:
        if not (run_dir / name).exists():
            raise InputError(f"not a `bpsom train` run directory: {name} is missing", path=str(run_dir))
    clf, meta = load_model(run_dir)
    n_layers = len(clf.hidden_layer_sizes)
    history = _read_history(run_dir / "history.json", n_layers)
    metrics = _read_metrics(run_dir / "metrics.json", len(clf.classes_))
    stds = _hidden_stds(meta, list(clf.hidden_layer_sizes), run_dir / "model.json")
    out_dir = run_dir / "plots"
    out_dir.mkdir(exist_ok=True)
    classes = [_short(c) for c in metrics.get("classes", clf.classes_.tolist())]
    # SOM labels index classifier.classes_ (sorted); name them for the legend
    names = [_short(c) for c in clf.classes_.tolist()]
    written = []
    for l, (labels, rel, grid) in enumerate(zip(clf.som_labels_, clf.som_reliability_, clf.som_maps_)):
        if labels is None:
            continue
        written.append(plots.save_png(
            plots.plot_som_map(labels, rel, names, title=f"SOM of hidden layer {l + 1}: class labels"),
            out_dir / f"som_layer{l + 1}.png"))
        written.append(plots.save_png(plots.plot_umatrix(grid, title=f"U-matrix, hidden layer {l + 1}"),
                                      out_dir / f"umatrix_layer{l + 1}.png"))
    if history:
        epochs, ce, mse, usage, alive, best = plots.history_series(history)
        written.append(plots.save_png(plots.plot_history(epochs, ce, mse, usage, alive, best),
                                      out_dir / "history.png"))
    if stds:
        written.append(plots.save_png(
            plots.plot_unit_std(stds, float(meta.get("prune_threshold", 0.0)), clf.hidden_units_,
                                n_units=list(clf.hidden_layer_sizes)),
            out_dir / "unit_std.png"))
    if "confusion" in metrics:
        written.append(plots.save_png(
            plots.plot_confusion(np.asarray(metrics["confusion"]), classes,
                                 title=f"Confusion matrix ({metrics.get('confusion_source', '')})"),
            out_dir / "confusion.png"))
    return written


def _short(name, limit: int = 40) -> str:
    """A class name short enough for a legend or an axis (a 100 kB name would exhaust the renderer)."""
    text = str(name)
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _hidden_stds(meta: dict, sizes: List[int], path: Path) -> List[np.ndarray]:
    """model.json's hidden_std: one finite, non-negative value per unit of each hidden layer."""
    raw = meta.get("hidden_std", [])
    if raw and (len(raw) != len(sizes) or any(len(layer) != n for layer, n in zip(raw, sizes))):
        raise InputError(f"must hold one list per hidden layer with one value per unit ({sizes})", path=str(path),
                         field="hidden_std")
    stds = [np.asarray(layer, dtype=float) for layer in raw]
    if any(not (np.isfinite(s).all() and (s >= 0).all()) for s in stds):
        raise InputError("must hold finite, non-negative numbers", path=str(path), field="hidden_std")
    return stds


MAX_EPOCH = 10 ** 7


def _read_history(path: Path, n_layers: int) -> List[dict]:
    """history.json: {"history": [one record per epoch, each with an integer "epoch"], ...}, with
    units_alive and som_usage given per hidden layer of the model."""
    data = read_json_file(path, "history file")
    records = data.get("history") if isinstance(data, dict) else None
    if not isinstance(records, list):
        raise InputError('expected an object with a "history" list', path=str(path))
    for i, r in enumerate(records):
        if not isinstance(r, dict) or not isinstance(r.get("epoch"), int) or not 0 <= r["epoch"] <= MAX_EPOCH:
            raise InputError(f'record {i + 1} is not an object with an integer "epoch" (0..{MAX_EPOCH})',
                             path=str(path), field="history")
        for key in ("train_ce", "train_mse", "val_ce", "val_mse"):
            if r.get(key) is not None and not isinstance(r[key], (int, float)):
                raise InputError(f"record {i + 1}: {key} is not a number", path=str(path), field="history")
        for key in ("units_alive", "som_usage"):
            v = r.get(key)
            if v is not None and not (isinstance(v, list) and all(x is None or isinstance(x, (int, float))
                                                                   for x in v)):
                raise InputError(f"record {i + 1}: {key} is not a list of numbers", path=str(path),
                                 field="history")
            if v is not None and len(v) != n_layers:
                raise InputError(f"record {i + 1}: {key} must have one value per hidden layer ({n_layers})",
                                 path=str(path), field="history")
        if "units_alive" not in r:
            raise InputError(f"record {i + 1} has no units_alive", path=str(path), field="history")
    return records


MAX_COUNT = 10 ** 12   # rows a confusion cell may count


def _read_metrics(path: Path, n_classes: int) -> dict:
    """metrics.json: an object; its confusion matrix, when present, is n_classes x n_classes counts."""
    data = read_json_file(path, "metrics file")
    if not isinstance(data, dict):
        raise InputError("expected a JSON object", path=str(path))
    if "confusion" in data:
        m = data["confusion"]
        ok = isinstance(m, list) and len(m) == n_classes and all(
            isinstance(row, list) and len(row) == n_classes and all(isinstance(v, int) and 0 <= v <= MAX_COUNT for v in row)
            for row in m)
        if not ok:
            raise InputError(f"must be a {n_classes}x{n_classes} matrix of counts", path=str(path),
                             field="confusion")
    if "classes" in data and not (isinstance(data["classes"], list) and len(data["classes"]) == n_classes):
        raise InputError(f"must list the {n_classes} classes of the model", path=str(path), field="classes")
    return data
