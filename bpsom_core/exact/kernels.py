"""Compiled per-example kernels of the exact engine (numba, fastmath off).

Every arithmetic step follows the C's types: float32 where the C has float,
a double where a C double literal or libm call promotes, explicit roundings
back to float32 where the C assigns to a float.  Sums keep the C's order;
only independent sums run side by side (the SOM distances of all cells are
accumulated unit by unit, which is the same order per cell as the C's loop).

Array layout (flat arrays with per-layer offsets):
  W, DOLD   weight[l][i][j] at woff[l] + i*wstr[l] + j   (the C's layout; wstr[l] = N[l+1]+1)
  A, E      act[l][i] / error[l][i] at aoff[l] + i; AVG, STD likewise
  P         SOM prototype (layer l, cell c, unit i) at poff[l] + i*ncell[l] + c,
            cell c = (x-1)*dim + (y-1) (the C's x-then-y scan order)
  LAB, PCT  cell label / reliability at coff[l] + c;  CNT at (coff[l]+c)*nlab1 + label
"""

from __future__ import annotations

import math
import types
from collections import namedtuple
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from ..primitives import rules as R

F32 = np.float32
F64 = np.float64

# indices into the per-layer integer state LI[l, k]
PWX, PWY, WLAB, USE, PREL, WX, WY, SOMOK, USECNT, WREL = range(10)
N_LI = 10
# indices into the per-layer float state LF[l, k]
PDIS, TOTDIST, MINDIST = range(3)
N_LF = 3
# run counters CTR[k]
START_MM, TEL_OK, EXAMPLE, DID_BP, RES_TARGET, RES_OUT, MM_ON = range(7)
N_CTR = 7


# The network's flat arrays and offsets as the kernels see them: the same names as
# the fields of exact/network.py's Network, which documents them.
NetState = namedtuple("NetState", (
    "N", "L", "W", "DOLD", "woff", "wstr", "A", "E", "aoff", "AVG", "STD", "dims", "P", "poff", "LAB", "PCT",
    "CNT", "coff", "nlab1", "somconf", "bpconf", "LI", "LF", "CTR", "ACC", "T", "dist", "dbg_bp", "dbg_som",
    "S", "G"))


class PassData(NamedTuple):
    """One data file: one-hot input indices (grapho) or dense inputs and targets, class labels."""

    dense: bool
    onact: np.ndarray
    inputs: np.ndarray
    targets: np.ndarray
    labels: np.ndarray


class PassSettings(NamedTuple):
    """What one pass does and the settings it runs with (float32 where the C has floats)."""

    lrn: int                     # 1: a learning pass
    material: int                # 1 learning, 2 validation, 3 test data
    dumping: bool                # DUMP > 0: per-example records
    stat_mode: int               # 1: sum activations, 2: sum squared deviations, 0: neither
    cmode: int                   # 0: the C's quirks ('c'), 1: 'fixed'
    lr: np.float32
    momentum: np.float32
    elt: np.float32              # ERROR_LEARN_THRESHOLD
    som_error_weight: np.float32  # the SOM error's share of the hidden delta
    som_lr: np.float32
    som_cont: int
    reliability_threshold: int
    mm_after: int                # MM_AFTER_N_EXAMPLES


@njit(cache=True)
def sigmoid(s):
    """The C's activation_function: clamp at +-15, libm exp in double, float in between."""
    if s < -15.0:
        return F32(0.0)
    if s > 15.0:
        return F32(1.0)
    e = F32(math.exp(-F64(s)))
    return F32(1.0 / (1.0 + F64(e)))


