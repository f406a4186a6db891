"""Screening: exact winners for the price of dot products (see :mod:`.search_kernels`).

The dot products give every cell's distance to within a proven bound, which
rules out all cells but the few that could be a minimum; only those get the
C's exact distance (units in order, no FMA), so the winners and their
distances are those of the exact distances of all cells.

The bound.  With ``u`` the unit roundoff of the dtype, ``n`` units, ``A =
|a|^2`` and ``P = |p|^2``: the dot product is off by at most ``n u (A+P)/2``,
the two norms by ``n u A`` and ``n u P``, the two additions by ``u`` of
``2(A+P)`` each, and the exact in-order sum of squares by ``(n+2) u`` of the
true distance, itself at most ``2(A+P)``.  In all ``(4n + 9) u (A+P)``, to
first order; the kernels use ``(4n + 16) u (A+P) * 2`` plus a term for
subnormal roundings.  A row whose norms are not finite or come near the
overflow range, or that leaves more than a few cells in doubt (many equal
prototypes), gets every cell's exact distance instead.
"""

from __future__ import annotations

from functools import lru_cache

import numba as _nb
import numpy as np
from numba.extending import overload as _overload

from ..distance import _sq_dist_row
from .row_search import _as_bits, _float_bits, _pick

MAX_DOUBTFUL = 6  # cells in doubt per search before a row takes every exact distance


@lru_cache(maxsize=64)
def screen_constants(n_units: int, dtype: np.dtype) -> tuple:
    """(slack, tiny, big) of the screening bound for ``n_units`` units (module doc):
    a cell's exact distance lies within ``slack * (A + P) + tiny`` of its
    fast one, for rows with ``A + max(P) < big``.  The factor 2 over the
    first-order bound also covers the roundings of the bounds themselves
    (about 14u more, split over the row's and the cell's terms)."""
    info = np.finfo(dtype)
    u = float(info.eps) / 2
    slack = (4 * n_units + 16) * u * 2
    tiny = 8.0 * (n_units + 2) * float(info.smallest_subnormal)
    return dtype.type(slack), dtype.type(tiny), float(info.max) / 64


@_nb.njit(cache=True, nogil=True)
def _exact_d2(acts, b, protos, c, zero):  # pragma: no cover - compiled
    """The C's distance of one pair: ``(a_i - p_i)**2`` added unit by unit, no FMA
    (the floats of :func:`.distance._sq_dist_row`)."""
    acc = zero
    for i in range(acts.shape[1]):
        d = acts[b, i] - protos[c, i]
        acc += d * d
    return acc


@_nb.njit(cache=True, nogil=True)
def _bound_bits(g, c, a_part, p_part):  # pragma: no cover - compiled
    """Bit pattern of cell ``c``'s bound ``max((a_part - 2g_c) + p_part_c, 0)``: its
    upper bound with the ``_hi`` parts, its lower bound with the ``_lo`` ones."""
    v = (a_part - (g[c] + g[c])) + p_part[c]
    return _float_bits(v if v > g.dtype.type(0) else g.dtype.type(0))


def _upper_minima(g, a_hi, p_hi, labels, want, limit_bits, none, index_mask):  # pragma: no cover
    raise NotImplementedError  # typed below


