"""YAML configs, GLUE TSV files and metrics: good input read, bad input named."""

from __future__ import annotations

from pathlib import Path

import pytest

from bpsom_core.errors import InputError

from bpsom_bert.config import load_config  # noqa: E402
from bpsom_bert.data import get_task, load_task_data, read_tsv  # noqa: E402
from bpsom_bert.metrics import accuracy, f1, matthews  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name", ["bpsom.yaml", "baseline.yaml", "quick.yaml"])
def test_shipped_configs_load(name):
    cfg = load_config(CONFIGS / name)
    assert cfg.training.epochs >= 1


def test_bpsom_yaml_has_the_adaptation_values():
    cfg = load_config(CONFIGS / "bpsom.yaml")
    b = cfg.bpsom
    assert (b.hidden_size, b.som_grid_size, b.som_error_weight) == (128, 20, 0.25)
    assert (b.som_lr_max, b.som_lr_min, b.som_context_max, b.som_context_min) == (0.20, 0.05, 2, 0)
    assert b.threshold_percent == 95 and cfg.pruning.threshold == 0.02


def test_adaptation_style_numbers_are_accepted(tmp_path):
    p = tmp_path / "a.yaml"
    p.write_text("training:\n  learning_rate: 2e-5\n  epochs: 3\n")   # PyYAML reads 2e-5 as a string
    assert load_config(p).training.learning_rate == 2e-5


@pytest.mark.parametrize("text,where,needle", [
    ("bpsom:\n  hidden_size: 8\n  som_grid_sise: 5\n", "3: bpsom.som_grid_sise",
     "allowed keys in 'bpsom': hidden_size, som_grid_size"),
    ("trainig:\n  epochs: 1\n", "1: trainig", "allowed sections: model, bpsom, pruning, training"),
    ("training:\n  epochs: many\n", "2: training.epochs", "expected an integer"),
    ("bpsom:\n  reliability_threshold: 95\n", "2: bpsom.reliability_threshold", "fraction in [0, 1]"),
    ("bpsom:\n  som_lr_max: 0.1\n  som_lr_min: 0.2\n", "3: bpsom.som_lr_min", "must not exceed"),
    ("bpsom:\n  relabel: sometimes\n", "2: bpsom.relabel", "one of pass, epoch"),
    ("training:\n  seed: -1\n", "2: training.seed", "must be 0..4294967295"),
    ("training:\n  seed: 4294967296\n", "2: training.seed", "must be 0..4294967295"),
    ("training:\n  weight_decay: -5\n", "2: training.weight_decay", "must be 0 or more"),
    ("training:\n  max_grad_norm: -1\n", "2: training.max_grad_norm", "must be 0 or more"),
    ("training:\n  epochs: 1\nmodel: \x1f\n", "3", "not valid YAML: special characters are not allowed (U+001F)"),
    ("training: {epochs: 1}\n---\nmodel: {}\n", "2",
     "not valid YAML: expected a single document in the stream, but found another document"),
])
def test_bad_configs_are_named_on_one_line(tmp_path, text, where, needle):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(InputError) as e:
        load_config(p)
    msg = e.value.one_line()
    assert "\n" not in msg and f"{p}:{where}" in msg and needle in msg, msg


def _write(p: Path, text: str) -> Path:
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("text", [
    "label\tsentence\n0\ta dull film\n1\ta fine film\n",
    "sentence\tlabel\na dull film\t0\na fine film\t1\n",
    "0\ta dull film\n1\ta fine film\n",
    "a dull film\t0\na fine film\t1\n",
])
def test_sst2_layouts(tmp_path, text):
    split = read_tsv(_write(tmp_path / "t.tsv", text), get_task("sst2"))
    assert split.labels == [0, 1] and split.texts == [("a dull film",), ("a fine film",)]


def test_mrpc_pairs_in_simple_and_glue_layout(tmp_path):
    task = get_task("mrpc")
    s = read_tsv(_write(tmp_path / "a.tsv", "1\tHe left .\tHe went away .\n0\tA .\tB .\n"), task)
    assert s.texts[0] == ("He left .", "He went away .") and s.labels == [1, 0]
    glue = ("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
            "1\t702876\t702977\tHe left .\tHe went away .\n")
    s = read_tsv(_write(tmp_path / "b.tsv", glue), task)
    assert s.texts == [("He left .", "He went away .")] and s.labels == [1]