@njit(cache=True)
def forward(k, dense, onact, inputs, N, L, W, woff, wstr, A, aoff, S, store_onehot):
    """The C's forward(): the one-hot input shortcut for grapho data, full sums otherwise.

    The C never stores one-hot inputs in act[0] (so its generic weight loop
    sees them as 0); with `store_onehot` ('fixed' mode) act[0] holds them.

    Sums run side by side over target units j (contiguous rows of weight[l][i]),
    each one still adding its terms in the C's order i = 0, 1, 2, ...
    """
    A[aoff[0]] = F32(1.0)
    n1 = N[1]
    # (inner loops index views with range() counters so LLVM can vectorise them)
    w0 = W[woff[0]: woff[0] + n1 + 1]
    for j in range(n1 + 1):
        S[j] = w0[j]
    if dense:
        for i in range(1, N[0] + 1):
            A[aoff[0] + i] = inputs[k, i - 1]
        for i in range(1, N[0] + 1):
            a = A[aoff[0] + i]
            row = W[woff[0] + i * wstr[0]: woff[0] + i * wstr[0] + n1 + 1]
            for j in range(n1 + 1):
                S[j] = F32(S[j] + F32(row[j] * a))
    else:
        for p in range(onact.shape[1]):
            base = woff[0] + onact[k, p] * wstr[0]
            row = W[base: base + n1 + 1]
            if store_onehot:
                A[aoff[0] + onact[k, p]] = F32(1.0)
            for j in range(n1 + 1):
                S[j] = F32(S[j] + row[j])
    out = A[aoff[1]: aoff[1] + n1 + 1]
    for j in range(n1 + 1):
        out[j] = sigmoid(S[j])
    for l in range(1, L):
        A[aoff[l]] = F32(1.0)
        m = N[l + 1]
        w0 = W[woff[l]: woff[l] + m + 1]
        for j in range(m + 1):
            S[j] = w0[j]
        for i in range(1, N[l] + 1):
            a = A[aoff[l] + i]
            base = woff[l] + i * wstr[l]
            row = W[base: base + m + 1]
            for j in range(m + 1):
                S[j] = F32(S[j] + F32(row[j] * a))
        out = A[aoff[l + 1]: aoff[l + 1] + m + 1]
        for j in range(m + 1):
            out[j] = sigmoid(S[j])


@njit(cache=True)
def set_target(k, dense, labels, targets, N, L, T):
    """target[0..N[last]]: 0.1 and 0.9 at the class (grapho), or the file's numbers (dense)."""
    if dense:
        T[0] = F32(0.1)
        for i in range(1, N[L] + 1):
            T[i] = targets[k, i - 1]
    else:
        for i in range(0, N[L] + 1):
            T[i] = F32(0.1)
        T[labels[k]] = F32(0.9)


@njit(cache=True)
def present(k, data, cmode, N, L, W, woff, wstr, A, aoff, T, S):
    """Example k's target and forward pass ('fixed' mode stores one-hot inputs in act[0])."""
    dense, onact, inputs, targets, labels = data
    set_target(k, dense, labels, targets, N, L, T)
    store_onehot = cmode == 1 and not dense
    if store_onehot:
        for i in range(1, N[0] + 1):
            A[aoff[0] + i] = F32(0.0)
    forward(k, dense, onact, inputs, N, L, W, woff, wstr, A, aoff, S, store_onehot)


@njit(cache=True)
def count_error(N, L, T, A, aoff):
    err = F32(0.0)
    for i in range(1, N[L] + 1):
        d = F32(T[i] - A[aoff[L] + i])
        err = F32(err + F32(d * d))
    return err


@njit(cache=True)
def outcome(N, L, T, A, aoff):
    """(winning target unit, winning output unit): strict >, the first of equals wins."""
    wo = 1
    wt = 1
    wov = A[aoff[L] + 1]
    wtv = T[1]
    for i in range(2, N[L] + 1):
        if A[aoff[L] + i] > wov:
            wov = A[aoff[L] + i]
            wo = i
        if T[i] > wtv:
            wtv = T[i]
            wt = i
    return wt, wo


@njit(cache=True)
def res_ok(N, L, T, A, aoff, bpconf, CTR):
    """The C's res_ok(): winner-takes-all outcome, counted in the BP confusion matrix."""
    wt, wo = outcome(N, L, T, A, aoff)
    bpconf[wt, wo] += 1
    CTR[RES_TARGET] = wt
    CTR[RES_OUT] = wo
    return wt == wo


