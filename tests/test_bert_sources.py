"""`datasets` as input: saved datasets, data files, DatasetDicts, and the GLUE task table."""

from __future__ import annotations

import json

import pytest

datasets = pytest.importorskip("datasets")
pytest.importorskip("torch")
pytest.importorskip("transformers")

from bpsom_core.errors import InputError  # noqa: E402
from bpsom_bert.data import load_task, load_task_data, read_tsv  # noqa: E402
from bpsom_bert.tasks import TASKS, custom_task, get_task  # noqa: E402
from test_bert_support import make_sentences, make_tiny_model_dir  # noqa: E402


def _dd(n_train=24, n_dev=8, text="sentence", label="label", names=None):
    def part(n, seed):
        rows = make_sentences(n, seed)
        labels = [names[lab] for lab, _ in rows] if names else [lab for lab, _ in rows]
        return datasets.Dataset.from_dict({text: [s for _, s in rows], label: labels})
    return datasets.DatasetDict(train=part(n_train, 1), validation=part(n_dev, 2))


def test_task_table_rows():
    assert get_task("QNLI").text_fields == ("question", "sentence")
    assert get_task("rte").label_names == ("entailment", "not_entailment")
    assert get_task("qqp").metrics == ("accuracy", "f1")
    assert get_task("mnli").dev_split == "validation_matched" and get_task("mnli").num_labels == 3
    mm = get_task("mnli_mismatched")
    assert mm.name == "mnli-mm" and mm.hub_config == "mnli" and mm.dev_files == ("dev_mismatched.tsv",)
    assert get_task("cola").primary_metric == "matthews_correlation"
    with pytest.raises(InputError, match="STS-B is a regression task"):
        get_task("stsb")


def test_glue_native_tsv_with_label_names(tmp_path):
    p = tmp_path / "dev.tsv"
    p.write_text("index\tquestion\tsentence\tlabel\n0\tWho?\tHim.\tentailment\n1\tWhy?\tNo.\tnot_entailment\n")
    s = read_tsv(p, get_task("qnli"))
    assert s.labels == [0, 1] and s.texts[0] == ("Who?", "Him.")


def test_saved_dataset_directory_and_custom_columns(tmp_path):
    _dd(text="review", label="verdict", names=["bad", "good"]).save_to_disk(str(tmp_path / "saved"))
    task, splits = load_task(custom_task("reviews", ["review"], "verdict"), tmp_path / "saved")
    assert task.label_names == ("bad", "good") and task.metrics == ("accuracy", "f1")
    assert len(splits["train"]) == 24 and splits["train"].labels[:2] == [0, 1]
    with pytest.raises(InputError, match="no column 'text'") as e:
        load_task(custom_task("reviews", ["text"], "verdict"), tmp_path / "saved")
    assert "--text-columns" in e.value.one_line()


@pytest.mark.parametrize("ext", ["csv", "json", "parquet"])
def test_data_files_directory_and_spec(tmp_path, ext):
    dd = _dd()
    for split, name in (("train", "train"), ("validation", "dev")):
        getattr(dd[split], f"to_{ext}")(str(tmp_path / f"{name}.{ext}"))
    splits = load_task_data(get_task("sst2"), tmp_path)
    assert len(splits["train"]) == 24 and len(splits["validation"]) == 8
    spec = f"train={tmp_path / f'train.{ext}'},validation={tmp_path / f'dev.{ext}'}"
    assert load_task_data(get_task("sst2"), spec)["validation"].labels == splits["validation"].labels


