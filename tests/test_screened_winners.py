"""The screened exact winner search (bpsom_core/primitives/_fast/screen.py).

It decides most cells from dot products and a proven error bound, and takes
exact distances only for the cells in doubt, so these tests aim at the places
where a wrong bound or a wrong shortcut would show: near-ties a few ulps
apart, wide layers, magnitudes near overflow and underflow, NaN and inf,
limits that fall exactly on a distance, many cells, and every way of
splitting the rows over threads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpsom_core import primitives as P
from bpsom_core.primitives._fast import search_kernels as SK
from bpsom_core.primitives._fast.screen import screen_constants
from bpsom_core.primitives.winners import _limit_bits

SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def reference(acts, protos, labels, classes, max_d2=None):
    """Distances summed unit by unit in the dtype, then the C's scan rules."""
    n_b = len(acts)
    winner = np.full(n_b, -1)
    partial = np.full(n_b, -1)
    winner_d2 = np.full(n_b, np.inf, dtype=acts.dtype)
    partial_d2 = np.full(n_b, np.inf, dtype=acts.dtype)
    with np.errstate(all="ignore"):
        for b in range(n_b):
            d = np.zeros(len(protos), dtype=acts.dtype)
            for i in range(acts.shape[1]):
                diff = acts[b, i] - protos[:, i]
                d = d + diff * diff
            w = int(np.argmin(d))  # first minimum; a NaN wins at once
            if max_d2 is None or d[w] < max_d2:
                winner[b], winner_d2[b] = w, d[w]
            for c in range(len(d)):
                ok = max_d2 is None or d[c] <= max_d2
                if classes[b] > 0 and labels[c] == classes[b] and ok and d[c] <= partial_d2[b]:
                    partial[b], partial_d2[b] = c, d[c]
    return winner, partial, winner_d2, partial_d2


def assert_same(got, want):
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        if g.dtype.kind == "f":
            np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
            ok = ~np.isnan(w)
            np.testing.assert_array_equal(g[ok].view(np.uint8), w[ok].astype(g.dtype).view(np.uint8))
        else:
            np.testing.assert_array_equal(g, w)


def kernel_runs(acts, protos, labels, classes, max_d2=None):
    """The compiled search directly: serial, and split into 1..5 chunks of rows."""
    dtype = acts.dtype
    lane = np.int32 if dtype == np.float32 else np.int64
    lab = labels.astype(lane)
    limit = np.inf if max_d2 is None else float(max_d2)
    bits = lab.dtype.type(_limit_bits(limit, dtype))
    slack, tiny, big = screen_constants(acts.shape[1], dtype)
    args = (acts, protos, lab, classes, limit, bits, max_d2 is not None, True, slack, tiny, big)
    runs = [SK.winners_serial(*args)] + [SK.winners_parallel(*args, n) for n in (1, 2, 3, 5)]
    return [(w, p, wd, pd) for w, wd, p, pd in runs]


@st.composite
def hard_case(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n_c = draw(st.sampled_from([1, 2, 3, 7, 16, 64, 400, 900, 1500]))
    h = draw(st.sampled_from([1, 2, 3, 5, 16, 33, 128, 200]))
    b = draw(st.integers(1, 13))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from([1.0, 1e-20, 1e-3, 1e3, 1e15, 1e18]))
    acts = (rng.random((b, h)) * scale).astype(dtype)
    protos = (rng.random((n_c, h)) * scale).astype(dtype)
    kind = draw(st.sampled_from(["plain", "ulp", "duplicates", "on_cells", "coarse", "special"]))
    if kind == "ulp":  # cells a few ulps apart from each other, examples right next to them
        base = protos[rng.integers(0, n_c)]
        steps = rng.integers(-3, 4, (n_c, h))
        protos = base + steps * np.spacing(np.abs(base) + np.finfo(dtype).tiny)
        protos = protos.astype(dtype)
        acts = (protos[rng.integers(0, n_c, b)] + rng.integers(-2, 3, (b, h)) *
                np.spacing(np.abs(base) + np.finfo(dtype).tiny)).astype(dtype)
    elif kind == "duplicates":
        protos[rng.integers(0, n_c, n_c)] = protos[rng.integers(0, n_c, n_c)]
    elif kind == "on_cells":
        acts = protos[rng.integers(0, n_c, b)].copy()
    elif kind == "coarse":
        acts = np.round(acts / scale * 2).astype(dtype) / 2
        protos = np.round(protos / scale * 2).astype(dtype) / 2
    elif kind == "special":
        vals = np.array([np.nan, np.inf, -np.inf, np.finfo(dtype).max, -0.0, 0.0,
                         np.finfo(dtype).smallest_subnormal], dtype=dtype)
        for arr in (acts, protos):
            flat = arr.reshape(-1)
            at = rng.random(flat.size) < 0.05
            flat[at] = rng.choice(vals, at.sum())
    n_labels = draw(st.integers(1, 6))
    labels = rng.integers(0, n_labels + 1, n_c)
    classes = rng.integers(0, n_labels + 1, b)
    max_d2 = draw(st.sampled_from([None, "a distance", 0.0, 1e-30, 99999.0]))
    return acts, protos, labels, classes, max_d2


