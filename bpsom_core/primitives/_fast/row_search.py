"""One row of distances searched by the C's rules, and float bit patterns.

Non-negative floats order like their bit patterns read as signed integers,
and integer minima vectorise where float ones would need fastmath: the
searches here and in :mod:`.screen` work on patterns.
"""

from __future__ import annotations

import numba as _nb
import numpy as np
from numba.core import types as _nb_types
from numba.extending import intrinsic as _intrinsic
from numba.extending import overload as _overload

from .. import rules as R


def _as_bits(row):  # pragma: no cover - typed by the overload below
    raise NotImplementedError


@_overload(_as_bits)
def _as_bits_impl(row):
    """A float row read as integers of its width, the pattern of +inf, and one above."""
    if row.dtype.bitwidth == 32:
        return lambda row: (row.view(np.int32), np.int32(0x7F800000), np.int32(0x7F800001))
    return lambda row: (row.view(np.int64), np.int64(0x7FF0000000000000), np.int64(0x7FF0000000000001))


@_intrinsic
def _float_bits(typingctx, x):
    """The bit pattern of a float as a signed integer of its width (no memory trip)."""
    if not isinstance(x, _nb_types.Float):
        return None
    int_t = _nb_types.int32 if x.bitwidth == 32 else _nb_types.int64

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(int_t))
    return int_t(x), codegen


@_nb.njit(cache=True, nogil=True)
def _pick(row, b, labels, wants, limit, limit_bits,
          winner, winner_d2, partial, part_d2):  # pragma: no cover - compiled
    """Winner (first minimum, as ``np.argmin``: a NaN wins at once) and partial
    winner (last minimum, the C's ``<=``, over the cells labelled with the
    example's class and at or below ``limit``) of one row of distances.

    Non-negative floats order like their bit patterns read as integers, and
    integer min/max reductions and selects vectorise (float ones would need
    fastmath): one pass finds the smallest pattern, the largest, and the
    smallest among the class's cells (``limit_bits`` is :func:`_limit_bits`
    of ``limit``), a second the first and last cells holding them.  Rows
    with a NaN or a negative value take the plain scans instead; those
    call :func:`.rules.beats_winner` and :func:`.rules.beats_partial`, of
    which the pattern pass is the vectorised form (first and last minimum).
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
                if R.beats_winner(v, best):
                    best = v
                    w = c
                elif v != v:
                    w = c
                    break
        for c in range(n_c):
            d = row[c]
            if labels[c] == want and R.beats_partial(d, pd) and d <= limit:
                p, pd = c, d
    winner[b] = w
    winner_d2[b] = row[w]
    partial[b] = p
    part_d2[b] = pd