def test_dataset_dict_in_python_and_mnli_dev_sets():
    rows = {"premise": ["a", "b", "c"], "hypothesis": ["x", "y", "z"], "label": [0, 1, 2]}
    dd = datasets.DatasetDict(train=datasets.Dataset.from_dict(rows),
                              validation_matched=datasets.Dataset.from_dict({**rows, "premise": ["m"] * 3}),
                              validation_mismatched=datasets.Dataset.from_dict({**rows, "premise": ["mm"] * 3}))
    assert load_task_data(get_task("mnli"), dd)["validation"].texts[0][0] == "m"
    assert load_task_data(get_task("mnli-mm"), dd)["validation"].texts[0][0] == "mm"
    with pytest.raises(InputError, match="has no dev split"):
        load_task_data(get_task("mnli"), dd["train"])
    bad = datasets.DatasetDict(train=datasets.Dataset.from_dict({**rows, "label": [0, 1, 7]}),
                               validation=datasets.Dataset.from_dict(rows))
    with pytest.raises(InputError, match="row 3: label 7 is not one of entailment"):
        load_task_data(get_task("mnli"), bad)


def test_bad_data_dir_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not a directory of train.tsv/dev.tsv, a saved dataset or data files"):
        load_task_data(get_task("sst2"), tmp_path)
    with pytest.raises(InputError, match="no such file or directory"):
        load_task_data(get_task("sst2"), tmp_path / "absent")


def test_glue_cli_trains_on_a_saved_dataset_with_named_columns(tmp_path, capsys):
    from bpsom.cli.main import main
    _dd(48, 16, text="review", label="verdict", names=["bad", "good"]).save_to_disk(str(tmp_path / "saved"))
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model: {max_length: 16}\nbpsom: {hidden_size: 8, som_grid_size: 4}\n"
                   "training: {epochs: 1, batch_size: 16, learning_rate: 1.0e-3, warmup_steps: 0}\n")
    with pytest.raises(SystemExit) as e:
        main(["glue", "--task", "reviews", "--text-columns", "review", "--label-column", "verdict",
              "--data-dir", str(tmp_path / "saved"), "--model", str(make_tiny_model_dir(tmp_path)),
              "--config", str(cfg), "--output-dir", str(tmp_path / "out")])
    out = capsys.readouterr()
    assert e.value.code == 0, out.err
    assert json.loads(out.out)["task"] == "reviews"
    config = json.loads((tmp_path / "out" / "reviews" / "bpsom" / "best_model" / "config.json").read_text())
    assert config["id2label"] == {"0": "bad", "1": "good"}
    assert "reviews" not in TASKS


def test_data_files_load_without_datasets_progress_bars(tmp_path, capfd):
    """A column error is the only line: datasets' "Generating split" bars stay off, and
    are on again afterwards for the user's own datasets calls."""
    (tmp_path / "train.csv").write_text("text,label\ngood movie,1\nbad movie,0\n")
    (tmp_path / "dev.csv").write_text("text,label\nfine,1\n")
    datasets.enable_progress_bars()
    with pytest.raises(InputError, match="no column 'sentence'"):
        load_task(custom_task("mine", ["sentence"], "label"), tmp_path)
    assert "Generating" not in capfd.readouterr().err
    assert datasets.is_progress_bar_enabled()


_BINARY = bytes(range(128, 256)) * 3


