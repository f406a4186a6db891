"""Squared Euclidean distances between activations and SOM prototypes.

Two methods, chosen by the caller:

* ``"exact"`` (default) sums ``(a_i - p_i)**2`` over units one unit at a time,
  in the array's own dtype, exactly as the C's ``count_distance`` does
  (float32 in, float32 accumulation, units in order).  NumPy and torch then
  give bit-identical distances, so winner ties follow the C's rules on both
  backends.  Memory is O(batch x cells): no (batch, cells, units) temporary.
  On NumPy a numba kernel does the loop (two examples per pass over the
  prototypes, half the differences on the FMA ports, rows split over a few
  threads for big batches: all bit-identical to the plain loop); on torch it
  is one elementwise step per unit (H small kernels: for wide layers on a
  GPU prefer "fast").
  Tolerance: none - these are the C's float sums exactly, as long as the C
  build does not fuse multiply-adds (x86-64 SSE, the default, does not).
* ``"fast"`` uses the expansion ``|a|^2 - 2 a.p + |p|^2``: one matmul on torch;
  on NumPy compiled dot products four examples at a time (:func:`_dots4`,
  every term through one FMA, norms in unit order, so a row's floats do not
  depend on its block or thread).  It is much faster for wide layers, but
  rounding differs by a few ulp from the exact sum, so near-ties (not exact
  duplicates) may resolve differently from the C.  The rounding error is at
  most about ``2 n eps (|a|^2 + |p|^2)`` for ``n`` units (eps of the dtype),
  so another cell can win only when two cells are that close.  Results are
  clamped at zero.  (:func:`.find_winners`' "exact" search uses these dot
  products too, but only to rule cells out: see :mod:`._fast.screen`.)
"""

from __future__ import annotations

from typing import Any

import numba as _nb
import numpy as np
from numba.core import types as _nb_types
from numba.extending import intrinsic as _intrinsic

from ._backend import is_torch
from ._fast.parallel import chunks_for
from ._fast.threads import run_rows

