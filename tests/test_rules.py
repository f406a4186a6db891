"""Each rule of ``bpsom_core.primitives.rules`` against the C's formula, the exact
engine's kernels and the batch (NumPy and torch) paths that call or mirror it.

One test (or more) per row of the rule table in docs/architecture.md; rows
whose cross-check lives elsewhere name that test in the table.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpsom_core import primitives as P
from bpsom_core.exact import kernels as K
from bpsom_core.exact.network import Network
from bpsom_core.primitives import rules as R
from bpsom_core.primitives.som import _ring_powers
from bpsom_core.tabular.trainer import _BestTracker

torch = pytest.importorskip("torch")

F32 = np.float32
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
UNIT = st.floats(0.0, 1.0, width=32)


# --- neighbourhood power --------------------------------------------------------------------

@SETTINGS
@given(lr=st.floats(0.0, 1.0, width=32), context=st.integers(0, 6), dim=st.integers(1, 9))
def test_neighbourhood_power_is_the_c_formula_on_every_path(lr, context, dim):
    c_power = [F32(float(F32(lr)) / math.pow(2.0, r)) if r <= context else F32(0.0) for r in range(dim)]
    assert [F32(R.neighbourhood_power(F32(lr), r, context)) for r in range(dim)] == c_power
    assert list(_ring_powers(lr, context, dim - 1, np.dtype(np.float32))) == c_power
    winner = np.arange(dim * dim)
    table = P.neighbourhood_power(winner, dim, context, lr, dtype=np.float32)
    ring = np.maximum(np.abs(winner[:, None] // dim - winner[None, :] // dim),
                      np.abs(winner[:, None] % dim - winner[None, :] % dim))
    np.testing.assert_array_equal(table, np.array(c_power, F32)[ring])
    t = P.neighbourhood_power(torch.from_numpy(winner), dim, context, lr, dtype=torch.float32)
    np.testing.assert_array_equal(t.numpy(), table)


def test_neighbourhood_ring_and_reach():
    assert R.neighbourhood_ring(-3, 2) == 3 and R.neighbourhood_ring(0, 0) == 0
    assert R.neighbourhood_reach(2) == 2


@SETTINGS
@given(p=UNIT, a=UNIT, power=st.floats(0.0, 1.0, width=32))
def test_prototype_step_is_the_c_float_expression(p, a, power):
    c_value = F32(F32(p) + F32(F32(power) * F32(F32(a) - F32(p))))
    assert R.prototype_step(F32(p), F32(a), F32(power)) == c_value
    assert R.prototype_step.py_func(F32(p), F32(a), F32(power)) == c_value


# --- the DONOTHING distance -----------------------------------------------------------------

@pytest.mark.parametrize("d2", [0.0, 5e-5, 1e-4, float(F32(1e-4)), 1.0001e-4, 0.5])
def test_donothing_distance_on_every_path(d2):
    """The exact kernel moves the winner only when the rule says so; the batch mask agrees."""
    moves = d2 > 0.0001
    assert R.moves_som(F32(d2)) == (float(F32(d2)) > 0.0001)
    assert bool(P.update_mask(np.array([d2]))[0]) == moves
    # exact kernel: one unit, one cell, activation sqrt(d2) away from the prototype
    net = Network.allocate([1, 1, 1, 0, 0, 0], [0, 1, 0, 0, 0, 0], 1)
    net.act(1)[1] = F32(math.sqrt(d2))
    net.labels(1)[0] = 1
    K.process_soms(1, 1, False, 1, net.N, net.L, net.A, net.aoff, net.dims, net.P, net.poff, net.LAB, net.PCT,
                   net.CNT, net.coff, net.nlab1, net.somconf, net.LI, net.LF, F32(0.5), 0, 0, net.dist, 0)
    md = net.LF[1, K.MINDIST]
    assert (net.prototypes(1)[1, 0] != 0.0) == R.moves_som(md)


# --- reliability gate, SOM error, delta mix -------------------------------------------------

@st.composite
def delta_case(draw):
    h = draw(st.integers(1, 6))
    n_out = draw(st.integers(1, 3))
    dim = draw(st.integers(1, 3))
    rel = draw(st.integers(0, 100))
    threshold = draw(st.integers(0, 100))
    alpha = draw(st.floats(0.0, 1.0, width=32))
    seed = draw(st.integers(0, 2**31 - 1))
    return h, n_out, dim, rel, threshold, alpha, seed


@SETTINGS
@given(delta_case())
def test_gate_som_error_and_mix_exact_kernel_equals_batch_primitives(case):
    """K.backprop_deltas on one example == som_error + combine_hidden_delta on a batch of one."""
    h, n_out, dim, rel, threshold, alpha, seed = case
    rng = np.random.default_rng(seed)
    net = Network.allocate([2, h, n_out, 0, 0, 0], [0, dim, 0, 0, 0, 0], 2)
    net.W[:] = rng.normal(size=net.W.size).astype(F32)
    net.P[:] = rng.random(net.P.size).astype(F32)
    net.A[:] = rng.random(net.A.size).astype(F32)
    net.T[:] = rng.random(net.T.size).astype(F32)
    part = int(rng.integers(0, dim * dim))
    net.reliability(1)[part] = rel
    net.LI[1, K.PWX], net.LI[1, K.PWY] = part // dim + 1, part % dim + 1
    net.LI[1, K.PREL] = rel
    net.LI[1, K.USE] = int(R.reliable(part, rel, threshold))
    K.backprop_deltas(net.N, net.L, net.T, net.A, net.E, net.aoff, net.W, net.woff, net.wstr, net.LI, net.P,
                      net.poff, net.dims, F32(0.0), F32(alpha), 0, net.dbg_bp, net.dbg_som, net.S)
    acts = net.act(1)[1:h + 1][None, :].copy()
    protos = net.prototypes(1)[1:h + 1].T.copy()
    err, use = P.som_error(acts, protos, np.array([part]), net.reliability(1), threshold)
    assert bool(use[0]) == (rel >= threshold)
    bp = net.dbg_bp[net.aoff[1] + 1: net.aoff[1] + h + 1][None, :]
    mixed = P.combine_hidden_delta(bp, err, use, alpha)
    np.testing.assert_array_equal(net.err(1)[1:h + 1], mixed[0])
    if use[0]:
        np.testing.assert_array_equal(net.dbg_som[net.aoff[1] + 1: net.aoff[1] + h + 1], err[0])
        c_err = [F32(0.01 * rel * float(F32(protos[part, i] - acts[0, i]))) for i in range(h)]
        np.testing.assert_array_equal(err[0], np.array(c_err, F32))
    # torch mirrors the same floats
    err_t, use_t = P.som_error(torch.from_numpy(acts), torch.from_numpy(protos), torch.tensor([part]),
                               torch.from_numpy(net.reliability(1).copy()), threshold)
    np.testing.assert_array_equal(err_t.numpy(), err)
    mixed_t = P.combine_hidden_delta(torch.from_numpy(bp.copy()), err_t, use_t, alpha)
    np.testing.assert_array_equal(mixed_t.numpy(), mixed)


@SETTINGS
@given(alpha=st.floats(0.0, 1.0, width=32), bp=st.floats(-1, 1, width=32), som=st.floats(-1, 1, width=32))
def test_delta_weights_and_mix_are_the_c_floats(alpha, bp, som):
    weight = F32(alpha)
    w_bp, w_som = R.delta_weights(weight)
    assert (w_bp, w_som) == (F32(1.0 - float(weight)), weight)
    c_value = F32(F32(F32(1.0 - float(weight)) * F32(bp)) + F32(weight * F32(som)))
    assert R.mix_delta(F32(bp), F32(som), F32(w_bp), F32(w_som)) == c_value


def test_reliability_gate_needs_a_partial_winner():
    assert R.reliable(0, 95, 95) and not R.reliable(0, 94, 95) and not R.reliable(-1, 100, 0)


# --- labelling ------------------------------------------------------------------------------

@SETTINGS
@given(st.lists(st.lists(st.integers(0, 30), min_size=4, max_size=4), min_size=1, max_size=20))
def test_cell_label_on_the_numpy_and_torch_paths(rows):
    counts = np.array(rows, dtype=np.int64)
    want = [R.cell_label(row) for row in counts]
    labels, rel = P.label_cells(counts)
    assert list(zip(labels.tolist(), rel.tolist())) == want
    lt, rt = P.label_cells(torch.from_numpy(counts))
    assert list(zip(lt.tolist(), rt.tolist())) == want


# --- activation statistics ------------------------------------------------------------------

@SETTINGS
@given(n=st.integers(1, 40), h=st.integers(1, 6), seed=st.integers(0, 2**31 - 1))
def test_activation_stats_are_the_c_running_sums(n, h, seed):
    """float32 sums example by example, divided in float, sqrt in double: as the exact engine."""
    acts = np.random.default_rng(seed).random((n, h)).astype(F32)
    mean, std = P.activation_stats(acts)
    c_mean, c_std = [], []
    for i in range(h):
        s = F32(0.0)
        for b in range(n):
            s = F32(s + acts[b, i])
        m = F32(s / F32(n))
        q = F32(0.0)
        for b in range(n):
            d = F32(acts[b, i] - m)
            q = F32(q + F32(d * d))
        c_mean.append(m)
        c_std.append(F32(math.sqrt(float(F32(q / F32(n))))))
    np.testing.assert_array_equal(mean, np.array(c_mean, F32))
    np.testing.assert_array_equal(std, np.array(c_std, F32))
    sums = np.zeros(h, F32)
    for b in range(n):
        sums = np.array([R.mean_add(sums[i], acts[b, i]) for i in range(h)], F32)
    R.finish_means(sums, F32(n))   # what the exact engine's count_avg calls
    np.testing.assert_array_equal(sums, mean)
    mean_t, std_t = P.activation_stats(torch.from_numpy(acts))
    np.testing.assert_allclose(mean_t.numpy(), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std_t.numpy(), std, rtol=1e-4, atol=1e-5)


# --- pruning choice -------------------------------------------------------------------------

def _c_prune_loop(std, threshold, fixed):
    """bpsom.cc's prune_if_possible on one layer, literally: slots shift as units go."""
    units = list(range(len(std)))
    out, i = [], 0
    while i < len(units):
        if F32(std[units[i]]) <= F32(threshold) and len(units) > 1:
            out.append(units.pop(i))
            if fixed:
                continue
        i += 1
    return out