@pytest.mark.parametrize("name, train, dev, bad, fragment", [
    ("train.csv", b"sentence,label\n", b"sentence,label\nfine,1\n", "train", "no rows (a header alone, or nothing)"),
    ("train.csv", b"", b"sentence,label\nfine,1\n", "train", "EmptyDataError: No columns to parse"),
    ("train.csv", _BINARY, b"sentence,label\nfine,1\n", "train", "UnicodeDecodeError: 'utf-8' codec"),
    ("train.csv", b"sentence,label\na,1000000000000000000000000000000\nb,1\n", b"sentence,label\nfine,1\n",
     "train", "OverflowError: Python int too large"),
    ("train.json", b'{"sentence": "a", "label": 1}\n', b'{"sentence": "x", "label": \n', "dev", "Error: "),
    ("train.parquet", b"garbage\n", b"garbage\n", "train", "ArrowInvalid: Parquet magic bytes not found"),
])
def test_unreadable_data_file_names_the_file_and_the_cause_on_one_line(tmp_path, capfd, name, train, dev,
                                                                       bad, fragment):
    """datasets' DatasetGenerationError says only "An error occurred"; the cause and the file
    are in the one line, and datasets' own error log line stays off stderr."""
    ext = name.split(".")[1]
    (tmp_path / name).write_bytes(train)
    (tmp_path / f"dev.{ext}").write_bytes(dev)
    with pytest.raises(InputError) as e:
        load_task_data(get_task("sst2"), tmp_path)
    assert e.value.path == str(tmp_path / f"{bad}.{ext}")
    assert fragment in e.value.message and "An error occurred" not in e.value.message
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("train", [
    "sentence,label\na,negative\nb,positive\nc,negative\nd,\ne,positive\n",
    "sentence,label\na,0\nb,1\nc,0\nd,nan\ne,1\n",
    "sentence,label\na,0\nb,1\nc,0\nd,\ne,1\n",
])
def test_empty_label_names_its_row_not_the_first_float(tmp_path, train):
    """An empty cell makes the label column float (0.0, 1.0, nan): the empty row is the one named."""
    (tmp_path / "train.csv").write_text(train)
    (tmp_path / "dev.csv").write_text("sentence,label\nx,1\n")
    with pytest.raises(InputError) as e:
        load_task_data(get_task("sst2"), tmp_path)
    assert e.value.field == "label" and e.value.message == "row 4: label is empty (missing value)"


def test_whole_float_labels_count_as_integers(tmp_path):
    pd = pytest.importorskip("pandas")
    for split, labels in (("train", [0.0, 1.0, 1.0]), ("dev", [1.0])):
        pd.DataFrame({"sentence": [f"s{i}" for i in range(len(labels))], "label": labels}).to_parquet(
            tmp_path / f"{split}.parquet")
    _, splits = load_task(get_task("sst2"), tmp_path)
    assert splits["train"].labels == [0, 1, 1] and splits["validation"].labels == [1]


@pytest.mark.parametrize("cell, kind", [({"a": 1}, "an object"), (["a", "b"], "a list")])
def test_jsonl_text_that_is_not_a_string_is_refused(tmp_path, cell, kind):
    """Such a cell would be trained on as its Python repr."""
    rows = [{"sentence": cell, "label": 1}, {"sentence": cell, "label": 0}]
    for split in ("train", "dev"):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError) as e:
        load_task_data(get_task("sst2"), tmp_path)
    assert e.value.field == "sentence" and e.value.message == f"row 1: text must be a string, got {kind}"


@pytest.mark.parametrize("spec, needle", [
    ("train={T},validation={D},foo={T}", "unknown split 'foo'; allowed: train, dev, validation"),
    ("train={T},train={D},validation={D}", "split 'train' given twice"),
    ("train={T},dev={D},validation={D}", "split 'validation' given twice"),
    ("train={T},validation=", "no file after 'validation='"),
    ("train={T},{D}", "expected SPLIT=FILE, got"),
])
def test_data_files_spec_refuses_unknown_repeated_and_empty_parts(tmp_path, spec, needle):
    """A typo in a split name would otherwise drop that file without a word."""
    for name in ("t", "d"):
        (tmp_path / f"{name}.csv").write_text("sentence,label\nfine,1\ndull,0\n")
    with pytest.raises(InputError) as e:
        load_task_data(get_task("sst2"), spec.format(T=tmp_path / "t.csv", D=tmp_path / "d.csv"))
    assert e.value.field == "--data-dir" and needle in e.value.message, e.value.one_line()


def test_data_files_spec_naming_a_fifo_says_so(tmp_path):
    import os
    os.mkfifo(tmp_path / "train.csv")
    (tmp_path / "dev.csv").write_text("sentence,label\nfine,1\n")
    with pytest.raises(InputError) as e:
        load_task_data(get_task("sst2"), f"train={tmp_path / 'train.csv'},validation={tmp_path / 'dev.csv'}")
    assert e.value.path == str(tmp_path / "train.csv") and "FIFO" in e.value.message