@njit(cache=True)
def truncated_distance(l, c, ncell, stop, N, A, aoff, P, poff):
    """count_distance() as the C does it: stops as soon as the sum exceeds `stop`."""
    h = F32(0.0)
    for i in range(1, N[l] + 1):
        d = F32(A[aoff[l] + i] - P[poff[l] + i * ncell + c])
        h = F32(h + F32(d * d))
        if h > stop:
            break
    return h


@njit(cache=True)
def som_winners(l, lrn, dumping, cmode, labeln, N, A, aoff, dims, P, poff, LAB, coff, dist):
    """Winner and partial winner of layer l's SOM: (win, wlab, md, part, mp); -1 = none.

    All cells' distances are summed side by side (per cell in the C's order).
    That equals the C's early-exit sums wherever they decide anything, except
    for partial winners in evaluation passes with DUMP > 0, which the C picks
    on sums cut at the overall minimum so far: those are recomputed cut.
    """
    D = dims[l]
    ncell = D * D
    n = N[l]
    for c in range(ncell):
        dist[c] = F32(0.0)
    for i in range(1, n + 1):
        a = A[aoff[l] + i]
        row = P[poff[l] + i * ncell: poff[l] + (i + 1) * ncell]
        for c in range(ncell):
            d = F32(a - row[c])
            dist[c] = F32(dist[c] + F32(d * d))
    md = F32(99999.0)
    mp = F32(99999.0)
    win = -1
    part = -1
    wlab = 0
    exact_partial = (lrn == 0) and dumping and cmode == 0
    for c in range(ncell):
        d = dist[c]
        md_before = md
        if R.beats_winner(d, md):
            win = c
            md = d
            wlab = LAB[coff[l] + c]
        if (lrn == 1 or dumping) and LAB[coff[l] + c] == labeln:
            dp = d
            if exact_partial and d > md_before:
                dp = truncated_distance(l, c, ncell, md_before, N, A, aoff, P, poff)
            if R.beats_partial(dp, mp):
                part = c
                mp = dp
    return win, wlab, md, part, mp


@njit(cache=True)
def reset_example_records(l, LI):
    """What the C clears for every layer at the start of each example's SOM processing."""
    LI[l, PWX] = 0
    LI[l, PWY] = 0
    LI[l, WLAB] = 0
    LI[l, USE] = 0
    LI[l, WX] = 0
    LI[l, WY] = 0


@njit(cache=True)
def som_bookkeeping(l, lrn, material, dumping, cmode, labeln, win, wlab, md, part, mp, dims, PCT, CNT, coff,
                    nlab1, somconf, LI, LF, reliability_threshold):
    """The C's per-layer records after the winner search: reliabilities, SOM-error use, counts."""
    D = dims[l]
    if cmode == 1:
        LI[l, PREL] = 0
        LF[l, PDIS] = F32(0.0)
    LI[l, WLAB] = wlab
    LF[l, TOTDIST] = F32(LF[l, TOTDIST] + F32(math.sqrt(F64(md))))
    LF[l, MINDIST] = md
    if win >= 0:
        LI[l, WREL] = PCT[coff[l] + win]
        LI[l, WX] = win // D + 1
        LI[l, WY] = win % D + 1
    if part >= 0:
        LI[l, PWX] = part // D + 1
        LI[l, PWY] = part % D + 1
        LI[l, PREL] = PCT[coff[l] + part]
        LF[l, PDIS] = mp
        if R.reliable(part, LI[l, PREL], reliability_threshold):
            LI[l, USE] = 1
            if lrn == 1:
                LI[l, USECNT] += 1
    if material == 1 and lrn == 0:
        if win >= 0:
            CNT[(coff[l] + win) * nlab1 + labeln] += 1
    else:
        if wlab == labeln:
            LI[l, SOMOK] += 1
        if dumping:
            somconf[l, labeln, wlab] += 1


