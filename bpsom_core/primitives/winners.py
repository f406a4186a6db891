"""Winner search, cell labelling and the SOM error term (C: som.h, bp.h).

Grid cells are flattened in the C's scan order, ``k = (x-1)*D + (y-1)`` with
x the outer loop.  Class labels are 1-based ints; 0 means "no label".
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Optional, Tuple

import numba as _nb
import numpy as np

from . import rules as R
from ._backend import ops_for
from ._fast import search_kernels as _sk
from ._fast.parallel import chunks_for
from ._fast.row_search import _pick  # noqa: F401 - the row search, for tests and callers
from ._fast.screen import screen_constants
from .distance import METHODS, sq_distances


@_nb.njit(cache=True, nogil=True)
def _som_error_kernel(acts, protos, partial, rel_all, threshold, err, use):  # pragma: no cover
    """The reliability gate and the SOM error term of :mod:`.rules`, example by example."""
    n_b, n_h = acts.shape
    for b in range(n_b):
        p = partial[b]
        r = rel_all[p] if p >= 0 else 0
        ok = R.reliable(p, r, threshold)
        use[b] = ok
        e = err[b]
        if ok:
            for i in range(n_h):
                e[i] = R.som_error_term(protos[p, i], acts[b, i], r)
        else:
            for i in range(n_h):
                e[i] = 0


@_nb.njit(cache=True, nogil=True)
def _label_kernel(counts, labels, rel):  # pragma: no cover - compiled
    """:func:`.rules.cell_label` of every cell."""
    for c in range(counts.shape[0]):
        labels[c], rel[c] = R.cell_label(counts[c])
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@lru_cache(maxsize=64)
def _limit_bits(limit: float, dtype: np.dtype) -> int:
    """Bit pattern, read as a signed integer, of the largest ``dtype`` value <= ``limit``:
    for non-negative floats ``d <= limit`` holds exactly when ``bits(d) <= _limit_bits``."""
    if limit != limit:
        return -1  # a NaN limit admits nothing
    with np.errstate(over="ignore"):  # a limit beyond the dtype's range: +inf, then the largest value
        lim = dtype.type(limit)
    if float(lim) > limit:
        lim = np.nextafter(lim, dtype.type(-np.inf))
    lim = lim + dtype.type(0)  # -0.0 -> +0.0
    return int(np.array(lim, dtype=dtype).view(np.int32 if dtype.itemsize == 4 else np.int64))


def search_args(acts: Any, prototypes: Any, cell_labels: Any, classes: Any, method: str,
                max_d2: Optional[float]) -> Optional[tuple]:
    """Arguments of the compiled NumPy search (:mod:`._fast.search_kernels`), or None where
    the generic path must decide (other array types or dtypes, odd shapes, bad labels)."""
    if not (isinstance(acts, np.ndarray) and isinstance(prototypes, np.ndarray)
            and method in METHODS and acts.ndim == 2 and prototypes.ndim == 2
            and acts.shape[1] == prototypes.shape[1] and acts.shape[0] > 0 and prototypes.shape[0] > 0):
        return None
    dtype = acts.dtype if acts.dtype in _KERNEL_DTYPES else np.result_type(acts.dtype, np.float32)
    if dtype not in _KERNEL_DTYPES:
        return None
    labels = np.asarray(cell_labels, dtype=np.int64)
    cls = np.asarray(classes, dtype=np.int64)
    if labels.shape != (prototypes.shape[0],) or cls.shape != (acts.shape[0],):
        return None
    lab_min, lab_max, cls_max = _sk.label_range(labels, cls)
    if lab_min < 0:
        return None
    # labels as integers as wide as the distances' bit patterns: the searches vectorise in one lane width
    narrow = dtype.itemsize == 4 and lab_max < 2**31 and cls_max < 2**31
    labels = labels.astype(np.int32 if narrow else np.int64)
    limit = float("inf") if max_d2 is None else float(max_d2)
    slack, tiny, big = screen_constants(acts.shape[1], dtype)
    return (np.ascontiguousarray(acts, dtype=dtype), np.ascontiguousarray(prototypes, dtype=dtype), labels, cls,
            limit, labels.dtype.type(_limit_bits(limit, dtype)), max_d2 is not None, method == "exact",
            slack, tiny, big)


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
    equidistant prototypes tie exactly on both backends).  On NumPy compiled
    kernels take dot products four examples at a time and search each row
    while it is in cache: "fast" on the expansion's distances, "exact" by
    screening every cell with a proven bound on the expansion's error and
    taking the C's sum only for the few cells in doubt, which gives the very
    results (ties included) of the exact sums of all cells
    (:mod:`._fast.search_kernels`).  Rows go to a second core when one is free.
    """
    args = search_args(acts, prototypes, cell_labels, classes, method, max_d2)
    if args is not None:
        n_chunks = chunks_for(acts.shape[0], acts.shape[0] * prototypes.size, kernel=_sk.winners_parallel)
        winner, winner_d2, partial, partial_d2 = (_sk.winners_parallel(*args, n_chunks) if n_chunks
                                                  else _sk.winners_serial(*args))
        return winner, partial, winner_d2, partial_d2
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
    width = n_labels + 1
    if ops.name == "numpy" or w.device.type == "cpu":
        if ((c < 0) | (c > n_labels)).any():
            raise ValueError(f"classes must lie in 0..{n_labels}")
    if ops.name == "numpy":
        ok = w >= 0
        return np.bincount(w[ok] * width + c[ok], minlength=n_cells * width).reshape(n_cells, width)
    # on an accelerator: no check and no data-dependent shapes, so no sync; rows with
    # winner -1 (or, unchecked, a class out of range) land in a spare last bin
    spare = n_cells * width
    ok = (w >= 0) & (c >= 0) & (c <= n_labels)
    flat = ops.where(ok, w * width + c, spare)
    counts = ops.t.zeros(spare + 1, dtype=ops.int_dtype(), device=w.device)
    counts.index_add_(0, flat, ops.t.ones_like(flat))
    return counts[:spare].reshape(n_cells, width)


