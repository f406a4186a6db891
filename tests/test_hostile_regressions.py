"""Hostile inputs found after the fault module was written: each ends as one line, exit 2."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from bpsom_core.errors import InputError
from test_faults import _one_error, run_cli


def test_sweep_spec_that_is_a_fifo_is_refused_not_read_forever(tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    _one_error(*run_cli(["sweep", str(fifo), "-o", str(tmp_path / "out")], tmp_path), "FIFO")
    assert not (tmp_path / "out").exists()


def test_sweep_grid_too_large_is_refused_before_expanding(tmp_path):
    values = list(range(1, 11))
    spec = tmp_path / "spec.yaml"
    spec.write_text("command: train\ndata: wine\ngrid:\n" + "".join(
        f"  {name}: {values}\n" for name in ("som", "hidden", "epochs", "patience", "momentum", "lr")))
    _one_error(*run_cli(["sweep", str(spec), "-o", str(tmp_path / "out")], tmp_path),
               "grid", "1,000,000 trials")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04truncated"])
def test_corrupt_glue_som_snapshot_is_an_input_error(tmp_path, content):
    from bpsom_core.explorer_sources import glue_maps

    (tmp_path / "som_snapshots").mkdir()
    (tmp_path / "som_snapshots" / "epoch_1.npz").write_bytes(content)
    with pytest.raises(InputError, match="epoch_1.npz.*corrupt or truncated"):
        glue_maps(tmp_path)


def test_glue_snapshot_missing_an_array_is_an_input_error(tmp_path):
    from bpsom_core.explorer_sources import glue_maps

    (tmp_path / "som_snapshots").mkdir()
    np.savez(tmp_path / "som_snapshots" / "epoch_1.npz", grid_size=np.int64(2))
    with pytest.raises(InputError, match="corrupt or truncated"):
        glue_maps(tmp_path)


def test_glue_tsv_with_only_a_header_is_an_input_error(tmp_path):
    pytest.importorskip("torch")
    from bpsom_bert.data import get_task, read_tsv

    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\n")
    with pytest.raises(InputError, match="no examples after the header"):
        read_tsv(path, get_task("sst2"))


def test_glue_overrides_are_checked_like_file_keys_without_touching_the_original():
    pytest.importorskip("torch")
    from bpsom_bert.config import RunConfig, with_overrides

    base = RunConfig()
    cfg = with_overrides(base, {("training", "epochs"): 7, ("model", "max_length"): None})
    assert cfg.training.epochs == 7 and base.training.epochs != 7
    assert cfg.model.max_length == base.model.max_length
    with pytest.raises(InputError, match="training.precision"):
        with_overrides(base, {("training", "precision"): "fp8"})


@pytest.mark.parametrize("value, fragment", [("0", "at least 1"), ("3,,4", "comma-separated"),
                                             ("", "comma-separated")])
def test_train_hidden_sizes_are_checked_by_their_option_name(tmp_path, value, fragment):
    _one_error(*run_cli(["train", "--hidden", value, "-o", str(tmp_path / "out")], tmp_path),
               "--hidden", fragment)


def test_the_compile_note_lists_importable_kernel_modules():
    import importlib

    from bpsom_core._numba_cache import ENGINE_MODULES, PRIMITIVE_MODULES

    for name in (*ENGINE_MODULES, *PRIMITIVE_MODULES):
        importlib.import_module(name)


@pytest.mark.parametrize("content, fragment", [
    (b"17\tpos\tfine\nx7\tneg\tbroken\n", "som_examples.tsv:3: index: not an example number: 'x7'"),
    (b"index\tlabel\ttext\n\xff\xfe\tneg\tx\n", "som_examples.tsv: not valid UTF-8 text"),
])
def test_corrupt_example_texts_name_the_file(tmp_path, content, fragment):
    from bpsom_core.errors import InputError
    from bpsom_core.explorer_sources import read_examples
    (tmp_path / "som_examples.tsv").write_bytes(b"index\tlabel\ttext\n" + content
                                                if not content.startswith(b"index") else content)
    with pytest.raises(InputError) as got:
        read_examples(tmp_path / "som_examples.tsv")
    assert fragment in str(got.value)


@pytest.mark.parametrize("text, fragment", [
    ("a: [1, 2\n", "config.yaml:2: not valid YAML"),
    ("data: 3\n", "config.yaml: data: needs a mapping with path and target"),
    ("- just\n- a list\n", "config.yaml: data: needs a mapping"),
])
def test_corrupt_train_config_in_a_report_dir_names_the_file(tmp_path, text, fragment, bpsom):
    code, _, err = bpsom("train", "--output-dir", tmp_path / "run", "--quiet", "--epochs", "2")
    assert code == 0, err
    (tmp_path / "run" / "config.yaml").write_text(text)
    code, _, err = bpsom("report", tmp_path / "run")
    assert code == 0, err                           # the plots stand; the explorer says why it is missing
    assert "no SOM cell explorer: " in err and fragment in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.fixture(scope="module")
def wine_run(tmp_path_factory):
    """One small `bpsom train` run directory, copied by each test that damages it."""
    from bpsom.cli.main import main
    out = tmp_path_factory.mktemp("wine") / "run"
    with pytest.raises(SystemExit) as info:
        main(["train", "--output-dir", str(out), "--quiet", "--epochs", "3", "--no-report"])
    assert info.value.code in (0, None)
    return out


def _edit_json(path, change):
    import json
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("file, change, fragment", [
    ("model.json", lambda m: m.pop("preprocessing"), "model.json: preprocessing: must be an object"),
    ("model.json", lambda m: m["preprocessing"]["names"].pop(), "model.json: preprocessing: names and kinds"),
    ("model.json", lambda m: m["preprocessing"]["scales"].update(alcohol=0), "needs a finite mean and a positive"),
    ("model.json", lambda m: m["preprocessing"]["means"].clear(), "column 'alcohol' needs a finite mean"),
])
def test_damaged_preprocessing_is_named_in_the_explorer_note(wine_run, tmp_path, bpsom, file, change, fragment):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(wine_run, run)
    _edit_json(run / file, change)
    code, _, err = bpsom("report", run)
    assert code == 0 and "no SOM cell explorer: " in err and fragment in err, err
    assert "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("file, change, fragment", [
    ("history.json", lambda h: h["history"][1].update(units_alive=[20, 20]),
     "history.json: history: record 2: units_alive must have one value per hidden layer (1)"),
    ("history.json", lambda h: h["history"][0].update(epoch=10 ** 30), 'record 1 is not an object with an integer'),
    ("model.json", lambda m: m.update(hidden_std=[[0.1] * 50]), "model.json: hidden_std: must hold one list"),
    ("model.json", lambda m: m.update(hidden_std=[m["hidden_std"][0] * 2]), "one value per unit ([20])"),
    ("metrics.json", lambda m: m["confusion"][0].__setitem__(0, 10 ** 20), "metrics.json: confusion: must be a 3x3"),
])
def test_damaged_run_files_are_one_line_naming_file_and_field(wine_run, tmp_path, bpsom, file, change, fragment):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(wine_run, run)
    _edit_json(run / file, change)
    code, _, err = bpsom("report", run)
    assert code == 2 and fragment in err, err
    assert "Traceback" not in err and err.count("\n") == 1


def test_deeply_nested_history_is_refused(wine_run, tmp_path, bpsom):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(wine_run, run)
    (run / "history.json").write_text("[" * 100000 + "]" * 100000)
    code, _, err = bpsom("report", run)
    assert code == 2 and "history.json: nested too deeply" in err, err


def test_long_class_names_are_shortened_in_plots():
    from bpsom_core.tabular.report import _short
    assert _short("x" * 100000) == "x" * 39 + "\u2026" and _short("setosa") == "setosa"


def _snapshot(path, **change):
    arrays = dict(grid_size=np.int64(2), class_names=np.asarray(["neg", "pos"]), labels=np.array([0, 1, 2, 1]),
                  reliability=np.array([0, 90, 80, 100]), winners=np.array([0, 3, -1], np.int32),
                  winner_d2=np.array([0.1, 0.2, np.inf], np.float32))
    arrays.update(change)
    np.savez(path, **arrays)


@pytest.mark.parametrize("change, fragment", [
    (dict(grid_size=np.int64(0)), "grid_size: must be a whole number 1..1000"),
    (dict(grid_size=np.int64(100000)), "grid_size: must be a whole number 1..1000"),
    (dict(grid_size=np.float64(2.5)), "grid_size: must be a whole number"),
    (dict(winners=np.array([0.5, 1.0, 2.0])), "winners: must be a list of cell numbers -1..3"),
    (dict(winners=np.array([0, 4, 1], np.int32)), "winners: must be a list of cell numbers -1..3"),
    (dict(winners=np.array([0, 1], np.int32)), "winner_d2: must be one distance per example"),
    (dict(labels=np.array([0, 1, 2])), "labels: must be 4 whole numbers 0..2"),
    (dict(labels=np.array([0, 1, 3, 1])), "labels: must be 4 whole numbers 0..2"),
    (dict(reliability=np.array([0, np.nan, 1, 2])), "reliability: must be 4 finite numbers"),
    (dict(class_names=np.asarray([], dtype=str)), "class_names: must be a list of 1..1000 names"),
])
def test_damaged_snapshot_arrays_are_named(tmp_path, change, fragment):
    from bpsom_core.errors import InputError
    from bpsom_core.explorer_sources import glue_maps
    (tmp_path / "som_snapshots").mkdir()
    _snapshot(tmp_path / "som_snapshots" / "epoch_1.npz", **change)
    with pytest.raises(InputError) as got:
        glue_maps(tmp_path)
    assert "epoch_1.npz: " + fragment in str(got.value)


def test_snapshots_of_two_runs_are_not_mixed(tmp_path):
    from bpsom_core.errors import InputError
    from bpsom_core.explorer_sources import glue_maps
    (tmp_path / "som_snapshots").mkdir()
    _snapshot(tmp_path / "som_snapshots" / "epoch_1.npz")
    _snapshot(tmp_path / "som_snapshots" / "epoch_2.npz", grid_size=np.int64(1), labels=np.array([1]),
              reliability=np.array([50]), winners=np.array([0, 0, 0], np.int32))
    with pytest.raises(InputError, match="epoch_2.npz: holds another run's map"):
        glue_maps(tmp_path)
    (tmp_path / "som_snapshots" / "epoch_2.npz").unlink()
    maps, names = glue_maps(tmp_path)
    assert names == ["neg", "pos"] and maps[0].dim == 2


def test_a_fifo_snapshot_is_refused_not_read(tmp_path):
    import os
    from bpsom_core.errors import InputError
    from bpsom_core.explorer_sources import glue_maps
    (tmp_path / "som_snapshots").mkdir()
    os.mkfifo(tmp_path / "som_snapshots" / "epoch_1.npz")
    with pytest.raises(InputError, match="FIFO"):
        glue_maps(tmp_path)


def test_glue_reruns_replace_the_run_directory_whole_and_an_interrupted_one_keeps_the_last(tmp_path, bpsom,
                                                                                            monkeypatch):
    """A rerun with fewer epochs leaves only its own files; a rerun that fails midway leaves the
    earlier run's directory exactly as it was, with no temporary beside it."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from test_bert_support import make_glue_dir, make_tiny_model_dir
    data, model = make_glue_dir(tmp_path, 24, 8), make_tiny_model_dir(tmp_path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {max_length: 16}\nbpsom: {hidden_size: 6, som_grid_size: 3, relabel: pass}\n"
                   "training: {batch_size: 8, early_stopping_patience: 0}\n")
    args = ["glue", "--task", "sst2", "--config", cfg, "--model", model, "--data-dir", data,
            "--output-dir", tmp_path / "out", "--quiet"]
    run = tmp_path / "out" / "sst2" / "bpsom"
    assert bpsom(*args, "--epochs", "2")[0] == 0
    assert sorted(p.name for p in (run / "som_snapshots").iterdir()) == ["epoch_1.npz", "epoch_2.npz"]
    assert bpsom(*args, "--epochs", "1")[0] == 0
    assert sorted(p.name for p in (run / "som_snapshots").iterdir()) == ["epoch_1.npz"]
    before = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}

    import bpsom_bert.trainer as trainer_mod

    def disk_full(self, *a, **k):
        raise OSError(28, "No space left on device", str(run / "best_model" / "model.safetensors"))
    monkeypatch.setattr(trainer_mod.GlueTrainer, "evaluate", disk_full)
    code, _, err = bpsom(*args, "--epochs", "1")
    assert code == 2 and "no space left on device" in err, err
    after = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in run.parent.iterdir() if p.name.startswith(".")] == []   # no lock, no temporary