@njit(cache=True)
def som_update(l, win, som_cont, som_lr, N, A, aoff, dims, P, poff):
    """The C's update_som_network: the neighbourhood rule of the primitives, cell by cell."""
    D = dims[l]
    ncell = D * D
    wx = win // D + 1
    wy = win % D + 1
    reach = R.neighbourhood_reach(som_cont)
    for x in range(wx - reach, wx + reach + 1):
        for y in range(wy - reach, wy + reach + 1):
            if x >= 1 and y >= 1 and x <= D and y <= D:
                power = F32(R.neighbourhood_power(som_lr, R.neighbourhood_ring(x - wx, y - wy), som_cont))
                c = (x - 1) * D + (y - 1)
                for i in range(1, N[l] + 1):
                    idx = poff[l] + i * ncell + c
                    P[idx] = R.prototype_step(P[idx], A[aoff[l] + i], power)


@njit(cache=True)
def process_soms(lrn, material, dumping, labeln, N, L, A, aoff, dims, P, poff, LAB, PCT, CNT, coff, nlab1,
                 somconf, LI, LF, som_lr, som_cont, reliability_threshold, dist, cmode):
    """The C's process_som_vectors(): winners, partial winners, SOM error use, SOM update, counting.

    In 'fixed' mode (cmode 1) evaluation passes compare full distances for the
    partial winner and a layer without a partial winner reports none, instead
    of the previous example's reliability and distance.
    """
    for l in range(0, L + 1):
        reset_example_records(l, LI)
        if dims[l] <= 0:
            continue
        win, wlab, md, part, mp = som_winners(l, lrn, dumping, cmode, labeln, N, A, aoff, dims, P, poff, LAB,
                                              coff, dist)
        som_bookkeeping(l, lrn, material, dumping, cmode, labeln, win, wlab, md, part, mp, dims, PCT, CNT, coff,
                        nlab1, somconf, LI, LF, reliability_threshold)
        if lrn == 1 and win >= 0 and R.moves_som(md):
            som_update(l, win, som_cont, som_lr, N, A, aoff, dims, P, poff)


@njit(cache=True)
def gate_open(i, l, L, N, T, A, aoff, elt, cmode, oob_act, oob_tgt):
    """Does unit i of layer l+1 learn?  The C tests the *output* unit with the same index.

    In 'fixed' mode only the output layer's incoming weights are gated.
    Beyond the output layer the C reads past two arrays; `oob_*` hold what
    those reads see (an emulation of glibc's heap layout, see oob.py).
    """
    if cmode == 1 and l + 1 < L:
        return True
    if i <= N[L]:
        return abs(F32(T[i] - A[aoff[L] + i])) > elt
    j = i - N[L] - 1
    if j < oob_act.shape[0]:
        return abs(F32(oob_tgt[j] - oob_act[j])) > elt
    return False


@njit(cache=True)
def hidden_sums(l, N, E, aoff, W, woff, wstr, S):
    """S[i] = sum_j error[l+1][j] * weight[l][i][j], each sum in the C's order j = 1, 2, ...

    Four units at a time: independent chains, so the adds overlap in the CPU.
    """
    n = N[l]
    m = N[l + 1]
    err = E[aoff[l + 1]: aoff[l + 1] + m + 1]
    i = 1
    while i + 3 <= n:
        r0 = W[woff[l] + i * wstr[l]: woff[l] + i * wstr[l] + m + 1]
        r1 = W[woff[l] + (i + 1) * wstr[l]: woff[l] + (i + 1) * wstr[l] + m + 1]
        r2 = W[woff[l] + (i + 2) * wstr[l]: woff[l] + (i + 2) * wstr[l] + m + 1]
        r3 = W[woff[l] + (i + 3) * wstr[l]: woff[l] + (i + 3) * wstr[l] + m + 1]
        b0 = F32(0.0)
        b1 = F32(0.0)
        b2 = F32(0.0)
        b3 = F32(0.0)
        for j in range(1, m + 1):
            e = err[j]
            b0 = F32(b0 + F32(e * r0[j]))
            b1 = F32(b1 + F32(e * r1[j]))
            b2 = F32(b2 + F32(e * r2[j]))
            b3 = F32(b3 + F32(e * r3[j]))
        S[i] = b0
        S[i + 1] = b1
        S[i + 2] = b2
        S[i + 3] = b3
        i += 4
    while i <= n:
        row = W[woff[l] + i * wstr[l]: woff[l] + i * wstr[l] + m + 1]
        b = F32(0.0)
        for j in range(1, m + 1):
            b = F32(b + F32(err[j] * row[j]))
        S[i] = b
        i += 1


