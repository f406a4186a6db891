"""One batch's SOM step: winners, the in-order SOM update, and the SOM error term.

This is the sequence every BP-SOM trainer runs per batch and hidden layer, in
the C's order (som.h ``process_som_vectors`` before bp.h ``backprop``): the
winners are found with the batch-start prototypes, the winners' neighbourhoods
move (examples applied one after another), and the error term is taken from
the moved prototypes of each example's partial winner.

:func:`som_step` equals calling :func:`.find_winners`, :func:`.som_update`
(with :func:`.update_mask`) and :func:`.som_error` in turn, and does exactly
that for torch tensors.  For NumPy arrays one compiled call does all three,
which saves the per-call overhead that dominates small batches.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import numba as _nb
import numpy as np

from . import rules as R
from ._fast import search_kernels as _sk
from ._fast.parallel import chunks_for
from .rules import DONOTHING
from .som import (_KERNEL_DTYPES, _UPDATE_MIN_WORK, MODES, _inorder_parallel, _inorder_serial,
                  _ring_powers, som_update, update_mask)
from .winners import _som_error_kernel, find_winners, search_args, som_error


class SomStep(NamedTuple):
    """What :func:`som_step` returns; arrays of the input's kind."""

    winner: Any        # (B,) overall winner cell, -1 for none
    partial: Any       # (B,) partial (class-matching) winner cell, -1 for none
    winner_d2: Any     # (B,) squared distance to the winner (+inf for none)
    partial_d2: Any    # (B,) squared distance to the partial winner (+inf for none)
    prototypes: Any    # (C, H) the prototypes after the update (a new array)
    error: Any         # (B, H) the SOM error term, 0 where not used
    use: Any           # (B,) bool: the partial winner exists and is reliable enough


@_nb.njit(cache=True, nogil=True)
def _moving(winner_d2, min_distance):  # pragma: no cover - compiled
    """Which examples move the map: those whose winner is farther than ``min_distance``."""
    active = np.empty(winner_d2.shape[0], np.bool_)
    for b in range(winner_d2.shape[0]):
        active[b] = winner_d2[b] > min_distance
    return active


@_nb.njit(cache=True, nogil=True)
def _error_term(acts, moved, partial, rel, threshold):  # pragma: no cover - compiled
    """The SOM error term and its use flags, from the moved prototypes."""
    err = np.empty_like(acts)
    use = np.empty(acts.shape[0], np.bool_)
    _som_error_kernel(acts, moved, partial, rel, threshold, err, use)
    return err, use


@_nb.njit(cache=True, nogil=True)
def _step_serial(acts, protos, labels, classes, limit, limit_bits, has_limit, screened, slack, tiny, big,
                 rel, threshold, min_distance, dim, context, powers):  # pragma: no cover - compiled
    """The whole step on the calling thread (no parallel kernel is launched, or compiled)."""
    w, wd, p, pd = _sk.winners_serial(acts, protos, labels, classes, limit, limit_bits, has_limit,
                                      screened, slack, tiny, big)
    new, _ = _inorder_serial(protos, acts, w, _moving(wd, min_distance), dim, context, powers)
    err, use = _error_term(acts, new, p, rel, threshold)
    return w, p, wd, pd, new, err, use


@_nb.njit(cache=True, nogil=True)
def _step_parallel(acts, protos, labels, classes, limit, limit_bits, has_limit, screened, slack, tiny, big,
                   rel, threshold, min_distance, dim, context, powers, n_chunks):  # pragma: no cover
    """The whole step with the search's rows and the update's grid rows in ``n_chunks`` chunks."""
    w, wd, p, pd = _sk.winners_parallel(acts, protos, labels, classes, limit, limit_bits, has_limit,
                                        screened, slack, tiny, big, n_chunks)
    new, _ = _inorder_parallel(protos, acts, w, _moving(wd, min_distance), dim, context, powers, n_chunks)
    err, use = _error_term(acts, new, p, rel, threshold)
    return w, p, wd, pd, new, err, use


def som_step(acts: Any, prototypes: Any, cell_labels: Any, classes: Any, reliability: Any,
             threshold: float, dim: int, context: int, lr: float, *, method: str = "exact",
             mode: str = "inorder", max_d2: Optional[float] = None,
             min_distance: float = DONOTHING) -> SomStep:
    """Winners, SOM update and SOM error term of one batch (module doc).

    ``acts`` (B, H), ``prototypes`` (C, H) with ``C = dim * dim``,
    ``cell_labels`` and ``reliability`` (C,), ``classes`` (B,).  ``method``
    and ``max_d2`` go to :func:`.find_winners`, ``mode`` to :func:`.som_update`
    (examples whose winner is not farther than ``min_distance`` move nothing),
    ``threshold`` to :func:`.som_error`, which sees the moved prototypes.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    fused = _som_step_numpy(acts, prototypes, cell_labels, classes, reliability, threshold, dim, context, lr,
                            method, mode, max_d2, min_distance)
    if fused is not None:
        return fused
    winner, partial, winner_d2, partial_d2 = find_winners(acts, prototypes, cell_labels, classes,
                                                          method=method, max_d2=max_d2)
    moved = som_update(prototypes, acts, winner, dim, context, lr, mode=mode,
                       active=update_mask(winner_d2, min_distance))
    err, use = som_error(acts, moved, partial, reliability, threshold)
    return SomStep(winner, partial, winner_d2, partial_d2, moved, err, use)


def _som_step_numpy(acts, prototypes, cell_labels, classes, reliability, threshold, dim, context, lr,
                    method, mode, max_d2, min_distance) -> Optional[SomStep]:
    """The one compiled call, or None where the composed path must decide (or raise)."""
    if mode != "inorder" or not isinstance(prototypes, np.ndarray):
        return None
    if prototypes.dtype not in _KERNEL_DTYPES or prototypes.shape[0] != dim * dim or int(context) < 0:
        return None
    if not isinstance(acts, np.ndarray) or acts.dtype != prototypes.dtype:
        return None
    args = search_args(acts, prototypes, cell_labels, classes, method, max_d2)
    rel = np.asarray(reliability)
    if (args is None or rel.shape != (dim * dim,) or rel.dtype.kind not in "iu"
            or not isinstance(threshold, (int, float, np.number))):
        return None
    context = int(context)
    reach = R.neighbourhood_reach(context)
    powers = _ring_powers(float(lr), context, min(reach, dim - 1), prototypes.dtype)
    tail = (np.ascontiguousarray(rel, dtype=np.int64), float(threshold), float(min_distance), dim, context, powers)
    side = 2 * min(reach, dim) + 1
    n_b, n_h = acts.shape
    n_chunks = 0
    if chunks_for(dim, n_b * side * side * n_h, _UPDATE_MIN_WORK):  # else keep it simple: all serial
        n_chunks = chunks_for(n_b, n_b * prototypes.size, kernel=_step_parallel)
    got = _step_parallel(*args, *tail, n_chunks) if n_chunks else _step_serial(*args, *tail)
    return SomStep(*got)
