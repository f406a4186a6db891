"""BPSOMClassifier: scikit-learn contract, learning, SOM state, pruning, early stopping."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from bpsom_core.tabular import BPSOMClassifier
from bpsom_core.tabular.model import BPSOMModel

FAST = dict(solver="minibatch", batch_size=16, learning_rate=0.5, random_state=0)


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


def test_check_estimator_passes():
    from sklearn.utils.estimator_checks import check_estimator
    # as for sklearn's SGDClassifier: per-example updates in shuffled order, so a weight of 2 is not two copies
    expected = {"check_sample_weight_equivalence_on_dense_data":
                "weights scale each example's error; shuffled updates differ from repeated examples"}
    results = check_estimator(BPSOMClassifier(max_epochs=20, **FAST), on_fail=None, on_skip=None,
                              expected_failed_checks=expected)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert failed == []
    assert sum(r["status"] == "passed" for r in results) >= 55


@pytest.mark.parametrize("params", [
    dict(max_epochs=40, random_state=0),                                   # online, C rules
    dict(max_epochs=60, early_stopping=False, **FAST),                      # mini-batch
    dict(max_epochs=40, loss="cross_entropy", random_state=1),             # softmax + CE
    dict(max_epochs=40, hidden_layer_sizes=(12, 8), som_dims=(5, 4), **FAST),
])
def test_learns_wine(wine, params):
    Xtr, Xte, ytr, yte = wine
    clf = BPSOMClassifier(**params).fit(Xtr, ytr)
    assert clf.score(Xte, yte) >= 0.9
    assert clf.predict_proba(Xte).shape == (len(Xte), 3)
    np.testing.assert_allclose(clf.predict_proba(Xte).sum(1), 1.0)


def test_same_seed_same_model_and_online_is_batch_of_one(wine):
    Xtr, Xte, ytr, _ = wine
    a = BPSOMClassifier(max_epochs=5, random_state=3).fit(Xtr, ytr)
    b = BPSOMClassifier(max_epochs=5, random_state=3).fit(Xtr, ytr)
    c = BPSOMClassifier(max_epochs=5, random_state=4).fit(Xtr, ytr)
    d = BPSOMClassifier(max_epochs=5, random_state=3, solver="minibatch", batch_size=1).fit(Xtr, ytr)
    np.testing.assert_array_equal(a.predict_proba(Xte), b.predict_proba(Xte))
    np.testing.assert_array_equal(a.predict_proba(Xte), d.predict_proba(Xte))
    assert not np.array_equal(a.predict_proba(Xte), c.predict_proba(Xte))


def test_fitted_som_state_is_exposed(wine):
    Xtr, _, ytr, _ = wine
    clf = BPSOMClassifier(max_epochs=10, hidden_layer_sizes=(10, 6), som_dims=(5, 0), **FAST).fit(Xtr, ytr)
    maps, labels, rel = clf.som_maps_, clf.som_labels_, clf.som_reliability_
    assert maps[0].shape == (5, 5, 10) and maps[1] is None and labels[1] is None
    assert labels[0].min() >= 0 and labels[0].max() <= 3 and (labels[0] > 0).any()
    assert rel[0].min() >= 0 and rel[0].max() <= 100
    assert ((labels[0] == 0) == (rel[0] == 0)).all()  # empty cells: no label, no reliability
    hist = clf.history_
    assert [h["epoch"] for h in hist] == list(range(1, clf.n_iter_ + 1))
    assert all(0.0 <= h["som_usage"][0] <= 100.0 and h["som_usage"][1] is None for h in hist)
    assert any(h["som_usage"][0] > 0 for h in hist)  # the SOM error was used at some point


def test_early_stopping_restores_the_best_epoch(wine):
    Xtr, Xte, ytr, yte = wine
    clf = BPSOMClassifier(max_epochs=30, patience=5, **FAST).fit(Xtr, ytr, validation_data=(Xte, yte))
    best = clf.history_[clf.best_epoch_ - 1]
    assert clf.best_epoch_ == max(h["best_epoch"] for h in clf.history_)
    got = clf.evaluate(Xte, yte)
    assert got["ce"] == pytest.approx(best["val_ce"])
    assert got["mse"] == pytest.approx(best["val_mse"])
    assert clf.n_iter_ <= 30


def test_pruning_removes_flat_units_and_keeps_outputs():
    rng = np.random.default_rng(0)
    model = BPSOMModel.init(4, 3, (6,), (3,), "sigmoid", rng)
    model.net.weights[0][:, [1, 4]] = 0.0  # units 1 and 4 see no input: constant activation
    X = rng.standard_normal((50, 4))
    before = model.net.forward(X)[-1]
    acts = model.net.forward(X)[1]
    means, stds = [acts.mean(0)], [acts.std(0)]
    removed = model.prune(means, stds, 0.001)
    assert removed[0].tolist() == [1, 4]
    assert model.unit_ids[0].tolist() == [0, 2, 3, 5]
    assert model.soms[0].prototypes.shape == (9, 4)
    np.testing.assert_allclose(model.net.forward(X)[-1], before, atol=1e-12)


def test_pruning_during_fit_is_reported(wine):
    Xtr, _, ytr, _ = wine
    clf = BPSOMClassifier(max_epochs=15, hidden_layer_sizes=(30,), prune_threshold=0.2,
                          early_stopping=False, **FAST).fit(Xtr, ytr)
    pruned = clf.pruned_units_[0]
    assert len(pruned) > 0 and len(clf.hidden_units_[0]) >= 1
    assert sorted(pruned.tolist() + clf.hidden_units_[0].tolist()) == list(range(30))
    assert clf.coefs_[0].shape[1] == clf.coefs_[1].shape[0] == len(clf.hidden_units_[0])
    alive = [h["units_alive"][0] for h in clf.history_]
    assert alive == sorted(alive, reverse=True) and alive[-1] == len(clf.hidden_units_[0])


def test_weight_decay_shrinks_weights(wine):
    Xtr, _, ytr, _ = wine
    plain = BPSOMClassifier(max_epochs=10, som_dims=0, early_stopping=False, **FAST).fit(Xtr, ytr)
    decay = BPSOMClassifier(max_epochs=10, som_dims=0, early_stopping=False, weight_decay=0.05,
                            **FAST).fit(Xtr, ytr)
    norm = lambda c: sum(float((w ** 2).sum()) for w in c.coefs_)
    assert norm(decay) < norm(plain)


def test_partial_fit_grows_history():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = BPSOMClassifier(max_epochs=50, **FAST)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    for _ in range(15):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert clf.n_iter_ == 15 and clf.score(X, y) > 0.85
    with pytest.raises(ValueError, match="differ"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])


@pytest.mark.parametrize("params, match", [
    (dict(solver="adam"), "solver must be one of"),
    (dict(loss="hinge"), "loss must be one of"),
    (dict(hidden_layer_sizes=(10, 0)), r"hidden_layer_sizes\[1\] must be >= 1"),
    (dict(hidden_layer_sizes=(10, 5), som_dims=(3,)), "one int >= 0 per hidden layer"),
    (dict(learning_rate=0.0), r"learning_rate must be in \(0.0"),
    (dict(reliability_threshold=101), r"reliability_threshold must be in \[0, 100\]"),
    (dict(som_context=(3, 1)), "som_context must be"),
    (dict(som_lr=(0.5, 0.1)), "som_lr must be"),
    (dict(max_epochs=0), r"max_epochs must be in \[1, 2147483647\]"),
    (dict(som_error_weight=float("nan")), "som_error_weight must be a finite number"),
    (dict(validation_fraction=1.0), "validation_fraction must be in"),
])
def test_bad_parameters_raise_clear_errors(params, match):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=match):
        BPSOMClassifier(**params).fit(X, y)


def test_single_class_and_unseen_labels_are_rejected():
    X = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(ValueError, match="1 class"):
        BPSOMClassifier().fit(X, np.zeros(10))
    clf = BPSOMClassifier(max_epochs=2, **FAST).fit(X, np.arange(10) % 2)
    with pytest.raises(ValueError, match="not seen in fit"):
        clf.evaluate(X, np.full(10, 7))


def test_clone_keeps_parameters():
    clf = BPSOMClassifier(hidden_layer_sizes=(5, 4), som_dims=(2, 3), random_state=9)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    twin.set_params(som_error_weight=0.5)
    assert twin.som_error_weight == 0.5 and clf.som_error_weight == 0.25


def test_som_error_weight_zero_leaves_backprop_untouched(wine):
    Xtr, Xte, ytr, _ = wine
    base = dict(max_epochs=4, shuffle=False, early_stopping=False, random_state=5)
    plain = BPSOMClassifier(som_dims=0, **base).fit(Xtr, ytr)
    silent = BPSOMClassifier(som_dims=5, som_error_weight=0.0, **base).fit(Xtr, ytr)
    guided = BPSOMClassifier(som_dims=5, som_error_weight=0.5, reliability_threshold=0, **base).fit(Xtr, ytr)
    np.testing.assert_allclose(silent.predict_proba(Xte), plain.predict_proba(Xte), rtol=0, atol=1e-12)
    assert np.abs(guided.predict_proba(Xte) - plain.predict_proba(Xte)).max() > 1e-3


def test_error_threshold_one_means_nothing_is_learnt(wine):
    Xtr, _, ytr, _ = wine
    clf = BPSOMClassifier(max_epochs=2, error_threshold=1.0, early_stopping=False, random_state=0)
    clf.fit(Xtr, ytr)
    fresh = BPSOMModel.init(Xtr.shape[1], 3, (20,), (7,), "sigmoid",
                            np.random.default_rng(np.random.RandomState(0).randint(0, 2**31 - 1)))
    for w, w0 in zip(clf.coefs_, fresh.net.weights):
        np.testing.assert_array_equal(w, w0)  # MSE per output is < 1 everywhere: the C skips them all