@njit(cache=True)
def backprop(k, dense, onact, mm, N, L, T, A, E, aoff, W, DOLD, woff, wstr, LI, P, poff, dims,
             lr, elt, som_error_weight, cmode, dbg_bp, dbg_som, oob_act, oob_tgt, oob_err_at, S, G, phase):
    """The C's backprop(mm): deltas (with the SOM error term) and online weight updates.

    phase 0 does both, 1 only the deltas, 2 only the updates (the C writes its
    DUMP=2 lines in between, and with the log as the out-of-bounds buffer the
    updates see them).  Each weight is updated once per loop as in the C; the
    loops run over contiguous rows, which changes no value since no update
    reads another.
    """
    if phase != 2:
        backprop_deltas(N, L, T, A, E, aoff, W, woff, wstr, LI, P, poff, dims, elt, som_error_weight, cmode,
                        dbg_bp, dbg_som, S)
    if phase == 1:
        return
    if oob_err_at >= 0:
        # reads past act[last] see error[last], this example's output deltas
        for j in range(0, N[L] + 1):
            q = oob_err_at + j
            if q < oob_act.shape[0]:
                oob_act[q] = E[aoff[L] + j]
    backprop_updates(k, dense, onact, mm, N, L, T, A, E, aoff, W, DOLD, woff, wstr, lr, elt, cmode,
                     oob_act, oob_tgt, S, G)


@njit(cache=True)
def backprop_deltas(N, L, T, A, E, aoff, W, woff, wstr, LI, P, poff, dims, elt, som_error_weight, cmode, dbg_bp,
                    dbg_som, S):
    """Output and hidden deltas, the SOM error mixed in where the partial winner is reliable."""
    for i in range(1, N[L] + 1):
        t = T[i]
        a = A[aoff[L] + i]
        if abs(F32(t - a)) > elt:
            E[aoff[L] + i] = F32(F64(a) * (1.0 - F64(a)) * F64(F32(t - a)))
        else:
            E[aoff[L] + i] = F32(0.0)
    bp_use, som_use = R.delta_weights(som_error_weight)
    som_error = F32(0.0)
    for l in range(L - 1, 0, -1):
        use = LI[l, USE] == 1
        ncell = 1
        pc = 0
        rel = 0
        if use:
            D = dims[l]
            ncell = D * D
            pc = (LI[l, PWX] - 1) * D + (LI[l, PWY] - 1)
            rel = LI[l, PREL]
        hidden_sums(l, N, E, aoff, W, woff, wstr, S)
        for i in range(1, N[l] + 1):
            b = S[i]
            a = A[aoff[l] + i]
            if cmode == 1:
                som_error = F32(0.0)
            b = F32(F64(F32(b * a)) * (1.0 - F64(a)))
            if use:
                proto = P[poff[l] + i * ncell + pc]
                som_error = F32(R.som_error_term(proto, a, rel))
                E[aoff[l] + i] = R.mix_delta(b, som_error, bp_use, som_use)
            else:
                E[aoff[l] + i] = b
            dbg_bp[aoff[l] + i] = b
            dbg_som[aoff[l] + i] = som_error


