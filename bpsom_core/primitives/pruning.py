"""Activation statistics and variance pruning (C: bp.h, prune_weights).

A hidden unit whose activation hardly varies carries no information; the C
removes it and folds its mean contribution into the next layer's bias, so the
network's output is unchanged to first order.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from . import rules as R
from ._backend import ops_for


def activation_stats(acts: Any, mean: Optional[Any] = None) -> Tuple[Any, Any]:
    """Per-unit mean and population std of ``acts`` (B, H).

    Pass ``mean`` to measure spread around a mean taken elsewhere (the C uses
    the learning pass's mean for the labelling pass's std).
    """
    ops = ops_for(acts)
    if ops.name == "numpy" and acts.ndim == 2 and acts.dtype.kind == "f" and acts.shape[0] > 0:
        out_mean = np.empty(acts.shape[1], acts.dtype)
        out_std = np.empty(acts.shape[1], acts.dtype)
        given = np.zeros(acts.shape[1], acts.dtype) if mean is None else np.asarray(mean, dtype=acts.dtype)
        R.running_stats(np.ascontiguousarray(acts), given, mean is not None, out_mean, out_std)
        return out_mean, out_std
    # torch: the same statistics, summed by the library (mirrors rules.mean_add .. std_of)
    m = acts.mean(0) if mean is None else ops.asarray(mean, like=acts, dtype=acts.dtype)
    dev = acts - m[None, :]
    std = ops.sqrt((dev * dev).mean(0))
    return m, std


def prune_mask(std: Any, threshold: float) -> Any:
    """Units to prune: ``std <= threshold``, never all of them.

    As in the C, nothing is pruned when the threshold is not above DONOTHING
    (0.0001), and a layer keeps at least one unit (the C stops at N == 1): if
    every unit qualifies, the one with the largest std (first on ties) stays.
    """
    ops = ops_for(std)
    mask = std <= threshold
    if not R.pruning_enabled(threshold):
        return mask & False
    if bool(mask.all()) and mask.shape[0] > 0:
        keep = int(ops.argmin1(-std[None, :])[0])
        mask[keep] = False
    return mask


def absorb_bias(next_bias: Any, next_weight_rows: Any, mean: Any, pruned: Any) -> Any:
    """Next layer's bias with the pruned units' mean contribution folded in.

    next_bias (O,), next_weight_rows (H, O) (row h = weights leaving unit h),
    mean (H,), pruned (H,) bool.  Units are folded one after another in index
    order, each as ``bias + mean_h * w_h`` in the bias's dtype, as the C does.
    """
    ops = ops_for(next_bias)
    bias = next_bias + 0
    idx = np.flatnonzero(np.asarray(pruned if ops.name == "numpy" else pruned.cpu().numpy()))
    for h in idx:
        bias = R.absorb_unit(bias, mean[h], next_weight_rows[h])
    return bias


def remove_units(array: Any, pruned: Any, axis: int = 0) -> Any:
    """``array`` without the pruned units along ``axis`` (weights, prototypes, stats)."""
    ops = ops_for(array)
    if ops.name == "numpy":
        keep = ~np.asarray(pruned, dtype=bool)
        return np.compress(keep, array, axis=axis)
    keep = ~pruned.to(device=array.device, dtype=ops.t.bool)
    return array.index_select(axis, ops.t.nonzero(keep).flatten())
