"""Property tests: NumPy and torch primitives agree with each other and with a
plain per-example reference written straight from the C rules (som.h, bp.h)."""

from __future__ import annotations

import contextlib
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpsom_core import primitives as P

torch = pytest.importorskip("torch")

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DTYPES = [np.float32, np.float64]
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


# ---------------------------------------------------------------- references

def ref_sq_dist(act, protos):
    """The C's count_distance for every cell: units summed in order, in the dtype."""
    d = np.zeros(protos.shape[0], dtype=protos.dtype)
    for i in range(protos.shape[1]):
        diff = act[i] - protos[:, i]
        d = d + diff * diff
    return d


def ref_winners(acts, protos, labels, classes):
    """process_som_vectors, one example at a time, cells in scan order."""
    out = []
    for a, cls in zip(acts, classes):
        d = ref_sq_dist(a, protos)
        win, win_d = -1, math.inf
        part, part_d = -1, math.inf
        for k in range(len(d)):
            if d[k] < win_d:
                win, win_d = k, d[k]
            if cls > 0 and labels[k] == cls and d[k] <= part_d:
                part, part_d = k, d[k]
        out.append((win, part, win_d, part_d))
    return [np.array(v) for v in zip(*out)]


def ref_label(counts):
    labels, rel = [], []
    for row in counts:
        best, best_n, total = 0, 0, 0
        for c in range(1, len(row)):
            total += row[c]
            if row[c] > best_n:
                best, best_n = c, row[c]
        labels.append(best)
        rel.append(int((100.0 * best_n) / total) if total > 0 else 0)
    return np.array(labels), np.array(rel)


def ref_power(winner, dim, context, lr, dtype):
    out = np.zeros((len(winner), dim * dim), dtype=dtype)
    for b, w in enumerate(winner):
        if w < 0:
            continue
        wx, wy = divmod(int(w), dim)
        for x in range(max(0, wx - context), min(dim, wx + context + 1)):
            for y in range(max(0, wy - context), min(dim, wy + context + 1)):
                out[b, x * dim + y] = dtype(lr) / dtype(2.0 ** max(abs(x - wx), abs(y - wy)))
    return out


def ref_update_inorder(protos, acts, winner, dim, context, lr, active):
    """Examples applied one after another, in float64."""
    p = protos.astype(np.float64).copy()
    power = ref_power(winner, dim, context, lr, protos.dtype.type).astype(np.float64)
    for k in range(len(acts)):
        if active is not None and not active[k]:
            continue
        for c in range(p.shape[0]):
            if power[k, c]:
                p[c] += power[k, c] * (acts[k] - p[c])
    return p


# ---------------------------------------------------------------- strategies

@st.composite
def som_case(draw, max_dim=30, max_b=12, max_h=6):
    dtype = draw(st.sampled_from(DTYPES))
    dim = draw(st.integers(1, max_dim))
    n_c = dim * dim
    h = draw(st.integers(1, max_h))
    b = draw(st.integers(1, max_b))
    n_labels = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    acts = rng.random((b, h)).astype(dtype)
    protos = rng.random((n_c, h)).astype(dtype)
    if draw(st.booleans()):  # ties: duplicate prototypes and examples on prototypes
        n_dup = draw(st.integers(1, n_c))
        src = rng.integers(0, n_c, n_dup)
        dst = rng.integers(0, n_c, n_dup)
        protos[dst] = protos[src]
        on = rng.random(b) < 0.5
        acts[on] = protos[rng.integers(0, n_c, on.sum())]
    if draw(st.booleans()):  # coarse values make equal distances common
        acts = np.round(acts * 2) / 2
        protos = np.round(protos * 2) / 2
    label_mode = draw(st.sampled_from(["random", "same", "empty"]))
    if label_mode == "same":
        labels = np.full(n_c, 1)
        classes = np.full(b, 1)
    elif label_mode == "empty":
        labels = np.zeros(n_c, dtype=np.int64)
        classes = rng.integers(0, n_labels + 1, b)
    else:
        labels = rng.integers(0, n_labels + 1, n_c)
        classes = rng.integers(0, n_labels + 1, b)
    return dtype, dim, acts, protos, labels.astype(np.int64), classes.astype(np.int64), n_labels


def to_t(x, dtype=None):
    t = torch.from_numpy(np.ascontiguousarray(x))
    return t if dtype is None else t.to(dtype)


