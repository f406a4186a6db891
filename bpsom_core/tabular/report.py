"""`bpsom report`: PNG plots of a tabular run directory, from its files alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

import numpy as np

from .. import plots
from ..errors import InputError
from .model_io import load_model

REQUIRED = ("model.json", "model.safetensors", "history.json", "metrics.json")


def make_report(run_dir: Path) -> List[Path]:
    """Draw every plot of ``run_dir`` into ``run_dir/plots``; returns the PNG paths."""
    run_dir = Path(run_dir)
    for name in REQUIRED:
        if not (run_dir / name).exists():
            raise InputError(f"not a `bpsom train` run directory: {name} is missing", path=str(run_dir))
    try:
        clf, meta = load_model(run_dir)
        history = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))["history"]
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    except (ValueError, KeyError) as exc:
        raise InputError(f"unreadable run file ({exc})", path=str(run_dir)) from None
    out_dir = run_dir / "plots"
    out_dir.mkdir(exist_ok=True)
    classes = [str(c) for c in metrics.get("classes", clf.classes_.tolist())]
    # SOM labels index classifier.classes_ (sorted); name them for the legend
    names = [str(c) for c in clf.classes_.tolist()]
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
    stds = [np.asarray(s) for s in meta.get("hidden_std", [])]
    if stds:
        written.append(plots.save_png(
            plots.plot_unit_std(stds, float(meta.get("prune_threshold", 0.0)), clf.hidden_units_),
            out_dir / "unit_std.png"))
    if "confusion" in metrics:
        written.append(plots.save_png(
            plots.plot_confusion(np.asarray(metrics["confusion"]), classes,
                                 title=f"Confusion matrix ({metrics.get('confusion_source', '')})"),
            out_dir / "confusion.png"))
    return written