@SETTINGS
@given(std=st.lists(st.sampled_from([0.0, 0.01, 0.02, 0.03, 0.5]), min_size=1, max_size=10),
       threshold=st.sampled_from([0.0, 0.0001, 0.01, 0.02, 0.5]))
def test_pruning_choice_follows_the_c_loop_in_both_modes(std, threshold):
    s = np.array(std, F32)
    assert R.pruning_choice(s, threshold, "c") == _c_prune_loop(s, threshold, fixed=False)
    assert R.pruning_choice(s, threshold, "fixed") == _c_prune_loop(s, threshold, fixed=True)
    mask = P.prune_mask(s, threshold)
    if R.pruning_enabled(threshold) and not (s <= F32(threshold)).all():
        assert np.flatnonzero(mask).tolist() == R.pruning_choice(s, threshold, "fixed")
    if not R.pruning_enabled(threshold):
        assert not mask.any()


def test_exact_engine_prunes_by_the_rule(tmp_path):
    """prune_if_possible removes the units pruning_choice names, in slot terms, in both modes."""
    from bpsom_core.exact.engine import CStreams, ExactRun
    from bpsom_core.prm_params import CParams
    import io
    std = np.array([0.01, 0.01, 0.5, 0.01], F32)
    for compat, fixed in (("c", False), ("fixed", True)):
        p = CParams(PRUNE_THRESHOLD=0.02)
        run = ExactRun(p, CStreams(io.BytesIO(), str(tmp_path / "x.log")), tmp_path, compat=compat)
        run.net = Network.allocate([2, 4, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0], 1)
        run.net.std(1)[1:5] = std
        run.net.avg(1)[1:5] = np.arange(1, 5, dtype=F32)
        run.prune_if_possible()
        kept_means = run.net.avg(1)[1:int(run.net.N[1]) + 1].tolist()
        gone = _c_prune_loop(std, 0.02, fixed)
        assert kept_means == [float(u + 1) for u in range(4) if u not in gone]