def test_a_csv_field_over_the_csv_modules_limit_is_one_line(tmp_path, bpsom):
    data = tmp_path / "long.csv"
    data.write_text("a,b\n" + "x" * 200000 + ",1\n2,0\n")
    code, _, err = bpsom("train", data, "--output-dir", tmp_path / "out")
    assert code == 2 and "long.csv:2: not readable as CSV (field larger than field limit" in err, err


def test_sigterm_cleans_up_like_ctrl_c(tmp_path):
    """kill (SIGTERM) mid-run: one line, exit 143, no lock or temporary left, no run directory."""
    import signal
    import subprocess
    import sys
    import time
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-m", "bpsom", "train", "--output-dir", str(tmp_path / "run"),
                             "--epochs", "100000", "--patience", "100000"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(p.name.startswith(".run.") for p in tmp_path.iterdir()):
        time.sleep(0.2)                             # training has begun: its locked temporary exists
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, (proc.returncode, err[-800:])
    assert err.strip().splitlines()[-1] == "bpsom: terminated" and "Traceback" not in err
    assert "\n\nbpsom: terminated" not in "\n" + err      # no stray blank line before it
    assert sorted(p.name for p in tmp_path.iterdir()) == [], list(tmp_path.iterdir())


def test_classes_missing_from_the_training_rows_are_named_before_training(tmp_path, bpsom):
    data = tmp_path / "c60.csv"
    data.write_text("a,b,cls\n" + "".join(f"{i * 0.1:.1f},{i % 7},k{i}\n" for i in range(60)))
    code, _, err = bpsom("train", data, "--output-dir", tmp_path / "out")
    assert code == 2 and "class(es) have no training rows after the split ('k" in err, err
    assert "UserWarning" not in err and "not seen in fit" not in err


