"""Model files round-trip, and the experiment runner's splits and run directory."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bpsom_core.data import DEFAULT_DATASET, DEFAULT_TARGET
from bpsom_core.readers.tabular import Preprocessor, read_table
from bpsom_core.tabular import BPSOMClassifier
from bpsom_core.tabular.experiment import SplitSpec, run_experiment, write_run
from bpsom_core.tabular.model_io import load_model, save_model

FAST = dict(solver="minibatch", batch_size=16, learning_rate=0.5)


@pytest.fixture(scope="module")
def wine_table():
    return read_table(DEFAULT_DATASET, DEFAULT_TARGET)


def test_save_and_load_predict_the_same(tmp_path, wine_table):
    X = Preprocessor.fit(wine_table).transform(wine_table)
    clf = BPSOMClassifier(hidden_layer_sizes=(8, 5), som_dims=(4, 3), max_epochs=6, prune_threshold=0.05,
                          random_state=2, **FAST).fit(X, wine_table.y)
    save_model(clf, tmp_path, extra={"note": np.int64(3)})
    again, meta = load_model(tmp_path)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert again.predict(X).tolist() == clf.predict(X).tolist()
    for a, b in zip(again.som_labels_, clf.som_labels_):
        np.testing.assert_array_equal(a, b)
    assert [u.tolist() for u in again.hidden_units_] == [u.tolist() for u in clf.hidden_units_]
    assert meta["note"] == 3 and meta["classes"] == ["cultivar_1", "cultivar_2", "cultivar_3"]
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_holdout_split_sizes_and_training_only_scaling(wine_table):
    result = run_experiment(wine_table, dict(max_epochs=3, **FAST), SplitSpec(0.2, 0.2, seed=1))
    m = result.metrics
    assert (m["train"]["n"], m["validation"]["n"], m["test"]["n"]) == (106, 36, 36)
    assert sum(map(sum, m["confusion"])) == 36 and m["confusion_source"] == "test rows"
    # the scaler saw the training rows only, so its means differ from the full-table means
    full = Preprocessor.fit(wine_table)
    assert result.preprocessor.means["proline"] != pytest.approx(full.means["proline"])


def test_cv_scores_every_row_once_and_refits(tmp_path, wine_table):
    result = run_experiment(wine_table, dict(max_epochs=3, **FAST), SplitSpec(cv=3, val_fraction=0.1, seed=0))
    m = result.metrics
    assert [f["n"] for f in m["cv"]["folds"]] == [60, 59, 59]
    assert sum(map(sum, m["confusion"])) == 178
    accs = [f["accuracy"] for f in m["cv"]["folds"]]
    assert m["cv"]["accuracy_mean"] == pytest.approx(np.mean(accs))
    assert len(result.fold_histories) == 3
    written = write_run(tmp_path / "run", result, {"split": (1, 2)})
    assert {p.name for p in written} == {"config.yaml", "history.json", "metrics.json", "model.json",
                                         "model.safetensors"}
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(hist["folds"]) == 3 and hist["history"][0]["epoch"] == 1