# --- bias absorption ------------------------------------------------------------------------

@SETTINGS
@given(bias=st.floats(-2, 2, width=32), mean=UNIT, w=st.floats(-2, 2, width=32))
def test_absorb_unit_is_the_c_float_expression(bias, mean, w):
    c_value = F32(F32(bias) + F32(F32(mean) * F32(w)))
    assert R.absorb_unit(F32(bias), F32(mean), F32(w)) == c_value
    got = P.absorb_bias(np.array([bias], F32), np.array([[w]], F32), np.array([mean], F32), np.array([True]))
    assert got[0] == c_value


# --- the best network -----------------------------------------------------------------------

@SETTINGS
@given(acc=st.sampled_from([50.0, 60.0, 70.0]), best=st.sampled_from([50.0, 60.0, 70.0]),
       mse=st.floats(0, 1), best_mse=st.floats(0, 1), pruned=st.booleans())
def test_best_network_rule_everywhere(acc, best, mse, best_mse, pruned):
    c_rule = acc > best or (acc == best and mse + 0.005 < best_mse) or (pruned and acc >= best)
    assert R.better_network(acc, mse, best, best_mse, pruned) == c_rule
    tracker = _BestTracker()
    tracker.acc, tracker.mse = best, best_mse
    assert tracker.update(acc, mse, pruned) == c_rule
