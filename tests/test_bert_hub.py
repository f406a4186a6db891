"""`bpsom glue` with hub names while the hub cannot be reached: one line at once, or the cache.

The hub client alone retries an unreachable host five times per file (about
a minute of "Retrying" lines); these runs point it at a closed local port.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_bert_support import make_glue_dir, make_tiny_model_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# the hub client's own retries for one file take 1+2+4+8+8 s; a run that waits on them is slower
RETRY_SECONDS = 23


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _glue(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """`bpsom glue` with an empty hub cache and an endpoint nobody listens on."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                                                             "HF_DATASETS_OFFLINE", "HF_HUB_CACHE")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", HF_HOME=str(tmp_path / "hf"),
               HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}")
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model: {max_length: 16}\nbpsom: {hidden_size: 8, som_grid_size: 4}\n"
                   "training: {epochs: 1, batch_size: 16}\n")
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "bpsom", "glue", "--task", "sst2", "--mode", "bpsom",
                        "--config", str(cfg), "--device", "cpu", "--max-train-examples", "32",
                        "--output-dir", str(tmp_path / "out"), "--no-progress", *args],
                       capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    return r, time.monotonic() - start


def _cache_as_hub_model(model_dir: Path, hub_root: Path, repo: str) -> None:
    """Lay a saved model out as the hub client's cache holds a downloaded repository."""
    commit = "0" * 40
    repo_dir = hub_root / "hub" / ("models--" + repo.replace("/", "--"))
    shutil.copytree(model_dir, repo_dir / "snapshots" / commit)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)


def test_a_hub_name_neither_cached_nor_reachable_is_one_line_at_once(tmp_path):
    r, seconds = _glue(tmp_path, "--model", "someorg/not-here", "--data-dir", str(make_glue_dir(tmp_path)))
    assert r.returncode == 2, r.stderr[-2000:]
    [line] = r.stderr.splitlines()
    assert line.startswith("bpsom: error: someorg/not-here: --model: no such directory, nor a model in the "
                           "local hub cache, and http://127.0.0.1:") and line.endswith(" cannot be reached"), line
    assert seconds < RETRY_SECONDS and not (tmp_path / "out").exists()


def test_a_cached_hub_model_trains_offline_when_the_hub_cannot_be_reached(tmp_path):
    _cache_as_hub_model(make_tiny_model_dir(tmp_path), tmp_path / "hf", "someorg/tiny")
    r, seconds = _glue(tmp_path, "--model", "someorg/tiny", "--data-dir", str(make_glue_dir(tmp_path)))
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "out" / "sst2" / "bpsom" / "history.json").is_file()
    assert seconds < RETRY_SECONDS, seconds


def test_glue_data_from_an_unreachable_hub_is_one_line_at_once(tmp_path):
    r, seconds = _glue(tmp_path, "--model", str(make_tiny_model_dir(tmp_path)))
    assert r.returncode == 2, r.stderr[-2000:]
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith(
        "bpsom: error: --data-dir: cannot load GLUE 'sst2' from the hub (not in the datasets cache, and http"), r.stderr
    assert "pass --data-dir with train.tsv and dev.tsv" in r.stderr and seconds < RETRY_SECONDS


def test_a_name_that_is_neither_a_directory_nor_a_hub_name_is_refused():
    from bpsom_bert.checks import check_model_dir
    from bpsom_core.errors import InputError

    with pytest.raises(InputError) as info:
        check_model_dir("two words")
    assert info.value.one_line() == "two words: --model: neither a directory nor a valid hub name ('org/name')"
