"""`bpsom glue` as the 2026 adaptation's users know it: their option spellings,
their console lines and output layout, a test split, the best model's numbers."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_bert_support import make_glue_dir, make_sentences, make_tiny_model_dir, write_tsv  # noqa: E402

YAML = """\
model: {max_length: 16}
bpsom: {hidden_size: 8, som_grid_size: 4, relabel: pass}
pruning: {enabled: true, threshold: %s}
training: {epochs: 2, batch_size: 16, learning_rate: 1.0e-3, warmup_ratio: 0.06, early_stopping_patience: 0}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("workflow")
    data = make_glue_dir(root, 40, 16)
    write_tsv(data / "test.tsv", make_sentences(12, 3))
    unlabelled = root / "unlabelled"
    unlabelled.mkdir()
    for name in ("train.tsv", "dev.tsv"):
        (unlabelled / name).write_text((data / name).read_text())
    rows = [f"{i}\t{text}" for i, (_, text) in enumerate(make_sentences(7, 4))]
    (unlabelled / "test.tsv").write_text("index\tsentence\n" + "\n".join(rows) + "\n")
    (root / "keep.yaml").write_text(YAML % "0.0")
    (root / "prune.yaml").write_text(YAML % "0.9")
    return {"root": root, "data": data, "unlabelled": unlabelled, "model": make_tiny_model_dir(root)}


def test_underscore_spellings_are_aliases():
    from bpsom.cli.glue_cmd import rewrite_aliases
    got = rewrite_aliases(["--output_dir", "o", "--batch_size=4", "--num_epochs", "2", "--learning_rate",
                           "1e-4", "--max_length", "32", "--task", "sst2", "x_y"])
    assert got == ["--output-dir", "o", "--batch-size=4", "--epochs", "2", "--learning-rate", "1e-4",
                   "--max-length", "32", "--task", "sst2", "x_y"]


def test_help_lists_the_aliases_once(bpsom):
    code, out, _ = bpsom("glue", "--help")
    assert code == 0
    assert out.count("--output_dir") == 1 and out.count("--num_epochs") == 1
    assert "--output-dir" in out and "--quiet" in out


def test_their_command_gives_their_lines_layout_and_the_best_models_test(tiny, bpsom):
    out = tiny["root"] / "out"
    code, stdout, stderr = bpsom(
        "glue", "--task", "sst2", "--mode", "bpsom", "--config", tiny["root"] / "keep.yaml",
        "--model", tiny["model"], "--data_dir", tiny["data"], "--output_dir", out, "--num_epochs", "2",
        "--batch_size", "8", "--test-every-epoch")
    assert code == 0, stderr
    lines = stderr.splitlines()
    assert "Epoch 1/2:" in lines and "Epoch 2/2:" in lines
    num = r"\d+\.\d{4}"
    assert sum(bool(re.fullmatch(rf"  Train - Loss: {num}, Acc: \d+\.\d\d%, SOM Usage: \d+\.\d%", s))
               for s in lines) == 2
    assert sum(bool(re.fullmatch(rf"  Dev   - Loss: {num}, Acc: \d+\.\d\d%", s)) for s in lines) == 3
    assert sum(bool(re.fullmatch(rf"  Test  - Loss: {num}, Acc: \d+\.\d\d%", s)) for s in lines) == 3
    res = json.loads(stdout)["results"]["bpsom"]
    assert set(res["dev"]) >= {"accuracy", "loss"} and set(res["test"]) >= {"accuracy", "loss"}
    run = out / "sst2" / "bpsom"
    for name in ("visualizations/som_combined_epoch_1.png", "visualizations/som_umatrix_epoch_2.png",
                 "visualizations/training_history.png", "logs/bpsom_experiment.log",
                 "logs/bpsom_experiment.json", "bpsom_history.json", "train.log", "history.json"):
        assert (run / name).is_file(), name
    log = (run / "logs" / "bpsom_experiment.log").read_text()
    assert re.search(r"\n1/2 LRN=1 MAT=1 MSE=\d\.\d{3} CE=[ \d.]{6} USE SOM1=[ \d.]{5} LOSS=", log)
    assert "\n1/2 LRN=0 MAT=1 MSE=" in log and "\n2/2 LRN=0 MAT=3 MSE=" in log
    assert "Class fractions in the learning material:" in log and "\nABSTRACT:\n" in log
    assert "labels: neg = negative, pos = positive" in log
    assert re.search(r"\n\|\|    \d,(  \d\.\d\d, +\d+\.\d\d,){3}  1, +\d+\.\d\d,", log)  # best row, SOM on test
    assert " |BP-confusion matrix:" in log and re.search(r"\n \| neg  +\d+ +\d+", log)
    assert re.search(r"\n  \d  *(neg|pos)", log)                      # names, not 0/1, in the table
    events = json.loads((run / "logs" / "bpsom_experiment.json").read_text())
    assert events["summary"]["test"] == res["test"]
    hist = json.loads((run / "bpsom_history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2] and "test_accuracy" in hist[0]


def test_unlabelled_test_gives_predictions_best_units_and_quiet(tiny, bpsom):
    out = tiny["root"] / "out2"
    code, stdout, stderr = bpsom(
        "glue", "--task", "sst2", "--mode", "bpsom", "--config", tiny["root"] / "prune.yaml",
        "--model", tiny["model"], "--data-dir", tiny["unlabelled"], "--output-dir", out, "--epochs", "1",
        "--quiet")
    assert code == 0, stderr
    assert stderr == ""
    res = json.loads(stdout)["results"]["bpsom"]
    run = out / "sst2" / "bpsom"
    rows = (run / "test_predictions.tsv").read_text().splitlines()
    assert rows[0] == "index\tprediction" and len(rows) == 8
    assert all(re.fullmatch(r"\d+\t(negative|positive)", r) for r in rows[1:])
    assert res["test"]["examples"] == 7 and "accuracy" not in res["test"]
    # epoch 1 is the best and is saved before its pruning: the summary gives that model's size
    saved = json.loads((run / "best_model" / "config.json").read_text())["hidden_size"]
    assert res["hidden_units"] == saved == 8 and res["final_hidden_units"] < 8


def test_reporter_lines_for_pruning_and_other_metrics():
    from bpsom.cli.glue_console import EpochReporter
    rep = EpochReporter(10, "cola")
    assert rep("prune", {"mode": "bpsom", "epoch": 5, "units": [7, 8, 23], "before": 128, "after": 125}) \
        == ["BP-SOM run on cola (bpsom):"]
    lines = rep("epoch", {"mode": "bpsom", "epoch": 5, "train_loss": 0.4523, "train_accuracy": 0.7832,
                          "som_usage": 0.423, "dev_loss": 0.3891, "dev_accuracy": 0.8215,
                          "dev_matthews_correlation": 0.41234})
    assert lines == ["Epoch 5/10:", "  Train - Loss: 0.4523, Acc: 78.32%, SOM Usage: 42.3%",
                     "  Dev   - Loss: 0.3891, Acc: 82.15%, MCC: 0.4123",
                     "Pruning Event at Epoch 5:", "  Units pruned: [7, 8, 23]", "  Dimension: 128 -> 125"]
    f1 = EpochReporter(2, "mrpc")("epoch", {"mode": "baseline", "epoch": 1, "train_loss": 0.5,
                                            "train_accuracy": 0.5, "dev_loss": 0.5, "dev_accuracy": 0.5,
                                            "dev_f1": 0.6})
    assert f1[-1] == "  Dev   - Loss: 0.5000, Acc: 50.00%, F1: 60.00%" and "SOM" not in f1[2]