# ---------------------------------------------------------------- winners

@SETTINGS
@given(som_case())
def test_find_winners_matches_reference_and_torch(case):
    dtype, dim, acts, protos, labels, classes, _ = case
    ref = ref_winners(acts, protos, labels, classes)
    got = P.find_winners(acts, protos, labels, classes)
    got_t = [x.numpy() for x in P.find_winners(to_t(acts), to_t(protos), to_t(labels), to_t(classes))]
    for r, g, t in zip(ref, got, got_t):
        np.testing.assert_array_equal(g, r.astype(g.dtype))
        np.testing.assert_array_equal(t, g)
    assert got[0].dtype.kind == "i" and got[2].dtype == dtype


@SETTINGS
@given(som_case(max_dim=12))
def test_fast_distances_pick_a_near_minimum(case):
    dtype, dim, acts, protos, labels, classes, _ = case
    exact = P.sq_distances(acts, protos)
    fast = P.sq_distances(acts, protos, method="fast")
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(fast, exact, atol=tol * acts.shape[1], rtol=0)
    win = P.find_winners(acts, protos, labels, classes, method="fast")[0]
    chosen = exact[np.arange(len(win)), win]
    assert np.all(chosen <= exact.min(1) + 2 * tol * acts.shape[1])


def test_partial_winner_is_last_and_winner_is_first_on_ties():
    protos = np.zeros((4, 2), dtype=np.float32)  # four identical cells
    labels = np.array([2, 1, 2, 1])
    w, p, wd, pd = P.find_winners(np.zeros((1, 2), np.float32), protos, labels, np.array([2]))
    assert (w[0], p[0]) == (0, 2)
    w, p, wd, pd = P.find_winners(np.zeros((1, 2), np.float32), protos, labels, np.array([3]))
    assert p[0] == -1 and math.isinf(pd[0])


def test_max_d2_reproduces_the_c_start_value():
    protos = np.full((2, 1), 400.0)
    w, p, wd, pd = P.find_winners(np.zeros((1, 1)), protos, np.array([1, 1]), np.array([1]), max_d2=99999.0)
    assert w[0] == -1 and p[0] == -1
    w, p, wd, pd = P.find_winners(np.zeros((1, 1)), protos, np.array([1, 1]), np.array([1]))
    assert (w[0], p[0], wd[0]) == (0, 1, 160000.0)


def test_unknown_distance_method_is_rejected():
    with pytest.raises(ValueError, match="method"):
        P.sq_distances(np.zeros((1, 2)), np.zeros((3, 2)), method="cosine")


# ---------------------------------------------------------------- labelling

@SETTINGS
@given(st.integers(1, 900), st.integers(1, 6), st.integers(0, 40), st.integers(0, 2**31 - 1))
def test_count_and_label_cells_match_reference(n_c, n_labels, n_ex, seed):
    rng = np.random.default_rng(seed)
    winner = rng.integers(-1, n_c, n_ex)
    classes = rng.integers(0, n_labels + 1, n_ex)
    counts = P.count_cells(winner, classes, n_c, n_labels)
    ref = np.zeros((n_c, n_labels + 1), dtype=np.int64)
    for w, c in zip(winner, classes):
        if w >= 0:
            ref[w, c] += 1
    np.testing.assert_array_equal(counts, ref)
    np.testing.assert_array_equal(P.count_cells(to_t(winner), to_t(classes), n_c, n_labels).numpy(), ref)
    if n_ex and rng.random() < 0.5:  # heavy ties between classes
        counts = np.repeat(counts[:, 1:2], n_labels + 1, axis=1)
    labels, rel = P.label_cells(counts)
    rl, rr = ref_label(counts)
    np.testing.assert_array_equal(labels, rl)
    np.testing.assert_array_equal(rel, rr)
    lt, rt = P.label_cells(to_t(counts))
    np.testing.assert_array_equal(lt.numpy(), rl)
    np.testing.assert_array_equal(rt.numpy(), rr)


def test_reliability_truncates_toward_zero():
    labels, rel = P.label_cells(np.array([[0, 2, 1], [0, 1, 2], [0, 0, 0], [0, 1, 1], [9, 0, 0]]))
    assert labels.tolist() == [1, 2, 0, 1, 0]
    assert rel.tolist() == [66, 66, 0, 50, 0]


