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
    """A fitted classifier (ready to predict) and the JSON metadata from a run directory.

    Both files are checked before use: the JSON against its schema, every
    tensor's shape against the layer sizes and SOM grids the JSON names, and
    every weight for finiteness; a corrupt or truncated file is an InputError.
    """
    from ..errors import InputError

    d = Path(directory)
    json_path, weights_path = d / "model.json", d / "model.safetensors"
    meta = read_json_file(json_path, "model file")
    _check_meta(meta, str(json_path))
    t = _read_tensors(weights_path)
    _check_tensors(t, meta, str(weights_path))
    n_layers = len(meta["som_dims"]) + 1
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
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    if isinstance(params.get("som_dims"), list):
        params["som_dims"] = tuple(params["som_dims"])
    try:
        clf = BPSOMClassifier(**params)
        clf.settings_ = clf._settings()
    except (TypeError, ValueError) as exc:
        raise InputError(f"params: {exc}", path=str(json_path)) from None
    clf.classes_ = np.asarray(meta["classes"])
    clf.n_features_in_ = meta["n_features_in"]
    if "feature_names_in" in meta:
        clf.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
    clf.model_ = BPSOMModel(net, soms, ids)
    clf.best_epoch_, clf.n_iter_, clf.history_ = meta["best_epoch"], meta["n_iter"], []
    return clf, meta


def read_json_file(path: Path, what: str):
    """Parse one of our JSON files; unreadable, special or malformed files are InputErrors."""
    from ..errors import InputError, read_input_bytes

    data = read_input_bytes(path, what)
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start}); the {what} is corrupt", path=str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg}); the {what} is corrupt or truncated", path=str(path),
                         line=exc.lineno) from None
    except RecursionError:
        raise InputError(f"nested too deeply to be a {what}", path=str(path)) from None


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_meta(meta, path: str) -> None:
    """The schema of model.json: every key load_model uses, with its type."""
    from ..errors import InputError

    def need(ok: bool, key: str, what: str) -> None:
        if not ok:
            raise InputError(f"{key} must be {what}", path=path, field=key)

    need(isinstance(meta, dict), "model", "a JSON object")
    if meta.get("format") != FORMAT:
        raise InputError(f"unknown model format {meta.get('format')!r} (expected {FORMAT!r})", path=path)
    for key in ("params", "classes", "n_features_in", "output", "som_dims", "best_epoch", "n_iter"):
        need(key in meta, key, "present")
    need(isinstance(meta["params"], dict), "params", "an object of classifier parameters")
    need(isinstance(meta["classes"], list) and len(meta["classes"]) >= 2 and
         all(isinstance(c, (str, int, float)) for c in meta["classes"]), "classes", "a list of 2 or more labels")
    need(_is_int(meta["n_features_in"]) and meta["n_features_in"] >= 1, "n_features_in", "a positive integer")
    need(meta["output"] in ("sigmoid", "softmax"), "output", "'sigmoid' or 'softmax'")
    need(isinstance(meta["som_dims"], list) and len(meta["som_dims"]) >= 1 and
         all(_is_int(v) and 0 <= v <= 1000 for v in meta["som_dims"]), "som_dims",
         "a list of SOM grid sizes (0..1000), one per hidden layer")
    need(_is_int(meta["best_epoch"]) and meta["best_epoch"] >= 0, "best_epoch", "a whole number")
    need(_is_int(meta["n_iter"]) and meta["n_iter"] >= 0, "n_iter", "a whole number")
    if "feature_names_in" in meta:
        need(isinstance(meta["feature_names_in"], list) and len(meta["feature_names_in"]) == meta["n_features_in"],
             "feature_names_in", "a list of n_features_in names")
    if "hidden_std" in meta:
        need(isinstance(meta["hidden_std"], list) and
             all(isinstance(layer, list) and all(isinstance(v, (int, float)) for v in layer)
                 for layer in meta["hidden_std"]), "hidden_std", "a list of number lists, one per hidden layer")
    if "prune_threshold" in meta:
        need(isinstance(meta["prune_threshold"], (int, float)), "prune_threshold", "a number")


def _read_tensors(path: Path) -> dict:
    from safetensors.numpy import load

    from ..errors import InputError, read_input_bytes

    data = read_input_bytes(path, "weights file")
    try:
        return load(data)
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own (Rust) error types
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise InputError(f"not a valid safetensors file ({first}); it is corrupt or truncated",
                         path=str(path)) from None


def _check_tensors(t: dict, meta: dict, path: str) -> None:
    """Tensor names, shapes and values against the layer sizes and SOM grids of model.json."""
    from ..errors import InputError

    def need(key: str, shape: tuple, kind: str = "f") -> np.ndarray:
        if key not in t:
            raise InputError("tensor missing", path=path, field=key)
        arr = t[key]
        if arr.shape != shape or arr.dtype.kind not in kind:
            raise InputError(f"shape {arr.shape} ({arr.dtype}), expected {shape}", path=path, field=key)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise InputError("holds NaN or infinite values", path=path, field=key)
        return arr

    n_hidden = len(meta["som_dims"])
    sizes = [meta["n_features_in"]]
    for l in range(n_hidden):
        ids = t.get(f"hidden.{l}.unit_ids")
        if ids is None or ids.ndim != 1:
            raise InputError("tensor missing or not 1-d", path=path, field=f"hidden.{l}.unit_ids")
        sizes.append(len(ids))
    last = t.get(f"layers.{n_hidden}.weight")
    if last is None or last.ndim != 2:
        raise InputError("tensor missing or not 2-d", path=path, field=f"layers.{n_hidden}.weight")
    sizes.append(last.shape[1])
    n_out = sizes[-1]
    if n_out not in (len(meta["classes"]), 1):
        raise InputError(f"{n_out} output units for {len(meta['classes'])} classes", path=path,
                         field=f"layers.{n_hidden}.weight")
    for l in range(n_hidden + 1):
        need(f"layers.{l}.weight", (sizes[l], sizes[l + 1]))
        need(f"layers.{l}.bias", (sizes[l + 1],))
    n_classes = len(meta["classes"])
    for l, dim in enumerate(meta["som_dims"]):
        need(f"hidden.{l}.unit_ids", (sizes[l + 1],), "iu")
        if dim:
            cells = dim * dim
            need(f"som.{l}.prototypes", (cells, sizes[l + 1]))
            labels = need(f"som.{l}.labels", (cells,), "iu")
            rel = need(f"som.{l}.reliability", (cells,), "iu")
            need(f"som.{l}.counts", (cells, n_classes + 1), "iu")
            if labels.min(initial=0) < 0 or labels.max(initial=0) > n_classes:
                raise InputError(f"labels outside 0..{n_classes}", path=path, field=f"som.{l}.labels")
            if rel.min(initial=0) < 0 or rel.max(initial=0) > 100:
                raise InputError("reliability outside 0..100", path=path, field=f"som.{l}.reliability")

