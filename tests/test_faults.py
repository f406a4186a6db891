"""Faults and hostile input at the program's edge: every failure one line, nothing lost.

Each test pins one class of fault (see tests/hostile_cases.py for the full
list tried by hand): the one top-level handler, regular-file checks, output
checks before work, memory estimates, non-finite numbers, a NaN loss, run
directories that are locked and swapped atomically, files that follow the
umask, numba's cache fallback, the SEED argument, and the first-contact and
documentation fixes.  Commands run in this process (milliseconds each).
"""

from __future__ import annotations

import errno
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bpsom_core.errors import InputError, user_message
from fuzz_support import assert_clean_exit, no_hang
from test_fuzz_cli import _tiny_case

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--epochs", "2", "--no-report", "-q"]


def run_cli(argv: list, cwd: Path) -> tuple:
    """`bpsom ARGV` in this process, in ``cwd``, with byte-capable stdout/stderr: (exit code, stderr)."""
    from bpsom.cli.main import main

    out, err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8"), io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    old_cwd, old_out, old_err = os.getcwd(), sys.stdout, sys.stderr
    code = 0
    try:
        os.chdir(cwd)
        sys.stdout, sys.stderr = out, err
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdout, sys.stderr = old_out, old_err
        os.chdir(old_cwd)
    err.flush()
    return code, err.buffer.getvalue().decode("utf-8", "replace")


def _one_error(code: int, stderr: str, *fragments: str) -> str:
    assert code == 2, (code, stderr)
    assert_clean_exit(code, stderr)
    line = [l for l in stderr.splitlines() if l.startswith("bpsom: error: ")][0]
    for f in fragments:
        assert f in line, line
    return line


def _write_case(d: Path, **replace: bytes) -> Path:
    files = _tiny_case(False)
    for key, value in replace.items():
        files["case.prm"] = files["case.prm"].replace(key.encode(), value)
    for name, data in files.items():
        (d / name).write_bytes(data)
    return d


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """One finished `bpsom train` run directory (1 epoch, no plots); tests copy it."""
    d = tmp_path_factory.mktemp("train")
    code, err = run_cli(["train", "--epochs", "1", "--no-report", "-q", "-o", "run"], d)
    assert code == 0, err
    return d / "run"


def _copy_run(run_dir: Path, tmp_path: Path) -> Path:
    import shutil
    shutil.copytree(run_dir, tmp_path / "run")
    return tmp_path / "run"


# ------------------------------------------------------------------ 1. one error path

@pytest.mark.parametrize("err, fragment", [
    (OSError(errno.ENOSPC, "No space left on device", "out/metrics.json"), "out/metrics.json: no space left"),
    (OSError(errno.EFBIG, "File too large", "x.bst"), "x.bst: file too large"),
    (PermissionError(errno.EACCES, "Permission denied", "ro/x"), "ro/x: permission denied"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "no/dir/h.json"), "no/dir/h.json: no such file"),
    (MemoryError(), "out of memory"),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), "not valid utf-8 text"),
    (json.JSONDecodeError("Expecting value", "x", 0), "not valid JSON"),
])
def test_user_message_maps_edge_failures(err, fragment):
    assert fragment in user_message(err)


def test_user_message_maps_library_errors():
    import yaml
    from safetensors.numpy import load

    with pytest.raises(Exception) as info:
        yaml.safe_load("a: [\n")
    assert "not valid YAML" in user_message(info.value)
    with pytest.raises(Exception) as info:
        load(b"garbage")
    assert user_message(info.value).startswith("safetensors: ")
    assert user_message(ValueError("a bug")) is None      # real bugs still show their traceback