def test_count_cells_rejects_out_of_range_classes():
    with pytest.raises(ValueError, match="classes"):
        P.count_cells(np.array([0]), np.array([3]), 4, 2)


# ---------------------------------------------------------------- SOM error

@SETTINGS
@given(som_case(max_dim=8), st.integers(0, 101), st.floats(0.0, 1.0))
def test_som_error_and_combine_match_reference(case, threshold, alpha):
    dtype, dim, acts, protos, labels, classes, _ = case
    rng = np.random.default_rng(threshold)
    rel = rng.integers(0, 101, dim * dim)
    partial = P.find_winners(acts, protos, labels, classes)[1]
    err, use = P.som_error(acts, protos, partial, rel, threshold)
    bp = rng.standard_normal(acts.shape).astype(dtype)
    mixed = P.combine_hidden_delta(bp, err, use, alpha)
    a32 = dtype(alpha)
    for b in range(len(acts)):
        pw = partial[b]
        ok = pw >= 0 and rel[pw] >= threshold
        assert use[b] == ok
        if ok:
            want = (0.01 * rel[pw] * (protos[pw] - acts[b]).astype(np.float64)).astype(dtype)
            np.testing.assert_array_equal(err[b], want)
            np.testing.assert_array_equal(mixed[b], dtype(1.0 - float(a32)) * bp[b] + a32 * want)
        else:
            assert not err[b].any()
            np.testing.assert_array_equal(mixed[b], bp[b])
    err_t, use_t = P.som_error(to_t(acts), to_t(protos), to_t(partial), to_t(rel), threshold)
    np.testing.assert_array_equal(use_t.numpy(), use)
    np.testing.assert_array_equal(err_t.numpy(), err)
    mixed_t = P.combine_hidden_delta(to_t(bp), err_t, use_t, alpha)
    np.testing.assert_allclose(mixed_t.numpy(), mixed, rtol=0, atol=4 * np.finfo(dtype).eps)


# ---------------------------------------------------------------- SOM update

@SETTINGS
@given(st.integers(1, 30), st.integers(0, 5), st.floats(0.001, 1.0), st.integers(0, 40),
       st.sampled_from(DTYPES), st.integers(0, 2**31 - 1))
def test_neighbourhood_power_matches_reference(dim, context, lr, n_b, dtype, seed):
    rng = np.random.default_rng(seed)
    winner = rng.integers(-1, dim * dim, n_b)
    got = P.neighbourhood_power(winner, dim, context, lr, dtype=dtype)
    np.testing.assert_array_equal(got, ref_power(winner, dim, context, lr, dtype))
    got_t = P.neighbourhood_power(to_t(winner), dim, context, lr, dtype=TORCH_DTYPE[dtype])
    np.testing.assert_array_equal(got_t.numpy(), got)


def test_neighbourhood_power_masks_rows():
    w = np.array([0, 0, 0, -1])
    got = P.neighbourhood_power(w, 3, 1, 0.5, skip=np.array([False, True, False, False]),
                                winner_d2=np.array([1.0, 1.0, 0.00005, 1.0]), min_distance=P.DONOTHING)
    assert got[0].tolist() == [0.5, 0.25, 0, 0.25, 0.25, 0, 0, 0, 0]
    assert not got[1:].any()


def test_big_grids_skip_the_table_but_agree():
    from bpsom_core.primitives import som
    w = np.array([0, 1300, 2600, -1])
    direct = P.neighbourhood_power(w, 51, 2, 0.3, dtype=np.float32)  # 2601 cells: above the table limit
    assert direct.shape == (4, 51 * 51)
    old = som._TABLE_MAX_CELLS
    try:
        som._TABLE_MAX_CELLS = 10**9
        np.testing.assert_array_equal(P.neighbourhood_power(w, 51, 2, 0.3, dtype=np.float32), direct)
    finally:
        som._TABLE_MAX_CELLS = old


