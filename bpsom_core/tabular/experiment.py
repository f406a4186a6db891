"""One `bpsom train` experiment: split, preprocess, fit, evaluate, write the run directory.

Splits are stratified and seeded.  The preprocessing is fitted on the
training rows only.  With cross-validation every fold is fitted and scored
on its held-out rows; the saved model is then refitted on all rows (with its
own validation split), as usual for CV-then-refit.
"""

from __future__ import annotations

import warnings

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import StratifiedKFold, train_test_split

from ..atomic import atomic_write_text
from ..readers.tabular import Preprocessor, Table
from ..writers.jsonable import plain
from .classifier import BPSOMClassifier
from .model_io import save_model

EpochHook = Callable[[str, Dict[str, object]], None]


@dataclass
class SplitSpec:
    """How to hold data out: fractions of all rows, or K-fold cross-validation."""

    test_fraction: float = 0.2
    val_fraction: float = 0.2
    cv: Optional[int] = None
    seed: int = 0


@dataclass
class ExperimentResult:
    metrics: Dict[str, object]
    history: List[Dict[str, object]]
    classifier: BPSOMClassifier
    preprocessor: Preprocessor
    fold_histories: List[List[Dict[str, object]]] = field(default_factory=list)


def _stratify(y: np.ndarray, n_holdout: int) -> Optional[np.ndarray]:
    """Stratify only when every class can appear on both sides."""
    _, counts = np.unique(y, return_counts=True)
    return y if counts.min() >= 2 and n_holdout >= len(counts) else None


def _split(idx: np.ndarray, y: np.ndarray, fraction: float, seed: int):
    n_out = int(round(fraction * len(idx)))
    if fraction <= 0 or n_out < 1:
        return idx, idx[:0]
    if n_out >= len(idx):
        raise ValueError(f"a {fraction:g} split leaves no training rows")
    return train_test_split(idx, test_size=n_out, random_state=seed, stratify=_stratify(y[idx], n_out))


