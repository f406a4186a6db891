"""The console lines of `bpsom glue` on stderr, in the 2026 adaptation's format.

::

    Epoch 1/10:
      Train - Loss: 0.4523, Acc: 78.32%, SOM Usage: 42.3%
      Dev   - Loss: 0.3891, Acc: 82.15%
      Test  - Loss: 0.3854, Acc: 81.90%
    Pruning Event at Epoch 5:
      Units pruned: [7, 8, 23]
      Dimension: 128 -> 125

plus F1 and Matthews correlation where the task reports them.  The
reporter turns the trainer's progress events into these lines; where they
go (plain stderr or above rich's progress bars) is the caller's business.
"""

from __future__ import annotations

from typing import Optional


def _metrics(values: dict) -> str:
    """``Loss: 0.3891, Acc: 82.15%`` (+ ``F1: ..%``, ``MCC: 0.xxxx``) from loss/metric values."""
    parts = []
    if values.get("loss") is not None:
        parts.append(f"Loss: {values['loss']:.4f}")
    if values.get("accuracy") is not None:
        parts.append(f"Acc: {100 * values['accuracy']:.2f}%")
    if values.get("f1") is not None:
        parts.append(f"F1: {100 * values['f1']:.2f}%")
    if values.get("matthews_correlation") is not None:
        parts.append(f"MCC: {values['matthews_correlation']:.4f}")
    return ", ".join(parts)


def _split(record: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in record.items() if k.startswith(prefix)}


class EpochReporter:
    """Progress events in, console lines out (a pruning is shown after its epoch's block)."""

    def __init__(self, epochs: int, task: str):
        self.epochs = epochs
        self.task = task
        self.mode: Optional[str] = None
        self.pending: list[str] = []

    def __call__(self, kind: str, data: dict) -> list[str]:
        lines: list[str] = []
        mode = data.get("mode")
        if mode is not None and mode != self.mode and kind in ("epoch", "prune", "test"):
            self.mode = mode
            lines.append(f"{'BP-SOM' if mode == 'bpsom' else 'Baseline'} run on {self.task} ({mode}):")
        if kind == "prune":
            self.pending = [f"Pruning Event at Epoch {data['epoch']}:",
                            f"  Units pruned: {list(data['units'])}",
                            f"  Dimension: {data['before']} -> {data['after']}"]
        elif kind == "epoch":
            train = f"  Train - Loss: {data['train_loss']:.4f}, Acc: {100 * data['train_accuracy']:.2f}%"
            if data.get("som_usage") is not None:
                train += f", SOM Usage: {100 * data['som_usage']:.1f}%"
            lines += [f"Epoch {data['epoch']}/{self.epochs}:", train,
                      f"  Dev   - {_metrics(_split(data, 'dev_'))}"]
            test = _split(data, "test_")
            if test:
                lines.append(f"  Test  - {_metrics(test)}")
            lines += self.pending
            self.pending = []
        elif kind == "test":
            lines.append(f"Best model (epoch {data['best_epoch']}):")
            if data.get("dev"):
                lines.append(f"  Dev   - {_metrics(data['dev'])}")
            if data.get("labelled"):
                lines.append(f"  Test  - {_metrics(data)}")
            else:
                lines.append(f"  Test  - {data['examples']} unlabelled examples, predictions in "
                             f"{data['predictions']}")
        return lines