def test_column_names_for_glue_tsv_files_are_refused_not_ignored(tmp_path):
    """GLUE TSV files are read by position: a --label-column or --text-columns given for them
    would change nothing, so it is an error naming the option."""
    from test_bert_support import make_glue_dir

    d = make_glue_dir(tmp_path, 8, 4)
    base = get_task("sst2")
    for task, option in ((custom_task("sst2", ["sentence"], "verdict", base=base), "--label-column"),
                         (custom_task("sst2", ["review"], "label", base=base), "--text-columns")):
        with pytest.raises(InputError) as e:
            load_task(task, d)
        assert f"{d}: {option}: TSV files are read by position" in e.value.one_line()
    assert len(load_task(custom_task("sst2", ["sentence"], "label", base=base), d)[1]["train"]) == 8


def test_missing_text_and_label_columns_are_each_named_with_their_option(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\ngood movie,1\nbad movie,0\n")
    (tmp_path / "dev.csv").write_text("text,label\nfine,1\n")
    with pytest.raises(InputError) as e:
        load_task(custom_task("mine", ["sentence"], "verdict"), tmp_path)
    line = e.value.one_line()
    assert ("--text-columns, --label-column: no column 'sentence' (--text-columns); "
            "no column 'verdict' (--label-column) (columns: text, label)") in line


def test_a_dev_file_with_other_columns_than_train_is_named_itself(tmp_path):
    """Each split file is read on its own: a dev file missing the text column is named, where
    reading both at once failed on datasets' column cast ("Couldn't cast")."""
    (tmp_path / "train.csv").write_text("sentence,label\ngood film,1\nbad film,0\n")
    (tmp_path / "dev.csv").write_text("text,label\nfine,1\n")
    for data in (tmp_path, f"train={tmp_path / 'train.csv'},validation={tmp_path / 'dev.csv'}"):
        with pytest.raises(InputError) as e:
            load_task(get_task("sst2"), data)
        assert e.value.one_line() == (f"{tmp_path / 'dev.csv'}: --text-columns: no column 'sentence' "
                                      "(columns: text, label)")


@pytest.mark.parametrize("name, content", [("train.csv", "sentence,label\n"), ("train.json", "[]")])
def test_a_data_file_without_rows_says_so(tmp_path, name, content):
    (tmp_path / name).write_text(content)
    dev = tmp_path / name.replace("train", "dev")
    dev.write_text("sentence,label\nfine,1\n" if name.endswith(".csv") else '[{"sentence": "a", "label": 1}]')
    with pytest.raises(InputError) as e:
        load_task(get_task("sst2"), tmp_path)
    assert e.value.one_line() == f"{tmp_path / name}: --data-dir: no rows (a header alone, or nothing)"


def test_a_datasets_cache_that_cannot_be_a_directory_is_named(tmp_path, monkeypatch):
    """datasets caches every file it reads: a cache path that is a file is blamed, not the data."""
    import datasets

    (tmp_path / "train.csv").write_text("sentence,label\ngood film,1\nbad film,0\n")
    (tmp_path / "dev.csv").write_text("sentence,label\nfine,1\n")
    (tmp_path / "home").write_text("a file")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    for cache, message in ((tmp_path / "home" / "datasets", "the datasets cache cannot be made here ("),
                           (tmp_path / "home", "the datasets cache is not a directory")):
        monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(cache))
        with pytest.raises(InputError) as e:
            load_task(get_task("sst2"), tmp_path)
        assert e.value.one_line().startswith(f"{cache}: HF_HOME: {message}")


def test_json_lines_and_a_json_array_pair_up(tmp_path):
    """.jsonl and .json are one format (datasets' json reader): each file is read on its own."""
    (tmp_path / "train.jsonl").write_text('{"sentence": "good film", "label": 1}\n{"sentence": "bad", "label": 0}\n')
    (tmp_path / "dev.json").write_text('[{"sentence": "fine", "label": 1}]')
    splits = load_task_data(get_task("sst2"), tmp_path)
    assert splits["train"].labels == [1, 0] and splits["validation"].texts == [("fine",)]