def test_a_fifo_weights_file_in_a_run_dir_is_named_as_such(wine_run, tmp_path, bpsom):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(wine_run, run)
    (run / "model.safetensors").unlink()
    os.mkfifo(run / "model.safetensors")
    code, _, err = bpsom("report", run)
    assert code == 2 and "model.safetensors: is a FIFO (named pipe), not a regular weights file" in err, err


def test_absurd_epoch_counts_are_refused_with_the_value_shortened(tmp_path):
    huge = "9" * 300
    line = _one_error(*run_cli(["train", "--epochs", huge, "-o", str(tmp_path / "out")], tmp_path),
                      "--epochs", "(300 characters)", "2147483647")
    assert len(line) < 300
    assert not (tmp_path / "out").exists()


def test_classifier_refuses_epoch_counts_the_schedules_cannot_hold():
    from bpsom_core.tabular import BPSOMClassifier

    with pytest.raises(ValueError, match=r"max_epochs must be in \[1, 2147483647\]"):
        BPSOMClassifier(max_epochs=10**300).fit(np.random.rand(10, 2), [0, 1] * 5)


def test_glue_config_refuses_absurd_epochs():
    pytest.importorskip("yaml")
    from bpsom_bert.config import config_from_dict

    with pytest.raises(InputError, match="training.epochs.*at most 2147483647"):
        config_from_dict({"training": {"epochs": 10**300}})


