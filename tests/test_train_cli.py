"""`bpsom train` and `bpsom report` end to end, and their one-line errors (exit 2, nothing written)."""

from __future__ import annotations

import json

import pytest

from bpsom.cli.main import main

CSV = "".join(["a,b,colour,label\n"] + [f"{i % 7 * 0.5},{(i * 3) % 5},{'red' if i % 2 else 'blue'},"
                                          f"{'yes' if (i % 7) > 3 else 'no'}\n" for i in range(40)])


def run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_no_arguments_trains_on_the_embedded_data(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["train"], capsys)
    assert code == 0, err
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1
    run_dir = runs[0]
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.yaml", "history.json", "metrics.json", "model.json", "model.safetensors", "plots"} <= names
    assert not [n for n in names if n.startswith(".")]
    plots = {p.name for p in (run_dir / "plots").iterdir()}
    assert plots == {"som_layer1.png", "umatrix_layer1.png", "history.png", "unit_std.png", "confusion.png"}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["classes"] == ["cultivar_1", "cultivar_2", "cultivar_3"]
    assert metrics["test"]["accuracy"] >= 0.9
    history = json.loads((run_dir / "history.json").read_text())["history"]
    assert len(history) == metrics["epochs_run"] and history[0]["epoch"] == 1
    assert "run directory: runs/" in out and "test: accuracy" in out
    assert "embedded Wine data" in err and "val CE%" in err  # the per-epoch table is on stderr


def test_csv_with_target_cv_and_json(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text(CSV)
    out_dir = tmp_path / "run"
    code, out, err = run(["train", str(data), "--target", "label", "--cv", "3", "--epochs", "4",
                          "--hidden", "6", "--som", "3", "-o", str(out_dir), "--json", "--no-report"], capsys)
    assert code == 0, err
    assert [line.split(":")[0] for line in err.splitlines() if line.startswith("fold")] == \
        ["fold 1/3", "fold 2/3", "fold 3/3"]  # one summary line per fold, then the refit's table
    assert "refit on all rows" in err and "val CE%" in err
    metrics = json.loads(out)
    assert metrics["run_dir"] == str(out_dir) and len(metrics["cv"]["folds"]) == 3
    assert sum(metrics["confusion"], []) and sum(map(sum, metrics["confusion"])) == 40
    assert not (out_dir / "plots").exists()
    assert "colour" in (out_dir / "config.yaml").read_text()
    code, out, err = run(["report", str(out_dir)], capsys)
    assert code == 0 and "som_layer1.png" in out and (out_dir / "plots" / "confusion.png").exists()


@pytest.mark.parametrize("args, text, message", [
    (["--target", "nope"], CSV, "d.csv:1: nope: target column not found"),
    ([], CSV.replace("0.5,3,red", "0.5,x3,red", 1), "d.csv:3: b: non-numeric value 'x3'"),
    ([], CSV.replace("0.5,3,red", "0.5,NaN,red", 1), "d.csv:3: b: missing value 'NaN'"),
    ([], CSV.replace("0.5,3,red", "0.5,-inf,red", 1), "d.csv:3: b: non-finite value '-inf'"),
    ([], CSV.replace("yes", "no"), "d.csv:2: label: the target has a single class"),
    ([], "", "d.csv: empty file"),
    (["--hidden", "4,x"], CSV, "--hidden: expected comma-separated integers"),
    (["--som-error-weight", "2"], CSV, "som_error_weight must be in [0.0, 1.0]"),
    (["--cv", "1"], CSV, "--cv: needs at least 2 folds"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, monkeypatch, capsys, args, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.csv").write_text(text)
    code, out, err = run(["train", "d.csv", "--quiet", *args], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bpsom: error: ") and message in lines[0]
    assert not (tmp_path / "runs").exists()


def test_unknown_option_and_existing_output_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["train", "--bogus"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("bpsom: error: No such option '--bogus'")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("x")
    code, out, err = run(["train", "-o", "busy", "--quiet"], capsys)
    assert code == 2 and "already exists" in err
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["keep.txt"]


def test_report_rejects_a_directory_that_is_not_a_run(tmp_path, capsys):
    code, out, err = run(["report", str(tmp_path)], capsys)
    assert code == 2 and "model.json is missing" in err
