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
* ``"fast"`` uses the expansion ``|a|^2 - 2 a.p + |p|^2`` (one matmul).  It is
  much faster for wide layers on a GPU, but rounding differs by a few ulp from
  the exact sum, so near-ties (not exact duplicates) may resolve differently
  from the C.  The rounding error is about ``4 * eps * (|a|^2 + |p|^2)`` (eps of
  the dtype), so another cell can win only when two cells are that close.
  Results are clamped at zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._backend import is_torch
from ._threads import run_rows

try:  # numba is a hard dependency, but keep a pure-NumPy fallback
    import numba as _nb
except Exception:  # pragma: no cover - exercised only without numba
    _nb = None

METHODS = ("exact", "fast")

if _nb is not None:
    from numba.core import types as _nb_types
    from numba.extending import intrinsic as _intrinsic

    @_intrinsic
    def _minus_on_fma(typingctx, a, p, minus_one):
        """``a - p`` computed as ``fma(p, minus_one, a)`` with ``minus_one == -1``.

        ``p * -1`` is exact, so the single rounding of the fused operation gives
        the very same float as ``a - p`` (zeros, infinities and NaNs included).
        It only moves the subtraction from the CPU's add ports to its
        multiply-add ports, which are otherwise half idle in the distance loop.
        ``minus_one`` must come in at run time, or LLVM folds it back into a
        subtraction.  Without FMA hardware it is a multiply and an add (the
        same float again).
        """
        if not (isinstance(a, _nb_types.Float) and a == p == minus_one):
            return None

        def codegen(context, builder, signature, args):
            a_v, p_v, m_v = args
            if _HAS_FMA:
                return builder.fma(p_v, m_v, a_v)
            return builder.fadd(builder.fmul(p_v, m_v), a_v)
        return a(a, p, minus_one), codegen

    try:
        import llvmlite.binding as _llvm
        _HAS_FMA = "+fma" in _llvm.get_host_cpu_features().flatten().split(",")
    except Exception:  # pragma: no cover - feature query unsupported
        _HAS_FMA = False


def _sq_dist_seq_numpy_loop(acts: np.ndarray, protos_t: np.ndarray) -> np.ndarray:
    out = np.zeros((acts.shape[0], protos_t.shape[1]), dtype=acts.dtype)
    for i in range(acts.shape[1]):
        d = acts[:, i:i + 1] - protos_t[i][None, :]
        out += d * d
    return out


if _nb is not None:
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
else:  # pragma: no cover
    _sq_dist_row = _sq_dist_pair = _transpose = None
    _sq_dist_seq = _sq_dist_seq_numpy_loop


def transposed(protos: np.ndarray) -> np.ndarray:
    """(H, C) C-contiguous copy of NumPy prototypes (C, H), the kernels' layout."""
    if _nb is not None and protos.ndim == 2 and protos.dtype in (np.float32, np.float64) and protos.size:
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
        d2 = (acts * acts).sum(1)[:, None] - 2.0 * (acts @ protos.T) + (protos * protos).sum(1)[None, :]
        return np.maximum(d2, 0).astype(dtype, copy=False)
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