@pytest.mark.parametrize("exc", [
    OSError(errno.ENOSPC, "No space left on device", "metrics.json"),
    OSError(errno.EFBIG, "File too large", "model.safetensors"),
    MemoryError(),
])
def test_write_failure_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, exc):
    import bpsom_core.tabular.experiment as experiment

    def fail(*args, **kwargs):
        raise exc
    monkeypatch.setattr(experiment, "write_run", fail)
    code, err = run_cli(["train", *FAST, "-o", "run"], tmp_path)
    _one_error(code, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == []   # no run dir, no temp dir, no lock


def test_closed_stdout_pipe_ends_quietly(tmp_path):
    _write_case(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "bpsom.cli.main", "run", "case.prm", "--quiet"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()                    # the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) in (1, 141), err      # click's status for EPIPE, or SIGPIPE's
    assert err.strip() == "", err


# ------------------------------------------------------------------ 2. check before working

@pytest.mark.parametrize("argv, target", [
    (["run", "f.prm"], "f.prm"),
    (["train", "f.csv", *FAST], "f.csv"),
    (["train", "f.npz", *FAST], "f.npz"),
    (["train", "f.arff", *FAST], "f.arff"),
])
def test_fifo_input_is_refused_not_read(tmp_path, argv, target):
    os.mkfifo(tmp_path / target)
    with no_hang(15):
        code, err = run_cli(argv, tmp_path)
    _one_error(code, err, "FIFO")


def test_fifo_data_file_named_in_prm_is_refused(tmp_path):
    _write_case(tmp_path, **{"lrn.txt": b"pipe.txt"})
    os.mkfifo(tmp_path / "pipe.txt")
    with no_hang(15):
        code, err = run_cli(["run", "case.prm", "--quiet"], tmp_path)
    _one_error(code, err, "pipe.txt", "FIFO")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_device_input_is_refused(tmp_path, device):
    with no_hang(15):
        code, err = run_cli(["train", device, *FAST], tmp_path)
    _one_error(code, err, "device")


def test_output_dir_checked_before_training(tmp_path, monkeypatch):
    import bpsom_core.tabular.experiment as experiment

    monkeypatch.setattr(experiment, "run_experiment", lambda *a, **k: pytest.fail("trained before checking"))
    (tmp_path / "f").write_text("a file")
    code, err = run_cli(["train", *FAST, "-o", "f/run"], tmp_path)
    _one_error(code, err, "f/run")


def test_history_path_checked_before_the_run(tmp_path):
    _write_case(tmp_path)
    code, err = run_cli(["run", "case.prm", "--quiet", "--history", "no/such/h.json"], tmp_path)
    _one_error(code, err, "no/such/h.json", "no such directory")
    assert not (tmp_path / "case.bst").exists()     # nothing ran


def test_best_env_in_missing_directory_checked_before_the_run(tmp_path):
    _write_case(tmp_path, **{"case.bst": b"gone/case.bst"})
    code, err = run_cli(["run", "case.prm", "--quiet"], tmp_path)
    _one_error(code, err, "gone/case.bst")
    assert not (tmp_path / "case.log").exists()


def test_history_onto_a_special_file_is_refused(tmp_path):
    _write_case(tmp_path)
    os.mkfifo(tmp_path / "h.fifo")
    code, err = run_cli(["run", "case.prm", "--quiet", "--history", "h.fifo"], tmp_path)
    _one_error(code, err, "h.fifo", "not a regular file")
    assert stat.S_ISFIFO(os.stat(tmp_path / "h.fifo").st_mode)   # never replaced


@pytest.mark.parametrize("argv", [["--hidden", "100000000"], ["--som", "100000"], ["--hidden", "60000,60000"]])
def test_sizes_checked_against_memory(tmp_path, argv):
    with no_hang(10):
        code, err = run_cli(["train", *argv, *FAST], tmp_path)
    _one_error(code, err, "memory", "GiB")


@pytest.mark.parametrize("argv, field", [(["--lr", "nan"], "--lr"), (["--momentum", "nan"], "--momentum"),
                                         (["--som-lr", "nan,0.2"], "--som-lr"),
                                         (["--prune-threshold", "inf"], "--prune-threshold")])
def test_non_finite_options_refused(tmp_path, argv, field):
    code, err = run_cli(["train", *argv, *FAST], tmp_path)
    _one_error(code, err, field)


@pytest.mark.parametrize("arrays, fragment", [
    (dict(X=np.full((20, 2), 1 + 2j), y=np.arange(20) % 2), "real numbers"),
    (dict(X=np.ones((20, 2)), y=np.where(np.arange(20) % 2, 1.0, np.nan)), "non-finite label"),
    (dict(X=np.ones((20, 2)), y=np.full(20, 1 + 1j)), "numbers or strings"),
])
def test_npz_non_finite_or_complex_refused(tmp_path, arrays, fragment):
    np.savez(tmp_path / "d.npz", **arrays)
    code, err = run_cli(["train", "d.npz", *FAST], tmp_path)
    _one_error(code, err, fragment)


def test_nan_label_in_csv_refused(tmp_path):
    (tmp_path / "d.csv").write_text("a,b\n1,x\n2,nan\n3,x\n4,y\n")
    code, err = run_cli(["train", "d.csv", *FAST], tmp_path)
    _one_error(code, err, "missing value 'nan'")


def test_nan_loss_stops_and_keeps_last_good_network(monkeypatch):
    import bpsom_core.tabular.trainer as trainer
    from bpsom_core.tabular import BPSOMClassifier

    real = trainer.train_epoch

    def blow_up(model, data, s, epoch, rng):
        out = real(model, data, s, epoch, rng)
        if epoch == 3:
            for w in model.net.weights:
                w[...] = np.nan
            out["train_loss"] = float("nan")
        return out
    monkeypatch.setattr(trainer, "train_epoch", blow_up)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), np.arange(60) % 3
    for early in (True, False):
        clf = BPSOMClassifier(hidden_layer_sizes=(5,), som_dims=3, max_epochs=6, early_stopping=early,
                              random_state=0).fit(X, y)
        assert "stopped" in clf.history_[-1] and len(clf.history_) == 3
        assert clf.best_epoch_ <= 2
        assert all(np.isfinite(w).all() for w in clf.coefs_)
        assert np.isfinite(clf.predict_proba(X)).all()


# ------------------------------------------------------------------ 3. run directories

def test_second_run_into_a_locked_directory_is_refused(tmp_path):
    from bpsom_core.atomic import RunDirectory

    with RunDirectory(tmp_path / "same"):
        code, err = run_cli(["train", *FAST, "-o", "same"], tmp_path)
    _one_error(code, err, "another run is writing")


def test_force_swaps_in_a_complete_directory(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "old.txt").write_text("old run")
    code, err = run_cli(["train", *FAST, "-o", "r"], tmp_path)
    _one_error(code, err, "already exists")
    assert (tmp_path / "r" / "old.txt").exists()
    code, err = run_cli(["train", *FAST, "-o", "r", "--force"], tmp_path)
    assert code == 0, err
    assert (tmp_path / "r" / "metrics.json").exists() and not (tmp_path / "r" / "old.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_stale_temporary_directories_are_cleaned(tmp_path):
    stale = tmp_path / ".r.killed123.tmp"
    stale.mkdir()
    (stale / "model.json").write_text("{")
    code, err = run_cli(["train", *FAST, "-o", "r"], tmp_path)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_kill_between_the_two_renames_is_recovered(tmp_path, monkeypatch):
    import bpsom_core.atomic as atomic

    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "v1").write_text("1")
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)      # the fallback path
    real_rename = os.rename
    calls = []

    def killed(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt        # "killed" after moving the old one aside
        real_rename(src, dst)
    monkeypatch.setattr(atomic.os, "rename", killed)
    run = atomic.RunDirectory(tmp_path / "r", force=True)
    with pytest.raises(KeyboardInterrupt):
        with run as tmp:
            (tmp / "v2").write_text("2")
            run.commit()
    monkeypatch.setattr(atomic.os, "rename", real_rename)
    assert not (tmp_path / "r").exists()
    with atomic.RunDirectory(tmp_path / "r", force=True):   # the next run puts the old one back first
        assert (tmp_path / "r" / "v1").exists()
    assert (tmp_path / "r" / "v1").exists()


def test_two_bpsom_runs_in_one_directory_do_not_mix_logs(tmp_path):
    from bpsom_core.atomic import exclusive_lock

    _write_case(tmp_path)
    with exclusive_lock(tmp_path / ".case.log.lock", "busy"):
        code, err = run_cli(["run", "case.prm", "--quiet"], tmp_path)
    _one_error(code, err, "another bpsom run is writing the log case.log")
    assert not (tmp_path / "case.log").exists()


# ------------------------------------------------------------------ 4. reading our own files back

@pytest.mark.parametrize("name, data, fragment", [
    ("model.json", b"{x", "not valid JSON"),
    ("model.json", b"[1, 2]", "model must be a JSON object"),
    ("model.json", b"\xff\xfe\x00", "not UTF-8"),
    ("history.json", b"{}", '"history" list'),
    ("history.json", b'{"history": [{"x": 1}]}', "integer \"epoch\""),
    ("metrics.json", b"[1]", "JSON object"),
    ("model.safetensors", b"garbage", "not a valid safetensors file"),
    ("model.safetensors", b"", "empty"),
])
def test_report_refuses_corrupt_files(run_dir, tmp_path, name, data, fragment):
    run = _copy_run(run_dir, tmp_path)
    (run / name).write_bytes(data)
    code, err = run_cli(["report", "run"], tmp_path)
    _one_error(code, err, name, fragment)


def test_report_refuses_truncated_weights_and_wrong_shapes(run_dir, tmp_path):
    from safetensors.numpy import load_file, save_file

    run = _copy_run(run_dir, tmp_path)
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[: len(data) // 2])
    _one_error(*run_cli(["report", "run"], tmp_path), "model.safetensors")
    (run / "model.safetensors").write_bytes(data)
    t = load_file(str(run / "model.safetensors"))
    t["som.0.prototypes"] = t["som.0.prototypes"][:3]
    save_file(t, str(run / "model.safetensors"))
    _one_error(*run_cli(["report", "run"], tmp_path), "som.0.prototypes", "expected")
    meta = json.loads((run / "model.json").read_text())
    meta["params"]["bogus"] = 1
    (run / "model.json").write_text(json.dumps(meta))
    (run / "model.safetensors").write_bytes(data)
    _one_error(*run_cli(["report", "run"], tmp_path), "model.json", "params")


def test_report_refuses_a_confusion_matrix_of_the_wrong_size(run_dir, tmp_path):
    run = _copy_run(run_dir, tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["confusion"] = [[1, 2], [3]]
    (run / "metrics.json").write_text(json.dumps(metrics))
    _one_error(*run_cli(["report", "run"], tmp_path), "confusion")


# ------------------------------------------------------------------ 5. every user

def test_files_and_run_directories_follow_the_umask(tmp_path):
    from bpsom_core.atomic import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        code, err = run_cli(["train", *FAST, "-o", "r"], tmp_path)
    finally:
        os.umask(old)
    assert code == 0, err
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "r").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "r" / "metrics.json").stat().st_mode) == 0o644


