"""GLUE metrics: accuracy, F1 of the positive class, Matthews correlation."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def accuracy(pred: Sequence[int], gold: Sequence[int]) -> float:
    """Fraction of exact matches (0.0 for no examples)."""
    p, g = np.asarray(pred), np.asarray(gold)
    return float((p == g).mean()) if len(g) else 0.0


def f1(pred: Sequence[int], gold: Sequence[int], positive: int = 1) -> float:
    """F1 of class ``positive`` (MRPC reports it for 'equivalent')."""
    p, g = np.asarray(pred) == positive, np.asarray(gold) == positive
    tp = float((p & g).sum())
    denom = float(p.sum() + g.sum())
    return 2 * tp / denom if denom else 0.0


def matthews(pred: Sequence[int], gold: Sequence[int]) -> float:
    """Matthews correlation of two binary labelings (0.0 when undefined, as sklearn)."""
    p, g = np.asarray(pred) == 1, np.asarray(gold) == 1
    tp, tn = float((p & g).sum()), float((~p & ~g).sum())
    fp, fn = float((p & ~g).sum()), float((~p & g).sum())
    denom = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return (tp * tn - fp * fn) / denom if denom else 0.0


_METRICS = {"accuracy": accuracy, "f1": f1, "matthews_correlation": matthews}


def compute(names: Sequence[str], pred: Sequence[int], gold: Sequence[int]) -> dict[str, float]:
    """The named metrics as a dict."""
    return {n: _METRICS[n](pred, gold) for n in names}