@SETTINGS
@given(som_case(max_b=25), st.integers(0, 4), st.floats(0.01, 1.0), st.booleans())
def test_inorder_update_equals_sequential_examples(case, context, lr, masked):
    dtype, dim, acts, protos, labels, classes, _ = case
    winner, _, wd, _ = P.find_winners(acts, protos, labels, classes)
    rng = np.random.default_rng(len(acts))
    active = (rng.random(len(acts)) < 0.7) if masked else None
    got = P.som_update(protos, acts, winner, dim, context, lr, active=active)
    ref = ref_update_inorder(protos, acts, winner, dim, context, lr, active)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol)
    assert got.dtype == dtype
    got_t = P.som_update(to_t(protos), to_t(acts), to_t(winner), dim, context, lr,
                         active=None if active is None else to_t(active))
    np.testing.assert_allclose(got_t.numpy(), ref, rtol=0, atol=tol)
    # the same examples one call at a time (in the C's float order)
    seq = protos.copy()
    lr_cast = float(dtype(lr))
    for k in range(len(acts)):
        if active is None or active[k]:
            seq = P.som_update_one(seq, acts[k], int(winner[k]), dim, context, lr_cast)
    np.testing.assert_allclose(seq, ref, rtol=0, atol=tol)


@SETTINGS
@given(som_case(max_b=25, max_dim=10), st.integers(0, 3), st.floats(0.01, 0.5))
def test_summed_update_matches_reference(case, context, lr):
    dtype, dim, acts, protos, labels, classes, _ = case
    winner = P.find_winners(acts, protos, labels, classes)[0]
    power = ref_power(winner, dim, context, lr, dtype).astype(np.float64)
    ref = protos.astype(np.float64).copy()
    norm = np.maximum(power.sum(0), 1.0)[:, None]   # convex: total power above 1 is normalised
    for k in range(len(acts)):
        ref += power[k][:, None] * (acts[k][None, :] - protos) / norm
    got = P.som_update(protos, acts, winner, dim, context, lr, mode="summed")
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol)
    got_t = P.som_update(to_t(protos), to_t(acts), to_t(winner), dim, context, lr, mode="summed")
    np.testing.assert_allclose(got_t.numpy(), ref, rtol=0, atol=tol)


def test_inorder_update_handles_full_pull_and_repeats():
    protos = np.zeros((1, 2))
    acts = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    got = P.som_update(protos, acts, np.array([0, 0, 0]), 1, 0, 1.0)
    np.testing.assert_array_equal(got, [[5.0, 6.0]])  # lr 1: the last example wins outright
    got = P.som_update(protos, acts[:2], np.array([0, 0]), 1, 0, 0.5)
    np.testing.assert_allclose(got, [[(0.5 * 1) * 0.5 + 0.5 * 3, (0.5 * 2) * 0.5 + 0.5 * 4]])


def test_update_rejects_bad_mode_and_winners():
    with pytest.raises(ValueError, match="mode"):
        P.som_update(np.zeros((4, 1)), np.zeros((1, 1)), np.array([0]), 2, 1, 0.1, mode="random")
    with pytest.raises(ValueError, match="winner"):
        P.neighbourhood_power(np.array([4]), 2, 1, 0.1)


# ---------------------------------------------------------------- schedules

def test_schedules_follow_the_c_formulas():
    # som_cont = cmin + floor((N-e)^4/N^4 (cmax-cmin) + 0.5), som_lr in float
    assert [P.context_schedule(e, 10, 1, 5) for e in (0, 1, 2, 3, 5, 10)] == [5, 4, 3, 2, 1, 1]
    assert P.lr_schedule(10, 10, 0.05, 0.2) == float(np.float32(0.05))
    assert P.lr_schedule(0, 10, 0.05, 0.2) == float(np.float32(0.05) + np.float32(np.float32(0.2) - np.float32(0.05)))
    want = np.float32(np.float32(0.05) + np.float32(0.7 * float(np.float32(np.float32(0.2) - np.float32(0.05)))))
    assert P.lr_schedule(3, 10, 0.05, 0.2) == float(want)


@SETTINGS
@given(st.integers(1, 500), st.integers(0, 20), st.integers(0, 20))
def test_context_schedule_falls_from_max_to_min(n_epochs, a, b):
    cmin, cmax = min(a, b), max(a, b)
    values = [P.context_schedule(e, n_epochs, cmin, cmax) for e in range(1, n_epochs + 1)]
    assert values[-1] == cmin
    assert all(cmin <= v <= cmax for v in values)
    assert all(x >= y for x, y in zip(values, values[1:]))


# ---------------------------------------------------------------- pruning