def test_cola_glue_layout(tmp_path):
    s = read_tsv(_write(tmp_path / "c.tsv", "gj04\t1\t\tOur friends won't buy this .\n"
                                              "gj04\t0\t*\tThey drank the pub .\n"), get_task("cola"))
    assert s.labels == [1, 0] and s.texts[1] == ("They drank the pub .",)


@pytest.mark.parametrize("text,line,needle", [
    ("label\tsentence\n0\tok\n1\tfine\textra\n", 3, "expected 2 tab-separated columns, got 3"),
    ("0\tone\ttwo\n", 1, "expected 2 (label + 1 text column) tab-separated columns, got 3"),
    ("label\tsentence\n0\tok\n2\tbad\n", 3, "label 2 out of range 0..1"),
    ("label\tsentence\n0\tok\nx\tbad\n", 3, "label must be an integer or one of negative, positive, got 'x'"),
])
def test_bad_tsv_is_named_with_its_line(tmp_path, text, line, needle):
    p = _write(tmp_path / "bad.tsv", text)
    with pytest.raises(InputError) as e:
        read_tsv(p, get_task("sst2"))
    msg = e.value.one_line()
    assert msg.startswith(f"{p}:{line}: ") and needle in msg, msg


def test_missing_column_in_pairs(tmp_path):
    p = _write(tmp_path / "m.tsv", "1\tonly one sentence\n")
    with pytest.raises(InputError, match="expected 3 .* or 5"):
        read_tsv(p, get_task("mrpc"))


def test_unknown_task_lists_known_ones():
    with pytest.raises(InputError, match="known tasks: sst2, mrpc, cola, qnli, rte"):
        get_task("nosuch")


def test_data_dir_needs_train_and_dev(tmp_path):
    _write(tmp_path / "train.tsv", "0\tx\n")
    with pytest.raises(InputError, match="missing dev.tsv"):
        load_task_data(get_task("sst2"), tmp_path)


def test_shared_sst2_subset_reads_when_present():
    d = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "sst2"
    if not (d / "dev.tsv").is_file():
        pytest.skip("shared SST-2 subset not present")
    splits = load_task_data(get_task("sst2"), d)
    assert len(splits["validation"]) == 872 and set(splits["train"].labels) == {0, 1}


def test_metrics_against_hand_counts():
    pred, gold = [1, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 0]
    assert accuracy(pred, gold) == pytest.approx(4 / 6)
    assert f1(pred, gold) == pytest.approx(2 * 2 / (3 + 3))
    # tp=2 tn=2 fp=1 fn=1: (4-1)/sqrt(3*3*3*3)
    assert matthews(pred, gold) == pytest.approx(3 / 9)
    assert matthews([1, 1], [1, 0]) == 0.0


@pytest.mark.parametrize("text", ["", "# only a comment\n", "null\n", "~\n"])
def test_a_configuration_without_settings_is_refused(tmp_path, text):
    """An empty file is most likely the wrong one: the defaults would run unasked."""
    p = _write(tmp_path / "c.yaml", text)
    with pytest.raises(InputError) as e:
        load_config(p)
    assert e.value.one_line().startswith(f"{p}: holds no settings (empty, comments only or null)")


@pytest.mark.parametrize("columns, label, needle", [
    (["sentence", "sentence"], "label", "names 'sentence' twice"),
    (["label"], "label", "'label' is the label column (--label-column)"),
    (["premise", "verdict"], "verdict", "'verdict' is the label column"),
])
def test_text_columns_that_cannot_be_the_input_are_refused(columns, label, needle):
    from bpsom_bert.tasks import custom_task

    with pytest.raises(InputError) as e:
        custom_task("mine", columns, label)
    assert e.value.field == "--text-columns" and needle in e.value.message


def test_a_number_past_pythons_digit_limit_names_the_file(tmp_path):
    p = _write(tmp_path / "c.yaml", "training:\n  seed: " + "1" * 5000 + "\n")
    with pytest.raises(InputError) as e:
        load_config(p)
    assert e.value.one_line().startswith(f"{p}: a value YAML cannot read (Exceeds the limit (4300 digits)")
