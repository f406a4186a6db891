"""The exact engine's compiled kernels, cross-checked against the shared primitives.

The kernels keep the C's loops for speed and bit-exactness; these tests pin
them to the backend-agnostic rules every other engine uses.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bpsom_core import primitives as prim
from bpsom_core.exact import kernels as K
from bpsom_core.exact.network import Network

F32 = np.float32


@st.composite
def som_case(draw):
    dim = draw(st.integers(1, 8))
    h = draw(st.integers(1, 12))
    n_labels = draw(st.integers(1, 5))
    ncell = dim * dim
    # coarse values so exact ties between cells are common
    pool = draw(st.lists(st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), min_size=h, max_size=h),
                         min_size=1, max_size=4))
    protos = np.array([pool[draw(st.integers(0, len(pool) - 1))] for _ in range(ncell)], dtype=np.float32)
    labels = np.array(draw(st.lists(st.integers(0, n_labels), min_size=ncell, max_size=ncell)), dtype=np.int64)
    rel = np.array(draw(st.lists(st.integers(0, 100), min_size=ncell, max_size=ncell)), dtype=np.int64)
    act = np.array(draw(st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, 0.1, 0.9]), min_size=h, max_size=h)),
                   dtype=np.float32)
    labeln = draw(st.integers(1, n_labels))
    context = draw(st.integers(0, 3))
    lr = draw(st.sampled_from([0.05, 0.1, 0.2, 0.5]))
    return dim, h, n_labels, protos, labels, rel, act, labeln, context, lr


def _network(dim, h, n_labels, protos, labels, rel, act):
    net = Network.allocate([4, h, 2, 0, 0, 0], [0, dim, 0, 0, 0, 0], n_labels)
    net.prototypes(1)[1:h + 1, :] = protos.T
    net.labels(1)[:] = labels
    net.reliability(1)[:] = rel
    net.act(1)[1:h + 1] = act
    return net


def _process(net, lrn, labeln, context, lr, threshold=50):
    K.process_soms(lrn, 1, False, labeln, net.N, net.L, net.A, net.aoff, net.dims, net.P, net.poff, net.LAB,
                   net.PCT, net.CNT, net.coff, net.nlab1, net.somconf, net.LI, net.LF, F32(lr), context, threshold,
                   net.dist, 0)


@settings(max_examples=150, deadline=None)
@given(som_case())
def test_winners_and_update_match_primitives(case):
    dim, h, n_labels, protos, labels, rel, act, labeln, context, lr = case
    net = _network(dim, h, n_labels, protos, labels, rel, act)
    _process(net, 1, labeln, context, lr)
    winner, partial, wd2, pd2 = prim.find_winners(act[None, :], protos, labels, np.array([labeln]), max_d2=99999.0)
    w = int(winner[0])
    assert (int(net.LI[1, K.WX]), int(net.LI[1, K.WY])) == ((w // dim + 1, w % dim + 1) if w >= 0 else (0, 0))
    p = int(partial[0])
    assert (int(net.LI[1, K.PWX]), int(net.LI[1, K.PWY])) == ((p // dim + 1, p % dim + 1) if p >= 0 else (0, 0))
    if p >= 0:
        assert int(net.LI[1, K.USE]) == int(rel[p] >= 50)
    # SOM update: one example, the C's neighbourhood and powers
    expected = protos.copy()
    if w >= 0 and float(wd2[0]) > prim.DONOTHING:
        expected = prim.som_update_one(protos, act, w, dim, context, lr)
    np.testing.assert_array_equal(net.prototypes(1)[1:h + 1, :].T, expected)


@settings(max_examples=100, deadline=None)
@given(som_case())
def test_labelling_pass_counts_match_primitives(case):
    dim, h, n_labels, protos, labels, rel, act, labeln, context, lr = case
    net = _network(dim, h, n_labels, protos, labels, rel, act)
    net.clear_som_cell_counters()
    K.process_soms(0, 1, False, labeln, net.N, net.L, net.A, net.aoff, net.dims, net.P, net.poff, net.LAB,
                   net.PCT, net.CNT, net.coff, net.nlab1, net.somconf, net.LI, net.LF, F32(lr), context, 50,
                   net.dist, 0)
    winner, _, _, _ = prim.find_winners(act[None, :], protos, np.zeros_like(labels), np.array([labeln]), max_d2=99999.0)
    expected = prim.count_cells(winner, np.array([labeln]), dim * dim, n_labels)
    np.testing.assert_array_equal(net.counts(1), expected)


def _c_count_som_cell_winners(counts):
    """The C's loop, literally: float counters, strict '>' from class 1 on."""
    labels, rel = [], []
    for row in counts:
        total = F32(0.0)
        best = F32(0.0)
        lab = 0
        for c in range(1, len(row)):
            v = F32(row[c])
            total = F32(total + v)
            if v > best:
                lab, best = c, v
        labels.append(lab)
        rel.append(int((100.0 * float(best)) / float(total)) if total > 0 else 0)
    return labels, rel


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(0, 50), min_size=4, max_size=4), min_size=1, max_size=30))
def test_cell_labels_and_integer_reliability_follow_the_c(rows):
    counts = np.array(rows, dtype=np.int64)
    net = Network.allocate([4, 3, 3, 0, 0, 0], [0, 1, 0, 0, 0, 0], 3)
    net.dims[1] = 1
    for row in counts:
        net.CNT[:4] = row
        net.count_som_cell_winners()
        lab, rel = _c_count_som_cell_winners(row[None, :])
        assert int(net.labels(1)[0]) == lab[0]
        assert int(net.reliability(1)[0]) == rel[0]