def test_numba_cache_falls_back_to_a_temporary_directory(tmp_path):
    from bpsom_core._numba_cache import ensure_numba_cache, writable_dir

    unwritable = Path("/proc/self/no-such-dir")      # cannot be created, not even by root
    assert not writable_dir(unwritable)
    env = {"HOME": str(unwritable), "XDG_CACHE_HOME": str(unwritable)}
    chosen = ensure_numba_cache(package=unwritable, env=env)
    assert chosen is not None and env["NUMBA_CACHE_DIR"] == chosen and writable_dir(chosen)
    env = {"HOME": str(tmp_path)}
    assert ensure_numba_cache(package=unwritable, env=env) is None      # ~/.cache/numba works
    assert "NUMBA_CACHE_DIR" not in env


def test_latin1_file_names_in_a_prm_are_opened_as_bytes(tmp_path):
    _write_case(tmp_path, **{"case.log": b"\xe9t\xe9.log"})
    code, err = run_cli(["run", "case.prm", "--quiet"], tmp_path)
    assert code == 0, err
    assert b"\xe9t\xe9.log" in os.listdir(os.fsencode(tmp_path))


# ------------------------------------------------------------------ 6. first contact

@pytest.mark.parametrize("seed", ["abc", "99999", "32001", "12.5"])
def test_seed_argument_validated(tmp_path, seed):
    _write_case(tmp_path)
    code, err = run_cli(["run", "case.prm", seed, "--quiet"], tmp_path)
    _one_error(code, err, "SEED", "0..32000")