@njit(cache=True)
def backprop_updates(k, dense, onact, mm, N, L, T, A, E, aoff, W, DOLD, woff, wstr, lr, elt, cmode,
                     oob_act, oob_tgt, S, G):
    """Online weight updates with momentum, gated as the C gates them."""
    n1 = N[1]
    if not dense and cmode == 0:
        # the C's shortcut for one-hot inputs: active inputs get a momentum step here...
        for i in range(1, n1 + 1):
            S[i] = F32(lr * E[aoff[1] + i])
        for p in range(onact.shape[1]):
            base = woff[0] + onact[k, p] * wstr[0]
            drow = DOLD[base: base + n1 + 1]
            wrow = W[base: base + n1 + 1]
            for i in range(1, n1 + 1):
                d = F32(S[i] + F32(mm * drow[i]))
                drow[i] = d
                wrow[i] = F32(wrow[i] + d)
    # ...and every weight, active inputs again, in the generic loop
    for l in range(0, L):
        m = N[l + 1]
        for i in range(1, m + 1):
            S[i] = F32(lr * E[aoff[l + 1] + i])
            G[i] = gate_open(i, l, L, N, T, A, aoff, elt, cmode, oob_act, oob_tgt)
        for j in range(0, N[l] + 1):
            a = A[aoff[l] + j]
            base = woff[l] + j * wstr[l]
            drow = DOLD[base: base + m + 1]
            wrow = W[base: base + m + 1]
            for i in range(1, m + 1):
                d = F32(F32(S[i] * a) + F32(mm * drow[i]))
                old = drow[i]
                w = wrow[i]
                drow[i] = d if G[i] else old
                wrow[i] = F32(w + d) if G[i] else w


@njit(cache=True)
def run_examples(k0, k1, phase, ps, net, data, oob):
    """Process examples k0..k1-1 of one pass exactly as the C's complete_epoch loop body.

    ``ps`` a PassSettings, ``net`` a NetState, ``data`` a PassData, ``oob``
    the out-of-bounds emulation's (rows, row of each example, static
    activations, static targets, error offset) (oob.py).

    With phase 1 (one example at a time) the weight updates are left to
    finish_backprop, after the caller has written the example's dump lines.

    stat_mode: 1 = add activations to the averages (learning pass), 2 = add
    squared deviations to the std sums (labelling pass), 0 = neither.
    ACC[0] is the pass's float32 MSE accumulator.
    """
    lrn, material, dumping, stat_mode, cmode, lr, momentum, elt, som_error_weight, som_lr, som_cont, \
        reliability_threshold, mm_after = ps
    N, L, W, DOLD, woff, wstr, A, E, aoff, AVG, STD, dims, P, poff, LAB, PCT, CNT, coff, nlab1, somconf, \
        bpconf, LI, LF, CTR, ACC, T, dist, dbg_bp, dbg_som, S, G = net
    dense, onact, inputs, targets, labels = data
    oob_rows, oob_row_of_example, oob_act_static, oob_tgt_static, oob_err_at = oob
    n_oob = oob_act_static.shape[0]
    oob_act = np.empty(n_oob, dtype=np.float32)
    oob_tgt = np.empty(n_oob, dtype=np.float32)
    for k in range(k0, k1):
        CTR[EXAMPLE] += 1
        labeln = labels[k]
        present(k, data, cmode, N, L, W, woff, wstr, A, aoff, T, S)
        if res_ok(N, L, T, A, aoff, bpconf, CTR):
            CTR[TEL_OK] += 1
        example_error = count_error(N, L, T, A, aoff)
        ACC[0] = F32(ACC[0] + example_error)
        process_soms(lrn, material, dumping, labeln, N, L, A, aoff, dims, P, poff, LAB, PCT, CNT, coff, nlab1,
                     somconf, LI, LF, som_lr, som_cont, reliability_threshold, dist, cmode)
        if stat_mode == 1:
            for l in range(1, L):
                for i in range(1, N[l] + 1):
                    AVG[aoff[l] + i] = R.mean_add(AVG[aoff[l] + i], A[aoff[l] + i])
        elif stat_mode == 2:
            for l in range(1, L):
                for i in range(1, N[l] + 1):
                    STD[aoff[l] + i] = R.spread_add(STD[aoff[l] + i], A[aoff[l] + i], AVG[aoff[l] + i])
        CTR[DID_BP] = 0
        if lrn == 1 and example_error > elt:
            if n_oob > 0:
                row = oob_row_of_example[k]
                for j in range(n_oob):
                    oob_act[j] = oob_act_static[j]
                    oob_tgt[j] = oob_rows[row, j] if row >= 0 else oob_tgt_static[j]
            if CTR[START_MM] >= mm_after:
                mm = momentum
                CTR[MM_ON] = 1
            else:
                mm = F32(0.0)
                CTR[MM_ON] = 0
                CTR[START_MM] += 1
            backprop(k, dense, onact, mm, N, L, T, A, E, aoff, W, DOLD, woff, wstr, LI, P, poff, dims,
                     lr, elt, som_error_weight, cmode, dbg_bp, dbg_som, oob_act, oob_tgt, oob_err_at, S, G, phase)
            CTR[DID_BP] = 1


