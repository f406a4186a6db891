"""`bpsom glue` end to end on a tiny random BERT, and its one-line errors."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_bert_support import make_glue_dir, make_tiny_model_dir  # noqa: E402

TINY_YAML = """\
model: {max_length: 16}
bpsom: {hidden_size: 8, som_grid_size: 4, relabel: pass}
pruning: {enabled: true, threshold: 0.02}
training: {epochs: 2, batch_size: 16, learning_rate: 1.0e-3, warmup_steps: 2, early_stopping_patience: 0}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("glue")
    cfg = root / "tiny.yaml"
    cfg.write_text(TINY_YAML)
    return {"data": make_glue_dir(root, 48, 20), "model": make_tiny_model_dir(root), "cfg": cfg, "root": root}


def test_glue_both_end_to_end(tiny, bpsom):
    out = tiny["root"] / "out"
    r = bpsom("glue", "--task", "sst2", "--mode", "both", "--config", tiny["cfg"], "--model", tiny["model"],
               "--data-dir", tiny["data"], "--output-dir", out, "--max-train-examples", 40)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert set(summary["results"]) == {"baseline", "bpsom"}
    run = out / "sst2" / "bpsom"
    for name in ("train.log", "log.json", "history.json", "visualizations/training_history.png",
                 "visualizations/som_combined_epoch_1.png", "visualizations/som_umatrix_epoch_2.png",
                 "best_model/model.safetensors"):
        assert (run / name).is_file(), name
    log = (run / "train.log").read_text()
    assert "Class labeling SOM: 1" in log and "AVG and STD layer 1:" in log
    assert "1/2 LRN=1 MAT=1" in log and "USE SOM1=" in log
    hist = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2] and "som_usage" in hist[0]
    events = json.loads((run / "log.json").read_text())
    assert events["summary"]["mode"] == "bpsom"
    assert any(e["event"] == "start" and e["train_examples"] == 40 for e in events["events"])
    assert (out / "sst2" / "comparison_dev_accuracy.png").is_file()
    assert not (out / "sst2" / "baseline" / "visualizations" / "som_combined_epoch_1.png").exists()


@pytest.mark.parametrize("args,needle", [
    (["--task", "nosuch"], "unknown task 'nosuch'; known tasks: sst2, mrpc, cola, qnli, rte"),
    (["--task", "sst2", "--mode", "bp"], "unknown mode 'bp'"),
])
def test_bad_arguments_exit_2_with_one_line(tiny, bpsom, args, needle):
    r = bpsom("glue", *args, "--data-dir", tiny["data"], "--model", tiny["model"])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr


@pytest.mark.parametrize("seed", ["-1", "99999999999999999999"])
def test_out_of_range_seed_exit_2_naming_training_seed(tiny, bpsom, seed):
    """numpy refuses seeds outside 0..2**32-1 with a traceback; the config check names the field."""
    r = bpsom("glue", "--task", "sst2", f"--seed={seed}", "--data-dir", tiny["data"], "--model", tiny["model"])
    assert r.returncode == 2
    assert r.stderr.strip() == "bpsom: error: command line: training.seed: must be 0..4294967295", r.stderr


def test_bad_config_key_exit_2(tiny, bpsom):
    cfg = tiny["root"] / "bad.yaml"
    cfg.write_text("bpsom:\n  som_grid: 4\n")
    r = bpsom("glue", "--task", "sst2", "--config", cfg, "--data-dir", tiny["data"], "--model", tiny["model"])
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "allowed keys in 'bpsom'" in r.stderr


def test_bad_tsv_exit_2(tiny, bpsom):
    d = tiny["root"] / "badtsv"
    d.mkdir()
    (d / "train.tsv").write_text("label\tsentence\n0\tok\n5\tbad\n")
    (d / "dev.tsv").write_text("label\tsentence\n0\tok\n")
    r = bpsom("glue", "--task", "sst2", "--data-dir", d, "--model", tiny["model"])
    assert r.returncode == 2
    assert r.stderr.strip() == f"bpsom: error: {d / 'train.tsv'}:3: label: label 5 out of range 0..1 for sst2"


def test_set_overrides_configuration_keys_and_is_recorded(tiny, bpsom):
    out = tiny["root"] / "out_set"
    r = bpsom("glue", "--task", "sst2", "--config", tiny["cfg"], "--model", tiny["model"], "--data-dir", tiny["data"],
              "--output-dir", out, "--max-train-examples", 32, "--epochs", 1,
              "--set", "bpsom.som_input=clean", "--set", "bpsom.hidden_size=6", "--set", "training.epochs=5",
              "--max-length", 100000)
    assert r.returncode == 0, r.stderr
    assert "model.max_length 100000 is more than the encoder's 64 positions; using 64" in r.stderr
    events = json.loads((out / "sst2" / "bpsom" / "log.json").read_text())
    config = next(e for e in events["events"] if e["event"] == "start")["config"]
    assert config["bpsom"]["som_input"] == "clean" and config["bpsom"]["hidden_size"] == 6
    assert config["training"]["epochs"] == 1          # the --epochs option wins over --set
    assert config["model"]["max_length"] == 64
    saved = json.loads((out / "sst2" / "bpsom" / "best_model" / "config.json").read_text())
    assert saved["som_input"] == "clean"