def test_seed_argument_atoi_behind_explicit_compat_c(tmp_path):
    _write_case(tmp_path)
    code, err = run_cli(["run", "case.prm", "99999", "--compat", "c", "--quiet"], tmp_path)
    assert code == 0, err


def test_dir_without_example_refused(tmp_path):
    _write_case(tmp_path)
    _one_error(*run_cli(["run", "case.prm", "--dir", "x", "--quiet"], tmp_path), "--dir", "--example")


def test_continuous_target_said_so(tmp_path):
    rows = "\n".join(f"{i % 5},{i * 0.731:.3f}" for i in range(60))
    (tmp_path / "d.csv").write_text("a,price\n" + rows + "\n")
    line = _one_error(*run_cli(["train", "d.csv", *FAST], tmp_path), "continuous", "price")
    assert "np.str_" not in line and "not seen in fit" not in line


def test_small_data_warns(tmp_path):
    (tmp_path / "d.csv").write_text("a,b\n1,x\n2,y\n3,x\n4,y\n5,x\n6,y\n")
    code, err = run_cli(["train", "d.csv", *FAST, "-o", "r"], tmp_path)
    assert "bpsom: warning:" in err and "too few" in err


def test_cv_summary_labels_the_refit(tmp_path, capsys):
    from bpsom.cli.train_cmd import _summary

    metrics = {"mode": "3-fold cross-validation", "cv": {"accuracy_mean": 0.9, "accuracy_sd": 0.01},
               "train": {"accuracy": 1.0, "mse": 0.1, "n": 10}, "validation": {"accuracy": 1.0, "mse": 0.1, "n": 3},
               "best_epoch": 2, "epochs_run": 3, "units_alive": [5]}
    _summary(metrics, tmp_path, [], 1.0, False, None, False)
    out = capsys.readouterr().out
    assert "refit train" in out and "refit validation" in out and "not a CV estimate" in out