@njit(cache=True)
def finish_backprop(k, ps, net, data, oob_rows, oob_act_static, oob_err_at):
    """The weight updates of an example whose deltas run_examples(phase=1) computed."""
    lr, momentum, elt, som_error_weight, cmode = ps.lr, ps.momentum, ps.elt, ps.som_error_weight, ps.cmode
    N, L, W, DOLD, woff, wstr, A, E, aoff, AVG, STD, dims, P, poff, LAB, PCT, CNT, coff, nlab1, somconf, \
        bpconf, LI, LF, CTR, ACC, T, dist, dbg_bp, dbg_som, S, G = net
    dense, onact = data.dense, data.onact
    if CTR[DID_BP] == 0:
        return
    mm = momentum if CTR[MM_ON] == 1 else F32(0.0)
    oob_act = oob_act_static.copy()
    oob_tgt = oob_rows[0].copy()
    backprop(k, dense, onact, mm, N, L, T, A, E, aoff, W, DOLD, woff, wstr, LI, P, poff, dims,
             lr, elt, som_error_weight, cmode, dbg_bp, dbg_som, oob_act, oob_tgt, oob_err_at, S, G, 2)


@njit(cache=True)
def random_weights(rands, N, L, W, woff, wstr, dims, P, poff, avg_rand, som_layers):
    """The C's random_weights(): float32 arithmetic on (float)rand().

    SOMs of layers 0 .. som_layers-1 are initialised (the C: below the output layer).
    """
    q = 0
    for l in range(0, L):
        for i in range(0, N[l] + 1):
            for j in range(1, N[l + 1] + 1):
                r = F32(rands[q])
                q += 1
                W[woff[l] + i * wstr[l] + j] = F32(F32(avg_rand - r) / avg_rand)
    for l in range(0, som_layers):
        D = dims[l]
        if D <= 0:
            continue
        ncell = D * D
        for c in range(ncell):
            for i in range(1, N[l] + 1):
                r = F32(rands[q])
                q += 1
                P[poff[l] + i * ncell + c] = F32(0.5 + F64(F32(F32(avg_rand - r) / avg_rand)))
    return q


