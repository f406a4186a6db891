"""The SOM update: winners pull their square neighbourhood toward the activation.

C rule (som.h, update_som_network): every cell within Chebyshev distance
``context`` of the winner, clipped to the grid, moves by
``p <- p + lr / 2**d * (a - p)``; nothing moves when the winner's squared
distance is not above ``DONOTHING`` (0.0001).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Optional

import numba as _nb
import numpy as np

from . import rules as R
from ._backend import ops_for
from ._fast.parallel import chunks_for
from .rules import DONOTHING


@_nb.njit(cache=True, nogil=True)
def _suffix_kernel(w, coef, total):  # pragma: no cover - compiled
    """Same products as the cumprod form, one pass from the last example back."""
    n_b, n_c = w.shape
    run = np.ones(n_c, dtype=w.dtype)
    for k in range(n_b - 1, -1, -1):
        for c in range(n_c):
            coef[k, c] = w[k, c] * run[c]
            run[c] = run[c] * (1 - w[k, c])
    total[:] = run


@_nb.njit(cache=True, nogil=True)
def _sequential_kernel(out, prototypes, acts, winner, active, dim, context, powers,
                       x_start, x_stop):  # pragma: no cover - compiled
    """Copy grid rows ``x_start <= x < x_stop`` of the prototypes into ``out``, then
    apply the examples to them one after another, in the C's float order.

    Each example moves only its (2*context+1)**2 neighbourhood:
    ``p <- p + power * (a - p)``, rounded in the prototypes' dtype exactly
    as :func:`som_update_one` (and the C) computes it.  A cell only ever
    sees the examples in batch order, so disjoint row ranges may run on
    different threads with the very same result.  An empty ``active``
    means every example counts.
    """
    n_b, n_h = acts.shape
    for c in range(x_start * dim, x_stop * dim):  # element by element: 3x numba's row assignment
        for i in range(n_h):
            out[c, i] = prototypes[c, i]
    every = active.shape[0] == 0
    for k in range(n_b):
        w = winner[k]
        if w < 0 or not (every or active[k]):
            continue
        wx = w // dim
        wy = w % dim
        a = acts[k]
        reach = R.neighbourhood_reach(context)
        for x in range(max(x_start, wx - reach), min(x_stop, wx + reach + 1)):
            for y in range(max(0, wy - reach), min(dim, wy + reach + 1)):
                power = powers[R.neighbourhood_ring(x - wx, y - wy)]
                row = out[x * dim + y]
                for i in range(n_h):
                    row[i] = R.prototype_step(row[i], a[i], power)


@_nb.njit(cache=True, nogil=True)
def _winners_in_range(winner, n_c):  # pragma: no cover - compiled
    for k in range(winner.shape[0]):
        if winner[k] < -1 or winner[k] >= n_c:
            return False
    return True


@_nb.njit(cache=True, nogil=True)
def _inorder_serial(prototypes, acts, winner, active, dim, context, powers):  # pragma: no cover - compiled
    """``(new prototypes, True)``, or ``(anything, False)`` for a winner out of range,
    on the calling thread."""
    out = np.empty_like(prototypes)
    if not _winners_in_range(winner, dim * dim):
        return out, False
    _sequential_kernel(out, prototypes, acts, winner, active, dim, context, powers, 0, dim)
    return out, True


@_nb.njit(cache=True, parallel=True)
def _inorder_parallel(prototypes, acts, winner, active, dim, context, powers, n_chunks):  # pragma: no cover
    """:func:`_inorder_serial` with the grid rows in ``n_chunks`` bands side by side."""
    out = np.empty_like(prototypes)
    if not _winners_in_range(winner, dim * dim):
        return out, False
    for ch in _nb.prange(n_chunks):
        _sequential_kernel(out, prototypes, acts, winner, active, dim, context, powers,
                           dim * ch // n_chunks, dim * (ch + 1) // n_chunks)
    return out, True

_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_UPDATE_MIN_WORK = 1 << 19  # (example x neighbour x unit) steps before grid rows go to threads


MODES = ("inorder", "summed")


def cell_coords(dim: int, like: Any = None) -> tuple:
    """(x, y) grid coordinates, 0-based, of every cell in the C's scan order."""
    ops = ops_for(like)
    k = ops.arange(dim * dim, like=like)
    return k // dim, k % dim


