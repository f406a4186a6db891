"""Build the explorer's :class:`~bpsom_core.explorer.LayerMap` from a run directory.

* a `bpsom train` run: the saved model and its data file; every row is mapped to
  its winner cell, and a cell lists its rows nearest to the prototype with
  their most distinctive feature values (largest standardised |z|);
* a `bpsom glue` run: the snapshots its labelling passes wrote
  (``som_snapshots/epoch_N.npz``: labels, reliabilities and each training
  example's winner cell and distance) and the texts in ``som_examples.tsv``.
"""

from __future__ import annotations

import csv
import re
import zipfile
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from . import primitives as P
from .errors import InputError, check_regular_file
from .explorer import CellSnapshot, LayerMap
from .yaml_input import read_yaml

NEAREST = 10
DISTINCTIVE = 3


def nearest_per_cell(winner: np.ndarray, d2: np.ndarray, n_cells: int, k: int = NEAREST) -> List[np.ndarray]:
    """For each cell, the indices of the examples it won, nearest to its prototype first (at most k)."""
    order = np.lexsort((d2, winner))
    out: List[np.ndarray] = []
    for c in range(n_cells):
        mine = order[winner[order] == c]
        out.append(mine[:k])
    return out


def tabular_maps(run_dir: Path) -> Tuple[List[LayerMap], List[str]]:
    """The final maps of a `train` run, with each cell's nearest rows."""
    from .readers.tabular import Preprocessor, read_table
    from .tabular.model_io import load_model

    clf, meta = load_model(run_dir)
    cfg_path = run_dir / "config.yaml"
    config = read_yaml(cfg_path, "run configuration")
    data = config.get("data") if isinstance(config, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("path"), str) or "target" not in data:
        raise InputError("needs a mapping with path and target (written by bpsom train)", str(cfg_path),
                         field="data")
    path = Path(data["path"])
    if data.get("embedded"):
        from .data import DEFAULT_DATASET
        path = DEFAULT_DATASET
    if not path.exists():
        raise InputError(f"the run's data file {path} is not there (the explorer maps its rows)", str(run_dir))
    check_regular_file(path, "data file")
    try:
        pre = Preprocessor.from_dict(meta.get("preprocessing"), clf.n_features_in_)
    except ValueError as exc:
        raise InputError(str(exc), str(run_dir / "model.json"), field="preprocessing") from None
    table = read_table(path, data["target"])
    if list(table.names) != pre.names:
        raise InputError(f"the run's data file {path} no longer has the columns the model was trained on",
                         str(cfg_path), field="data.path")
    X = pre.transform(table)
    classes = [str(c) for c in clf.classes_.tolist()]
    y1 = np.searchsorted(np.asarray(classes), table.y.astype(str)) + 1
    acts = clf.model_.net.forward(X)
    numeric = [i for i, k in enumerate(pre.kinds) if k == "numeric"]
    maps = []
    for l, som in enumerate(clf.model_.soms):
        if som is None:
            continue
        winner, _, winner_d2, _ = P.find_winners(acts[l + 1], som.prototypes, som.labels, y1)
        winner, winner_d2 = np.asarray(winner), np.asarray(winner_d2)
        nearest = nearest_per_cell(winner, winner_d2, som.n_cells)
        examples = [[_row_text(table, X, numeric, pre.names, int(i)) for i in idx] for idx in nearest]
        counts = np.bincount(winner[winner >= 0], minlength=som.n_cells)
        snap = CellSnapshot(f"final (best epoch {clf.best_epoch_})", som.labels, som.reliability, counts, examples)
        maps.append(LayerMap(f"hidden layer {l + 1}", som.dim, [snap]))
    return maps, classes


def _row_text(table, X: np.ndarray, numeric: Sequence[int], names: Sequence[str], i: int) -> str:
    """'row 12 [class]: proline=1680 (z +2.9), ...' with the columns of largest |z|."""
    cols = sorted(numeric, key=lambda j: -abs(X[i, j]))[:DISTINCTIVE]
    feats = ", ".join(f"{names[j]}={_fmt(table.columns[j][i])} (z {X[i, j]:+.1f})" for j in cols)
    return f"row {int(table.lines[i])} [{table.y[i]}]: {feats}"


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)


SNAPSHOT = re.compile(r"epoch_(\d+)\.npz$")


def _som_grid_size(run_dir: Path) -> Optional[int]:
    """The map side recorded in the run's saved model (None when unreadable)."""
    import json

    try:
        value = json.loads((run_dir / "best_model" / "config.json").read_text(encoding="utf-8"))["som_grid_size"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) else None


