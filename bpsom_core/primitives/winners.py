"""Winner search, cell labelling and the SOM error term (C: som.h, bp.h).

Grid cells are flattened in the C's scan order, ``k = (x-1)*D + (y-1)`` with
x the outer loop.  Class labels are 1-based ints; 0 means "no label".
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from ._backend import ops_for
from .distance import sq_distances

try:
    import numba as _nb
except Exception:  # pragma: no cover
    _nb = None

if _nb is not None:
    @_nb.njit(cache=True, nogil=True)
    def _partial_kernel(d2, order, starts, classes, limit, partial, part_d2):  # pragma: no cover
        """Last minimum (the C's ``<=``) over the cells of each example's class only.

        ``order`` lists the cells grouped by label, in scan order within a
        label; ``starts[k]:starts[k+1]`` is label k's slice.
        """
        n_b = d2.shape[0]
        n_lab = starts.shape[0] - 1
        for b in range(n_b):
            cls = classes[b]
            p, pd = -1, np.inf
            if 0 < cls < n_lab:
                for j in range(starts[cls], starts[cls + 1]):
                    c = order[j]
                    d = d2[b, c]
                    if d <= pd and d <= limit:
                        p, pd = c, d
            partial[b] = p
            part_d2[b] = pd
else:  # pragma: no cover
    _partial_kernel = None


def find_winners(acts: Any, prototypes: Any, cell_labels: Any, classes: Any, *,
                 method: str = "exact", max_d2: Optional[float] = None
                 ) -> Tuple[Any, Any, Any, Any]:
    """Overall and partial (class-matching) winner cells for a batch.

    acts (B, H), prototypes (C, H), cell_labels (C,), classes (B,).  Returns
    ``(winner, partial, winner_d2, partial_d2)``, each (B,).  The overall
    winner is the FIRST cell of minimal squared distance in scan order (the C
    compares with ``<``); the partial winner is the LAST minimal cell among
    those whose label equals the example's class (the C uses ``<=``), or -1
    with distance +inf when no cell carries that class (or the class is 0).
    ``max_d2`` reproduces the C's start value (99999.0): cells at or beyond it
    never win (winner -1).  Distances come from :func:`sq_distances` with
    ``method`` ("exact" sums units in order like the C, so duplicate or
    equidistant prototypes tie exactly on both backends).
    """
    ops = ops_for(acts)
    d2 = sq_distances(acts, prototypes, method)
    n_b, n_c = d2.shape
    inf = float("inf")
    labels = ops.asarray(cell_labels, like=d2, dtype=ops.int_dtype())
    cls = ops.asarray(classes, like=d2, dtype=ops.int_dtype())
    if n_c == 0 or n_b == 0:
        empty_i = ops.full((n_b,), -1, ops.int_dtype(), like=d2)
        empty_f = ops.full((n_b,), inf, d2.dtype, like=d2)
        return empty_i, empty_i, empty_f, empty_f
    winner = ops.argmin1(d2)  # first minimum in scan order
    winner_d2 = d2[ops.arange(n_b, like=d2), winner]
    if max_d2 is not None:
        bad = ~(winner_d2 < max_d2)
        winner = ops.where(bad, -1, winner)
        winner_d2 = ops.where(bad, inf, winner_d2)
    if ops.name == "numpy" and _partial_kernel is not None and labels.shape == (n_c,) and labels.min() >= 0:
        n_lab = int(max(labels.max(), cls.max(initial=0))) + 1
        order = np.argsort(labels, kind="stable")
        starts = np.zeros(n_lab + 1, np.int64)
        np.cumsum(np.bincount(labels, minlength=n_lab), out=starts[1:])
        partial = np.empty(n_b, np.int64)
        partial_d2 = np.empty(n_b, d2.dtype)
        _partial_kernel(d2, order, starts, np.ascontiguousarray(cls), inf if max_d2 is None else max_d2,
                        partial, partial_d2)
        return winner, partial, winner_d2, partial_d2

    match = (labels[None, :] == cls[:, None]) & (cls[:, None] > 0)
    if max_d2 is not None:
        match = match & (d2 <= max_d2)
    masked = ops.where(match, d2, inf)
    # last minimum: argmin (first) on the cell-reversed matrix
    rev = masked[:, ::-1] if ops.name == "numpy" else masked.flip(1)
    partial = (n_c - 1) - ops.argmin1(rev)
    has = ops.any1(match)
    partial_d2 = masked[ops.arange(n_b, like=d2), partial]
    partial = ops.where(has, partial, -1)
    partial_d2 = ops.where(has, partial_d2, inf)
    return winner, partial, winner_d2, partial_d2


def count_cells(winner: Any, classes: Any, n_cells: int, n_labels: int) -> Any:
    """Per-cell class counts (C, n_labels+1) from one labelling pass.

    Column c counts examples of class c won by that cell; column 0 collects
    unlabelled examples and is ignored by :func:`label_cells`.  Examples with
    winner -1 are not counted (C: som_cell_teller).
    """
    ops = ops_for(winner)
    w = ops.asarray(winner, dtype=ops.int_dtype())
    c = ops.asarray(classes, like=w, dtype=ops.int_dtype())
    if ((c < 0) | (c > n_labels)).any():
        raise ValueError(f"classes must lie in 0..{n_labels}")
    ok = w >= 0
    flat = w[ok] * (n_labels + 1) + c[ok]
    if ops.name == "numpy":
        counts = np.bincount(flat, minlength=n_cells * (n_labels + 1))
    else:
        counts = ops.t.bincount(flat, minlength=n_cells * (n_labels + 1))
    return counts.reshape(n_cells, n_labels + 1)


def label_cells(counts: Any) -> Tuple[Any, Any]:
    """Cell labels and integer reliabilities from class counts (C: count_som_cell_winners).

    counts (C, n_labels+1).  The label is the FIRST class c >= 1 with the
    strictly largest count (0 when the cell won nothing); the reliability is
    ``int(100.0 * max / total)`` truncated toward zero, 0 for empty cells.
    """
    ops = ops_for(counts)
    cnt = counts[:, 1:]
    n_c = cnt.shape[0]
    if cnt.shape[1] == 0:
        z = ops.zeros((n_c,), ops.int_dtype(), like=counts)
        return z, z
    best = ops.argmin1(-cnt)  # first maximum
    best_count = cnt[ops.arange(n_c, like=counts), best]
    total = cnt.sum(1)
    labels = ops.where(best_count > 0, best + 1, 0)
    num = 100.0 * ops.to_float64(best_count)
    den = ops.to_float64(total)
    safe = ops.where(total > 0, den, 1.0)
    rel = ops.cast(ops.floor(num / safe), ops.int_dtype())
    rel = ops.where(total > 0, rel, 0)
    return ops.cast(labels, ops.int_dtype()), rel


def som_error(acts: Any, prototypes: Any, partial: Any, reliability: Any,
              threshold: float) -> Tuple[Any, Any]:
    """The SOM error term of the hidden delta (C: backprop in bp.h).

    ``use`` marks examples whose partial winner exists and whose reliability
    reaches ``threshold``; there ``err = 0.01 * reliability * (prototype -
    act)`` (computed in double, rounded to the acts' dtype, as the C stores it
    in a float), elsewhere 0.
    """
    ops = ops_for(acts)
    part = ops.asarray(partial, like=acts, dtype=ops.int_dtype())
    rel_all = ops.asarray(reliability, like=acts, dtype=ops.int_dtype())
    has = part >= 0
    safe = ops.where(has, part, 0)
    if rel_all.shape[0] == 0:
        rel = ops.zeros(part.shape, ops.int_dtype(), like=acts)
        proto = ops.zeros(acts.shape, acts.dtype, like=acts)
    else:
        rel = rel_all[safe]
        proto = ops.take_rows(prototypes, safe)
    use = has & (rel >= threshold)
    diff = ops.to_float64(ops.cast(proto, acts.dtype) - acts)
    coef = 0.01 * ops.to_float64(rel)
    err = ops.cast(coef[:, None] * diff, acts.dtype)
    err = ops.where(use[:, None], err, ops.zeros(acts.shape, acts.dtype, like=acts))
    return err, use


def combine_hidden_delta(bp_delta: Any, som_err: Any, use: Any, alpha: float) -> Any:
    """``(1-alpha)*bp + alpha*som`` where ``use``, else ``bp`` (C: backprop).

    Both weights are rounded to the delta's dtype first, as the C keeps them
    in floats.
    """
    ops = ops_for(bp_delta)
    if ops.name == "numpy":
        dt = bp_delta.dtype.type
        a = dt(alpha)
        b = dt(1.0 - float(a))
    else:
        a = float(ops.t.tensor(alpha, dtype=bp_delta.dtype))
        b = float(ops.t.tensor(1.0 - a, dtype=bp_delta.dtype))
    mixed = b * bp_delta + a * som_err
    return ops.where(use[:, None], mixed, bp_delta)