@settings(max_examples=60, deadline=None)
@given(h=st.integers(2, 8), out=st.integers(1, 5), w=st.integers(1, 8), seed=st.integers(0, 10**6))
def test_pruning_shift_and_bias_absorption_match_primitives(h, out, w, seed):
    w = min(w, h)
    rng = np.random.default_rng(seed)
    net = Network.allocate([3, h, out, 0, 0, 0], [0, 2, 0, 0, 0, 0], 2)
    net.W[:] = rng.normal(size=net.W.size).astype(np.float32)
    net.P[:] = rng.random(net.P.size).astype(np.float32)
    net.avg(1)[:] = rng.random(h + 1).astype(np.float32)
    w_in = net.weight(0)[:4, 1:h + 1].copy()
    w_out = net.weight(1)[:h + 1, 1:out + 1].copy()
    protos = net.prototypes(1)[1:h + 1].copy()
    mean = net.avg(1)[1:h + 1].copy()
    pruned = np.zeros(h, bool)
    pruned[w - 1] = True
    net.prune_unit(1, w)
    assert net.N[1] == h - 1
    bias = prim.absorb_bias(w_out[0], w_out[1:], mean, pruned)
    np.testing.assert_array_equal(net.weight(1)[0, 1:out + 1], bias)
    np.testing.assert_array_equal(net.weight(1)[1:h, 1:out + 1], prim.remove_units(w_out[1:], pruned, axis=0))
    np.testing.assert_array_equal(net.weight(0)[:4, 1:h], prim.remove_units(w_in, pruned, axis=1))
    np.testing.assert_array_equal(net.prototypes(1)[1:h], prim.remove_units(protos, pruned, axis=0))


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 500), e=st.integers(1, 500), cmin=st.integers(0, 5), span=st.integers(0, 5),
       lrmin=st.floats(0, 0.5), lrspan=st.floats(0, 0.5))
def test_schedules_follow_the_c_formula(n, e, cmin, span, lrmin, lrspan):
    """Context and learning rate as the C computes them, in double then float."""
    import math
    e = min(e, n)
    cmax = cmin + span
    frac4 = math.pow(float(n) - e, 4) / math.pow(float(n), 4)
    assert prim.context_schedule(e, n, cmin, cmax) == int(cmin + math.floor(frac4 * (cmax - cmin) + 0.5))
    lo, hi = F32(lrmin), F32(lrmin + lrspan)
    expected = F32(lo + F32((float(n) - e) / float(n) * float(F32(hi - lo))))
    assert prim.lr_schedule(e, n, float(lo), float(hi)) == float(expected)