@SETTINGS
@given(hard_case())
def test_screened_search_is_the_exact_search(case):
    acts, protos, labels, classes, max_d2 = case
    if isinstance(max_d2, str):  # a limit exactly on one of the distances
        with np.errstate(all="ignore"):
            d = ((acts[0, None, :] - protos) ** 2).sum(1)
        finite = d[np.isfinite(d)]
        max_d2 = float(finite[len(finite) // 2]) if finite.size else None
    want = reference(acts, protos, labels, classes, max_d2)
    assert_same(P.find_winners(acts, protos, labels, classes, max_d2=max_d2), want)
    for run in kernel_runs(acts, protos, labels, classes, max_d2):
        assert_same(run, want)


def test_screening_keeps_a_one_ulp_tie_apart():
    """Two cells one ulp apart in one unit: only the exact sums can tell them apart."""
    for dtype in (np.float32, np.float64):
        rng = np.random.default_rng(3)
        protos = rng.random((400, 128)).astype(dtype)
        act = protos[17].copy()
        protos[250] = protos[17]
        protos[250, 5] = np.nextafter(protos[17, 5], dtype(2))
        act[5] = np.nextafter(act[5], dtype(2))  # exactly on cell 250
        acts = np.stack([act, protos[17], protos[250]])
        labels = np.where(np.arange(400) % 2 == 0, 1, 2)
        classes = np.array([1, 2, 1])
        got = P.find_winners(acts, protos, labels, classes)
        assert_same(got, reference(acts, protos, labels, classes))
        assert got[0].tolist() == [250, 17, 250]


def test_wide_batches_agree_serial_and_split():
    rng = np.random.default_rng(11)
    acts = rng.random((257, 128), dtype=np.float32)
    protos = rng.random((400, 128), dtype=np.float32)
    protos[rng.integers(0, 400, 50)] = acts[rng.integers(0, 257, 50)]  # zero distances
    labels = rng.integers(0, 11, 400)
    classes = rng.integers(0, 11, 257)
    want = reference(acts, protos, labels, classes)
    for run in kernel_runs(acts, protos, labels, classes):
        assert_same(run, want)


BATCH_SCRIPT = """
import os, sys
import numpy as np
from bpsom_core import primitives as P
from bpsom_core.primitives._fast import parallel as _parallel
_parallel.PAYBACK_WORK = 0  # launch the parallel kernels even before they are cached
rng = np.random.default_rng(0)
acts = rng.random((256, 128), dtype=np.float32)
protos = rng.random((400, 128), dtype=np.float32)
labels = rng.integers(0, 5, 400)
classes = rng.integers(1, 5, 256)
"""


def run_batch_script(body: str, **env: str) -> str:
    """Run BATCH_SCRIPT then ``body`` in a fresh interpreter; its stdout."""
    out = subprocess.run([sys.executable, "-c", BATCH_SCRIPT + textwrap.dedent(body)], capture_output=True,
                         text=True, timeout=300, env=dict(os.environ, **env),
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_forked_child_runs_the_kernels_serially():
    """GNU OpenMP cannot run in a process forked after it started: the child must
    still get results (from the serial kernels), not be terminated."""
    out = run_batch_script("""
        parent = P.find_winners(acts, protos, labels, classes)[0]
        assert _parallel.parallel_usable()
        pid = os.fork()
        if pid == 0:
            child = P.find_winners(acts, protos, labels, classes)[0]
            new = P.som_update(protos, acts, child, 20, 2, 0.2)
            os._exit(0 if (child == parent).all() and new.shape == protos.shape else 3)
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status))
    """)
    assert "child exit 0" in out, out


def test_workqueue_layer_keeps_the_kernels_serial():
    """Without OpenMP or TBB numba falls back to its workqueue layer, whose launches
    are slow and not thread-safe: the kernels then run serially, same results."""
    out = run_batch_script("""
        got = P.find_winners(acts, protos, labels, classes)
        print(_parallel.parallel_usable(), _parallel._layer, int(got[0].sum()), int(got[1].sum()))
    """, NUMBA_THREADING_LAYER="workqueue")
    usable, layer, w_sum, p_sum = out.split()
    assert (usable, layer) == ("False", "workqueue")
    rng = np.random.default_rng(0)
    acts = rng.random((256, 128), dtype=np.float32)
    protos = rng.random((400, 128), dtype=np.float32)
    labels = rng.integers(0, 5, 400)
    classes = rng.integers(1, 5, 256)
    want = reference(acts, protos, labels, classes)
    assert (int(w_sum), int(p_sum)) == (int(want[0].sum()), int(want[1].sum()))


# ---------------------------------------------------------------- som_step

def composed(acts, protos, labels, classes, rel, threshold, dim, context, lr, method="exact", mode="inorder",
             max_d2=None):
    winner, partial, wd, pd = P.find_winners(acts, protos, labels, classes, method=method, max_d2=max_d2)
    moved = P.som_update(protos, acts, winner, dim, context, lr, mode=mode, active=P.update_mask(wd))
    err, use = P.som_error(acts, moved, partial, rel, threshold)
    return winner, partial, wd, pd, moved, err, use


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([np.float32, np.float64]), st.integers(1, 12), st.integers(1, 40), st.integers(1, 9),
       st.integers(-1, 5), st.sampled_from(["exact", "fast"]), st.sampled_from([None, 0.5]),
       st.booleans(), st.integers(0, 2**31 - 1))
def test_som_step_is_the_three_primitives(dtype, dim, n_b, h, context, method, max_d2, split, seed):
    rng = np.random.default_rng(seed)
    n_c = dim * dim
    acts = rng.random((n_b, h)).astype(dtype)
    protos = rng.random((n_c, h)).astype(dtype)
    protos[rng.integers(0, n_c, n_c // 3)] = acts[rng.integers(0, n_b, n_c // 3)]  # zero distances: no move
    labels = rng.integers(0, 4, n_c)
    classes = rng.integers(0, 4, n_b)
    rel = rng.integers(0, 101, n_c)
    args = (acts, protos, labels, classes, rel, 60, dim, context, 0.3)
    from bpsom_core.primitives._fast import parallel as _parallel
    from bpsom_core.primitives._fast import threads as _threads
    saved = _threads.MIN_WORK, _threads.n_threads, _parallel.PAYBACK_WORK
    if split:  # the compiled step on two threads however small the batch
        _threads.MIN_WORK, _threads.n_threads, _parallel.PAYBACK_WORK = 0, (lambda: 2), 0
    try:
        got = P.som_step(*args, method=method, max_d2=max_d2)
    finally:
        _threads.MIN_WORK, _threads.n_threads, _parallel.PAYBACK_WORK = saved
    want = composed(*args, method=method, max_d2=max_d2)
    assert isinstance(got, P.SomStep)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_som_step_on_torch_and_summed_mode_compose_the_primitives():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    acts = rng.random((9, 5)).astype(np.float32)
    protos = rng.random((16, 5)).astype(np.float32)
    labels = rng.integers(0, 3, 16)
    classes = rng.integers(0, 3, 9)
    rel = rng.integers(0, 101, 16)
    for mode in ("inorder", "summed"):
        want = composed(acts, protos, labels, classes, rel, 50, 4, 1, 0.2, mode=mode)
        got = P.som_step(acts, protos, labels, classes, rel, 50, 4, 1, 0.2, mode=mode)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
        t = [torch.from_numpy(x) for x in (acts, protos, labels, classes, rel)]
        want_t = composed(t[0], t[1], t[2], t[3], t[4], 50, 4, 1, 0.2, mode=mode)
        got_t = P.som_step(t[0], t[1], t[2], t[3], t[4], 50, 4, 1, 0.2, mode=mode)
        for g, w in zip(got_t, want_t):
            assert isinstance(g, torch.Tensor)
            assert torch.equal(g, w)
    with pytest.raises(ValueError, match="mode"):
        P.som_step(acts, protos, labels, classes, rel, 50, 4, 1, 0.2, mode="batched")



def test_more_cells_than_an_index_packs_take_the_plain_minima():
    """Over 65,536 cells the cell index no longer fits beside a float32 pattern:
    the screening then finds its cuts without indices, with the same results."""
    rng = np.random.default_rng(8)
    protos = rng.random((70_000, 3)).astype(np.float32)
    protos[69_999] = protos[12]  # a tie across the whole range
    acts = np.concatenate([protos[[12, 500]], rng.random((3, 3)).astype(np.float32)])
    labels = rng.integers(0, 3, len(protos))
    classes = np.array([labels[12], 1, 2, 0, 1])
    got = P.find_winners(acts, protos, labels, classes)
    assert_same(got, reference(acts, protos, labels, classes))
    assert got[0][0] == 12
