"""BPSOMClassifier: sample_weight scales each example's error; verbose progress."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.preprocessing import StandardScaler

from bpsom_core.tabular import BPSOMClassifier
from bpsom_core.tabular.model import BPSOMModel
from bpsom_core.tabular.settings import TrainSettings
from bpsom_core.tabular.trainer import EpochData, batch_step, targets_for

FAST = dict(solver="minibatch", batch_size=16, learning_rate=0.5, random_state=0)


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("params", [dict(max_epochs=5, random_state=0), dict(max_epochs=5, **FAST)])
def test_unit_weights_give_the_unweighted_model_bit_for_bit(wine, params):
    X, y = wine
    a = BPSOMClassifier(**params).fit(X, y).predict_proba(X)
    b = BPSOMClassifier(**params).fit(X, y, sample_weight=np.ones(len(y))).predict_proba(X)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_a_weight_scales_the_example_update(loss):
    """One example, no momentum: weight 3 moves every weight and bias exactly 3 times as far."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1, 4))
    T = targets_for(np.array([1]), 3, loss)
    s = TrainSettings(hidden_layer_sizes=(5,), som_dims=(3,), loss=loss, learning_rate=0.1, momentum=0.0,
                      error_threshold=0.0)
    moves = []
    for w in (None, np.array([3.0])):
        model = BPSOMModel.init(4, 3, (5,), (3,), "sigmoid" if loss == "mse" else "softmax",
                                np.random.default_rng(1), 1.0)
        model.soms[0].labels[:] = 2
        model.soms[0].reliability[:] = 100          # the SOM steers this example: its part is scaled too
        before = [w_.copy() for w_ in model.net.weights]
        use = np.zeros(1, dtype=np.int64)
        batch_step(model, EpochData(X, T, np.array([2]), w), s, 1, 0.2, use)
        assert use[0] == 1
        moves.append([a - b for a, b in zip(model.net.weights, before)])
    for plain, weighted in zip(*moves):
        np.testing.assert_allclose(weighted, 3.0 * plain, rtol=1e-12, atol=1e-15)


def test_weights_shift_the_decision_toward_heavy_examples(wine):
    X, y = wine
    w = np.where(y == 2, 20.0, 1.0)
    params = dict(max_epochs=15, early_stopping=False, hidden_layer_sizes=(3,), **FAST)
    plain = BPSOMClassifier(**params).fit(X, y)
    heavy = BPSOMClassifier(**params).fit(X, y, sample_weight=w)
    assert (heavy.predict(X) == 2).sum() > (plain.predict(X) == 2).sum()


def test_partial_fit_takes_weights_and_refuses_bad_ones(wine):
    X, y = wine
    clf = BPSOMClassifier(**FAST)
    clf.partial_fit(X, y, classes=np.unique(y), sample_weight=np.full(len(y), 0.5))
    assert clf.n_iter_ == 1
    with pytest.raises(ValueError, match="(?i)negative"):
        BPSOMClassifier(**FAST).fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError):
        BPSOMClassifier(**FAST).fit(X, y, sample_weight=np.ones(3))


def test_verbose_prints_progress_like_mlpclassifier(wine, capsys):
    X, y = wine
    BPSOMClassifier(max_epochs=3, verbose=1, **FAST).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("Iteration 1, loss = ") and "validation score = " in lines[0]
    assert "SOM use = " in lines[0]
    BPSOMClassifier(max_epochs=2, **FAST).fit(X, y)
    assert capsys.readouterr().out == ""
