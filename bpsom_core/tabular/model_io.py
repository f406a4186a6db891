"""Save and load a fitted BPSOMClassifier: tensors in safetensors, the rest in a small JSON.

The JSON carries the parameters, class names, hidden-unit ids and (for
`bpsom train`) the fitted preprocessing, so a run directory alone is enough
to predict on new rows.  Both files are written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np

from ..atomic import atomic_write_bytes, atomic_write_text
from ..writers.jsonable import plain
from .classifier import BPSOMClassifier
from .model import BPSOMModel
from .network import Network
from .som_layer import SOMLayer

FORMAT = "bpsom-tabular/1"


def save_model(clf: BPSOMClassifier, directory: Union[str, Path], extra: Optional[dict] = None) -> Tuple[Path, Path]:
    """Write ``model.safetensors`` and ``model.json`` into ``directory``; returns their paths."""
    from safetensors.numpy import save

    model: BPSOMModel = clf.model_
    tensors = {}
    for l, (w, b) in enumerate(zip(model.net.weights, model.net.biases)):
        tensors[f"layers.{l}.weight"] = np.ascontiguousarray(w)
        tensors[f"layers.{l}.bias"] = np.ascontiguousarray(b)
    for l, som in enumerate(model.soms):
        tensors[f"hidden.{l}.unit_ids"] = np.asarray(model.unit_ids[l], dtype=np.int64)
        if som is not None:
            tensors[f"som.{l}.prototypes"] = np.ascontiguousarray(som.prototypes)
            tensors[f"som.{l}.labels"] = som.labels.astype(np.int64)
            tensors[f"som.{l}.reliability"] = som.reliability.astype(np.int64)
            tensors[f"som.{l}.counts"] = som.counts.astype(np.int64)
    params = {k: v for k, v in clf.get_params().items() if k != "callback"}
    if not (params["random_state"] is None or isinstance(params["random_state"], (int, np.integer))):
        params["random_state"] = None  # a RandomState object cannot be stored; the weights are
    meta = {
        "format": FORMAT,
        "params": plain(params),
        "classes": [plain(c) for c in clf.classes_.tolist()],
        "n_features_in": int(clf.n_features_in_),
        "output": model.net.output,
        "som_dims": [0 if s is None else s.dim for s in model.soms],
        "best_epoch": int(clf.best_epoch_),
        "n_iter": int(clf.n_iter_),
    }
    if hasattr(clf, "feature_names_in_"):
        meta["feature_names_in"] = [str(n) for n in clf.feature_names_in_]
    if extra:
        meta.update(plain(extra))
    d = Path(directory)
    weights_path, json_path = d / "model.safetensors", d / "model.json"
    atomic_write_bytes(weights_path, save(tensors, metadata={"format": FORMAT}))
    atomic_write_text(json_path, json.dumps(meta, indent=2) + "\n")
    return weights_path, json_path


def load_model(directory: Union[str, Path]) -> Tuple[BPSOMClassifier, dict]:
    """A fitted classifier (ready to predict) and the JSON metadata from a run directory."""
    from safetensors.numpy import load_file

    d = Path(directory)
    meta = json.loads((d / "model.json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{d / 'model.json'}: unknown model format {meta.get('format')!r}")
    t = load_file(str(d / "model.safetensors"))
    n_layers = sum(1 for k in t if k.endswith(".weight"))
    net = Network([t[f"layers.{l}.weight"] for l in range(n_layers)],
                  [t[f"layers.{l}.bias"] for l in range(n_layers)], meta["output"])
    net.reset_velocity()
    soms, ids = [], []
    for l, dim in enumerate(meta["som_dims"]):
        ids.append(t[f"hidden.{l}.unit_ids"])
        soms.append(None if dim == 0 else SOMLayer(dim, t[f"som.{l}.prototypes"], t[f"som.{l}.labels"],
                                                   t[f"som.{l}.reliability"], t[f"som.{l}.counts"]))
    params = dict(meta["params"])
    for key in ("hidden_layer_sizes", "som_context", "som_lr"):
        params[key] = tuple(params[key])
    if isinstance(params.get("som_dims"), list):
        params["som_dims"] = tuple(params["som_dims"])
    clf = BPSOMClassifier(**params)
    clf.classes_ = np.asarray(meta["classes"])
    clf.n_features_in_ = meta["n_features_in"]
    if "feature_names_in" in meta:
        clf.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
    clf.model_ = BPSOMModel(net, soms, ids)
    clf.settings_ = clf._settings()
    clf.best_epoch_, clf.n_iter_, clf.history_ = meta["best_epoch"], meta["n_iter"], []
    return clf, meta

