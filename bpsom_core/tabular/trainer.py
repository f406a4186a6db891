"""Training loops: one batch step, one epoch, and the epoch loop with
relabelling, pruning, early stopping and best-epoch restore (C: bpsom.cc main).

Errors follow the C's sign convention (``err = -dLoss/dnet``), so weights
move by ``+ lr * act * err``.  Online training is the mini-batch step with a
batch of one, so both solvers share every rule.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np

from bpsom_core import primitives as P
from bpsom_core.primitives import rules as R

from .model import BPSOMModel
from .settings import TrainSettings


@dataclass
class EpochData:
    """Inputs, network targets, 1-based class ids and (optional) example weights of one split."""

    X: np.ndarray
    T: np.ndarray
    classes: np.ndarray
    weights: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.classes)

    def take(self, idx: np.ndarray) -> "EpochData":
        """The examples at ``idx``, weights included."""
        return EpochData(self.X[idx], self.T[idx], self.classes[idx],
                         None if self.weights is None else self.weights[idx])


def targets_for(classes0: np.ndarray, n_out: int, loss: str) -> np.ndarray:
    """One row per example: 0.9/0.1 for MSE (as the C's data files), one-hot for cross-entropy."""
    lo, hi = (0.1, 0.9) if loss == "mse" else (0.0, 1.0)
    T = np.full((len(classes0), n_out), lo)
    T[np.arange(len(classes0)), classes0] = hi
    return T


def _som_phase(model: BPSOMModel, acts: List[np.ndarray], classes: np.ndarray, s: TrainSettings,
               context: int, lr: float, som_use: np.ndarray):
    """Winners, SOM update, then the SOM error from the moved prototypes (the C's order)."""
    errors = []
    for l, som in enumerate(model.soms):
        if som is None:
            errors.append(None)
            continue
        step = P.som_step(acts[l + 1], som.prototypes, som.labels, classes, som.reliability,
                          s.som.reliability_threshold, som.dim, context, lr, mode=s.som.som_update)
        som.prototypes = step.prototypes
        som_use[l] += int(step.use.sum())
        errors.append((step.error, step.use))
    return errors


def batch_step(model: BPSOMModel, batch: EpochData, s: TrainSettings, context: int, lr: float,
               som_use: np.ndarray) -> float:
    """Forward, SOM phase and one weight update on a batch; returns the batch's summed loss."""
    net = model.net
    acts = net.forward(batch.X)
    out = acts[-1]
    som_terms = _som_phase(model, acts, batch.classes, s, context, lr, som_use)
    diff = batch.T - out
    w = batch.weights
    if s.loss == "mse":
        ex_err = (diff * diff).sum(1)
        loss = float(ex_err.sum() if w is None else ex_err @ w)
        err = np.where(np.abs(diff) > s.error_threshold, out * (1.0 - out) * diff, 0.0)
        err *= (ex_err > s.error_threshold)[:, None]  # C: no backprop for learnt examples
    else:
        ex_loss = -np.log(np.clip(out[batch.T > 0.5], 1e-300, None))
        loss = float(ex_loss.sum() if w is None else ex_loss @ w)
        err = diff
    errs = [err]
    for l in range(model.n_hidden_layers - 1, -1, -1):
        a = acts[l + 1]
        bp = (errs[0] @ net.weights[l + 1].T) * a * (1.0 - a)
        if som_terms[l] is not None:
            som_err, use = som_terms[l]
            bp = P.combine_hidden_delta(bp, som_err, use, s.som.som_error_weight)
        errs.insert(0, bp)
    if w is not None:  # each example's error (BP and SOM parts alike) counts w times
        errs = [e * w[:, None] for e in errs]
    scale = s.learning_rate / len(batch)
    for l in range(len(net.weights)):
        net.velocity_w[l] = scale * (acts[l].T @ errs[l]) + s.momentum * net.velocity_w[l]
        net.velocity_b[l] = scale * errs[l].sum(0) + s.momentum * net.velocity_b[l]
        if s.weight_decay:
            net.weights[l] *= 1.0 - s.learning_rate * s.weight_decay
        net.weights[l] += net.velocity_w[l]
        net.biases[l] += net.velocity_b[l]
    return loss


def train_epoch(model: BPSOMModel, data: EpochData, s: TrainSettings, epoch: int,
                rng: np.random.Generator) -> Dict[str, object]:
    """One learning pass; returns the training loss and the SOM usage per hidden layer (%)."""
    context = s.som.context(epoch, s.max_epochs)
    lr = s.som.learning_rate(epoch, s.max_epochs)
    order = rng.permutation(len(data)) if s.shuffle else np.arange(len(data))
    som_use = np.zeros(model.n_hidden_layers, dtype=np.int64)
    loss = 0.0
    for start in range(0, len(data), s.batch_size):
        idx = order[start:start + s.batch_size]
        loss += batch_step(model, data.take(idx), s, context, lr, som_use)
    n = max(len(data), 1)
    return {"train_loss": loss / n, "som_context": context, "som_lr": lr,
            "som_usage": [None if som is None else float(100.0 * u / n) for som, u in zip(model.soms, som_use)]}


def evaluate(model: BPSOMModel, data: EpochData, loss: str) -> Dict[str, float]:
    """MSE (summed over outputs, mean over examples, as the C), classification error % and loss."""
    out = model.net.forward(data.X)[-1]
    diff = data.T - out
    mse = float((diff * diff).sum(1).mean()) if len(data) else 0.0
    wrong = out.argmax(1) != data.T.argmax(1)
    ce = 100.0 * float(wrong.mean()) if len(data) else 0.0
    if loss == "mse":
        value = mse
    else:
        value = float(-np.log(np.clip(out[data.T > 0.5], 1e-300, None)).mean()) if len(data) else 0.0
    return {"mse": mse, "ce": ce, "loss": value}


def hidden_stats(model: BPSOMModel, X: np.ndarray, acts: Optional[List[np.ndarray]] = None):
    """Mean and population std of every hidden unit over X."""
    acts = model.net.forward(X) if acts is None else acts
    stats = [P.activation_stats(acts[l + 1]) for l in range(model.n_hidden_layers)]
    return [m for m, _ in stats], [sd for _, sd in stats]


def relabel_and_stats(model: BPSOMModel, data: EpochData):
    """Labelling pass on the training data: SOM labels plus hidden-unit mean and std."""
    acts = model.net.forward(data.X)
    for l, som in enumerate(model.soms):
        if som is not None:
            som.relabel(acts[l + 1], data.classes)
    return hidden_stats(model, data.X, acts)


@dataclass
class FitResult:
    """What the epoch loop hands back: the kept model, its epoch and the history."""

    model: BPSOMModel
    best_epoch: int
    history: List[Dict[str, object]] = field(default_factory=list)
    last_stds: List[np.ndarray] = field(default_factory=list)


class _BestTracker:
    """The C's rule for "a better network" on the validation set (administrate_complete_epoch)."""

    def __init__(self):
        self.acc = -1.0
        self.mse = float("inf")
        self.since = 0

    def update(self, acc: float, mse: float, pruned: bool) -> bool:
        better = R.better_network(acc, mse, self.acc, self.mse, pruned)
        if better:
            self.acc, self.mse, self.since = acc, mse, 0
        return better


def fit_epochs(model: BPSOMModel, train: EpochData, s: TrainSettings, rng: np.random.Generator,
               val: Optional[EpochData] = None, first_epoch: int = 1, n_epochs: Optional[int] = None,
               callback: Optional[Callable[[Dict[str, object]], None]] = None) -> FitResult:
    """Learn, relabel, validate, prune and keep the best network, epoch by epoch."""
    history: List[Dict[str, object]] = []
    best = _BestTracker()
    best_model, best_epoch = model.copy(), first_epoch - 1
    stds: List[np.ndarray] = []
    last = first_epoch - 1 + (n_epochs if n_epochs is not None else s.max_epochs)
    pruned_since_best = False
    for epoch in range(first_epoch, last + 1):
        t0 = time.perf_counter()
        record: Dict[str, object] = {"epoch": epoch}
        record.update(train_epoch(model, train, s, epoch, rng))
        if not np.isfinite(record["train_loss"]):
            # the weights blew up (learning rate too high?): stop, keep the last good network
            record.update(stopped=f"the training loss became {record['train_loss']} in epoch {epoch}",
                          train_mse=float("nan"), train_ce=float("nan"), hidden_std=[],
                          pruned=[[] for _ in model.unit_ids], best_epoch=best_epoch,
                          units_alive=[len(u) for u in best_model.unit_ids], seconds=time.perf_counter() - t0)
            history.append(record)
            if callback is not None:
                callback(record)
            break
        means, stds = relabel_and_stats(model, train)
        record["hidden_std"] = [sd.tolist() for sd in stds]
        tr = evaluate(model, train, s.loss)
        record.update({"train_mse": tr["mse"], "train_ce": tr["ce"]})
        if val is not None and len(val):
            v = evaluate(model, val, s.loss)
            record.update({"val_mse": v["mse"], "val_ce": v["ce"], "val_loss": v["loss"]})
        removed = [np.array([], dtype=np.int64)] * model.n_hidden_layers
        if R.pruning_enabled(s.som.prune_threshold):
            removed = model.prune(means, stds, s.som.prune_threshold)
            pruned_since_best = pruned_since_best or any(len(r) for r in removed)
        record["pruned"] = [r.tolist() for r in removed]
        record["units_alive"] = [len(u) for u in model.unit_ids]
        if val is not None and len(val):
            if best.update(100.0 - record["val_ce"], record["val_mse"], pruned_since_best):
                best_model, best_epoch, pruned_since_best = model.copy(), epoch, False
            else:
                best.since += 1
        else:   # no validation: the latest network is the best, kept as a copy in case the next blows up
            best_model, best_epoch = model.copy(), epoch
        record["best_epoch"] = best_epoch
        record["seconds"] = time.perf_counter() - t0
        history.append(record)
        if callback is not None:
            callback(record)
        if val is not None and s.patience is not None and best.since > s.patience:
            break
    return FitResult(best_model, best_epoch, history, stds)