def test_plots_one_epoch_integer_ticks_usage_and_pruned_units():
    from bpsom_core import plots

    fig = plots.plot_history([1], {"train": [5.0]}, {"train": [0.1]}, {"layer 1": [140.0]}, {"layer 1": [4]}, 1)
    axes = fig.axes
    assert all(line.get_marker() == "o" for line in axes[0].get_lines() if line.get_label() == "train")
    assert [t for t in axes[0].get_xticks()] == [1]
    assert axes[2].get_ylim() == (0, 100)
    fig = plots.plot_unit_std([np.array([0.2, 0.3])], 0.1, [np.array([0, 3])], n_units=[5])
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "pruned (3)" in labels
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["1", "2", "3", "4", "5"]


def test_compile_note_on_a_cold_cache(tmp_path):
    import types

    from bpsom_core._numba_cache import cold_kernels

    def kernel(index):
        return types.SimpleNamespace(_cache=types.SimpleNamespace(
            _cache_file=types.SimpleNamespace(_index_path=str(index))))
    cold = types.SimpleNamespace(k=kernel(tmp_path / "k.nbi"))
    assert cold_kernels(cold)
    (tmp_path / "k.nbi").write_text("")
    assert not cold_kernels(cold)


def test_glue_missing_model_dir_and_pickle_only(tmp_path, monkeypatch):
    from bpsom_bert.checks import check_model_dir

    with pytest.raises(InputError, match="no such directory"):
        check_model_dir(str(tmp_path / "nope"))
    with pytest.raises(InputError, match="no such directory"):
        check_model_dir("./nope")
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text("{}")
    (d / "pytorch_model.bin").write_bytes(b"\x80\x02")
    with pytest.raises(InputError, match="pickle"):
        check_model_dir(str(d))
    from safetensors.numpy import save
    (d / "model.safetensors").write_bytes(save({"w": np.ones(2, dtype=np.float32)}))
    check_model_dir(str(d))