@_overload(_upper_minima)
def _upper_minima_impl(g, a_hi, p_hi, labels, want, limit_bits, none, index_mask):
    """``(cut_w, cut_p_or_none, cell_w, cell_p)`` over the upper bounds
    ``max((a_hi - 2g) + p_hi, 0)`` read as bit patterns.

    ``cut_w`` is at least the smallest upper bound, ``cut_p_or_none`` at
    least the smallest among the class's cells inside the limit (``none``
    when there is no such cell), and ``cell_w``/``cell_p`` are cells whose
    upper bound is at most those cuts (-1: not known).  For float32 with
    ``index_mask = 2**k - 1`` (``k`` bits hold a cell index; -1 when they
    do not fit), the low ``k`` bits of each pattern are replaced by the
    cell's index, and one int32 minimum in 16-wide lanes finds a cell in
    the lowest bucket of ``2**k`` patterns; the cut is that bucket's top, a
    little above the minimum, which is all the screening needs.
    """
    if g.dtype.bitwidth == 32:
        def packed(g, a_hi, p_hi, labels, want, limit_bits, none, index_mask):
            if index_mask < 0:
                return _upper_minima_plain(g, a_hi, p_hi, labels, want, limit_bits, none)
            n_c = g.shape[0]
            top = np.int32(0x7FFFFFFF)
            keep = ~index_mask
            key_w = top
            key_p = top
            for c in range(n_c):
                bits = _bound_bits(g, c, a_hi, p_hi)
                bucket = bits & keep
                key_w = min(key_w, bucket | np.int32(c))
                ok = (labels[c] == want) & (bits <= limit_bits)
                key_p = min(key_p, (bucket | np.int32(n_c - 1 - c)) if ok else top)
            cut_p = none if key_p == top else key_p | index_mask
            cell_p = -1 if key_p == top else n_c - 1 - (key_p & index_mask)
            return key_w | index_mask, cut_p, np.int64(key_w & index_mask), np.int64(cell_p)
        return packed
    return lambda g, a_hi, p_hi, labels, want, limit_bits, none, index_mask: _upper_minima_plain(
        g, a_hi, p_hi, labels, want, limit_bits, none)


@_nb.njit(cache=True, nogil=True)
def _upper_minima_plain(g, a_hi, p_hi, labels, want, limit_bits, none):  # pragma: no cover - compiled
    """:func:`_upper_minima` without cell indices: the exact minima."""
    cut_w = none
    best_p = none
    for c in range(g.shape[0]):
        v = _bound_bits(g, c, a_hi, p_hi)
        cut_w = min(cut_w, v)
        best_p = min(best_p, v if (labels[c] == want) & (v <= limit_bits) else none)
    return cut_w, best_p, np.int64(-1), np.int64(-1)


@_nb.njit(cache=True, nogil=True)
def _other_lower_minima(g, a_lo, p_lo, labels, want, cells, c_w, c_p, none):  # pragma: no cover - compiled
    """Smallest lower-bound pattern over the cells other than ``c_w``, and over
    the class's cells other than ``c_p`` (``none`` if there are none).  All in
    int32 lanes (``cells`` holds the indices as int32), so it vectorises 16 wide."""
    other_w = none
    other_p = none
    for c in range(g.shape[0]):
        v = _bound_bits(g, c, a_lo, p_lo)
        k = cells[c]
        other_w = min(other_w, v if k != c_w else none)
        other_p = min(other_p, v if (labels[c] == want) & (k != c_p) else none)
    return other_w, other_p


@_nb.njit(cache=True, nogil=True)
def _doubt_span(g, a_lo, p_lo, labels, want, cut, class_only):  # pragma: no cover - compiled
    """First and last cell (of the class, if ``class_only``) whose lower bound is at most ``cut``."""
    first = -1
    last = -1
    for c in range(g.shape[0]):
        if _bound_bits(g, c, a_lo, p_lo) <= cut and (not class_only or labels[c] == want):
            if first < 0:
                first = c
            last = c
    return first, last