@SETTINGS
@given(st.integers(1, 30), st.integers(1, 8), st.sampled_from(DTYPES), st.integers(0, 2**31 - 1))
def test_activation_stats_and_prune_mask(n, h, dtype, seed):
    rng = np.random.default_rng(seed)
    acts = rng.random((n, h)).astype(dtype)
    acts[:, 0] = 0.5  # a dead unit
    mean, std = P.activation_stats(acts)
    np.testing.assert_allclose(mean, acts.astype(np.float64).mean(0), rtol=1e-5)
    np.testing.assert_allclose(std, acts.astype(np.float64).std(0), rtol=1e-4, atol=1e-6)
    mean_t, std_t = P.activation_stats(to_t(acts))
    np.testing.assert_allclose(std_t.numpy(), std, rtol=1e-5, atol=1e-6)
    mask = P.prune_mask(std, 0.01)
    want = std <= 0.01
    if want.all():
        want[int(np.argmax(std))] = False  # keep one unit: the widest, first on ties
    np.testing.assert_array_equal(mask, want)
    assert not mask.all()
    np.testing.assert_array_equal(P.prune_mask(to_t(std), 0.01).numpy(), mask)
    assert not P.prune_mask(std, P.DONOTHING).any()  # the C prunes only above DONOTHING


def test_activation_stats_around_a_given_mean():
    acts = np.array([[0.0], [2.0]])
    mean, std = P.activation_stats(acts, mean=np.array([0.0]))
    assert mean[0] == 0.0 and std[0] == pytest.approx(math.sqrt(2.0))


def test_prune_keeps_the_widest_unit_when_all_qualify():
    assert P.prune_mask(np.array([0.01, 0.03, 0.03, 0.0]), 0.5).tolist() == [True, False, True, True]


def test_absorb_bias_keeps_outputs_of_constant_units():
    rng = np.random.default_rng(3)
    acts = rng.random((20, 5))
    acts[:, [1, 3]] = [0.25, 0.75]
    w = rng.standard_normal((5, 3))
    bias = rng.standard_normal(3)
    mean, std = P.activation_stats(acts)
    pruned = P.prune_mask(std, 0.001)
    assert pruned.tolist() == [False, True, False, True, False]
    new_bias = P.absorb_bias(bias, w, mean, pruned)
    kept_w = P.remove_units(w, pruned, axis=0)
    kept_a = P.remove_units(acts, pruned, axis=1)
    np.testing.assert_allclose(kept_a @ kept_w + new_bias, acts @ w + bias, atol=1e-12)
    t_bias = P.absorb_bias(to_t(bias), to_t(w), to_t(mean), to_t(pruned))
    np.testing.assert_allclose(t_bias.numpy(), new_bias, atol=1e-12)
    np.testing.assert_array_equal(P.remove_units(to_t(w), to_t(pruned), axis=0).numpy(), kept_w)


def test_numpy_use_does_not_import_torch():
    code = ("import sys, numpy as np\nfrom bpsom_core import primitives as P\n"
            "P.find_winners(np.zeros((2,3)), np.ones((4,3)), np.array([1,1,2,2]), np.array([1,2]))\n"
            "P.som_update(np.zeros((4,3)), np.ones((2,3)), np.array([0,1]), 2, 1, 0.1)\n"
            "assert 'torch' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- NumPy kernels

@contextlib.contextmanager
def forced_threads(on=True):
    """Split kernel rows over three threads in small chunks, even for tiny batches."""
    from bpsom_core.primitives._fast import parallel as _parallel
    from bpsom_core.primitives._fast import threads as _threads
    saved = _threads.MIN_WORK, _threads.CHUNKS_PER_THREAD, _threads.n_threads, _parallel.PAYBACK_WORK
    if on:  # PAYBACK_WORK 0: launch the parallel kernels even before they are compiled
        _threads.MIN_WORK, _threads.CHUNKS_PER_THREAD, _threads.n_threads, _parallel.PAYBACK_WORK = 0, 3, lambda: 3, 0
    try:
        yield
    finally:
        _threads.MIN_WORK, _threads.CHUNKS_PER_THREAD, _threads.n_threads, _parallel.PAYBACK_WORK = saved


@pytest.fixture
def threaded_rows():
    with forced_threads():
        yield


@pytest.mark.parametrize("threads", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("b,h", [(1, 1), (2, 4), (7, 5), (8, 3), (13, 9)])
def test_exact_distance_kernels_are_the_plain_unit_order_sums(b, h, dtype, threads, request):
    if threads:
        request.getfixturevalue("threaded_rows")
    rng = np.random.default_rng(b * 100 + h)
    acts = rng.standard_normal((b, h)).astype(dtype)
    protos = rng.standard_normal((11, h)).astype(dtype)
    protos[3] = acts[0]  # a zero distance
    acts[-1, 0] = -0.0
    protos[4, 0] = 0.0
    got = P.sq_distances(acts, protos)
    want = np.stack([ref_sq_dist(a, protos) for a in acts])
    np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))  # bit for bit
    labels = rng.integers(0, 3, 11)
    classes = rng.integers(0, 3, b)
    for g, r in zip(P.find_winners(acts, protos, labels, classes), ref_winners(acts, protos, labels, classes)):
        np.testing.assert_array_equal(g, r.astype(g.dtype))