def update_mask(winner_d2: Any, min_distance: float = DONOTHING) -> Any:
    """Examples whose winner is far enough to move anything: :func:`.rules.moves_som`
    over a batch (any ``min_distance`` other than DONOTHING is the caller's own rule)."""
    return winner_d2 > min_distance


@lru_cache(maxsize=64)
def _chebyshev_table(dim: int) -> np.ndarray:
    """(C, C) Chebyshev distances between all cells, int16, cached per grid size."""
    k = np.arange(dim * dim)
    x, y = k // dim, k % dim
    return np.maximum(np.abs(x[:, None] - x[None, :]), np.abs(y[:, None] - y[None, :])).astype(np.int16)


@lru_cache(maxsize=64)
def _power_table_np(dim: int, context: int, lr: float, dtype: np.dtype) -> np.ndarray:
    """(C+1, C) update powers: row k for winner k, last row all zero (winner -1)."""
    cheb = _chebyshev_table(dim)
    power = _ring_powers(lr, context, dim, dtype)[cheb]
    table = np.zeros((dim * dim + 1, dim * dim), dtype=dtype)
    table[:-1] = power
    table.setflags(write=False)
    return table


_TORCH_TABLES: dict = {}
_TABLE_MAX_CELLS = 2500  # above this a (C, C) table costs more than it saves


def _power_table(ops, dim: int, context: int, lr: float, dtype, like):
    if ops.name == "numpy":
        return _power_table_np(dim, context, float(lr), np.dtype(dtype))
    key = (dim, context, float(lr), str(dtype), str(like.device))
    table = _TORCH_TABLES.get(key)
    if table is None:
        table = _power_table_torch(ops.t, dim, context, float(lr), dtype, like.device)
        if len(_TORCH_TABLES) > 64:
            _TORCH_TABLES.clear()
        _TORCH_TABLES[key] = table
    return table


def cached_tables() -> tuple:
    """The torch tables the update reads from its cache; whoever records kernel
    launches for replay (a CUDA graph) must keep them alive."""
    return tuple(_TORCH_TABLES.values())


def _power_table_torch(torch, dim: int, context: int, lr: float, dtype, device):
    """:func:`_power_table_np`'s table for ``device``: the ring powers (a few floats)
    copied once, the table gathered there (no (C, C) host table to copy)."""
    work = np.float64 if dtype == torch.float64 else np.float32  # half types: via float32
    rings = torch.from_numpy(_ring_powers(lr, context, dim, np.dtype(work)).copy()).to(device)
    k = torch.arange(dim * dim, device=device)
    x, y = k // dim, k % dim
    cheb = torch.maximum((x[:, None] - x[None, :]).abs(), (y[:, None] - y[None, :]).abs())
    zero_row = torch.zeros((1, dim * dim), dtype=rings.dtype, device=device)
    return torch.cat([rings[cheb], zero_row]).to(dtype)


def neighbourhood_power(winner: Any, dim: int, context: int, lr: float, *,
                        skip: Any = None, winner_d2: Any = None,
                        min_distance: Optional[float] = None,
                        dtype: Any = None) -> Any:
    """Update power (B, C): ``lr / 2**chebyshev(cell, winner)`` inside the context.

    Zero outside the square neighbourhood, and for whole rows whose winner is
    -1, whose ``skip`` flag is set, or (when ``winner_d2`` and
    ``min_distance`` are given) whose winner distance is not above
    ``min_distance``.  ``lr`` is rounded to ``dtype`` first, as the C keeps it
    in a float; dividing by a power of two is then exact.  The (C, C) table
    of powers is cached per (grid, context, lr, dtype), so a batch costs one
    row gather.
    """
    ops = ops_for(winner)
    w = ops.asarray(winner, dtype=ops.int_dtype())
    if dtype is None:
        dtype = ops.default_float(w)
    n_c = dim * dim
    if ops.name == "numpy" and w.size and (w.min() < -1 or w.max() >= n_c):
        raise ValueError(f"winner indices must lie in -1..{n_c - 1}")
    row_ok = w >= 0
    if skip is not None:
        row_ok = row_ok & ~ops.asarray(skip, like=w, dtype=ops.bool_dtype())
    if winner_d2 is not None and min_distance is not None:
        row_ok = row_ok & (ops.asarray(winner_d2, like=w) > min_distance)
    if n_c > _TABLE_MAX_CELLS:
        return _power_direct(ops, w, row_ok, dim, int(context), lr, dtype)
    table = _power_table(ops, dim, int(context), lr, dtype, w)
    return table[ops.where(row_ok, w, n_c)]