@pytest.mark.parametrize("setting,needle", [
    ("bpsom.som_error_weight=heavy", "--set: bpsom.som_error_weight: expected a number, got 'heavy'"),
    ("bpsom.som_input=noisy", "--set: bpsom.som_input: must be one of dropout, clean, got 'noisy'"),
    ("head.size=3", "--set: head.size: unknown section 'head'"),
    ("som_error_weight=0.1", "--set: expected SECTION.KEY=VALUE"),
    ("training.epochs=", "--set: training.epochs needs a value"),
])
def test_bad_set_exits_2_naming_the_key(tiny, bpsom, setting, needle):
    r = bpsom("glue", "--task", "sst2", "--set", setting, "--data-dir", tiny["data"], "--model", tiny["model"])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr


def test_a_head_without_a_som_trains_and_report_says_so(tiny, bpsom):
    out = tiny["root"] / "out_nosom"
    r = bpsom("glue", "--task", "sst2", "--config", tiny["cfg"], "--model", tiny["model"], "--data-dir", tiny["data"],
              "-o", out, "--max-train-examples", 32, "--set", "bpsom.som_grid_size=0")
    assert r.returncode == 0, r.stderr
    run = out / "sst2" / "bpsom"
    assert (run / "best_model" / "model.safetensors").is_file()
    assert not list((run / "visualizations").glob("som_*.png"))
    r = bpsom("report", run)
    assert r.returncode == 2 and "this run has no SOM (bpsom.som_grid_size 0)" in r.stderr, r.stderr


def test_weights_that_do_not_fit_the_config_are_named_and_leave_nothing(tiny, bpsom):
    import shutil

    bad = tiny["root"] / "bad_model"
    shutil.copytree(tiny["model"], bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["intermediate_size"] *= 2
    (bad / "config.json").write_text(json.dumps(cfg))
    out = tiny["root"] / "out_bad" / "deeper"
    r = bpsom("glue", "--task", "sst2", "--config", tiny["cfg"], "--model", bad, "--data-dir", tiny["data"], "-o", out)
    assert r.returncode == 2
    assert r.stderr.strip() == (f"bpsom: error: {bad / 'model.safetensors'}: --model: the weights do not fit "
                                f"the encoder's config.json (tensor shapes differ)"), r.stderr
    assert not (tiny["root"] / "out_bad").exists()


def test_a_sweep_row_records_the_max_length_that_ran_and_its_progress_line_says_why(tiny):
    """A glue trial whose max length the encoder cuts (64 positions) records 64, not the asked 100000."""
    from bpsom.sweep.results import ResultsFile, columns_for, numeric_columns
    from bpsom.sweep.runner import SweepOutcome, progress_line
    from bpsom.sweep.spec import check_spec
    from bpsom.sweep.trials import run_trial

    root = tiny["root"] / "sweep"
    spec = check_spec({"command": "glue", "data": "sst2",
                       "options": {"config": str(tiny["cfg"]), "model": str(tiny["model"]),
                                   "data-dir": str(tiny["data"]), "epochs": 1, "max-train-examples": 32},
                       "grid": {"max-length": [100000, 16]}}, "g.yaml", root)
    cut, kept = spec.trials()
    result = run_trial(cut, str(root))
    assert result["status"] == "ok", result["error"]
    assert result["max-length"] == 64
    assert "model.max_length 100000 is more than the encoder's 64 positions; using 64" in result["note"]
    results = ResultsFile(root / "results.csv", columns_for(spec), numeric_columns(spec.metrics))
    results.record(cut, result)
    row = next(iter(results.rows.values()))
    assert row["max-length"] == "64"
    line = progress_line(cut, result, SweepOutcome(total=2, skipped=0, started=1, ok=1, failed=0), 0, 2, 1.0)
    assert line.endswith("(note: model.max_length 100000 is more than the encoder's 64 positions; using 64) "
                         f"({result['seconds']:.1f} s)")
    result = run_trial(kept, str(root))
    assert result["status"] == "ok" and "max-length" not in result and "note" not in result


@pytest.mark.parametrize("option", ["--text-columns", "--label-column"])
def test_an_empty_column_option_is_refused_not_taken_as_unset(tiny, bpsom, option):
    r = bpsom("glue", "--task", "sst2", "--model", tiny["model"], "--data-dir", tiny["data"], option, " ,")
    assert r.returncode == 2 and r.stderr.strip() == f"bpsom: error: {option}: is empty; name the column(s) or leave the option out"