def _fit_one(table: Table, classes: List[str], train_idx: np.ndarray, val_idx: np.ndarray,
             params: dict, name: str, on_epoch: Optional[EpochHook]):
    missing = sorted(set(classes) - set(table.y[train_idx].tolist()))
    if missing:   # the classifier would meet them first when scoring held-out rows
        shown = ", ".join(repr(c) for c in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise ValueError(f"{len(missing)} class(es) have no training rows after the split ({shown}); "
                         "use more rows per class, smaller --test-fraction/--val-fraction, or merge rare classes")
    pre = Preprocessor.fit(table.take(train_idx))
    X_train = pre.transform(table.take(train_idx))
    hook = None if on_epoch is None else (lambda rec: on_epoch(name, rec))
    clf = BPSOMClassifier(**params, callback=hook)
    validation = None
    if len(val_idx):
        validation = (pre.transform(table.take(val_idx)), table.y[val_idx])
    with warnings.catch_warnings():   # sklearn's "regression problem?" hint: the CLI warns of small data itself
        warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
        clf.fit(X_train, table.y[train_idx], validation_data=validation)
    clf.set_params(callback=None)
    return clf, pre


def _scores(clf: BPSOMClassifier, pre: Preprocessor, table: Table, idx: np.ndarray) -> Dict[str, float]:
    if not len(idx):
        return {}
    part = table.take(idx)
    ev = clf.evaluate(pre.transform(part), part.y)
    return {"n": int(len(idx)), "accuracy": 1.0 - ev["ce"] / 100.0, "ce": ev["ce"], "mse": ev["mse"]}


def cv_folds(y: np.ndarray, split: SplitSpec):
    """Yield (k, train, validation, test) row indices of each stratified fold, k from 1."""
    skf = StratifiedKFold(n_splits=split.cv, shuffle=True, random_state=split.seed)
    for k, (rest, test_idx) in enumerate(skf.split(np.arange(len(y)), y), start=1):
        train_idx, val_idx = _split(rest, y, split.val_fraction, split.seed + k)
        yield k, train_idx, val_idx, test_idx


def run_fold(table: Table, params: dict, split: SplitSpec, fold: int) -> Dict[str, object]:
    """Fit and score one cross-validation fold exactly as `run_experiment` does (for sweeps)."""
    params = dict(params)
    params.setdefault("random_state", split.seed)
    for k, train_idx, val_idx, test_idx in cv_folds(table.y, split):
        if k == fold:
            clf, pre = _fit_one(table, table.classes, train_idx, val_idx, params, f"fold {k}", None)
            return _trial_scores(clf, pre, table, train_idx, test_idx)
    raise ValueError(f"fold {fold} is not in 1..{split.cv}")


def run_split(table: Table, params: dict, split: SplitSpec) -> Dict[str, object]:
    """Fit on `run_experiment`'s train/validation/test split; score the test rows (else validation)."""
    m = run_experiment(table, params, split).metrics
    held = m["test"] or m["validation"] or m["train"]
    return {"accuracy": held["accuracy"], "mse": held["mse"], "best_epoch": m["best_epoch"],
            "epochs_run": m["epochs_run"], "units_kept": int(sum(m["units_alive"])),
            "train_accuracy": m["train"]["accuracy"]}


def _trial_scores(clf: BPSOMClassifier, pre: Preprocessor, table: Table, train_idx, held_idx) -> Dict[str, object]:
    held = _scores(clf, pre, table, held_idx)
    return {"accuracy": held["accuracy"], "mse": held["mse"], "best_epoch": int(clf.best_epoch_),
            "epochs_run": int(clf.n_iter_), "units_kept": int(sum(len(u) for u in clf.hidden_units_)),
            "train_accuracy": _scores(clf, pre, table, train_idx)["accuracy"]}


def run_experiment(table: Table, params: dict, split: SplitSpec,
                   on_epoch: Optional[EpochHook] = None) -> ExperimentResult:
    """Fit and score; ``params`` are BPSOMClassifier parameters (early_stopping is driven by the split)."""
    classes = table.classes
    y = table.y
    all_idx = np.arange(len(table))
    params = dict(params)
    params.setdefault("random_state", split.seed)
    t0 = time.perf_counter()
    metrics: Dict[str, object] = {"classes": classes, "target": table.target, "n_rows": len(table)}
    fold_histories = []
    if split.cv:
        oof = np.empty(len(table), dtype=object)
        folds = []
        for k, train_idx, val_idx, test_idx in cv_folds(y, split):
            clf, pre = _fit_one(table, classes, train_idx, val_idx, params, f"fold {k}/{split.cv}", on_epoch)
            oof[test_idx] = clf.predict(pre.transform(table.take(test_idx)))
            score = _scores(clf, pre, table, test_idx)
            score.update(best_epoch=int(clf.best_epoch_), units_alive=[len(u) for u in clf.hidden_units_])
            folds.append(score)
            fold_histories.append(clf.history_)
        accs = np.array([f["accuracy"] for f in folds])
        metrics["mode"] = f"{split.cv}-fold cross-validation"
        metrics["cv"] = {"folds": folds, "accuracy_mean": float(accs.mean()),
                         "accuracy_sd": float(accs.std(ddof=1)) if len(accs) > 1 else 0.0}
        metrics["confusion"] = confusion_matrix(y, oof.astype(str), labels=classes).tolist()
        metrics["confusion_source"] = "out-of-fold predictions"
        train_idx, val_idx = _split(all_idx, y, split.val_fraction, split.seed)
        clf, pre = _fit_one(table, classes, train_idx, val_idx, params, "refit on all rows", on_epoch)
        metrics["train"] = _scores(clf, pre, table, train_idx)
        metrics["validation"] = _scores(clf, pre, table, val_idx)
    else:
        rest, test_idx = _split(all_idx, y, split.test_fraction, split.seed)
        val_frac = split.val_fraction / max(1e-12, 1.0 - split.test_fraction)
        train_idx, val_idx = _split(rest, y, val_frac if split.val_fraction > 0 else 0.0, split.seed + 1)
        clf, pre = _fit_one(table, classes, train_idx, val_idx, params, "train", on_epoch)
        metrics["mode"] = "train/validation/test split"
        metrics["train"] = _scores(clf, pre, table, train_idx)
        metrics["validation"] = _scores(clf, pre, table, val_idx)
        metrics["test"] = _scores(clf, pre, table, test_idx)
        src_idx, src = (test_idx, "test rows") if len(test_idx) else (train_idx, "training rows")
        pred = clf.predict(pre.transform(table.take(src_idx)))
        metrics["confusion"] = confusion_matrix(y[src_idx], pred, labels=classes).tolist()
        metrics["confusion_source"] = src
    stops = [h["stopped"] for h in [*clf.history_, *(r for f in fold_histories for r in f)] if "stopped" in h]
    if stops:
        metrics["stopped"] = stops[0]
    metrics["best_epoch"] = int(clf.best_epoch_)
    metrics["epochs_run"] = int(clf.n_iter_)
    metrics["units_alive"] = [len(u) for u in clf.hidden_units_]
    metrics["pruned_units"] = [p.tolist() for p in clf.pruned_units_]
    metrics["seconds"] = round(time.perf_counter() - t0, 3)
    return ExperimentResult(metrics, clf.history_, clf, pre, fold_histories)


def write_run(run_dir: Path, result: ExperimentResult, config: dict) -> List[Path]:
    """config.yaml, history.json, metrics.json and the model files; returns the paths written."""
    import yaml

    run_dir.mkdir(parents=True, exist_ok=True)
    written = []
    cfg_path = run_dir / "config.yaml"
    atomic_write_text(cfg_path, yaml.safe_dump(plain(config), sort_keys=False))
    hist_path = run_dir / "history.json"
    history = {"history": result.history}
    if result.fold_histories:
        history["folds"] = result.fold_histories
    atomic_write_text(hist_path, json.dumps(plain(history), indent=1) + "\n")
    metrics_path = run_dir / "metrics.json"
    atomic_write_text(metrics_path, json.dumps(plain(result.metrics), indent=2) + "\n")
    extra = {"preprocessing": result.preprocessor.to_dict(), "target": result.metrics["target"],
             "prune_threshold": result.classifier.prune_threshold,
             "hidden_std": [s.tolist() for s in result.classifier.hidden_std_]}
    written += [cfg_path, hist_path, metrics_path, *save_model(result.classifier, run_dir, extra)]
    return written