def _same_floats(got, want):
    """Bit for bit, except that any NaN matches any NaN."""
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got[~nan].view(np.uint8), want[~nan].view(np.uint8))


def test_minus_on_fma_is_a_plain_subtraction():
    from bpsom_core.primitives import distance
    vals = np.array([0.0, -0.0, 1.0, -1.0, 1e-45, 3.4e38, -3.4e38, np.inf, -np.inf, 0.1, 1 / 3, 7e-39, 1e20])

    @distance._nb.njit
    def sub(a, p, m):
        out = np.empty_like(a)
        for i in range(a.shape[0]):
            out[i] = distance._minus_on_fma(a[i], p[i], m)
        return out

    rng = np.random.default_rng(5)
    for dtype in DTYPES:
        v = vals.astype(dtype)
        a, p = np.repeat(v, len(v)), np.tile(v, len(v))
        with np.errstate(all="ignore"):
            _same_floats(sub(a, p, dtype(-1)), a - p)
            acts = rng.choice(v, (7, 6))  # the same values through the paired distance kernel
            protos = rng.choice(v, (40, 6))
            want = np.stack([ref_sq_dist(x, protos) for x in acts])
            _same_floats(P.sq_distances(acts, protos), want)


def test_winner_search_keeps_argmin_rules_on_nan_and_negative_rows():
    from bpsom_core.primitives import winners
    rows = np.array([[3.0, 1.0, 1.0, 2.0], [3.0, np.nan, 1.0, np.nan], [np.nan, 0.0, 1.0, 2.0],
                     [2.0, -1.0, 0.5, -1.0], [np.inf, np.inf, np.inf, np.inf], [0.0, 0.0, 5.0, 0.0]],
                    dtype=np.float32)
    labels = np.array([1, 1, 2, 1])
    classes = np.array([1, 1, 1, 1, 1, 2])
    for dtype in DTYPES:
        lane = np.int32 if dtype == np.float32 else np.int64
        lab, wants = labels.astype(lane), classes.astype(lane)
        r = rows.astype(dtype)
        n = len(r)
        w, wd, p, pd = np.empty(n, np.int64), np.empty(n, dtype), np.empty(n, np.int64), np.empty(n, dtype)
        for b in range(n):
            winners._pick(r[b], b, lab, wants, np.inf,
                          lab.dtype.type(winners._limit_bits(np.inf, r.dtype)), w, wd, p, pd)
        np.testing.assert_array_equal(w, np.argmin(r, axis=1))
        np.testing.assert_array_equal(wd, r[np.arange(n), w])
        assert p.tolist() == [1, 0, 1, 3, 3, 2]