@_nb.njit(cache=True, nogil=True)
def _screen_row(g, a_hi, a_lo, p_hi, p_lo, labels, want, limit_bits, cells, index_mask):  # pragma: no cover
    """The cells in doubt of one row, from its dot products ``g``.

    Cell c's exact distance lies between ``(a_lo - 2g_c) + p_lo_c`` and
    ``(a_hi - 2g_c) + p_hi_c`` (module doc; the row's and the cells' parts of
    the bound are folded into those four terms by :func:`_bound_terms`).
    Returns ``(n_w, first_w, last_w, cut_w, n_p, first_p, last_p, cut_p)``:
    the overall search must look at the cells whose lower bound's pattern is
    at most ``cut_w`` (the smallest upper bound: no other can be a minimum),
    the partial one at the class's cells at most ``cut_p`` (the smallest
    upper bound inside the limit, else the limit); ``n_*`` counts them,
    ``first_*`` and ``last_*`` bracket them.  The cell with the smallest
    upper bound is always in doubt, so when it is the only one its index
    comes with the minimum (:func:`_upper_minima`, ``index_mask``), and one
    pass of int32 minima (:func:`_other_lower_minima`; ``cells`` is 0..C-1
    as int32) shows that no other cell is in doubt.
    """
    n_c = g.shape[0]
    none = _as_bits(g)[2]  # above every pattern of a NaN-free bound
    cut_w, best_p, cell_w, cell_p = _upper_minima(g, a_hi, p_hi, labels, want, limit_bits, none, index_mask)
    cut_p = min(best_p, limit_bits)  # no class cell surely inside the limit: the limit
    if cell_w >= 0:  # is the cell found with each minimum the only one in doubt?
        c_w = np.int32(cell_w)
        c_p = np.int32(cell_p)
        other_w, other_p = _other_lower_minima(g, a_lo, p_lo, labels, want, cells, c_w, c_p, none)
        if other_w > cut_w and other_p > cut_p:
            if c_p < 0:
                return 1, cell_w, cell_w, cut_w, 0, -1, -1, cut_p
            return 1, cell_w, cell_w, cut_w, 1, cell_p, cell_p, cut_p
    n_w = 0
    n_p = 0
    for c in range(n_c):
        v = _bound_bits(g, c, a_lo, p_lo)
        n_w += v <= cut_w
        n_p += (labels[c] == want) & (v <= cut_p)
    first_w, last_w = _doubt_span(g, a_lo, p_lo, labels, want, cut_w, False)
    if n_p == 0:
        first_p = last_p = -1
    else:
        first_p, last_p = _doubt_span(g, a_lo, p_lo, labels, want, cut_p, True)
    return n_w, first_w, last_w, cut_w, n_p, first_p, last_p, cut_p


@_nb.njit(cache=True, nogil=True)
def _exact_d2_8(acts, protos, pair_b, pair_c, squares, out, zero):  # pragma: no cover - compiled
    """:func:`_exact_d2` of eight pairs at once.  The rounded squares
    ``(a_i - p_i)**2`` are the same floats whether taken one by one or side
    by side, so they are taken as vectors; the sums then run as eight
    independent chains of additions, in unit order, which keeps the adder
    busy where one chain waits on each sum."""
    n_h = acts.shape[1]
    for k in range(8):
        a = acts[pair_b[k]]
        p = protos[pair_c[k]]
        sq = squares[k]
        for i in range(n_h):
            d = a[i] - p[i]
            sq[i] = d * d
    q0, q1, q2, q3, q4, q5, q6, q7 = (squares[0], squares[1], squares[2], squares[3],
                                      squares[4], squares[5], squares[6], squares[7])
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = zero
    for i in range(n_h):
        s0 += q0[i]
        s1 += q1[i]
        s2 += q2[i]
        s3 += q3[i]
        s4 += q4[i]
        s5 += q5[i]
        s6 += q6[i]
        s7 += q7[i]
    out[0], out[1], out[2], out[3], out[4], out[5], out[6], out[7] = s0, s1, s2, s3, s4, s5, s6, s7