def glue_maps(run_dir: Path) -> Tuple[List[LayerMap], List[str]]:
    """The per-epoch maps of a `glue` run (BP-SOM mode with a labelling pass)."""
    snap_dir = run_dir / "som_snapshots"
    files = sorted((p for p in snap_dir.glob("epoch_*.npz") if SNAPSHOT.search(p.name)),
                   key=lambda p: int(SNAPSHOT.search(p.name).group(1)))
    if not files and _som_grid_size(run_dir) == 0:
        raise InputError("this run has no SOM (bpsom.som_grid_size 0): no map to explore", str(run_dir))
    if not files:
        raise InputError("no SOM snapshots (som_snapshots/epoch_N.npz); the explorer needs a BP-SOM glue run "
                         "trained with 'relabel: pass' in its config's bpsom section ('relabel: epoch' "
                         "records no winners)", str(run_dir))
    texts = read_examples(run_dir / "som_examples.tsv")
    snaps, dim, names, n_examples = [], 0, [], None
    for f in files:
        check_regular_file(f, "SOM snapshot")
        try:
            with np.load(f, allow_pickle=False) as z:
                grid, class_names = z["grid_size"], z["class_names"]
                winner, d2, labels, reliability = z["winners"], z["winner_d2"], z["labels"], z["reliability"]
        except (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as exc:
            raise InputError(f"not a readable SOM snapshot, corrupt or truncated ({type(exc).__name__})",
                             str(f)) from None
        dim, names = check_snapshot(f, grid, class_names, winner, d2, labels, reliability)
        if n_examples is not None and (len(winner), dim) != n_examples:
            raise InputError("holds another run's map (its grid or example count differs from the other "
                             "epochs'); remove the stale snapshots", str(f))
        n_examples = (len(winner), dim)
        nearest = nearest_per_cell(winner, d2, dim * dim)
        examples = [[texts.get(int(i), f"example {int(i)}") for i in idx] for idx in nearest]
        counts = np.bincount(winner[winner >= 0], minlength=dim * dim)
        snaps.append(CellSnapshot(SNAPSHOT.search(f.name).group(1), labels, reliability, counts, examples))
    return [LayerMap("BP-SOM head", dim, snaps)], names


MAX_GRID = 1000   # as the tabular SOMs (model.json som_dims)


def check_snapshot(path: Path, grid, class_names, winner, d2, labels, reliability) -> Tuple[int, List[str]]:
    """A snapshot's arrays, each checked against the others (a hand-made or damaged file must
    not crash or hang the explorer); returns (grid side, class names)."""
    def bad(field: str, what: str) -> InputError:
        return InputError(what, str(path), field=field)

    if grid.shape != () or grid.dtype.kind not in "iu" or not 1 <= int(grid) <= MAX_GRID:
        raise bad("grid_size", f"must be a whole number 1..{MAX_GRID}")
    dim = int(grid)
    cells = dim * dim
    if class_names.ndim != 1 or class_names.dtype.kind != "U" or not 1 <= len(class_names) <= 1000:
        raise bad("class_names", "must be a list of 1..1000 names")
    if labels.shape != (cells,) or labels.dtype.kind not in "iu" or labels.size and not (
            0 <= labels.min() and labels.max() <= len(class_names)):
        raise bad("labels", f"must be {cells} whole numbers 0..{len(class_names)} (0 = no label)")
    if reliability.shape != (cells,) or reliability.dtype.kind not in "iuf" or not np.isfinite(reliability).all():
        raise bad("reliability", f"must be {cells} finite numbers")
    if winner.ndim != 1 or winner.dtype.kind not in "iu" or winner.size and not (
            -1 <= winner.min() and winner.max() < cells):
        raise bad("winners", f"must be a list of cell numbers -1..{cells - 1}")
    if d2.shape != winner.shape or d2.dtype.kind != "f":
        raise bad("winner_d2", "must be one distance per example in winners")
    return dim, [str(n) for n in class_names]


def read_examples(path: Path) -> dict:
    """index -> '#index [label] text' from som_examples.tsv (index, label, text)."""
    if not path.exists():
        return {}
    check_regular_file(path, "example texts")
    out = {}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = csv.reader(fh, delimiter="\t")
            next(rows, None)
            for r in rows:
                if len(r) < 3:
                    continue
                try:
                    out[int(r[0])] = f"#{r[0]} [{r[1]}] {r[2]}"
                except ValueError:
                    raise InputError(f"not an example number: {r[0][:40]!r}", str(path), rows.line_num,
                                     "index") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 text (byte {exc.start})", str(path)) from None
    except csv.Error as exc:
        raise InputError(f"not a readable TSV file ({exc})", str(path)) from None
    return out


def run_kind(run_dir: Path) -> Optional[str]:
    """'train', 'glue' or None, from the files a run directory holds."""
    if (run_dir / "model.json").exists() and (run_dir / "model.safetensors").exists():
        return "train"       # the loader then refuses a FIFO or directory under either name, by name
    if (run_dir / "som_snapshots").is_dir() or (run_dir / "log.json").is_file():
        return "glue"
    return None