METHODS = ("exact", "fast")
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@_intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` with one rounding where the CPU has FMA, else two.

    Every dot-product kernel adds its terms through this one function, so
    a row's dot products are the same floats whichever kernel (block of
    four rows or single row) and whichever thread computes them.
    """
    if not (isinstance(a, _nb_types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        a_v, b_v, c_v = args
        if _HAS_FMA:
            return builder.fma(a_v, b_v, c_v)
        return builder.fadd(builder.fmul(a_v, b_v), c_v)
    return a(a, b, c), codegen

try:
    import llvmlite.binding as _llvm
    _HAS_FMA = "+fma" in _llvm.get_host_cpu_features().flatten().split(",")
except Exception:  # pragma: no cover - feature query unsupported
    _HAS_FMA = False


@_nb.njit(inline="always")
def _minus_on_fma(a, p, minus_one):  # pragma: no cover - compiled
    """``a - p`` computed as ``fma(p, minus_one, a)`` with ``minus_one == -1``.

    ``p * -1`` is exact, so the single rounding of the fused operation gives
    the very same float as ``a - p`` (zeros, infinities and NaNs included).
    It only moves the subtraction from the CPU's add ports to its
    multiply-add ports, which are otherwise half idle in the distance loop.
    ``minus_one`` must come in at run time, or LLVM folds it back into a
    subtraction.  Without FMA hardware it is a multiply and an add (the
    same float again).
    """
    return _fma(p, minus_one, a)


@_nb.njit(cache=True, nogil=True)
def _sq_dist_row(acts, b, protos_t, row):  # pragma: no cover - compiled
    """row[c] = sum_i (a_i - p_i)**2, units in order; four units per pass over the cells.

    The unrolling keeps each cell's additions in unit order (one rounded
    add per unit), so the sums are bit-identical to the plain loop.
    """
    n_h = acts.shape[1]
    n_c = protos_t.shape[1]
    h4 = n_h - n_h % 4
    for c in range(n_c):
        row[c] = 0
    for i in range(0, h4, 4):
        a0 = acts[b, i]
        a1 = acts[b, i + 1]
        a2 = acts[b, i + 2]
        a3 = acts[b, i + 3]
        p0 = protos_t[i]
        p1 = protos_t[i + 1]
        p2 = protos_t[i + 2]
        p3 = protos_t[i + 3]
        for c in range(n_c):
            acc = row[c]
            d = a0 - p0[c]
            acc += d * d
            d = a1 - p1[c]
            acc += d * d
            d = a2 - p2[c]
            acc += d * d
            d = a3 - p3[c]
            acc += d * d
            row[c] = acc
    for i in range(h4, n_h):
        a = acts[b, i]
        p = protos_t[i]
        for c in range(n_c):
            d = a - p[c]
            row[c] += d * d


@_nb.njit(cache=True, nogil=True)
def _sq_dist_pair(acts, b, protos_t, row0, row1, minus_one):  # pragma: no cover - compiled
    """Rows ``b`` and ``b + 1`` at once, each exactly as :func:`_sq_dist_row`.

    Both examples share every load of the prototypes, which is what bounds
    the single-row loop; each cell's sum still takes its units in order.
    Half of the differences go through :func:`_minus_on_fma` (bit-identical,
    pass ``minus_one = -1`` in the acts' dtype), which balances the add and
    multiply ports: about a fifth faster on x86-64 with FMA.
    """
    n_h = acts.shape[1]
    n_c = protos_t.shape[1]
    h4 = n_h - n_h % 4
    for c in range(n_c):
        row0[c] = 0
        row1[c] = 0
    for i in range(0, h4, 4):
        a0 = acts[b, i]
        a1 = acts[b, i + 1]
        a2 = acts[b, i + 2]
        a3 = acts[b, i + 3]
        e0 = acts[b + 1, i]
        e1 = acts[b + 1, i + 1]
        e2 = acts[b + 1, i + 2]
        e3 = acts[b + 1, i + 3]
        p0 = protos_t[i]
        p1 = protos_t[i + 1]
        p2 = protos_t[i + 2]
        p3 = protos_t[i + 3]
        for c in range(n_c):
            q0 = p0[c]
            q1 = p1[c]
            q2 = p2[c]
            q3 = p3[c]
            acc = row0[c]
            d = a0 - q0
            acc += d * d
            d = _minus_on_fma(a1, q1, minus_one)
            acc += d * d
            d = a2 - q2
            acc += d * d
            d = _minus_on_fma(a3, q3, minus_one)
            acc += d * d
            row0[c] = acc
            acc = row1[c]
            d = _minus_on_fma(e0, q0, minus_one)
            acc += d * d
            d = e1 - q1
            acc += d * d
            d = _minus_on_fma(e2, q2, minus_one)
            acc += d * d
            d = e3 - q3
            acc += d * d
            row1[c] = acc
    for i in range(h4, n_h):
        a = acts[b, i]
        e = acts[b + 1, i]
        p = protos_t[i]
        for c in range(n_c):
            d = a - p[c]
            row0[c] += d * d
            d = e - p[c]
            row1[c] += d * d


@_nb.njit(cache=True, nogil=True)
def _dots4(acts, b, protos_t, rows, a_sq):  # pragma: no cover - compiled
    """``rows[j, c] = a_{b+j} . p_c`` and ``a_sq[j] = |a_{b+j}|^2`` for the four
    examples ``b..b+3``.

    Terms are added in unit order through :func:`_fma`, exactly as
    :func:`_dots1` does, so a row's floats do not depend on its block.  The
    four examples share every load of the prototypes, and four units go
    per pass over the cells, which keeps the loop on the FMA ports; the
    norms' chains run in the shadow of that loop.
    """
    n_h = acts.shape[1]
    n_c = protos_t.shape[1]
    h4 = n_h - n_h % 4
    r0 = rows[0]
    r1 = rows[1]
    r2 = rows[2]
    r3 = rows[3]
    for c in range(n_c):
        r0[c] = 0
        r1[c] = 0
        r2[c] = 0
        r3[c] = 0
    s0 = s1 = s2 = s3 = acts.dtype.type(0)
    for i in range(0, h4, 4):
        p0 = protos_t[i]
        p1 = protos_t[i + 1]
        p2 = protos_t[i + 2]
        p3 = protos_t[i + 3]
        a00, a01, a02, a03 = acts[b, i], acts[b, i + 1], acts[b, i + 2], acts[b, i + 3]
        a10, a11, a12, a13 = acts[b + 1, i], acts[b + 1, i + 1], acts[b + 1, i + 2], acts[b + 1, i + 3]
        a20, a21, a22, a23 = acts[b + 2, i], acts[b + 2, i + 1], acts[b + 2, i + 2], acts[b + 2, i + 3]
        a30, a31, a32, a33 = acts[b + 3, i], acts[b + 3, i + 1], acts[b + 3, i + 2], acts[b + 3, i + 3]
        s0 = _fma(a03, a03, _fma(a02, a02, _fma(a01, a01, _fma(a00, a00, s0))))
        s1 = _fma(a13, a13, _fma(a12, a12, _fma(a11, a11, _fma(a10, a10, s1))))
        s2 = _fma(a23, a23, _fma(a22, a22, _fma(a21, a21, _fma(a20, a20, s2))))
        s3 = _fma(a33, a33, _fma(a32, a32, _fma(a31, a31, _fma(a30, a30, s3))))
        for c in range(n_c):
            q0 = p0[c]
            q1 = p1[c]
            q2 = p2[c]
            q3 = p3[c]
            r0[c] = _fma(a03, q3, _fma(a02, q2, _fma(a01, q1, _fma(a00, q0, r0[c]))))
            r1[c] = _fma(a13, q3, _fma(a12, q2, _fma(a11, q1, _fma(a10, q0, r1[c]))))
            r2[c] = _fma(a23, q3, _fma(a22, q2, _fma(a21, q1, _fma(a20, q0, r2[c]))))
            r3[c] = _fma(a33, q3, _fma(a32, q2, _fma(a31, q1, _fma(a30, q0, r3[c]))))
    for i in range(h4, n_h):
        p = protos_t[i]
        a0, a1, a2, a3 = acts[b, i], acts[b + 1, i], acts[b + 2, i], acts[b + 3, i]
        s0 = _fma(a0, a0, s0)
        s1 = _fma(a1, a1, s1)
        s2 = _fma(a2, a2, s2)
        s3 = _fma(a3, a3, s3)
        for c in range(n_c):
            q = p[c]
            r0[c] = _fma(a0, q, r0[c])
            r1[c] = _fma(a1, q, r1[c])
            r2[c] = _fma(a2, q, r2[c])
            r3[c] = _fma(a3, q, r3[c])
    a_sq[0] = s0
    a_sq[1] = s1
    a_sq[2] = s2
    a_sq[3] = s3


@_nb.njit(cache=True, nogil=True)
def _dots1(acts, b, protos_t, row, a_sq):  # pragma: no cover - compiled
    """``row[c] = a_b . p_c`` and ``a_sq[0] = |a_b|^2``, the floats of :func:`_dots4`
    for one example."""
    n_h = acts.shape[1]
    n_c = protos_t.shape[1]
    for c in range(n_c):
        row[c] = 0
    s = acts.dtype.type(0)
    for i in range(n_h):
        p = protos_t[i]
        a = acts[b, i]
        s = _fma(a, a, s)
        for c in range(n_c):
            row[c] = _fma(a, p[c], row[c])
    a_sq[0] = s


@_nb.njit(cache=True, nogil=True)
def _fast_d2_row(row, a_sq, p_sq, zero):  # pragma: no cover - compiled
    """``max(|a|^2 - 2 a.p + |p|^2, 0)`` in place over a row of dot products
    (``np.maximum``: a NaN stays)."""
    for c in range(row.shape[0]):
        v = (a_sq - (row[c] + row[c])) + p_sq[c]
        row[c] = zero if v < zero else v


@_nb.njit(cache=True, nogil=True)
def _proto_layout_cells(protos, protos_t, p_sq, start, stop):  # pragma: no cover - compiled
    """Cells ``start..stop`` of :func:`_proto_layout` (disjoint ranges may run side
    by side).  Four cells per pass: their norms' chains overlap."""
    n_h = protos.shape[1]
    zero = p_sq.dtype.type(0)
    c = start
    while c + 3 < stop:
        s0 = s1 = s2 = s3 = zero
        for i in range(n_h):
            v0, v1, v2, v3 = protos[c, i], protos[c + 1, i], protos[c + 2, i], protos[c + 3, i]
            protos_t[i, c] = v0
            protos_t[i, c + 1] = v1
            protos_t[i, c + 2] = v2
            protos_t[i, c + 3] = v3
            s0 = _fma(v0, v0, s0)
            s1 = _fma(v1, v1, s1)
            s2 = _fma(v2, v2, s2)
            s3 = _fma(v3, v3, s3)
        p_sq[c] = s0
        p_sq[c + 1] = s1
        p_sq[c + 2] = s2
        p_sq[c + 3] = s3
        c += 4
    while c < stop:
        s0 = zero
        for i in range(n_h):
            v0 = protos[c, i]
            protos_t[i, c] = v0
            s0 = _fma(v0, v0, s0)
        p_sq[c] = s0
        c += 1


@_nb.njit(cache=True, nogil=True)
def _proto_layout(protos):  # pragma: no cover - compiled
    """What every dot-product kernel needs of the prototypes (C, H): ``protos.T``
    (H, C) C-contiguous, and ``|p|^2`` per cell, units added in order."""
    protos_t, p_sq = layout_buffers(protos)
    _proto_layout_cells(protos, protos_t, p_sq, 0, protos.shape[0])
    return protos_t, p_sq


@_nb.njit(cache=True, nogil=True)
def cell_chunk(n_c, ch, n_chunks):  # pragma: no cover - compiled
    """Cells of chunk ``ch`` of ``n_chunks`` for :func:`_proto_layout_cells`: edges
    on multiples of 16 cells (a cache line of float32), the last chunk to the end."""
    start = (n_c // 16 * ch // n_chunks) * 16
    stop = n_c if ch == n_chunks - 1 else (n_c // 16 * (ch + 1) // n_chunks) * 16
    return start, stop


@_nb.njit(cache=True, nogil=True)
def _fast_d2_rows(acts, protos_t, p_sq, out, start, stop):  # pragma: no cover - compiled
    zero = out.dtype.type(0)
    a_sq = np.empty(4, dtype=acts.dtype)
    b = start
    while b < stop:
        m = 4 if b + 3 < stop else 1
        if m == 4:
            _dots4(acts, b, protos_t, out[b:b + 4], a_sq)
        else:
            _dots1(acts, b, protos_t, out[b], a_sq)
        for j in range(m):
            _fast_d2_row(out[b + j], a_sq[j], p_sq, zero)
        b += m


@_nb.njit(cache=True, nogil=True)
def _fast_d2_serial(acts, protos):  # pragma: no cover - compiled
    protos_t, p_sq = _proto_layout(protos)
    out = np.empty((acts.shape[0], protos.shape[0]), dtype=acts.dtype)
    _fast_d2_rows(acts, protos_t, p_sq, out, 0, acts.shape[0])
    return out


@_nb.njit(cache=True, nogil=True)
def layout_buffers(protos):  # pragma: no cover - compiled
    """Empty ``(protos_t, p_sq)`` for :func:`_proto_layout_cells` to fill.  (Parallel
    kernels fill them in their own ``prange``: a parallel kernel called from
    another runs several times slower.)"""
    n_c, n_h = protos.shape
    return np.empty((n_h, n_c), dtype=protos.dtype), np.empty(n_c, dtype=protos.dtype)


@_nb.njit(cache=True, parallel=True)
def _fast_d2_parallel(acts, protos, n_chunks):  # pragma: no cover - compiled
    n_b = acts.shape[0]
    protos_t, p_sq = layout_buffers(protos)
    for ch in _nb.prange(n_chunks):
        _proto_layout_cells(protos, protos_t, p_sq, *cell_chunk(protos.shape[0], ch, n_chunks))
    out = np.empty((n_b, protos.shape[0]), dtype=acts.dtype)
    for ch in _nb.prange(n_chunks):
        _fast_d2_rows(acts, protos_t, p_sq, out, n_b * ch // n_chunks, n_b * (ch + 1) // n_chunks)
    return out


@_nb.njit(cache=True, nogil=True)
def _transpose(protos):  # pragma: no cover - compiled
    """``protos.T`` as a C-contiguous copy (reads in order: twice NumPy's speed)."""
    n_c, n_h = protos.shape
    out = np.empty((n_h, n_c), dtype=protos.dtype)
    for c in range(n_c):
        for i in range(n_h):
            out[i, c] = protos[c, i]
    return out


@_nb.njit(cache=True, nogil=True)
def _sq_dist_rows(acts, protos_t, out, minus_one, start, stop):  # pragma: no cover - compiled
    b = start
    while b + 1 < stop:
        _sq_dist_pair(acts, b, protos_t, out[b], out[b + 1], minus_one)
        b += 2
    if b < stop:
        _sq_dist_row(acts, b, protos_t, out[b])


def _sq_dist_seq(acts: np.ndarray, protos_t: np.ndarray) -> np.ndarray:
    out = np.empty((acts.shape[0], protos_t.shape[1]), dtype=acts.dtype)
    run_rows(_sq_dist_rows, acts.shape[0], protos_t.size, acts, protos_t, out, acts.dtype.type(-1))
    return out


def transposed(protos: np.ndarray) -> np.ndarray:
    """(H, C) C-contiguous copy of NumPy prototypes (C, H), the kernels' layout."""
    if protos.ndim == 2 and protos.dtype in (np.float32, np.float64) and protos.size:
        return _transpose(protos)
    return np.ascontiguousarray(protos.T)


def sq_distances(acts: Any, prototypes: Any, method: str = "exact") -> Any:
    """Squared distances (B, C) between ``acts`` (B, H) and ``prototypes`` (C, H)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if acts.ndim != 2 or prototypes.ndim != 2 or acts.shape[1] != prototypes.shape[1]:
        raise ValueError(f"acts (B,H) and prototypes (C,H) must share H; got "
                         f"{tuple(acts.shape)} and {tuple(prototypes.shape)}")
    if is_torch(acts):
        return _torch_sq_distances(acts, prototypes.to(acts.dtype), method)
    acts = np.asarray(acts)
    dtype = np.result_type(acts.dtype, np.float32)
    acts = np.ascontiguousarray(acts, dtype=dtype)
    protos = np.asarray(prototypes, dtype=dtype)
    if method == "fast":
        if dtype not in _KERNEL_DTYPES or not acts.size or not protos.size:
            d2 = (acts * acts).sum(1)[:, None] - 2.0 * (acts @ protos.T) + (protos * protos).sum(1)[None, :]
            return np.maximum(d2, 0).astype(dtype, copy=False)
        protos = np.ascontiguousarray(protos)
        n_chunks = chunks_for(acts.shape[0], acts.shape[0] * protos.size, kernel=_fast_d2_parallel)
        return _fast_d2_parallel(acts, protos, n_chunks) if n_chunks else _fast_d2_serial(acts, protos)
    return _sq_dist_seq(acts, transposed(protos))


def _torch_sq_distances(acts, protos, method):
    import torch
    if method == "fast":
        d2 = (acts * acts).sum(1)[:, None] - 2.0 * (acts @ protos.T) + (protos * protos).sum(1)[None, :]
        return torch.clamp_min(d2, 0)
    out = torch.zeros((acts.shape[0], protos.shape[0]), dtype=acts.dtype, device=acts.device)
    pt = protos.T.contiguous()
    for i in range(acts.shape[1]):
        d = acts[:, i:i + 1] - pt[i][None, :]
        out.add_(d * d)  # two rounded steps, never a fused multiply-add
    return out