def _power_direct(ops, w, row_ok, dim, context, lr, dtype):
    """Big grids: the same powers gathered per batch from the ring powers, without the (C, C) table."""
    xs, ys = cell_coords(dim, like=w)
    safe = ops.where(w >= 0, w, 0)
    cheb = ops.maximum(ops.abs(xs[None, :] - (safe // dim)[:, None]),
                       ops.abs(ys[None, :] - (safe % dim)[:, None]))
    if ops.name == "numpy":
        rings = _ring_powers(float(lr), context, dim, np.dtype(dtype))
    else:
        np_dtype = np.float64 if dtype == ops.t.float64 else np.float32  # half types: via float32
        rings = ops.t.from_numpy(_ring_powers(float(lr), context, dim, np.dtype(np_dtype)).copy()).to(
            device=w.device, dtype=dtype)
    power = rings[cheb]
    return ops.where(row_ok[:, None], power, ops.zeros(power.shape, power.dtype, like=w))


def som_update(prototypes: Any, acts: Any, winner: Any, dim: int, context: int,
               lr: float, mode: str = "inorder", active: Any = None) -> Any:
    """New prototypes after a batch of SOM updates with winners fixed at batch start.

    ``mode="inorder"`` equals applying the examples one after another
    (``p <- p + w_k (a_k - p)``).  On NumPy (float32/float64) a numba kernel
    does exactly that, touching only each winner's neighbourhood: the floats
    of :func:`som_update_one` (the C's), O(B x (2*context+1)**2 x H) work,
    O(C x H) memory.  On torch it is the closed form: with ``w`` the (B, C)
    update powers, ``p_new = p * prod_k(1-w_k) + sum_k w_k prod_{j>k}(1-w_j) a_k``,
    the suffix products taken by a cumulative product, so memory is
    O(B x C) + O(C x H) and there is no loop over examples or cells (equal to
    the sequence up to rounding).
    ``mode="summed"`` pulls the batch-start prototypes toward every example at
    once, normalised so the result stays a convex combination (see
    :func:`_summed_update`).
    ``active`` (B,) bool drops examples (e.g. :func:`update_mask`).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    ops = ops_for(prototypes)
    acts = ops.asarray(acts, like=prototypes, dtype=prototypes.dtype)
    if mode == "inorder" and ops.name == "numpy":
        got = _inorder_numpy(prototypes, acts, winner, dim, context, lr, active)
        if got is not None:
            return got
    w = neighbourhood_power(winner, dim, context, lr, skip=None if active is None else ~_as_bool(ops, active, prototypes),
                            dtype=prototypes.dtype) if acts.shape[0] else None
    if w is None:
        return prototypes + 0
    w = ops.asarray(w, like=prototypes)
    if mode == "summed":
        return _summed_update(ops, prototypes, acts, w)
    total, coef = _inorder_coefficients(ops, w)
    return prototypes * total[:, None] + coef.T @ acts


def _summed_update(ops, prototypes, acts, w):
    """``p + sum_k w_k (a_k - p) / max(1, sum_k w_k)`` per cell.

    Plain summing diverges once a cell's powers add up past 1 (32 examples
    at power 0.2 move it 6.4 times the distance, overshooting): dividing by
    the total power where it exceeds 1 makes the new prototype the power-
    weighted mean of the batch there, and leaves small batches unchanged.
    Either way it lies in the convex hull of the old prototype and the
    activations.
    """
    total = w.sum(0)
    norm = ops.maximum(total, ops.full(total.shape, 1.0, total.dtype, like=total))
    return prototypes * (1 - total / norm)[:, None] + (w / norm[None, :]).T @ acts


def _inorder_numpy(prototypes, acts, winner, dim, context, lr, active):
    """NumPy in-order update: the examples applied one after another by a kernel,
    O(B x (2*context+1)**2 x H) work; None where the generic path must decide."""
    n_c = dim * dim
    if (prototypes.dtype not in _KERNEL_DTYPES or prototypes.ndim != 2 or prototypes.shape[0] != n_c
            or acts.ndim != 2 or acts.shape[1] != prototypes.shape[1]):
        return None
    w = np.asarray(winner, dtype=np.int64)
    if w.shape != (acts.shape[0],):
        return None
    ok = _NO_MASK if active is None else np.asarray(active, dtype=np.bool_)
    if active is not None and ok.shape != w.shape:
        return None
    context = int(context)
    if context < 0 or not w.size:
        if w.size and (w.min() < -1 or w.max() >= n_c):
            raise ValueError(f"winner indices must lie in -1..{n_c - 1}")
        return prototypes + 0
    reach = R.neighbourhood_reach(context)
    powers = _ring_powers(float(lr), context, min(reach, dim - 1), prototypes.dtype)
    side = 2 * min(reach, dim) + 1
    args = (np.ascontiguousarray(prototypes), np.ascontiguousarray(acts), w, np.ascontiguousarray(ok),
            dim, context, powers)
    n_chunks = chunks_for(dim, acts.shape[0] * side * side * acts.shape[1], _UPDATE_MIN_WORK,
                          kernel=_inorder_parallel)
    out, in_range = _inorder_parallel(*args, n_chunks) if n_chunks else _inorder_serial(*args)
    if not in_range:
        raise ValueError(f"winner indices must lie in -1..{n_c - 1}")
    return out


_NO_MASK = np.zeros(0, np.bool_)  # the kernels' "every example counts"


@lru_cache(maxsize=64)
def _ring_powers(lr: float, context: int, rings: int, dtype: np.dtype) -> np.ndarray:
    """:func:`.rules.neighbourhood_power` of rings 0..rings, ``lr`` rounded to the dtype first
    (the C keeps it in a float), each power rounded to the dtype."""
    lr_cast = dtype.type(lr)
    powers = np.array([R.neighbourhood_power(lr_cast, r, context) for r in range(rings + 1)], dtype=dtype)
    powers.setflags(write=False)
    return powers


def _inorder_coefficients(ops, w):
    """``prod_k (1-w_k)`` per cell and ``w_k prod_{j>k} (1-w_j)`` per (example, cell)."""
    if ops.name == "numpy":
        coef = np.empty_like(w)
        total = np.empty(w.shape[1], dtype=w.dtype)
        _suffix_kernel(w, coef, total)
        return total, coef
    keep = 1 - w
    suffix = ops.flip0(ops.cumprod0(ops.flip0(keep)))  # prod_{j>=k}
    ones = ops.full((1, keep.shape[1]), 1.0, keep.dtype, like=w)
    after = _concat0(ops, suffix[1:], ones)  # prod_{j>k}
    return suffix[0], w * after


def som_update_one(prototypes: Any, act: Any, winner: int, dim: int, context: int,
                   lr: float) -> Any:
    """New prototypes after one example's update, in the C's float order.

    Only the cells of the neighbourhood are touched; each computes
    ``p + power * (a - p)`` in the prototypes' dtype, as the C does.
    """
    ops = ops_for(prototypes)
    out = prototypes + 0
    if winner < 0:
        return out
    act = ops.asarray(act, like=prototypes, dtype=prototypes.dtype)
    wx, wy = divmod(int(winner), dim)
    lr_cast = _round_to(ops, lr, prototypes.dtype)
    reach = R.neighbourhood_reach(context)
    for x in range(max(0, wx - reach), min(dim, wx + reach + 1)):
        for y in range(max(0, wy - reach), min(dim, wy + reach + 1)):
            ring = R.neighbourhood_ring(x - wx, y - wy)
            power = _round_to(ops, R.neighbourhood_power(lr_cast, ring, context), prototypes.dtype)
            k = x * dim + y
            out[k] = R.prototype_step.py_func(out[k], act, _scalar(ops, power, prototypes))
    return out


def _round_to(ops, value: float, dtype) -> float:
    if ops.name == "numpy":
        return float(np.dtype(dtype).type(value))
    return float(ops.t.tensor(value, dtype=dtype))


def _scalar(ops, value: float, like):
    if ops.name == "numpy":
        return like.dtype.type(value)
    return ops.t.tensor(value, dtype=like.dtype, device=like.device)


def _as_bool(ops, mask, like):
    return ops.asarray(mask, like=like, dtype=ops.bool_dtype())


def _concat0(ops, a, b):
    if ops.name == "numpy":
        return np.concatenate([a, b], axis=0)
    return ops.t.cat([a, b], dim=0)
