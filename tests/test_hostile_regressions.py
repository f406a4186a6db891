"""Hostile inputs found after the fault module was written: each ends as one line, exit 2."""

from __future__ import annotations

import os

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