def label_cells(counts: Any) -> Tuple[Any, Any]:
    """Cell labels and integer reliabilities from class counts (C: count_som_cell_winners).

    counts (C, n_labels+1).  The label is the FIRST class c >= 1 with the
    strictly largest count (0 when the cell won nothing); the reliability is
    ``int(100.0 * max / total)`` truncated toward zero, 0 for empty cells.
    """
    ops = ops_for(counts)
    if ops.name == "numpy" and counts.ndim == 2 and counts.dtype.kind in "iu":
        labels = np.empty(counts.shape[0], np.int64)
        rel = np.empty(counts.shape[0], np.int64)
        _label_kernel(np.ascontiguousarray(counts, dtype=np.int64), labels, rel)
        return labels, rel
    # torch (and float counts): the same rule over all cells at once
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
    if ops.name == "numpy":
        got = _som_error_numpy(acts, prototypes, part, rel_all, threshold)
        if got is not None:
            return got
    has = part >= 0
    safe = ops.where(has, part, 0)
    if rel_all.shape[0] == 0:
        rel = ops.zeros(part.shape, ops.int_dtype(), like=acts)
        proto = ops.zeros(acts.shape, acts.dtype, like=acts)
    else:
        rel = rel_all[safe]
        proto = ops.take_rows(prototypes, safe)
    use = has & (rel >= threshold)   # mirrors rules.reliable
    diff = ops.to_float64(ops.cast(proto, acts.dtype) - acts)   # mirrors rules.som_error_term
    coef = 0.01 * ops.to_float64(rel)
    err = ops.cast(coef[:, None] * diff, acts.dtype)
    err = ops.where(use[:, None], err, ops.zeros(acts.shape, acts.dtype, like=acts))
    return err, use


def _som_error_numpy(acts, prototypes, part, rel_all, threshold):
    """One pass over the batch; None where the generic path must decide (and raise)."""
    acts = np.asarray(acts)
    if (acts.dtype not in _KERNEL_DTYPES or acts.ndim != 2 or part.shape != (acts.shape[0],)
            or rel_all.ndim != 1 or rel_all.shape[0] == 0):
        return None
    protos = np.asarray(prototypes)
    if protos.ndim != 2 or protos.shape[1] != acts.shape[1] or not isinstance(threshold, (int, float, np.number)):
        return None
    if part.size and part.max() >= min(rel_all.shape[0], protos.shape[0]):
        return None
    err = np.empty(acts.shape, acts.dtype)
    use = np.empty(acts.shape[0], np.bool_)
    _som_error_kernel(acts, protos.astype(acts.dtype, copy=False), part, rel_all, float(threshold), err, use)
    return err, use


@lru_cache(maxsize=64)
def _torch_weights(alpha: float, dtype) -> Tuple[float, float]:
    """``alpha`` and ``1 - alpha`` rounded to a torch dtype (host only, no device sync)."""
    import torch
    a = float(torch.tensor(alpha, dtype=dtype))
    return a, float(torch.tensor(1.0 - a, dtype=dtype))


def combine_hidden_delta(bp_delta: Any, som_err: Any, use: Any, alpha: float) -> Any:
    """``(1-alpha)*bp + alpha*som`` where ``use``, else ``bp`` (C: backprop).

    The weights are :func:`.rules.delta_weights` in the delta's dtype, the
    mix :func:`.rules.mix_delta` over the batch.
    """
    ops = ops_for(bp_delta)
    if ops.name == "numpy":
        b, a = R.delta_weights(bp_delta.dtype.type(alpha))
    else:   # torch dtypes (half types too): the same two roundings, once per value (host only)
        a, b = _torch_weights(float(alpha), bp_delta.dtype)
    mixed = R.mix_delta.py_func(bp_delta, som_err, b, a)
    return ops.where(use[:, None], mixed, bp_delta)
