"""The SOM cell explorer: som_cells.tsv and an offline som_explorer.html for train and glue runs."""

from __future__ import annotations

import csv
import json
import re
from html import escape

import pytest

from bpsom.cli.main import main

pytest.importorskip("plotly")


def run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return info.value.code, out, err


def read_tsv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def hover_texts(html: str):
    """The hover texts of the page's map traces (Plotly's JSON embedded in the page)."""
    texts, decoder = [], json.JSONDecoder()
    for m in re.finditer(r'"hovertext":', html):
        value, _ = decoder.raw_decode(html, m.end())
        texts += [t for v in value for t in (v if isinstance(v, list) else [v])]   # slider steps nest them
    return texts


def assert_offline(html: str) -> None:
    assert not re.search(r"<script[^>]*\bsrc\s*=", html), "a remote (or any external) script is loaded"
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']https?:", html)
    assert "Plotly.newPlot" in html and len(html) > 1_000_000   # plotly.js is inlined


def test_train_run_explorer_lists_every_cell_and_its_nearest_rows(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, _, err = run(["train", "-q", "--epochs", "8", "--som", "4", "--hidden", "6", "-o", run_dir,
                        "--no-report"], capsys)
    assert code == 0, err
    code, out, err = run(["report", run_dir], capsys)
    assert code == 0, err
    assert str(run_dir / "som_explorer.html") in out and str(run_dir / "som_cells.tsv") in out
    rows = read_tsv(run_dir / "som_cells.tsv")
    assert len(rows) == 16 and [int(r["cell"]) for r in rows] == list(range(1, 17))
    assert {(int(r["row"]), int(r["col"])) for r in rows} == {(i, j) for i in range(1, 5) for j in range(1, 5)}
    assert sum(int(r["count"]) for r in rows) == 178               # every wine row has a winner cell
    for r in rows:
        listed = [e for e in r["examples"].split(" | ") if e]
        assert len(listed) == min(int(r["count"]), 10)
        assert all(re.match(r"row \d+ \[cultivar_\d\]: [^=]+=\S+ \(z [+-]\d", e) for e in listed)
        assert (r["label"] == "") == (int(r["reliability"]) == 0)
    html = (run_dir / "som_explorer.html").read_text(encoding="utf-8")
    assert_offline(html)
    texts = hover_texts(html)
    assert len(texts) == 16                                        # one map, one snapshot: no slider
    for r, text in zip(rows, texts):
        assert f"cell {r['cell']} (row {r['row']}, col {r['col']})" in text
        assert f"{r['count']} examples" in text
        for example in r["examples"].split(" | ")[:8]:
            assert escape(example)[:60] in text


def test_report_without_the_runs_data_file_draws_the_plots_and_says_why_there_is_no_explorer(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("a,b,label\n" + "".join(f"{i % 5},{(i * 3) % 7},{'yes' if i % 5 > 2 else 'no'}\n"
                                              for i in range(40)))
    run_dir = tmp_path / "run"
    code, _, err = run(["train", data, "-q", "--epochs", "3", "--som", "3", "-o", run_dir, "--no-report"], capsys)
    assert code == 0, err
    data.unlink()
    code, out, err = run(["report", run_dir], capsys)
    assert code == 0, err
    assert "som_layer1.png" in out and not (run_dir / "som_explorer.html").exists()
    assert "bpsom: note: no SOM cell explorer:" in err and "d.csv is not there" in err


def test_report_refuses_a_directory_that_is_no_run(tmp_path, capsys):
    code, _, err = run(["report", tmp_path], capsys)
    assert code == 2 and "model.json is missing (nor a `bpsom glue` run" in err and err.count("\n") == 1


torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


def test_glue_run_explorer_steps_through_epochs_with_sentences(tmp_path, capsys):
    from test_bert_support import make_glue_dir, make_tiny_model_dir

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model: {max_length: 16}\nbpsom: {hidden_size: 8, som_grid_size: 3, relabel: pass}\n"
                   "training: {epochs: 2, batch_size: 16, learning_rate: 1.0e-3, warmup_steps: 2, "
                   "early_stopping_patience: 0}\n")
    data, model = make_glue_dir(tmp_path, 40, 12), make_tiny_model_dir(tmp_path)
    code, _, err = run(["glue", "--task", "sst2", "--mode", "bpsom", "--config", cfg, "--model", model,
                        "--data-dir", data, "--output-dir", tmp_path / "out", "--no-progress"], capsys)
    assert code == 0, err
    run_dir = tmp_path / "out" / "sst2" / "bpsom"
    assert sorted(p.name for p in (run_dir / "som_snapshots").iterdir()) == ["epoch_1.npz", "epoch_2.npz"]
    code, out, err = run(["report", run_dir], capsys)
    assert code == 0, err
    rows = read_tsv(run_dir / "som_cells.tsv")
    assert len(rows) == 2 * 9 and {r["epoch"] for r in rows} == {"1", "2"}
    for epoch in ("1", "2"):
        assert sum(int(r["count"]) for r in rows if r["epoch"] == epoch) == 40
    sentences = [line.split("\t")[1] for line in (data / "train.tsv").read_text().splitlines()[1:41]]
    listed = [e for r in rows for e in r["examples"].split(" | ") if e]
    assert len(listed) == sum(min(int(r["count"]), 10) for r in rows)
    assert all(any(s in e for s in sentences) for e in listed)
    html = (run_dir / "som_explorer.html").read_text(encoding="utf-8")
    assert_offline(html)
    assert '"sliders"' in html and '"label":"1"' in html and '"label":"2"' in html
    texts = hover_texts(html)
    for r in rows:
        assert any(f"cell {r['cell']} (row {r['row']}, col {r['col']})" in t and f"{r['count']} examples" in t
                   for t in texts)
