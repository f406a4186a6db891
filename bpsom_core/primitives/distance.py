"""Squared Euclidean distances between activations and SOM prototypes.

Two methods, chosen by the caller:

* ``"exact"`` (default) sums ``(a_i - p_i)**2`` over units one unit at a time,
  in the array's own dtype, exactly as the C's ``count_distance`` does
  (float32 in, float32 accumulation, units in order).  NumPy and torch then
  give bit-identical distances, so winner ties follow the C's rules on both
  backends.  Memory is O(batch x cells): no (batch, cells, units) temporary.
  On NumPy a numba kernel does the loop; on torch it is one elementwise
  step per unit (H small kernels: for wide layers on a GPU prefer "fast").
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

try:  # numba is a hard dependency, but keep a pure-NumPy fallback
    import numba as _nb
except Exception:  # pragma: no cover - exercised only without numba
    _nb = None

METHODS = ("exact", "fast")


def _sq_dist_seq_numpy_loop(acts: np.ndarray, protos_t: np.ndarray) -> np.ndarray:
    out = np.zeros((acts.shape[0], protos_t.shape[1]), dtype=acts.dtype)
    for i in range(acts.shape[1]):
        d = acts[:, i:i + 1] - protos_t[i][None, :]
        out += d * d
    return out


if _nb is not None:
    @_nb.njit(cache=True, nogil=True)
    def _sq_dist_seq_kernel(acts, protos_t, out):  # pragma: no cover - compiled
        """out[b, c] += (a_i - p_i)**2 for i in order; four units per pass over the cells.

        The unrolling keeps each cell's additions in unit order (one rounded
        add per unit), so the sums are bit-identical to the plain loop.
        """
        n_b, n_h = acts.shape
        n_c = protos_t.shape[1]
        h4 = n_h - n_h % 4
        for b in range(n_b):
            row = out[b]
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
        return out

    def _sq_dist_seq(acts: np.ndarray, protos_t: np.ndarray) -> np.ndarray:
        out = np.zeros((acts.shape[0], protos_t.shape[1]), dtype=acts.dtype)
        return _sq_dist_seq_kernel(acts, protos_t, out)
else:  # pragma: no cover
    _sq_dist_seq = _sq_dist_seq_numpy_loop


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
    return _sq_dist_seq(acts, np.ascontiguousarray(protos.T))


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