@SETTINGS
@given(som_case(max_dim=12, max_b=20, max_h=9), st.sampled_from([None, 0.5, 2.0]))
def test_fused_winner_paths_match_distances_then_search(case, max_d2):
    dtype, dim, acts, protos, labels, classes, _ = case
    for method in ("exact", "fast"):
        got = P.find_winners(acts, protos, labels, classes, method=method, max_d2=max_d2)
        if method == "fast":  # torch's matmul may round differently: search NumPy's own distances
            d2 = P.sq_distances(acts, protos, method=method)
            w = np.argmin(d2, axis=1)
            wd = d2[np.arange(len(w)), w]
            if max_d2 is not None:
                w = np.where(wd < max_d2, w, -1)
                wd = np.where(wd < max_d2, wd, np.inf)
            np.testing.assert_array_equal(got[0], w)
            np.testing.assert_array_equal(got[2], wd)
            for b in range(len(acts)):  # partial: last minimum among the class's cells
                part, part_d = -1, np.inf
                for k in range(len(protos)):
                    ok = max_d2 is None or d2[b, k] <= max_d2
                    if classes[b] > 0 and labels[k] == classes[b] and ok and d2[b, k] <= part_d:
                        part, part_d = k, d2[b, k]
                assert (got[1][b], got[3][b]) == (part, part_d)
            continue
        want = P.find_winners(to_t(acts), to_t(protos), to_t(labels), to_t(classes), max_d2=max_d2)
        for g, t in zip(got, want):
            np.testing.assert_array_equal(g, t.numpy())


@SETTINGS
@given(som_case(max_dim=8), st.integers(0, 101))
def test_som_error_kernel_matches_generic_path(case, threshold):
    """The compiled NumPy kernel (the rules, per example) and the generic path (on torch) agree."""
    dtype, dim, acts, protos, labels, classes, _ = case
    rel = np.random.default_rng(threshold).integers(0, 101, dim * dim)
    partial = P.find_winners(acts, protos, labels, classes)[1]
    got = P.som_error(acts, protos, partial, rel, threshold)
    want = P.som_error(to_t(acts), to_t(protos), to_t(partial), to_t(rel), threshold)
    np.testing.assert_array_equal(got[0], want[0].numpy())
    np.testing.assert_array_equal(got[1], want[1].numpy())
    with pytest.raises(IndexError):
        P.som_error(acts, protos, np.full(len(acts), dim * dim), rel, threshold)


@SETTINGS
@given(som_case(max_b=30, max_h=9), st.integers(-1, 6), st.floats(0.01, 1.0), st.booleans(), st.booleans())
def test_numpy_inorder_update_is_the_c_sequence_bit_for_bit(case, context, lr, masked, threads):
    dtype, dim, acts, protos, labels, classes, _ = case
    winner = P.find_winners(acts, protos, labels, classes)[0]
    rng = np.random.default_rng(len(acts))
    winner[rng.random(len(acts)) < 0.2] = -1
    active = (rng.random(len(acts)) < 0.7) if masked else None
    with forced_threads(threads):  # grid rows split over threads: the same floats
        got = P.som_update(protos, acts, winner, dim, context, lr, active=active)
    assert got.dtype == dtype and got is not protos
    seq = protos.copy()
    for k in range(len(acts)):
        if active is None or active[k]:
            seq = P.som_update_one(seq, acts[k], int(winner[k]), dim, max(context, -1), lr)
    np.testing.assert_array_equal(got, seq if context >= 0 else protos)


def test_run_rows_covers_every_row_once_and_reraises(threaded_rows):
    from bpsom_core.primitives._fast.threads import run_rows
    seen = []
    lock = __import__("threading").Lock()

    def fn(out, start, stop):
        with lock:
            seen.append((start, stop))
        out[start:stop] += 1

    out = np.zeros(50, np.int64)
    run_rows(fn, 50, 1, out)
    assert out.tolist() == [1] * 50 and len(seen) > 1

    def boom(start, stop):
        raise RuntimeError("kernel failed")
    with pytest.raises(RuntimeError, match="kernel failed"):
        run_rows(boom, 10, 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_limit_bits_order_like_the_float_comparison(dtype):
    from bpsom_core.primitives.winners import _limit_bits
    rng = np.random.default_rng(1)
    d = np.concatenate([rng.random(200) * 3, [0.0, 0.5, 1.0, 2.0, np.inf, 1e-45, 3.4e38]]).astype(dtype)
    bits = d.view(np.int32 if dtype == np.float32 else np.int64)
    for limit in [0.0, -0.0, -1.0, 0.5, 1.0, 0.1, 1 / 3, 2.0, 99999.0, 1e300, np.inf, np.nan,
                  float(np.nextafter(np.float32(0.5), np.float32(1))), 0.5 + 1e-12]:
        exact = d.astype(np.float64) <= limit  # the scan compares in double, as the C's float vs double
        np.testing.assert_array_equal(bits <= _limit_bits(limit, np.dtype(dtype)), exact)
