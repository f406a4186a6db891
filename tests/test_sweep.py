"""`bpsom sweep`: spec checks, a 2x2x2 sweep on a local 2-CPU Ray, resume, failures, summary, plots."""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import pytest
import yaml

from bpsom_core.errors import InputError
from bpsom.sweep.plots import pareto_front
from bpsom.sweep.spec import check_spec
from bpsom.cli.main import main

WINE_2x2x2 = {"command": "train", "data": "wine", "options": {"epochs": 3, "patience": 3, "hidden": "8"},
              "grid": {"som-error-weight": [0.0, 0.25], "som": [3, 4], "prune-threshold": [0.0, 0.05]},
              "seeds": [0], "metric": "accuracy"}


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs that the sweep uses (and leaves running); shut down at the end."""
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def write_spec(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def rows(path: Path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_2x2x2_sweep_runs_summarises_plots_and_a_rerun_starts_nothing(tmp_path, capsys):
    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()
    spec = write_spec(tmp_path, WINE_2x2x2)
    out_dir = tmp_path / "sweep"
    code, out, err = run(["sweep", str(spec), "--output-dir", str(out_dir), "--max-concurrent", "2"], capsys)
    assert code == 0, err
    assert not ray.is_initialized()          # the sweep started its own local Ray and shut it down
    results = rows(out_dir / "results.csv")
    assert len(results) == 8 and all(r["status"] == "ok" for r in results), results
    assert len({r["trial_id"] for r in results}) == 8
    assert {(r["som-error-weight"], r["som"], r["prune-threshold"]) for r in results} == \
        {(w, s, p) for w in ("0", "0.25") for s in ("3", "4") for p in ("0", "0.05")}
    assert all(0.0 <= float(r["accuracy"]) <= 1.0 and 1 <= int(r["units_kept"]) <= 8 for r in results)
    summary = rows(out_dir / "summary.csv")
    assert len(summary) == 8 and [int(s["rank"]) for s in summary] == list(range(1, 9))
    means = [float(s["accuracy_mean"]) for s in summary]
    assert means == sorted(means, reverse=True)
    plots = {p.name for p in (out_dir / "plots").iterdir()}
    assert {"accuracy_vs_som_error_weight.png", "accuracy_vs_som.png", "accuracy_vs_prune_threshold.png",
            "units_vs_prune_threshold.png", "accuracy_vs_units_pareto.png"} <= plots
    assert "| rank | som-error-weight | som | prune-threshold | accuracy (mean ± sd)" in out
    assert "starting 8" in err and "[done 8/8, running 0, failed 0" in err and "ETA" in err

    before = (out_dir / "results.csv").read_bytes()
    code, out, err = run(["sweep", str(spec), "--output-dir", str(out_dir)], capsys)
    assert code == 0, err
    assert "starting 0 trials" in err
    assert (out_dir / "results.csv").read_bytes() == before


def test_a_failing_trial_is_recorded_and_the_others_go_on(tmp_path, local_ray, capsys):
    ray = local_ray
    spec = dict(WINE_2x2x2, grid={"som-error-weight": [0.25, 1.5]})
    out_dir = tmp_path / "sweep"
    code, out, err = run(["sweep", str(write_spec(tmp_path, spec)), "-o", str(out_dir)], capsys)
    assert code == 0, err
    by_weight = {r["som-error-weight"]: r for r in rows(out_dir / "results.csv")}
    assert by_weight["0.25"]["status"] == "ok" and by_weight["0.25"]["accuracy"]
    assert by_weight["1.5"]["status"] == "failed" and by_weight["1.5"]["accuracy"] == ""
    assert "som_error_weight" in by_weight["1.5"]["error"] and "\n" not in by_weight["1.5"]["error"]
    assert "failed 1" in err
    assert ray.is_initialized()              # the caller's Ray is left running


def test_cross_validation_makes_one_trial_per_fold(tmp_path):
    spec = check_spec(dict(WINE_2x2x2, options={"epochs": 2, "cv": 3}, seeds=[0, 1]), "s.yaml", tmp_path)
    trials = spec.trials()
    assert len(trials) == 8 * 2 * 3
    assert sorted({t.fold for t in trials}) == [1, 2, 3] and sorted({t.seed for t in trials}) == [0, 1]
    assert len({t.trial_id for t in trials}) == len(trials)
    assert [t.trial_id for t in trials] == [t.trial_id for t in check_spec(
        dict(WINE_2x2x2, options={"epochs": 2, "cv": 3}, seeds=[0, 1]), "s.yaml", tmp_path).trials()]


@pytest.mark.parametrize("change, key", [
    ({"grdi": {}}, "grdi"),
    ({"grid": {"som-eror-weight": [0.1]}}, "grid.som-eror-weight"),
    ({"grid": {"som": [5, "seven"]}}, "grid.som"),
    ({"grid": {"epochs": [2.5]}}, "grid.epochs"),
    ({"options": {"solver": "sgd"}}, "options.solver"),
    ({"options": {"output-dir": "x"}}, "options.output-dir"),
    ({"seeds": ["a"]}, "seeds"),
    ({"metric": "f1"}, "metric"),
    ({"command": "fit"}, "command"),
    ({"data": "no-such.csv"}, "data"),
    ({"random": {"samples": 2, "params": {"lr": {"normal": [0, 1]}}}}, "random.params.lr"),
    ({"random": {"seed": -1, "params": {"lr": {"uniform": [0.1, 0.2]}}}}, "random.seed"),
    ({"random": {"seed": 2**32, "params": {"lr": {"uniform": [0.1, 0.2]}}}}, "random.seed"),
    ({"random": {"params": {"lr": {"uniform": [0, float("inf")]}}}}, "random.params.lr"),
    ({"random": {"params": {"lr": {"uniform": [0, float("nan")]}}}}, "random.params.lr"),
    ({"random": {"params": {"lr": {"uniform": [0.5, 0.1]}}}}, "random.params.lr"),
    ({"random": {"params": {"lr": {"uniform": [-1.7e308, 1.7e308]}}}}, "random.params.lr"),
    ({"random": {"params": {"lr": {"loguniform": [0, 0.5]}}}}, "random.params.lr"),
    ({"random": {"params": {"lr": {"loguniform": [0.1, float("inf")]}}}}, "random.params.lr"),
    ({"random": {"params": {"epochs": {"randint": [1, 2**70]}}}}, "random.params.epochs"),
    ({"random": {"params": {"epochs": {"randint": [1.5, 4]}}}}, "random.params.epochs"),
    ({"grid": {"som": [3, 3, 3]}}, "grid.som"),
    ({"data": ["wine", "wine"]}, "data"),
    ({"options": {"epochs": 3, "cv": 100000}}, "options.cv"),
    ({"options": {"epochs": 3, "cv": 60}}, "options.cv"),
    ({"grid": {"som": ["3\n4"]}}, "grid.som"),
    ({"options": {"target": "cla\u202ess"}}, "options.target"),
    ({"seeds": [2**32]}, "seeds"),
    ({"grid": {"som": [3]}, "random": {"samples": 200000, "params": {"lr": {"uniform": [0.1, 0.2]}}}},
     "random.samples"),
])
def test_bad_specs_are_refused_with_one_line_naming_the_key(tmp_path, capsys, change, key):
    spec = write_spec(tmp_path, {**WINE_2x2x2, **change})
    code, out, err = run(["sweep", str(spec), "-o", str(tmp_path / "never")], capsys)
    assert code == 2
    assert err.startswith("bpsom: error: ") and err.count("\n") == 1 and f"{key}:" in err
    assert not (tmp_path / "never").exists()


def test_random_samples_are_drawn_reproducibly(tmp_path):
    raw = dict(WINE_2x2x2, grid={"som": [3, 4]},
               random={"samples": 3, "seed": 7, "params": {"lr": {"loguniform": [0.01, 0.5]}}})
    a, b = check_spec(raw, "s", tmp_path).settings(), check_spec(raw, "s", tmp_path).settings()
    assert len(a) == 6 and a == b
    assert all(0.01 <= s["lr"] <= 0.5 for s in a) and len({s["lr"] for s in a}) == 6


def test_missing_ray_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    code, out, err = run(["sweep", str(write_spec(tmp_path, WINE_2x2x2))], capsys)
    assert code == 2 and err.strip() == "bpsom: error: bpsom sweep needs Ray: pip install 'bpsom[sweep]'"


def test_an_address_where_no_cluster_answers_is_one_line(tmp_path, capsys):
    pytest.importorskip("ray")
    code, out, err = run(["sweep", str(write_spec(tmp_path, WINE_2x2x2)), "-o", str(tmp_path / "s"),
                          "--address", "127.0.0.1:1"], capsys)
    assert code == 2 and err.strip() == "bpsom: error: --address: no Ray cluster answers at 127.0.0.1:1"
    assert not (tmp_path / "s").exists()


def test_glue_trials_translate_to_glue_arguments_and_ask_for_a_gpu_when_there_is_one(tmp_path):
    from bpsom.sweep.runner import trial_resources
    from bpsom.sweep.trials import glue_argv

    (tmp_path / "quick.yaml").write_text("training: {epochs: 1}\n")
    spec = check_spec({"command": "glue", "data": "sst2", "options": {"epochs": 1, "model": "m", "mode": "bpsom",
                                                                     "config": "quick.yaml"},
                       "grid": {"batch-size": [8, 16]}, "seeds": [3]}, "g.yaml", tmp_path)
    assert spec.metrics == ("accuracy", "best_epoch", "units_kept") and spec.metric == "accuracy"
    t = spec.trials()[1]
    argv = glue_argv(t, tmp_path)
    assert argv[:2] == ["--task", "sst2"] and argv[argv.index("--seed") + 1] == "3"
    assert argv[argv.index("--output-dir") + 1] == str((tmp_path / "trials" / t.trial_id).resolve())
    assert argv[argv.index("--batch-size") + 1] == "16" and argv[argv.index("--mode") + 1] == "bpsom"
    assert argv[argv.index("--config") + 1] == str((tmp_path / "quick.yaml").resolve())   # relative to the spec
    assert argv[argv.index("--model") + 1] == "m"                                        # a hub name stays
    (tmp_path / "other.yaml").write_text("training: {epochs: 2}\n")
    spec = check_spec({"command": "glue", "data": "sst2", "grid": {"config": ["quick.yaml", "other.yaml"]}},
                      "g.yaml", tmp_path)
    assert [t.options["config"] for t in spec.trials()] == [str((tmp_path / n).resolve())
                                                            for n in ("quick.yaml", "other.yaml")]
    assert trial_resources("glue", {"CPU": 8, "GPU": 2}) == {"num_cpus": 1, "num_gpus": 1}
    assert trial_resources("glue", {"CPU": 8}) == {"num_cpus": 1}
    assert trial_resources("train", {"CPU": 8, "GPU": 2}) == {"num_cpus": 1}
    with pytest.raises(InputError, match="options.mode"):
        check_spec({"command": "glue", "data": "sst2", "options": {"mode": "both"}}, "g.yaml", tmp_path)
    with pytest.raises(InputError, match="data"):
        check_spec({"command": "glue", "data": "sst3"}, "g.yaml", tmp_path)


def test_run_trials_set_prm_keys_in_a_copy_and_score_the_best_epoch(tmp_path, monkeypatch):
    from bpsom_core.examples import install_example
    from bpsom.sweep.trials import prm_with, run_trial

    prm = install_example(tmp_path / "ex")
    text = prm.read_text(encoding="latin-1")
    changed = prm_with(text, {"SOM_ERROR_USE": 0.1, "SOM-architecture": [0, 4, 0, 0, 0, 0]})
    assert "SOM_ERROR_USE = 0.1\n" in changed and "SOM-architecture = 0 4 0 0 0 0\n" in changed
    assert changed.count("\n") == text.count("\n")
    spec = check_spec({"command": "run", "data": str(prm), "options": {"N_EPOCHS": 1},
                       "grid": {"PRUNE_THRESHOLD": [0.0]}, "seeds": [5]}, "r.yaml", tmp_path)
    monkeypatch.chdir(tmp_path)
    result = run_trial(spec.trials()[0], "out")                # a relative sweep directory, too
    assert result["status"] == "ok", result
    assert 0.0 <= result["accuracy"] <= 1.0 and result["units_kept"] == 30 and result["epochs_run"] == 1
    kept = tmp_path / "out" / "trials" / spec.trials()[0].trial_id
    assert sorted(p.name for p in kept.iterdir()) == ["history.json", "run.log", "stdout.txt"]
    assert b"1/1 LRN=1 MAT=1" in (kept / "stdout.txt").read_bytes()
    assert prm.read_text(encoding="latin-1") == text
    assert sorted(p.name for p in prm.parent.iterdir()) == ["example.prm", "lrn.txt", "tst.txt", "val.txt"]
    with pytest.raises(InputError, match="grid.SOM_ERORR_USE"):
        check_spec({"command": "run", "data": str(prm), "grid": {"SOM_ERORR_USE": [0.1]}}, "r.yaml", tmp_path)


def test_pareto_front_keeps_only_undominated_settings():
    pts = [(20, 0.95), (10, 0.95), (15, 0.97), (5, 0.80), (12, 0.90)]
    assert pareto_front(pts) == [3, 1, 2]


@pytest.mark.parametrize("row, fragment", [
    ("t9,ok,extra\n", "results.csv:3: has 2 columns in the header but not on this row"),
    ("t9\n", "results.csv:3: has 2 columns in the header but not on this row"),
    ("t9,finished\n", "results.csv:3: status: 'finished' is not one of ok, failed"),
    (",ok\n", "results.csv:3: trial_id: empty"),
])
def test_a_damaged_results_row_is_refused_naming_its_line(tmp_path, row, fragment):
    from bpsom.sweep.results import ResultsFile
    path = tmp_path / "results.csv"
    path.write_text("trial_id,status\nt1,ok\n" + row)
    with pytest.raises(InputError) as got:
        ResultsFile(path, ["trial_id", "status"])
    assert fragment in str(got.value)


HEADER = "trial_id,status,accuracy,seconds\n"


@pytest.mark.parametrize("text, fragment", [
    (HEADER + "t1,ok,0.9,1.0\nt2,ok,abc,1.0\n", "results.csv:3: accuracy: not a number ('abc'); fix or delete"),
    (HEADER + "t1,ok,0.9,xyz\n", "results.csv:2: seconds: not a number ('xyz')"),
    (HEADER + "t1,ok,0.9\x00,1\n", "results.csv:2: accuracy: not a number ('0.9\\x00')"),
    (HEADER + "t1,ok,0.9,1\nt1,failed,,1\n", "results.csv:3: trial_id: 't1' repeats line 2"),
    (HEADER + 't1,"ok,0.9,1\nt2,ok,0.8,1\nt3,ok,0.7,1\n', "results.csv:2: "),
    (HEADER + 't1,ok,0.9,1\n"t2,ok,0.8,1\nt3",ok,0.7,1\n', "results.csv:3: trial_id: runs over several lines"),
])
def test_a_hand_edited_results_cell_is_refused_naming_line_and_column(tmp_path, text, fragment):
    from bpsom.sweep.results import ResultsFile, read_rows
    path = tmp_path / "results.csv"
    path.write_text(text)
    for read in (lambda: ResultsFile(path, ["trial_id", "status", "accuracy", "seconds"], ["accuracy", "seconds"]),
                 lambda: read_rows(path, numeric=["accuracy", "seconds"])):
        with pytest.raises(InputError) as got:
            read()
        assert fragment in str(got.value) and "\n" not in str(got.value)


def test_an_empty_results_file_has_no_rows_and_a_bom_is_accepted(tmp_path):
    from bpsom.sweep.results import ResultsFile
    path = tmp_path / "results.csv"
    path.write_bytes(b"")
    assert ResultsFile(path, ["trial_id", "status", "seconds"], ["seconds"]).rows == {}
    path.write_bytes("\ufefftrial_id,status,seconds\nt1,ok,1.5\nt2,failed,\n".encode())
    assert list(ResultsFile(path, ["trial_id", "status", "seconds"], ["seconds"]).rows) == ["t1", "t2"]


def test_a_non_numeric_metric_in_results_is_one_line_from_the_command(tmp_path, capsys):
    from bpsom.sweep.results import columns_for
    pytest.importorskip("ray")
    spec = dict(WINE_2x2x2, grid={"som": [3]})
    out_dir = tmp_path / "s"
    out_dir.mkdir()
    checked = check_spec(spec, "s.yaml", tmp_path)
    columns = columns_for(checked)
    row = {c: "1" for c in columns} | {"trial_id": checked.trials()[0].trial_id, "fold": "", "accuracy": "abc",
                                       "status": "ok", "error": ""}
    (out_dir / "results.csv").write_text(",".join(columns) + "\n" + ",".join(row[c] for c in columns) + "\n")
    code, out, err = run(["sweep", str(write_spec(tmp_path, spec)), "-o", str(out_dir)], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert err.strip().endswith("results.csv:2: accuracy: not a number ('abc'); fix or delete the row")


@pytest.mark.parametrize("address", ["nonsense://", "http://127.0.0.1:8265", "somehost", "ray://h:99999"])
def test_an_address_ray_cannot_join_is_refused_before_the_plan(tmp_path, capsys, address):
    pytest.importorskip("ray")
    code, out, err = run(["sweep", str(write_spec(tmp_path, WINE_2x2x2)), "-o", str(tmp_path / "s"),
                          "--address", address], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1, (out, err)
    assert err.startswith("bpsom: error: --address: expected auto, local, HOST:PORT or ray://HOST:PORT")
    assert not (tmp_path / "s").exists()


def test_progress_line_estimates_time_left_only_after_a_few_trials():
    from bpsom.sweep.runner import SweepOutcome, progress_line
    from bpsom.sweep.spec import Trial
    trial = Trial("t1", "train", "wine", {"som": 5}, {"som": 5}, 0, None)
    lines = [progress_line(trial, {"status": "ok", "accuracy": 0.9, "seconds": 1.0},
                           SweepOutcome(10, 0, done, done, 0), 1, 10, 12.0 * done) for done in (1, 2, 3)]
    assert "ETA -:--]" in lines[0] and "ETA -:--]" in lines[1]
    assert "[done 3/10, running 1, failed 0, ETA 1:24] som=5 seed 0: accuracy 0.9 (1.0 s)" == lines[2]
    huge = Trial("t2", "train", "wine", {"epochs": 10**400}, {"epochs": 10**400}, 0, None)
    line = progress_line(huge, {"status": "ok", "accuracy": 0.9}, SweepOutcome(1, 0, 1, 1, 0), 0, 1, 1.0)
    assert "(408 characters)" in line and len(line) < 200


def test_a_second_sweep_into_a_directory_in_use_is_refused(tmp_path, capsys):
    from bpsom_core.atomic import exclusive_lock
    from bpsom.sweep.runner import LOCK_NAME
    pytest.importorskip("ray")
    out_dir = tmp_path / "s"
    out_dir.mkdir()
    with exclusive_lock(out_dir / LOCK_NAME, "held by the test"):      # as a running sweep holds it
        code, out, err = run(["sweep", str(write_spec(tmp_path, WINE_2x2x2)), "-o", str(out_dir)], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"bpsom: error: {out_dir / LOCK_NAME}: another bpsom sweep is running in {out_dir}")
    assert not (out_dir / "results.csv").exists()


def test_ray_does_not_take_over_sigterm(monkeypatch):
    """Ray's core installs a SIGTERM handler that dumps its stack; the program's own handler
    (clean exit, rows kept) must stay in place after Ray starts."""
    import signal
    import types

    from bpsom.sweep import runner

    def fake_init(**kw):
        signal.signal(signal.SIGTERM, lambda *a: None)
    monkeypatch.setattr(runner, "import_ray", lambda: types.SimpleNamespace(init=fake_init))
    mine = lambda *a: None  # noqa: E731
    previous = signal.signal(signal.SIGTERM, mine)
    try:
        runner.start_ray(None, 1)
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("signal_in_init, code, line", [("SIGTERM", 143, "bpsom: terminated"),
                                                        ("SIGINT", 130, "bpsom: interrupted")])
def test_a_signal_while_ray_starts_ends_as_its_line(monkeypatch, tmp_path, capsys, signal_in_init, code, line):
    """Inside ray.init, Ray's own handler answers SIGTERM with sys.exit(15): the sweep still
    ends as every SIGTERM does (one line, exit 143); Ctrl-C there too ends as its line.  What had
    started of Ray is shut down either way (left to Ray's exit hook it could crash the exit)."""
    import signal
    import types

    from bpsom.sweep import runner

    shut = []

    def init_meets_sigterm(**kw):
        if signal_in_init == "SIGINT":
            raise KeyboardInterrupt()
        raise SystemExit(signal.SIGTERM)
    fake = types.SimpleNamespace(init=init_meets_sigterm, is_initialized=lambda: False,
                                 shutdown=lambda: shut.append(True))
    monkeypatch.setattr(runner, "import_ray", lambda: fake)
    got, out, err = run(["sweep", str(write_spec(tmp_path, WINE_2x2x2)), "-o", str(tmp_path / "s")], capsys)
    assert got == code and err.endswith(f"starting 8\n{line}\n"), err
    assert shut == [True] and not (tmp_path / "s").exists()     # no empty sweep directory left


def test_glue_sweeps_set_configuration_keys_through_set(tmp_path):
    pytest.importorskip("torch")
    from bpsom.cli.glue_cmd import parse_settings
    from bpsom.sweep.trials import glue_argv

    spec = check_spec({"command": "glue", "data": "sst2", "options": {"bpsom.som_input": "clean"},
                       "grid": {"bpsom.som_error_weight": [0.05, 0.1], "training.warmup_ratio": [0.06, None]}},
                      "g.yaml", tmp_path)
    assert len(spec.trials()) == 4
    argv = glue_argv(spec.trials()[-1], tmp_path)
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    assert sorted(sets) == ["bpsom.som_error_weight=0.1", "bpsom.som_input=\"clean\"", "training.warmup_ratio=null"]
    assert parse_settings(tuple(sets)) == {("bpsom", "som_error_weight"): 0.1, ("bpsom", "som_input"): "clean",
                                           ("training", "warmup_ratio"): None}
    with pytest.raises(InputError, match=r"grid.bpsom.som_input: expected one of dropout, clean"):
        check_spec({"command": "glue", "data": "sst2", "grid": {"bpsom.som_input": ["clean", "noisy"]}},
                   "g.yaml", tmp_path)
    with pytest.raises(InputError, match=r"grid.bpsom.som_eror_weight: unknown option.*did you mean "
                                         r"bpsom.som_error_weight"):
        check_spec({"command": "glue", "data": "sst2", "grid": {"bpsom.som_eror_weight": [0.1]}}, "g.yaml", tmp_path)
    with pytest.raises(InputError, match=r"options.set: unknown option"):
        check_spec({"command": "glue", "data": "sst2", "options": {"set": "bpsom.hidden_size=4"}}, "g.yaml", tmp_path)


def test_glue_sweep_values_are_read_as_the_trial_reads_them(tmp_path):
    pytest.importorskip("torch")
    spec = check_spec({"command": "glue", "data": "sst2",
                       "grid": {"training.learning_rate": ["2e-5", "3e-5"], "bpsom.hidden_size": [8.0, 16]}},
                      "g.yaml", tmp_path)
    assert spec.grid["training.learning_rate"] == [2e-5, 3e-5] and spec.grid["bpsom.hidden_size"] == [8, 16]
    spec = check_spec({"command": "glue", "data": "sst2", "options": {"learning-rate": "1e-3"}}, "g.yaml", tmp_path)
    assert spec.options["learning-rate"] == 1e-3
    with pytest.raises(InputError, match="options.model.name: expected a text value, got 5"):
        check_spec({"command": "glue", "data": "sst2", "options": {"model.name": 5}}, "g.yaml", tmp_path)


@pytest.mark.parametrize("spec,needle", [
    ({"grid": {"training.seed": [1, 2]}}, "grid.training.seed: set by the spec's seeds list"),
    ({"options": {"epochs": 1}, "grid": {"training.epochs": [2, 3]}},
     "grid.training.epochs: the same setting as options.epochs; set it once"),
    ({"options": {"model.max_length": 8}, "grid": {"max-length": [12, 16]}},
     "options.model.max_length: the same setting as grid.max-length; set it once"),
])
def test_glue_sweep_refuses_a_setting_named_twice(tmp_path, spec, needle):
    pytest.importorskip("torch")
    with pytest.raises(InputError, match=re.escape(needle)):
        check_spec({"command": "glue", "data": "sst2", **spec}, "g.yaml", tmp_path)


@pytest.mark.parametrize("raw, needle", [
    ({"grid": {"som": [None]}}, "grid.som: expected an integer or comma-separated integers, got null"),
    ({"grid": {"epochs": [True]}}, "grid.epochs: expected an integer, got true"),
    ({"seeds": [1, 2**40]}, f"seeds: expected a list of integers in 0..{2**32 - 1}, got {2**40}"),
])
def test_spec_messages_spell_values_as_yaml_does(tmp_path, raw, needle):
    with pytest.raises(InputError) as info:
        check_spec({**WINE_2x2x2, **raw}, "s.yaml", tmp_path)
    assert needle in info.value.one_line()


@pytest.mark.parametrize("text, needle", [
    (b"command: train\ngrid: {som: [3, 4\n", "spec.yaml:3: not valid YAML"),
    (b"command: train\n\xbb: 1\n", "spec.yaml:2: not valid UTF-8 text (byte 15)"),
])
def test_an_unreadable_spec_is_one_line_with_its_line(tmp_path, capsys, text, needle):
    (tmp_path / "spec.yaml").write_bytes(text)
    code, out, err = run(["sweep", str(tmp_path / "spec.yaml"), "-o", str(tmp_path / "never")], capsys)
    assert code == 2 and err.count("\n") == 1 and needle in err, err


def test_a_directory_as_spec_is_named_as_our_other_inputs_are(tmp_path, capsys):
    (tmp_path / "dir.yaml").mkdir()
    code, out, err = run(["sweep", str(tmp_path / "dir.yaml")], capsys)
    assert code == 2 and err.strip() == f"bpsom: error: {tmp_path / 'dir.yaml'}: is a directory, not a sweep spec"


def test_the_summary_counts_this_specs_trials_and_a_repeated_sample_once(tmp_path):
    """Rows of an earlier spec (other fixed options) stay in results.csv but out of the summary;
    two rows with the same recorded values, seed and fold (two grid values the command ran alike)
    are one sample."""
    from bpsom.sweep.results import ResultsFile, columns_for, numeric_columns
    from bpsom.sweep.summary import write_summary

    spec = check_spec(dict(WINE_2x2x2, grid={"som": [3, 4]}, seeds=[0]), "s.yaml", tmp_path)
    earlier = check_spec(dict(WINE_2x2x2, grid={"som": [3, 4]}, seeds=[0], options={"epochs": 9}), "s.yaml", tmp_path)
    results = ResultsFile(tmp_path / "results.csv", columns_for(spec), numeric_columns(spec.metrics))
    mine, other = spec.trials()[0], earlier.trials()[0]
    results.record(mine, {"status": "ok", "accuracy": 0.9, "seconds": 1.0})
    results.record(other, {"status": "ok", "accuracy": 0.1, "seconds": 1.0})
    results.record(spec.trials()[1], {"status": "ok", "accuracy": 0.7, "seconds": 1.0, "som": 3})  # ran as som=3
    summaries, rows, left_out = write_summary(tmp_path, spec.param_names, spec.metrics, spec.metric,
                                              {t.trial_id for t in spec.trials()})
    assert left_out == 1 and len(rows) == 2
    (only,) = summaries
    assert only.params == {"som": "3"} and only.n == 1 and only.stats["accuracy"] == (0.9, 0.0)


def test_sigterm_during_a_sweep_exits_143_after_the_summary(tmp_path, capsys, monkeypatch):
    from bpsom.cli.main import Terminated
    from bpsom.sweep import runner

    spec = write_spec(tmp_path, WINE_2x2x2)

    def stopped(spec, out_dir, **kw):
        return runner.SweepOutcome(total=8, skipped=0, started=1, ok=0, failed=0,
                                   interruption=Terminated())
    monkeypatch.setattr(runner, "run_sweep", stopped)
    monkeypatch.setattr(runner, "import_ray", lambda: None)
    code, out, err = run(["sweep", str(spec), "-o", str(tmp_path / "s")], capsys)
    assert code == 143 and err.strip().endswith("bpsom: terminated"), err


def test_glue_spec_paths_are_read_from_the_spec_and_missing_ones_refused_before_any_trial(tmp_path):
    pytest.importorskip("torch")
    sub = tmp_path / "sub"
    (sub / "dd").mkdir(parents=True)
    (sub / "q.yaml").write_text("training: {epochs: 1}\n")
    spec = check_spec({"command": "glue", "data": "sst2", "options": {"data-dir": "dd", "config": "q.yaml",
                                                                     "model": "org/some-model"}}, "g.yaml", sub)
    assert spec.options["data-dir"] == str((sub / "dd").resolve())
    assert spec.options["config"] == str((sub / "q.yaml").resolve())
    assert spec.options["model"] == "org/some-model"                     # a hub name
    spec = check_spec({"command": "glue", "data": "sst2", "options": {"data-dir": "train=a.csv,validation=b.csv"}},
                      "g.yaml", sub)
    assert spec.options["data-dir"] == "train=a.csv,validation=b.csv"   # a files spec is the command's to check


def test_a_key_given_twice_in_a_spec_is_refused_with_its_line(tmp_path, capsys):
    (tmp_path / "spec.yaml").write_text("command: glue\ncommand: train\ndata: sst2\n")
    code, out, err = run(["sweep", str(tmp_path / "spec.yaml"), "-o", str(tmp_path / "never")], capsys)
    assert code == 2 and "spec.yaml:2: 'command' appears twice in one mapping" in err and err.count("\n") == 1


def test_a_signal_after_the_last_row_still_writes_the_summary(tmp_path, capsys, monkeypatch):
    """SIGTERM while Ray shuts down, after the last trial is recorded: summary first, then exit 143."""
    from bpsom.cli.main import Terminated
    from bpsom.sweep import runner
    from bpsom.sweep.results import ResultsFile, columns_for, numeric_columns

    spec_path = write_spec(tmp_path, dict(WINE_2x2x2, grid={"som": [3]}))
    spec = check_spec(yaml.safe_load(spec_path.read_text()), str(spec_path), tmp_path)
    out_dir = tmp_path / "s"

    def recorded_then_stopped(spec, out_dir, **kw):
        out_dir.mkdir()
        ResultsFile(out_dir / "results.csv", columns_for(spec), numeric_columns(spec.metrics)).record(
            spec.trials()[0], {"status": "ok", "accuracy": 0.9, "seconds": 1.0})
        raise Terminated()
    monkeypatch.setattr(runner, "run_sweep", recorded_then_stopped)
    monkeypatch.setattr(runner, "import_ray", lambda: None)
    code, out, err = run(["sweep", str(spec_path), "-o", str(out_dir)], capsys)
    assert code == 143 and err.endswith(".png\nbpsom: terminated\n"), err   # no blank line before it
    assert (out_dir / "summary.csv").is_file() and "0.9000" in out


@pytest.mark.parametrize("options, needle", [
    ({"data-dir": "nope"}, "options.data-dir: no such file or directory: nope"),
    ({"config": "nomodel"}, "options.config: not a file: nomodel"),
    ({"model": "./my-model"}, "options.model: no such file or directory: ./my-model"),
    ({"mode": "both"}, "options.mode: a trial trains one head"),
    ({"data-dir": "q.yaml"}, "options.data-dir: not a directory: q.yaml"),
    ({"model": "q.yaml"}, "options.model: not a directory: q.yaml"),
    ({"model": "nomodel"}, "options.model: not a model directory (no config.json in it)"),
    ({"data-dir": ""}, "options.data-dir: is empty"),
    ({"model": "a b"}, "options.model: neither a directory nor a valid hub name ('org/name'): a b"),
    ({"model": "~no-such-user-here/x"}, "options.model: no such file or directory: ~no-such-user-here/x"),
    ({"model": "org/name@main"}, "options.model: neither a directory nor a valid hub name"),
    ({"config": " "}, "options.config: is empty"),
])
def test_glue_spec_paths_that_cannot_serve_are_refused_up_front(tmp_path, options, needle):
    pytest.importorskip("torch")
    (tmp_path / "q.yaml").write_text("training: {epochs: 1}\n")
    (tmp_path / "nomodel").mkdir()
    with pytest.raises(InputError) as info:
        check_spec({"command": "glue", "data": "sst2", "options": options}, "g.yaml", tmp_path)
    assert needle in info.value.one_line()


def test_a_distribution_given_as_text_names_the_text(tmp_path):
    with pytest.raises(InputError) as info:
        check_spec(dict(WINE_2x2x2, random={"params": {"lr": {"loguniform": ["1e-5", "1e-3"]}}}), "s.yaml", tmp_path)
    assert "got '1e-5' and '1e-3'" in info.value.one_line()
