"""BPSOMParams: one frozen, validated parameter object, and every front end's translation into it."""

from __future__ import annotations

import dataclasses

import pytest

from bpsom_core.params import TABULAR_DEFAULTS, BPSOMParams
from bpsom_core.prm_params import CParams, check_parameters


def test_defaults_are_the_c_programs_and_the_object_is_frozen():
    p = BPSOMParams()
    assert (p.som_error_weight, p.reliability_threshold, p.som_context, p.som_lr, p.prune_threshold) == \
        (0.25, 95, (0, 2), (0.05, 0.20), 0.02)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.som_error_weight = 0.5
    assert TABULAR_DEFAULTS == dataclasses.replace(p, prune_threshold=0.0)   # the one stated difference


@pytest.mark.parametrize("kwargs, match", [
    (dict(som_error_weight=1.5), r"som_error_weight must be in \[0.0, 1.0\]"),
    (dict(som_error_weight=float("nan")), "som_error_weight must be a finite number"),
    (dict(reliability_threshold=0.95), "reliability_threshold must be an integer"),
    (dict(reliability_threshold=101), r"reliability_threshold must be in \[0, 100\]"),
    (dict(som_context=(3, 1)), r"som_context must be \(min, max\) with min <= max"),
    (dict(som_context=(-1, 1)), r"som_context\[0\] must be >= 0"),
    (dict(som_lr=(0.1,)), r"som_lr must be a \(min, max\) pair"),
    (dict(prune_threshold=-0.1), "prune_threshold must be in"),
    (dict(som_update="batch"), "som_update must be one of"),
])
def test_bad_values_are_refused_with_their_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BPSOMParams(**kwargs)


def test_the_prm_edge_reads_the_checked_c_parameters():
    p = CParams(SOM_ERROR_USE=7.0, RELIABILITY_THRESHOLD=300, PRUNE_THRESHOLD=0.5, SOM_MAX_CONTEXT=3,
                SOM_MIN_CONTEXT=1, SOM_MAX_LEARN_RATE=0.5, SOM_MIN_LEARN_RATE=0.1, N_EPOCHS=10, TEST_RATIO=1,
                STOP_IF_NOTHING_DONE=5, ALL_LABELS="-a-")
    check_parameters(p, lambda out, log: None)   # substitutes the C's defaults for the bad two
    som = BPSOMParams.from_prm(p)
    assert som.som_error_weight == p.SOM_ERROR_USE == pytest.approx(0.25)
    assert som.reliability_threshold == 95
    assert (som.som_context, som.som_lr, som.prune_threshold) == ((1, 3), (0.1, 0.5), 0.5)
    assert som.context(1, 10) == 1 + round(0.9 ** 4 * 2) and som.learning_rate(10, 10) == pytest.approx(0.1)


def test_a_yaml_fraction_becomes_a_percent_once():
    assert BPSOMParams.percent(0.95) == 95 and BPSOMParams.percent(0.0) == 0
    with pytest.raises(ValueError, match="reliability_threshold must be in"):
        BPSOMParams.percent(95)


def test_the_classifier_translates_its_constructor():
    from bpsom_core.tabular import BPSOMClassifier
    s = BPSOMClassifier(som_error_weight=0.5, reliability_threshold=80, som_context=[1, 2],
                        prune_threshold=0.03)._settings()
    assert s.som == BPSOMParams(som_error_weight=0.5, reliability_threshold=80, som_context=(1, 2),
                                prune_threshold=0.03, som_lr=TABULAR_DEFAULTS.som_lr)
    assert BPSOMClassifier()._settings().som == TABULAR_DEFAULTS


def test_the_bert_config_translates_at_the_trainer():
    pytest.importorskip("torch")
    from bpsom_bert.config import RunConfig
    from bpsom_bert.trainer import som_params
    cfg = RunConfig()
    cfg.bpsom.reliability_threshold = 0.9
    cfg.bpsom.som_context_max = 3
    som = som_params(cfg)
    assert som.reliability_threshold == 90 and som.som_context == (0, 3)
    assert som.prune_threshold == cfg.pruning.threshold == BPSOMParams().prune_threshold