def _glue_job(tmp_path, positions=64, **training):
    from types import SimpleNamespace

    from safetensors.numpy import save

    from bpsom_bert.config import RunConfig

    cfg = RunConfig()
    cfg.model.name = str(tmp_path)
    for key, value in training.items():
        section, name = key.split("__")
        setattr(getattr(cfg, section), name, value)
    (tmp_path / "config.json").write_text(f'{{"hidden_size": 32, "max_position_embeddings": {positions}}}')
    (tmp_path / "model.safetensors").write_bytes(save({"w": np.ones(2, dtype=np.float32)}))
    return SimpleNamespace(cfg=cfg, output_dir=tmp_path / "out", data_dir=None,
                           task=SimpleNamespace(num_labels=2))


def test_glue_max_length_beyond_the_encoders_positions_is_cut_to_them(tmp_path):
    pytest.importorskip("safetensors")
    from bpsom_bert.checks import check_job, fit_to_encoder

    job = _glue_job(tmp_path, model__max_length=64)
    check_job(job)
    assert fit_to_encoder(job.cfg, asked=True) == (job.cfg, None)
    cfg, note = fit_to_encoder(_glue_job(tmp_path, model__max_length=99999999999999).cfg, asked=True)
    assert cfg.model.max_length == 64 and "99999999999999 is more than the encoder's 64 positions" in note
    assert fit_to_encoder(_glue_job(tmp_path, model__max_length=128).cfg, asked=False)[1] is None
    with pytest.raises(InputError, match="the encoder has 3 positions; bpsom needs at least 4"):
        fit_to_encoder(_glue_job(tmp_path, positions=3).cfg, asked=False)


