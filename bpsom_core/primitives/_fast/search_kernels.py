"""Compiled winner searches for NumPy batches (see :func:`.winners.find_winners`).

Two ways to get each example's overall and partial winner, both starting from
dot products ``a . p`` taken four examples at a time (:mod:`.distance`):

* "fast": distances ``|a|^2 - 2 a.p + |p|^2`` and the search on those
  (:func:`.row_search._pick`);
* "exact": screening (:mod:`.screen`), which gives the winners of the C's
  exact distances of all cells.

Rows are independent, so they may be split over threads; both ways give the
same results whichever thread or block computes a row.
"""

from __future__ import annotations

import numba as _nb
import numpy as np

from ..distance import _dots1, _dots4, _fast_d2_row, _proto_layout, _proto_layout_cells, cell_chunk, layout_buffers
from .row_search import _pick
from .screen import _screened_block


@_nb.njit(cache=True, nogil=True)
def _winner_rows(acts, protos, protos_t, p_sq, p_hi, p_lo, labels, wants, limit, limit_bits, screened,
                 slack, big, p_max, winner, winner_d2, partial, part_d2, start, stop):  # pragma: no cover
    """Both winners of rows ``start..stop``: dot products four rows at a time,
    then the screened exact search or the search on fast distances."""
    n_c = protos.shape[0]
    g = np.empty((4, n_c), dtype=acts.dtype)
    exact_row = np.empty(n_c, dtype=acts.dtype)
    a_sq = np.empty(4, dtype=acts.dtype)
    pair_b = np.empty(8, np.int64)
    pair_c = np.empty(8, np.int64)
    pair_d = np.empty(8, dtype=acts.dtype)
    squares = np.empty((8, acts.shape[1]), dtype=acts.dtype)
    pair_slots = np.empty((2, 4), np.int64)
    cells = np.arange(n_c).astype(np.int32)
    index_mask = np.int32(-1)  # cell indices in the low bits of float32 patterns (_upper_minima)
    if n_c <= 1 << 16:
        k = 1
        while (1 << k) < n_c:
            k += 1
        index_mask = np.int32((1 << k) - 1)
    zero = acts.dtype.type(0)
    b = start
    while b < stop:
        m = 4 if b + 3 < stop else 1
        if m == 4:
            _dots4(acts, b, protos_t, g, a_sq)
        else:
            _dots1(acts, b, protos_t, g[0], a_sq)
        if screened:
            _screened_block(g, m, b, a_sq, p_hi, p_lo, slack, big, p_max, acts, protos, protos_t, exact_row,
                            pair_b, pair_c, pair_d, pair_slots, squares, cells, index_mask, labels, wants, limit, limit_bits,
                            winner, winner_d2, partial, part_d2)
        else:
            for j in range(m):
                _fast_d2_row(g[j], a_sq[j], p_sq, zero)
                _pick(g[j], b + j, labels, wants, limit, limit_bits, winner, winner_d2, partial, part_d2)
        b += m


@_nb.njit(cache=True, nogil=True)
def _winner_setup(acts, labels, classes, p_sq, slack, tiny):  # pragma: no cover - compiled
    """Each example's wanted label (-1: none), the largest ``|p|^2`` (NaN if any
    is), the cells' parts of the screening bounds (``p_hi``, ``p_lo``: ``|p|^2``
    plus and minus ``slack |p|^2 + tiny``), and the outputs."""
    n_b = acts.shape[0]
    wants = np.empty(n_b, dtype=labels.dtype)
    for b in range(n_b):
        wants[b] = classes[b] if classes[b] > 0 else -1
    p_max = 0.0
    for c in range(p_sq.shape[0]):
        v = np.float64(p_sq[c])
        if v != v or p_max != p_max:
            p_max = np.nan  # a NaN prototype: no row may be screened
        elif v > p_max:
            p_max = v
    p_hi = np.empty_like(p_sq)
    p_lo = np.empty_like(p_sq)
    for c in range(p_sq.shape[0]):
        q = slack * p_sq[c] + tiny
        p_hi[c] = p_sq[c] + q
        p_lo[c] = p_sq[c] - q
    outs = (np.empty(n_b, np.int64), np.empty(n_b, acts.dtype), np.empty(n_b, np.int64), np.empty(n_b, acts.dtype))
    return wants, p_max, p_hi, p_lo, outs


@_nb.njit(cache=True, nogil=True)
def label_range(labels, classes):  # pragma: no cover - compiled
    """(smallest label, largest label, largest class) in one pass each."""
    lo = labels[0]
    hi = labels[0]
    for c in range(labels.shape[0]):
        lo = min(lo, labels[c])
        hi = max(hi, labels[c])
    top = classes[0]
    for b in range(classes.shape[0]):
        top = max(top, classes[b])
    return lo, hi, top


@_nb.njit(cache=True, nogil=True)
def _limit_winners(winner, winner_d2, limit):  # pragma: no cover - compiled
    """The C's start value: a winner at or beyond ``limit`` (or NaN) is no winner."""
    for b in range(winner.shape[0]):
        if not winner_d2[b] < limit:
            winner[b] = -1
            winner_d2[b] = np.inf


@_nb.njit(cache=True, nogil=True)
def winners_serial(acts, protos, labels, classes, limit, limit_bits, has_limit, screened,
                   slack, tiny, big):  # pragma: no cover - compiled
    """``(winner, winner_d2, partial, partial_d2)`` of a batch on the calling thread
    (``has_limit``: apply ``limit`` to the overall winner too, :func:`_limit_winners`)."""
    protos_t, p_sq = _proto_layout(protos)
    wants, p_max, p_hi, p_lo, outs = _winner_setup(acts, labels, classes, p_sq, slack, tiny)
    w, wd, p, pd = outs
    first = np.int64(0)  # not the literal 0: numba would compile the row search again for it
    _winner_rows(acts, protos, protos_t, p_sq, p_hi, p_lo, labels, wants, limit, limit_bits, screened, slack, big,
                 p_max, w, wd, p, pd, first, acts.shape[0])
    if has_limit:
        _limit_winners(w, wd, limit)
    return outs


@_nb.njit(cache=True, parallel=True)
def winners_parallel(acts, protos, labels, classes, limit, limit_bits, has_limit, screened,
                     slack, tiny, big, n_chunks):  # pragma: no cover - compiled
    """:func:`winners_serial` with the rows in ``n_chunks`` chunks side by side (same results)."""
    protos_t, p_sq = layout_buffers(protos)
    for ch in _nb.prange(n_chunks):
        _proto_layout_cells(protos, protos_t, p_sq, *cell_chunk(protos.shape[0], ch, n_chunks))
    wants, p_max, p_hi, p_lo, outs = _winner_setup(acts, labels, classes, p_sq, slack, tiny)
    n_b = acts.shape[0]
    w, wd, p, pd = outs
    for ch in _nb.prange(n_chunks):
        _winner_rows(acts, protos, protos_t, p_sq, p_hi, p_lo, labels, wants, limit, limit_bits, screened, slack,
                     big, p_max, w, wd, p, pd, n_b * ch // n_chunks, n_b * (ch + 1) // n_chunks)
    if has_limit:
        _limit_winners(w, wd, limit)
    return outs