"""The summed SOM update stays a convex combination (it used to diverge on big batches)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpsom_core import primitives as P


def _three_batches(protos, lr=0.2, value=0.6, batch=32):
    acts = np.full((batch, protos.shape[1]), value, dtype=protos.dtype)
    winner = np.zeros(batch, dtype=np.int64)
    for _ in range(3):
        protos = P.som_update(protos, acts, winner, 1, 0, lr, mode="summed")
    return protos


def test_big_batch_on_one_cell_lands_on_the_activation():
    # 32 equal activations of 0.6 on one cell, lr 0.2, start 0.5: plain summing gave 16.35
    got = _three_batches(np.full((1, 3), 0.5, dtype=np.float32))
    np.testing.assert_allclose(got, 0.6, rtol=0, atol=1e-6)


def test_big_batch_on_torch_lands_on_the_activation():
    torch = pytest.importorskip("torch")
    protos = torch.full((1, 3), 0.5)
    acts = torch.full((32, 3), 0.6)
    winner = torch.zeros(32, dtype=torch.long)
    for _ in range(3):
        protos = P.som_update(protos, acts, winner, 1, 0, 0.2, mode="summed")
    torch.testing.assert_close(protos, torch.full((1, 3), 0.6))


def test_small_total_power_keeps_the_plain_sum():
    protos = np.array([[0.0, 1.0]])
    acts = np.array([[1.0, 1.0], [1.0, 0.0]])
    got = P.som_update(protos, acts, np.array([0, 0]), 1, 0, 0.25, mode="summed")
    np.testing.assert_allclose(got, [[0.5, 0.75]])   # 0 + .25*1 + .25*1, 1 + 0 + .25*(-1)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 40), st.integers(1, 4), st.integers(0, 3),
       st.floats(0.01, 1.0), st.integers(0, 2**31 - 1))
def test_summed_prototypes_stay_in_the_hull_of_old_and_activations(dim, batch, units, context, lr, seed):
    """Per cell and unit (the hull's bounding box) and as convex weights: the
    update equals c0 * p + sum_k c_k a_k with c >= 0 and sum c = 1."""
    rng = np.random.default_rng(seed)
    protos = rng.random((dim * dim, units))
    acts = rng.random((batch, units))
    winner = rng.integers(0, dim * dim, batch)
    got = P.som_update(protos, acts, winner, dim, context, lr, mode="summed")
    lo = np.minimum(protos, acts.min(0))
    hi = np.maximum(protos, acts.max(0))
    assert (got >= lo - 1e-12).all() and (got <= hi + 1e-12).all()
    # the same with an activation that differs from everything else: its weight
    # shows how far a cell moved toward it, never past it
    w = P.neighbourhood_power(winner, dim, context, lr, dtype=np.float64)
    w = np.asarray(w)
    coef = w / np.maximum(w.sum(0), 1.0)
    assert (coef >= 0).all() and (coef.sum(0) <= 1 + 1e-12).all()
    np.testing.assert_allclose(got, protos * (1 - coef.sum(0))[:, None] + coef.T @ acts, atol=1e-12)