def test_glue_batch_that_cannot_fit_names_the_batch_size(tmp_path):
    pytest.importorskip("safetensors")
    from bpsom_bert.checks import check_job

    with pytest.raises(InputError, match=r"^training.batch_size: a batch of 100000000000 examples") as info:
        check_job(_glue_job(tmp_path, positions=512, training__batch_size=10**11))
    assert "bpsom:" not in str(info.value)


def test_broken_symlink_as_run_directory_is_refused_before_training(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "missing")
    _one_error(*run_cli(["train", "--epochs", "1", "-o", "link"], tmp_path),
               "link: is a broken symbolic link", "cannot be the run directory")
    assert not (tmp_path / "missing").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link"]


def test_failed_write_in_a_run_directory_names_the_final_path(tmp_path):
    import errno

    from bpsom_core.atomic import RunDirectory

    run = RunDirectory(tmp_path / "out")
    with pytest.raises(OSError) as info:
        with run as tmp:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp / "plots" / "som.png"))
    assert info.value.filename == str(tmp_path / "out" / "plots" / "som.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_table_with_a_nul_byte_is_refused_naming_the_line(tmp_path):
    (tmp_path / "t.csv").write_bytes(b"a,b,class\n1,2,x\n2,3,z\0y\n1,1,z\n")
    _one_error(*run_cli(["train", "t.csv", "-o", "out"], tmp_path), "t.csv:3: NUL byte")
    assert not (tmp_path / "out").exists()


def test_error_lines_escape_control_characters_and_cut_long_lines():
    from bpsom_core.errors import printable_line, shown

    assert printable_line("bpsom: error: a\x00b\tc") == "bpsom: error: a\\x00b\\tc"
    long = printable_line("x " * 5000)
    assert len(long) < 2100 and long.endswith("(10000 characters)")
    assert shown([1] * 100000) == "a list" and shown({"a": 1}) == "a mapping"
    assert len(shown("9" * 5000)) < 100


def test_memory_figures_for_absurd_sizes_do_not_overflow():
    from bpsom_core.memory import human

    assert human(10**400) == "more than 1 EiB"
    assert human(3 * 1024**3) == "3.0 GiB"


def test_a_failed_first_run_leaves_no_empty_folders(tmp_path):
    from bpsom_core.atomic import RunDirectory

    with pytest.raises(RuntimeError):
        with RunDirectory(tmp_path / "a" / "b" / "run"):
            raise RuntimeError("failed")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "keep").mkdir()
    with pytest.raises(RuntimeError):
        with RunDirectory(tmp_path / "keep" / "run"):
            raise RuntimeError("failed")
    assert list(tmp_path.iterdir()) == [tmp_path / "keep"]     # a folder that was there stays


@pytest.mark.parametrize("setting,needle", [
    ("bpsom.som_error_weight=1" + "0" * 400, "--set: bpsom.som_error_weight: 1000"),
    ("bpsom.hidden_size=[" + "1," * 5000 + "1]", "--set: bpsom.hidden_size takes one value, got a list"),
    ("training.learning_rate=.nan", "--set: training.learning_rate: must be a finite number"),
    ("bpsom.hidden_size=" + "[" * 3000, "--set: the value of bpsom.hidden_size is not valid YAML"),
])
def test_hostile_set_values_end_in_one_short_line(tmp_path, setting, needle):
    pytest.importorskip("torch")
    line = _one_error(*run_cli(["glue", "--task", "sst2", "--set", setting, "-o", str(tmp_path / "o")], tmp_path),
                      needle)
    assert len(line) < 400
    assert not (tmp_path / "o").exists()


def test_glue_sizes_too_large_for_memory_name_their_key(tmp_path):
    pytest.importorskip("safetensors")
    from bpsom_bert.checks import check_job

    with pytest.raises(InputError, match=r"^bpsom.hidden_size: .*more than 1 EiB"):
        check_job(_glue_job(tmp_path, positions=512, bpsom__hidden_size=10**400))
    with pytest.raises(InputError, match=r"^bpsom.som_grid_size: a 1000000000000000x1000000000000000 SOM"):
        check_job(_glue_job(tmp_path, positions=512, bpsom__som_grid_size=10**15))