@_nb.njit(cache=True, nogil=True)
def _resolve_doubtful(g, b, screen, a_lo, p_lo, acts, protos, labels, want, limit, zero,
                      winner, winner_d2, partial, part_d2):  # pragma: no cover - compiled
    """Both winners of a screened row with several cells in doubt: the exact
    distance of each, then the C's rules (first minimum; last minimum within the limit)."""
    n_w, first_w, last_w, cut_w, n_p, first_p, last_p, cut_p = screen
    w = -1
    wd = np.inf
    for c in range(first_w, last_w + 1):
        if _bound_bits(g, c, a_lo, p_lo) <= cut_w:
            e = _exact_d2(acts, b, protos, c, zero)
            if w < 0 or e < wd:  # first minimum
                w, wd = c, e
    p = -1
    pd = np.inf
    for c in range(first_p, last_p + 1):
        if labels[c] == want and _bound_bits(g, c, a_lo, p_lo) <= cut_p:
            e = wd if c == w else _exact_d2(acts, b, protos, c, zero)
            if e <= pd and e <= limit:
                p, pd = c, e
    winner[b] = w
    winner_d2[b] = wd
    partial[b] = p
    part_d2[b] = pd


@_nb.njit(cache=True, nogil=True)
def _screened_block(g, m, b0, a_sq, p_hi, p_lo, slack, big, p_max, acts, protos, protos_t, exact_row,
                    pair_b, pair_c, pair_d, pair_slots, squares, cells, index_mask, labels, wants, limit, limit_bits,
                    winner, winner_d2, partial, part_d2):  # pragma: no cover - compiled
    """Both winners, with exact distances, of the ``m`` rows ``b0..`` whose dot
    products are in ``g`` (module doc).

    Usually one cell stays in doubt per search: those cells' exact distances
    are taken together for the block (:func:`_exact_d2_8`).  Rows with more
    in doubt are resolved one cell at a time, rows that cannot be screened
    (or with too many in doubt) from all their exact distances.
    """
    zero = g.dtype.type(0)
    n_pairs = 0
    slot_w = pair_slots[0]  # row j's pair index for its winner (-1: resolved already)
    slot_p = pair_slots[1]  # ... for its partial winner (-1: none in doubt)
    for j in range(4):
        slot_w[j] = -1
        slot_p[j] = -1
    for j in range(m):
        b = b0 + j
        want = wants[b]
        a = a_sq[j]
        if np.float64(a) + np.float64(p_max) < big:  # also False for a NaN
            a_lo = a - slack * a
            screen = _screen_row(g[j], a + slack * a, a_lo, p_hi, p_lo, labels, want, limit_bits, cells, index_mask)
            n_w, first_w, n_p, first_p = screen[0], screen[1], screen[4], screen[5]
            if n_w == 1 and n_p <= 1:
                slot_w[j] = n_pairs
                pair_b[n_pairs] = b
                pair_c[n_pairs] = first_w
                n_pairs += 1
                if n_p == 1:
                    if first_p == first_w:
                        slot_p[j] = slot_w[j]
                    else:
                        slot_p[j] = n_pairs
                        pair_b[n_pairs] = b
                        pair_c[n_pairs] = first_p
                        n_pairs += 1
                continue
            if n_w <= MAX_DOUBTFUL and n_p <= MAX_DOUBTFUL:
                _resolve_doubtful(g[j], b, screen, a_lo, p_lo, acts, protos, labels, want, limit, zero,
                                  winner, winner_d2, partial, part_d2)
                continue
        _sq_dist_row(acts, b, protos_t, exact_row)
        _pick(exact_row, b, labels, wants, limit, limit_bits, winner, winner_d2, partial, part_d2)
    if n_pairs == 0:
        return
    for k in range(n_pairs, 8):  # pad with a real pair
        pair_b[k] = pair_b[0]
        pair_c[k] = pair_c[0]
    _exact_d2_8(acts, protos, pair_b, pair_c, squares, pair_d, zero)
    for j in range(m):
        k = slot_w[j]
        if k < 0:
            continue
        b = b0 + j
        winner[b] = pair_c[k]
        winner_d2[b] = pair_d[k]
        k = slot_p[j]
        if k >= 0 and pair_d[k] <= limit:  # the only class cell that can be nearest
            partial[b] = pair_c[k]
            part_d2[b] = pair_d[k]
        else:
            partial[b] = -1
            part_d2[b] = np.inf
