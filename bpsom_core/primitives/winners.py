"""Winner search, cell labelling and the SOM error term (C: som.h, bp.h).

Grid cells are flattened in the C's scan order, ``k = (x-1)*D + (y-1)`` with
x the outer loop.  Class labels are 1-based ints; 0 means "no label".
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Optional, Tuple

import numpy as np

from ._backend import ops_for
from ._threads import run_rows
from .distance import METHODS, _sq_dist_pair, _sq_dist_row, sq_distances, transposed

try:
    import numba as _nb
except Exception:  # pragma: no cover
    _nb = None

if _nb is not None:
    from numba.extending import overload as _overload

    def _as_bits(row):  # pragma: no cover - typed by the overload below
        raise NotImplementedError

    @_overload(_as_bits)
    def _as_bits_impl(row):
        """A float row read as integers of its width, the pattern of +inf, and one above."""
        if row.dtype.bitwidth == 32:
            return lambda row: (row.view(np.int32), np.int32(0x7F800000), np.int32(0x7F800001))
        return lambda row: (row.view(np.int64), np.int64(0x7FF0000000000000), np.int64(0x7FF0000000000001))

    @_nb.njit(cache=True, nogil=True)
    def _pick(row, b, labels, order, starts, wants, limit, limit_bits,
              winner, winner_d2, partial, part_d2):  # pragma: no cover - compiled
        """Winner (first minimum, as ``np.argmin``: a NaN wins at once) and partial
        winner (last minimum, the C's ``<=``, over the cells labelled with the
        example's class and at or below ``limit``) of one row of distances.

        Non-negative floats order like their bit patterns read as integers, and
        integer min/max reductions and selects vectorise (float ones would need
        fastmath): one pass finds the smallest pattern, the largest, and the
        smallest among the class's cells (``limit_bits`` is :func:`_limit_bits`
        of ``limit``), a second the first and last cells holding them.  Rows
        with a NaN or a negative value take the plain scans instead (``order``
        lists the cells grouped by label, in scan order within a label;
        ``starts[k]:starts[k+1]`` is label k's slice).
        """
        n_c = row.shape[0]
        want = wants[b]
        bits, inf_bits, none = _as_bits(row)  # none: above every pattern of a NaN-free row
        lo = bits[0]
        hi = bits[0]
        plo = none
        for c in range(n_c):
            v = bits[c]
            lo = min(lo, v)
            hi = max(hi, v)
            plo = min(plo, v if (labels[c] == want) & (v <= limit_bits) else none)
        p = -1
        pd = np.inf
        if lo >= 0 and hi <= inf_bits:
            w = n_c
            last = -1
            for c in range(n_c):
                v = bits[c]
                w = min(w, c if v == lo else n_c)
                last = max(last, c if (v == plo) & (labels[c] == want) else -1)
            if last >= 0:
                p = last
                pd = row[p]
        else:  # a NaN or a negative distance: the plain scans
            w = 0
            best = row[0]
            if best == best:
                for c in range(1, n_c):
                    v = row[c]
                    if v < best:
                        best = v
                        w = c
                    elif v != v:
                        w = c
                        break
            if want > 0:
                for j in range(starts[want], starts[want + 1]):
                    c = order[j]
                    d = row[c]
                    if d <= pd and d <= limit:
                        p, pd = c, d
        winner[b] = w
        winner_d2[b] = row[w]
        partial[b] = p
        part_d2[b] = pd

    @_nb.njit(cache=True, nogil=True)
    def _winners_exact_rows(acts, protos_t, minus_one, labels, order, starts, wants, limit, limit_bits,
                            winner, winner_d2, partial, part_d2, start, stop):  # pragma: no cover
        """Exact distances of one example at a time (the C's unit order), searched while hot."""
        rows = np.empty((2, protos_t.shape[1]), dtype=acts.dtype)
        b = start
        while b + 1 < stop:
            _sq_dist_pair(acts, b, protos_t, rows[0], rows[1], minus_one)
            _pick(rows[0], b, labels, order, starts, wants, limit, limit_bits, winner, winner_d2, partial, part_d2)
            _pick(rows[1], b + 1, labels, order, starts, wants, limit, limit_bits, winner, winner_d2, partial, part_d2)
            b += 2
        if b < stop:
            _sq_dist_row(acts, b, protos_t, rows[0])
            _pick(rows[0], b, labels, order, starts, wants, limit, limit_bits, winner, winner_d2, partial, part_d2)

    @_nb.njit(cache=True, nogil=True)
    def _winners_fast_rows(g, a_sq, p_sq, zero, labels, order, starts, wants, limit, limit_bits,
                           winner, winner_d2, partial, part_d2):  # pragma: no cover
        """``max(|a|^2 - 2 a.p + |p|^2, 0)`` in place over ``g = a @ p.T`` (the same
        float operations, in the same order, as :func:`sq_distances` "fast"), then
        the winner search on each row."""
        n_b, n_c = g.shape
        for b in range(n_b):
            row = g[b]
            ab = a_sq[b]
            for c in range(n_c):
                v = (ab - (row[c] + row[c])) + p_sq[c]
                row[c] = zero if v < zero else v  # np.maximum(v, 0): a NaN stays
            _pick(row, b, labels, order, starts, wants, limit, limit_bits, winner, winner_d2, partial, part_d2)

    @_nb.njit(cache=True, nogil=True)
    def _som_error_kernel(acts, protos, partial, rel_all, threshold, err, use):  # pragma: no cover
        """err = (0.01 * rel) * (proto - act): difference in the acts' dtype, product in double."""
        n_b, n_h = acts.shape
        for b in range(n_b):
            p = partial[b]
            ok = False
            r = 0
            if p >= 0:
                r = rel_all[p]
                ok = r >= threshold
            use[b] = ok
            e = err[b]
            if ok:
                coef = 0.01 * np.float64(r)
                for i in range(n_h):
                    e[i] = coef * np.float64(protos[p, i] - acts[b, i])
            else:
                for i in range(n_h):
                    e[i] = 0
else:  # pragma: no cover
    _winners_exact_rows = _winners_fast_rows = _som_error_kernel = None

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


def _wanted_labels(labels: np.ndarray, cls: np.ndarray, n_lab: int, dtype: np.dtype):
    """Cell labels and each example's wanted label (-1: none, for class 0 or a class
    no cell can carry), as integers as wide as the distances' bit patterns, so the
    searches vectorise with one lane width."""
    int_t = np.int32 if dtype.itemsize == 4 and n_lab < 2**31 else np.int64
    wants = np.where((cls > 0) & (cls < n_lab), cls, -1).astype(int_t)
    return np.ascontiguousarray(labels, dtype=int_t), wants


def _label_slices(labels: np.ndarray, cls: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Cells grouped by label (scan order within a label) and each label's start."""
    n_lab = int(max(labels.max(), cls.max(initial=0))) + 1
    order = np.argsort(labels, kind="stable")
    starts = np.zeros(n_lab + 1, np.int64)
    np.cumsum(np.bincount(labels, minlength=n_lab), out=starts[1:])
    return order, starts


def _find_winners_numpy(acts, prototypes, labels, cls, method, max_d2):
    """Fused NumPy path: distances and both searches per example, no (B, C) pass after."""
    acts = np.asarray(acts)
    dtype = np.result_type(acts.dtype, np.float32)
    if dtype not in _KERNEL_DTYPES:
        return None
    acts = np.ascontiguousarray(acts, dtype=dtype)
    protos = np.asarray(prototypes, dtype=dtype)
    n_b = acts.shape[0]
    order, starts = _label_slices(labels, cls)
    labels, wants = _wanted_labels(labels, cls, len(starts) - 1, dtype)
    limit = float("inf") if max_d2 is None else float(max_d2)
    limit_bits = np.dtype(labels.dtype).type(_limit_bits(limit, dtype))
    winner = np.empty(n_b, np.int64)
    partial = np.empty(n_b, np.int64)
    winner_d2 = np.empty(n_b, dtype)
    partial_d2 = np.empty(n_b, dtype)
    outs = (winner, winner_d2, partial, partial_d2)
    if method == "fast":
        g = acts @ protos.T
        a_sq = (acts * acts).sum(1)
        p_sq = (protos * protos).sum(1)
        _winners_fast_rows(g, a_sq, p_sq, dtype.type(0), labels, order, starts, wants, limit, limit_bits,
                           *outs)
    else:
        protos_t = transposed(protos)
        run_rows(_winners_exact_rows, n_b, protos_t.size, acts, protos_t, dtype.type(-1), labels, order, starts,
                 wants, limit, limit_bits, *outs)
    return outs


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
    equidistant prototypes tie exactly on both backends).  On NumPy one numba
    pass per example computes its distances and both searches while the row
    is in cache (the same floats and ties as distances-then-search).
    """
    ops = ops_for(acts)
    if (ops.name == "numpy" and _winners_exact_rows is not None and method in METHODS
            and acts.ndim == 2 and prototypes.ndim == 2 and acts.shape[1] == prototypes.shape[1]
            and acts.shape[0] > 0 and prototypes.shape[0] > 0):
        labels = np.asarray(cell_labels, dtype=np.int64)
        cls = np.asarray(classes, dtype=np.int64)
        if labels.shape == (prototypes.shape[0],) and cls.shape == (acts.shape[0],) and labels.min() >= 0:
            got = _find_winners_numpy(acts, prototypes, labels, cls, method, max_d2)
            if got is not None:
                winner, winner_d2, partial, partial_d2 = got
                if max_d2 is not None:
                    bad = ~(winner_d2 < max_d2)
                    winner[bad] = -1
                    winner_d2[bad] = np.inf
                return winner, partial, winner_d2, partial_d2
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
    if ops.name == "numpy" and _som_error_kernel is not None:
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
    use = has & (rel >= threshold)
    diff = ops.to_float64(ops.cast(proto, acts.dtype) - acts)
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