@njit(cache=True, parallel=True)
def evaluate_parallel(k0, k1, ps, net, data, n_chunks):
    """An evaluation pass (no learning) over examples k0..k1-1, in ``n_chunks`` bands side by side.

    Examples do not depend on each other when nothing learns, so their forward
    passes and winner searches run in parallel; every record the C keeps in
    example order (float sums, counts, the last example's SOM state) is then
    replayed sequentially, so the results are the same bits as one by one.
    """
    material, dumping, stat_mode, cmode = ps.material, ps.dumping, ps.stat_mode, ps.cmode
    lrn = ps.lrn  # 0 here; passed as a variable, so the callees share run_examples' compiled versions
    reliability_threshold = ps.reliability_threshold
    N, L, W, DOLD, woff, wstr, A, E, aoff, AVG, STD, dims, P, poff, LAB, PCT, CNT, coff, nlab1, somconf, \
        bpconf, LI, LF, CTR, ACC, T, dist, dbg_bp, dbg_som, S, G = net
    dense, onact, inputs, targets, labels = data
    n = k1 - k0
    nl = L + 1
    wt_o = np.empty(n, np.int64)
    wo_o = np.empty(n, np.int64)
    err_o = np.empty(n, np.float32)
    win_o = np.full((n, nl), -1, np.int64)
    wlab_o = np.zeros((n, nl), np.int64)
    md_o = np.zeros((n, nl), np.float32)
    part_o = np.full((n, nl), -1, np.int64)
    mp_o = np.zeros((n, nl), np.float32)
    hidden = 0
    for l in range(1, L):
        hidden += N[l]
    acts_o = np.empty((n if stat_mode == 2 else 0, hidden), np.float32)
    for ch in prange(n_chunks):
        a_loc = np.empty_like(A)
        t_loc = np.empty_like(T)
        s_loc = np.empty_like(S)
        d_loc = np.empty_like(dist)
        a_loc[:] = A
        lo = k0 + (n * ch) // n_chunks
        hi = k0 + (n * (ch + 1)) // n_chunks
        for k in range(lo, hi):
            r = k - k0
            present(k, data, cmode, N, L, W, woff, wstr, a_loc, aoff, t_loc, s_loc)
            wt, wo = outcome(N, L, t_loc, a_loc, aoff)
            wt_o[r] = wt
            wo_o[r] = wo
            err_o[r] = count_error(N, L, t_loc, a_loc, aoff)
            for l in range(nl):
                if dims[l] > 0:
                    win, wlab, md, part, mp = som_winners(l, lrn, dumping, cmode, labels[k], N, a_loc, aoff, dims,
                                                          P, poff, LAB, coff, d_loc)
                    win_o[r, l] = win
                    wlab_o[r, l] = wlab
                    md_o[r, l] = md
                    part_o[r, l] = part
                    mp_o[r, l] = mp
            if stat_mode == 2:
                q = 0
                for l in range(1, L):
                    for i in range(1, N[l] + 1):
                        acts_o[r, q] = a_loc[aoff[l] + i]
                        q += 1
    # the C's records, in example order
    for r in range(n):
        k = k0 + r
        CTR[EXAMPLE] += 1
        bpconf[wt_o[r], wo_o[r]] += 1
        CTR[RES_TARGET] = wt_o[r]
        CTR[RES_OUT] = wo_o[r]
        if wt_o[r] == wo_o[r]:
            CTR[TEL_OK] += 1
        ACC[0] = F32(ACC[0] + err_o[r])
        for l in range(nl):
            reset_example_records(l, LI)
            if dims[l] > 0:
                som_bookkeeping(l, lrn, material, dumping, cmode, labels[k], win_o[r, l], wlab_o[r, l], md_o[r, l],
                                part_o[r, l], mp_o[r, l], dims, PCT, CNT, coff, nlab1, somconf, LI, LF,
                                reliability_threshold)
        if stat_mode == 2:
            q = 0
            for l in range(1, L):
                for i in range(1, N[l] + 1):
                    STD[aoff[l] + i] = R.spread_add(STD[aoff[l] + i], acts_o[r, q], AVG[aoff[l] + i])
                    q += 1
        if stat_mode == 1:
            q = 0
            for l in range(1, L):
                for i in range(1, N[l] + 1):
                    AVG[aoff[l] + i] = R.mean_add(AVG[aoff[l] + i], acts_o[r, q])
                    q += 1


def _twin(fn, name: str):
    """``fn``'s code under another name: numba caches by name, so the twin compiled
    without ``parallel`` gets a cache entry of its own."""
    twin = types.FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    twin.__qualname__ = name
    return twin


# The same pass on the calling thread (prange runs as range), for processes where a
# parallel kernel may not start (bpsom_core/primitives/_fast/parallel.py: a fork after
# GNU OpenMP started, or numba without OpenMP/TBB) and where the thread policy
# (chunks_for) finds no second CPU free.  A twin because a parallel=True kernel
# launches numba's threading layer even for one chunk, which a forked child must not.
evaluate_serial = njit(cache=True)(_twin(evaluate_parallel.py_func, "evaluate_serial"))
