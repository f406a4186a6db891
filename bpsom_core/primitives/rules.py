"""The rules of BP-SOM, one small function each, per example, in the C's float order.

This module is the one home of every rule of the algorithm.  The exact
engine's kernels (``bpsom_core/exact/kernels.py``) and the batched NumPy
kernels of this package call these functions (numba inlines them, so a call
costs nothing); the vectorised NumPy and torch paths mirror them in the
function named beside each rule (see ``docs/architecture.md``, "Rules").

Types follow the arguments: float32 in, float32 arithmetic out, as the C
computes in floats; where the C promotes to double (a ``double`` literal, a
libm call) the function returns a float64 that the caller rounds back to its
working type with :func:`cast_like`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.core import types as _nb_types
from numba.extending import overload

DONOTHING = 0.0001   # C: a winner distance, pruning threshold or improvement this small does nothing
MIN_IMPROVE = 0.005  # C: a validation MSE gain that counts as progress on equal accuracy
COMPAT_MODES = ("c", "fixed")


# --- rounding --------------------------------------------------------------------------

def cast_like(value, like):
    """``value`` rounded to the float type of ``like`` (the C's assignment to a float)."""
    return type(like)(value) if isinstance(like, np.floating) else float(value)


@overload(cast_like)
def _cast_like_compiled(value, like):
    if isinstance(like, _nb_types.Float) and like.bitwidth == 32:
        return lambda value, like: np.float32(value)
    return lambda value, like: np.float64(value)


# --- winner search (C: som.h, process_som_vectors) -----------------------------------------

@njit(cache=True, inline="always")
def beats_winner(d, best):
    """A cell becomes the overall winner on a strictly smaller distance: the first minimum wins."""
    return d < best


@njit(cache=True, inline="always")
def beats_partial(d, best):
    """A cell of the example's class becomes the partial winner on ``<=``: the last minimum wins."""
    return d <= best


@njit(cache=True, inline="always")
def moves_som(winner_d2):
    """The DONOTHING distance: a winner this close (squared distance) moves no prototype."""
    return np.float64(winner_d2) > DONOTHING


# --- the SOM update (C: som.h, update_som_network) ------------------------------------------

@njit(cache=True, inline="always")
def neighbourhood_reach(context):
    """How many rings around the winner the update may touch (the square neighbourhood)."""
    return context


@njit(cache=True, inline="always")
def neighbourhood_ring(dx, dy):
    """Grid distance of a cell from the winner: the Chebyshev distance."""
    return max(abs(dx), abs(dy))


@njit(cache=True, inline="always")
def neighbourhood_power(lr, ring, context):
    """Update power of a cell ``ring`` rings from the winner: ``lr / 2**ring`` inside the
    context, 0 outside, in double (``lr`` already in the prototypes' float type)."""
    if ring > context:
        return 0.0
    return np.float64(lr) / math.pow(2.0, np.float64(ring))


@njit(cache=True, inline="always")
def prototype_step(p, a, power):
    """One prototype component pulled toward the activation: ``p + power * (a - p)``."""
    return p + power * (a - p)


# --- the SOM error and the hidden delta (C: bp.h, backprop) ---------------------------------

@njit(cache=True, inline="always")
def reliable(partial, reliability, threshold):
    """The reliability gate: the partial winner exists and its reliability reaches the threshold."""
    return partial >= 0 and reliability >= threshold


@njit(cache=True, inline="always")
def som_error_term(proto, act, reliability):
    """The SOM error of one hidden unit, ``0.01 * reliability * (proto - act)``: the difference
    in the float type, the product in double (round it with :func:`cast_like`)."""
    return 0.01 * np.float64(reliability) * np.float64(proto - act)


@njit(cache=True, inline="always")
def delta_weights(alpha):
    """``(1 - alpha, alpha)`` in ``alpha``'s float type: the weights of the BP and SOM deltas."""
    return cast_like(1.0 - np.float64(alpha), alpha), alpha


@njit(cache=True, inline="always")
def mix_delta(bp, som, w_bp, w_som):
    """The hidden delta where the SOM is used: ``(1-a) * bp + a * som``, each product rounded."""
    return w_bp * bp + w_som * som


# --- cell labelling (C: som.h, count_som_cell_winners) ---------------------------------------

@njit(cache=True)
def cell_label(counts):
    """(label, reliability) of one cell from its class counts (index 0: unlabelled examples).

    The label is the first class with the strictly largest count, 0 when the
    cell won nothing; the reliability ``int(100.0 * max / total)`` percent.
    """
    best = 0
    label = 0
    total = 0
    for c in range(1, counts.shape[0]):
        v = counts[c]
        total += v
        if v > best:
            best = v
            label = c
    if total <= 0:
        return 0, 0
    return label, int(100.0 * np.float64(best) / np.float64(total))


# --- activation statistics (C: bp.h, count_avg / count_std) ---------------------------------

@njit(cache=True, inline="always")
def mean_add(total, act):
    """The running sum of a unit's activations."""
    return total + act


@njit(cache=True, inline="always")
def spread_add(total, act, mean):
    """The running sum of a unit's squared deviations from ``mean``."""
    d = act - mean
    return total + d * d


@njit(cache=True, inline="always")
def mean_of(total, n):
    """A unit's mean activation from the running sum (``n`` in the sum's float type)."""
    return total / n


@njit(cache=True, inline="always")
def std_of(total, n):
    """A unit's standard deviation from the squared-deviation sum: ``sqrt`` in double."""
    return math.sqrt(np.float64(total / n))


@njit(cache=True)
def finish_means(totals, n):
    """Running sums -> means, in place (``n`` in the sums' float type)."""
    for i in range(totals.shape[0]):
        totals[i] = mean_of(totals[i], n)


@njit(cache=True)
def finish_stds(totals, n):
    """Squared-deviation sums -> standard deviations, in place, rounded to the sums' type."""
    for i in range(totals.shape[0]):
        totals[i] = std_of(totals[i], n)


@njit(cache=True)
def running_stats(acts, mean, has_mean, out_mean, out_std):
    """Mean and std of every column of ``acts`` (B, H), example after example; with
    ``has_mean`` the spread is taken around ``mean`` instead of the columns' own mean."""
    n_b, n_h = acts.shape
    if n_b == 0 or n_h == 0:
        return
    n = cast_like(n_b, out_mean[0])
    for i in range(n_h):
        out_mean[i] = 0
        out_std[i] = 0
    for b in range(n_b):
        for i in range(n_h):
            out_mean[i] = mean_add(out_mean[i], acts[b, i])
    finish_means(out_mean, n)
    if has_mean:
        for i in range(n_h):
            out_mean[i] = mean[i]
    for b in range(n_b):
        for i in range(n_h):
            out_std[i] = spread_add(out_std[i], acts[b, i], out_mean[i])
    finish_stds(out_std, n)


# --- pruning (C: bpsom.cc, prune_if_possible; bp.h, prune_weights) --------------------------

def pruning_enabled(threshold: float) -> bool:
    """The C prunes only with a threshold above DONOTHING."""
    return threshold > DONOTHING


def pruning_choice(std, threshold: float, compat: str = "fixed") -> list:
    """Units (0-based, original positions) to prune, in the order they go.

    A unit whose std is not above ``threshold`` goes while more than one unit
    is left.  ``compat="c"`` keeps the C's quirk: after removing a unit it
    does not look at the unit that slid into its place.  The comparison is in
    ``std``'s float type, as the C compares floats.
    """
    if compat not in COMPAT_MODES:
        raise ValueError(f"compat must be one of {COMPAT_MODES}, got {compat!r}")
    std = np.asarray(std)
    limit = std.dtype.type(threshold) if std.dtype.kind == "f" else threshold
    left = std.shape[0]
    out = []
    j = 0
    while j < std.shape[0]:
        if std[j] <= limit and left > 1:
            out.append(j)
            left -= 1
            if compat == "c":
                j += 1   # the unit that slid into the slot is skipped
        j += 1
    return out


def absorb_unit(bias, mean, weights):
    """The next layer's bias with one pruned unit folded in: ``bias + mean * w`` (C: prune_weights)."""
    return bias + mean * weights


# --- the best network (C: bpsom.cc, administrate_complete_epoch) -----------------------------

def better_network(accuracy: float, mse: float, best_accuracy: float, best_mse: float,
                   pruned_since_best: bool) -> bool:
    """Is this validation result a new best network?

    Higher accuracy; or equal accuracy with an error lower by more than
    MIN_IMPROVE; or, after a pruning, accuracy not lower.
    """
    return bool(accuracy > best_accuracy
                or (accuracy == best_accuracy and float(mse) + MIN_IMPROVE < float(best_mse))
                or (pruned_since_best and accuracy >= best_accuracy))