def test_train_hidden_size_beyond_memory_is_one_line(tmp_path):
    _one_error(*run_cli(["train", "--hidden", "1" + "0" * 400, "-o", str(tmp_path / "o")], tmp_path),
               "more than 1 EiB")


@pytest.mark.parametrize("signal_exc,code,line", [("Terminated", 143, "bpsom: terminated"),
                                                  ("KeyboardInterrupt", 130, "bpsom: interrupted")])
def test_a_signal_inside_compiled_code_still_ends_as_one_line(tmp_path, monkeypatch, signal_exc, code, line):
    """A SIGTERM or Ctrl-C that lands inside numba's dispatcher comes back as a chain of SystemError."""
    import bpsom_core.tabular.experiment as experiment
    from bpsom.cli import main as cli_main

    def interrupted(*args, **kwargs):
        signal = cli_main.Terminated() if signal_exc == "Terminated" else KeyboardInterrupt()
        try:
            try:
                raise signal
            except KeyboardInterrupt as exc:
                raise SystemError("_numba_unpickle returned a result with an exception set") from exc
        except SystemError as exc:
            raise SystemError("CPUDispatcher returned a result with an exception set") from exc
    monkeypatch.setattr(experiment, "run_experiment", interrupted)
    got, err = run_cli(["train", "--epochs", "2", "-o", str(tmp_path / "run")], tmp_path)
    assert got == code and err.strip().splitlines()[-1] == line and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("signal_exc,code,line", [("Terminated", 143, "bpsom: terminated"),
                                                  ("KeyboardInterrupt", 130, "bpsom: interrupted")])
def test_a_signal_inside_a_command_ends_as_its_line_alone(tmp_path, monkeypatch, signal_exc, code, line):
    """click answers Ctrl-C with a blank line (to close a terminal's ^C echo); piped or
    SIGTERM'd, that blank line would be noise in a log, so only the one line comes."""
    import bpsom_core.tabular.experiment as experiment
    from bpsom.cli import main as cli_main

    def interrupted(*args, **kwargs):
        raise cli_main.Terminated() if signal_exc == "Terminated" else KeyboardInterrupt()
    monkeypatch.setattr(experiment, "run_experiment", interrupted)
    got, err = run_cli(["train", "--epochs", "2", "-o", str(tmp_path / "run")], tmp_path)
    assert got == code and err.endswith(line + "\n") and "\n\n" not in "\n" + err, repr(err)


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_a_signal_while_the_interpreter_shuts_down_changes_nothing(tmp_path, signame):
    """Results written, exit code set: a signal during the exit hooks (torch's take a second)
    neither prints a traceback nor kills the process with another status."""
    import subprocess
    import sys
    code = ("import atexit, os, signal, sys\n"
            f"atexit.register(lambda: (os.kill(os.getpid(), signal.{signame}), __import__('time').sleep(0.2)))\n"
            "sys.argv = ['bpsom', '--version']\n"
            "from bpsom.cli.main import entry\n"
            "entry()\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env,
                       cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == "" and r.stdout.startswith("bpsom, version"), (r.returncode, r.stderr)


def test_sigterm_reported_back_as_a_plain_ctrl_c_still_ends_as_terminated(tmp_path, monkeypatch):
    """Compiled code that runs the handler (Ray's waits) may turn what it raised into a plain
    KeyboardInterrupt: the exit still says what arrived, SIGTERM."""
    import signal as signals

    import bpsom_core.tabular.experiment as experiment
    from bpsom.cli import main as cli_main

    def sigterm_then_plain_interrupt(*args, **kwargs):
        try:
            cli_main._raise_terminated(signals.SIGTERM, None)
        except KeyboardInterrupt:
            raise KeyboardInterrupt() from None
    monkeypatch.setattr(experiment, "run_experiment", sigterm_then_plain_interrupt)
    got, err = run_cli(["train", "--epochs", "2", "-o", str(tmp_path / "run")], tmp_path)
    assert got == 143 and err.endswith("bpsom: terminated\n"), err
    monkeypatch.setattr(experiment, "run_experiment", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    got, err = run_cli(["train", "--epochs", "2", "-o", str(tmp_path / "run")], tmp_path)
    assert got == 130, err      # a later run in the same process starts with no SIGTERM received