def test_from_pretrained_refuses_corrupt_or_mismatched_files(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from bpsom_bert.modeling import BPSOMForSequenceClassification
    from test_bert_support import tiny_model

    tiny_model().save_pretrained(tmp_path)
    weights = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(InputError, match="model.safetensors"):
        BPSOMForSequenceClassification.from_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(weights)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["som_grid_size"] += 1                      # the SOM tensors no longer fit the config
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InputError, match="do not fit"):
        BPSOMForSequenceClassification.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(InputError, match="config.json"):
        BPSOMForSequenceClassification.from_pretrained(tmp_path)


def test_glue_model_weights_header_checked(tmp_path):
    from safetensors.numpy import save

    from bpsom_bert.checks import check_safetensors_header

    good = save({"w": np.ones((8, 8), dtype=np.float32)})
    p = tmp_path / "model.safetensors"
    p.write_bytes(good)
    check_safetensors_header(p)
    for data, fragment in ((good[:-10], "outside the file"), (b"garbage!", "header"), (b"", "header")):
        p.write_bytes(data)
        with pytest.raises(InputError, match=fragment):
            check_safetensors_header(p)


def test_glue_config_numbers_and_sizes(tmp_path):
    from types import SimpleNamespace

    from bpsom_bert.checks import check_finite, check_job
    from bpsom_bert.config import RunConfig

    with pytest.raises(InputError, match="training.learning_rate"):
        check_finite({"training": {"learning_rate": float("nan")}}, "c.yaml")
    cfg = RunConfig()
    cfg.bpsom.som_grid_size = 100000
    cfg.model.name = str(tmp_path)
    job = SimpleNamespace(cfg=cfg, output_dir=tmp_path / "out", data_dir=None,
                          task=SimpleNamespace(num_labels=2))
    (tmp_path / "config.json").write_text('{"hidden_size": 32}')
    from safetensors.numpy import save
    (tmp_path / "model.safetensors").write_bytes(save({"w": np.ones(2, dtype=np.float32)}))
    with pytest.raises(InputError, match="memory"):
        check_job(job)


def test_parity_without_recordings_exits_nonzero_and_warns_on_stale_log(tmp_path):
    import shutil

    from bpsom.parity.replay import FIXTURES

    case = tmp_path / "c"
    shutil.copytree(FIXTURES / "wd_1h_som5_basic", case)
    (case / "case.log").write_text("left from an earlier run\n")
    code, err = run_cli(["parity", "--cases", str(case)], tmp_path)
    assert "case.log" in err and "stale LOG file" in err
    for p in case.glob("expected.*"):
        p.unlink()
    _one_error(*run_cli(["parity", "--cases", str(case)], tmp_path), "no case here has recorded outputs")


# ------------------------------------------------------------------ 7. docs and help

def test_no_development_paths_or_planning_words_in_user_text():
    from click.testing import CliRunner

    from bpsom.cli.main import cli

    texts = [CliRunner().invoke(cli, [name, "--help"]).output for name in ("run", "train", "report", "parity")]
    texts += [p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]]
    texts += [p.read_text() for p in sorted((ROOT / "bench").glob("*.py"))]
    for text in texts:
        for bad in ("/work/", "/tmp/cbuild", "../shared", "the issue's", "TODO"):
            assert bad not in text, bad


def test_run_help_key_column_aligned():
    from bpsom.cli.run_cmd import PRM_HELP

    cols = {line.index("  ", 2) + len(line[line.index("  ", 2):]) - len(line[line.index("  ", 2):].lstrip())
            for line in PRM_HELP.splitlines() if line.startswith("  ") and " = " in line and "  " in line[2:]}
    assert len(cols) == 1, cols


def test_docs_links_resolve_and_install_line():
    import re

    for doc in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+)\)", doc.read_text()):
            assert (doc.parent / target).exists(), (doc.name, target)
    readme = (ROOT / "README.md").read_text()
    assert "--index-url https://download.pytorch.org/whl/cpu" in readme
    assert "torch==2.13.0" in (ROOT / ".ci" / "run").read_text()
    assert "/work/" not in (ROOT / "tests" / "test_bert_inputs.py").read_text()


def test_bench_without_reference_data_exits_nonzero(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_exact_vs_c.py"), "--grapho-dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "LanguageMachines/bp-som" in proc.stderr
