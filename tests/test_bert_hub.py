"""`bpsom glue` with hub names while the hub cannot be reached: one line at once, or the cache.

The hub client alone retries an unreachable host five times per file (about
a minute of "Retrying" lines); these runs point it at a closed local port.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
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


def _glue(tmp_path: Path, *args: str, endpoint: str = "") -> tuple[subprocess.CompletedProcess, float]:
    """`bpsom glue` with an empty hub cache and an endpoint nobody listens on (or `endpoint`)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                                                             "HF_DATASETS_OFFLINE", "HF_HUB_CACHE")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", HF_HOME=str(tmp_path / "hf"),
               HF_ENDPOINT=endpoint or f"http://127.0.0.1:{_closed_port()}")
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


@contextlib.contextmanager
def _hub_answering(status: int):
    """A local endpoint that answers every request with ``status`` (a hub that is down)."""
    class Down(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(status)
            self.end_headers()
        do_GET = do_HEAD

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Down)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.mark.parametrize("status", [503, 429])
def test_a_hub_down_or_rate_limiting_counts_as_unreachable_and_the_cache_serves(tmp_path, status):
    _cache_as_hub_model(make_tiny_model_dir(tmp_path), tmp_path / "hf", "someorg/tiny")
    data = str(make_glue_dir(tmp_path))
    with _hub_answering(status) as endpoint:
        r, seconds = _glue(tmp_path, "--model", "someorg/tiny", "--data-dir", data, endpoint=endpoint)
        assert r.returncode == 0 and seconds < RETRY_SECONDS, (seconds, r.stderr[-2000:])
        shutil.rmtree(tmp_path / "out")
        r, seconds = _glue(tmp_path, "--model", "someorg/other", "--data-dir", data, endpoint=endpoint)
    [line] = r.stderr.splitlines()
    assert r.returncode == 2 and line.endswith(f"and {endpoint} answers HTTP {status}") and seconds < RETRY_SECONDS


@pytest.mark.parametrize("endpoint", ["https://[::1", "http://h:x", "http://user:secret@h:x"])
def test_an_hf_endpoint_that_cannot_be_parsed_is_one_line(tmp_path, endpoint):
    """The hub client parses it when transformers is imported: a traceback, even for local runs."""
    r, _ = _glue(tmp_path, "--model", str(make_tiny_model_dir(tmp_path)), "--data-dir",
                 str(make_glue_dir(tmp_path)), endpoint=endpoint)
    shown = endpoint.replace(":secret@", ":***@")
    assert r.returncode == 2 and r.stderr == f"bpsom: error: HF_ENDPOINT: not a URL: {shown!r}\n"


def test_an_hf_endpoint_that_parses_does_not_block_a_local_run(tmp_path):
    r, _ = _glue(tmp_path, "--model", str(make_tiny_model_dir(tmp_path)), "--data-dir",
                 str(make_glue_dir(tmp_path)), endpoint="ftp://nowhere")
    assert r.returncode == 0, r.stderr[-2000:]


def test_the_password_of_an_endpoint_is_not_shown(tmp_path):
    r, _ = _glue(tmp_path, "--model", "someorg/not-here", "--data-dir", str(make_glue_dir(tmp_path)),
                 endpoint=f"http://user:secret@127.0.0.1:{_closed_port()}")
    assert r.returncode == 2 and "user:***@127.0.0.1:" in r.stderr and "secret" not in r.stderr


def test_a_model_directory_without_tokenizer_files_is_refused(tmp_path):
    model = tmp_path / "no-tokenizer"
    model.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(make_tiny_model_dir(tmp_path) / name, model / name)
    r, _ = _glue(tmp_path, "--model", str(model), "--data-dir", str(make_glue_dir(tmp_path)))
    assert r.returncode == 2 and r.stderr.startswith(
        f"bpsom: error: {model}: --model: no usable tokenizer (tokenizer.json or vocab.txt missing or empty)"), r.stderr
    assert r.stderr.count("\n") == 1 and not (tmp_path / "out").exists()


def _broken(snapshot: Path, how: str) -> None:
    if how == "truncated weights":
        (snapshot / "model.safetensors").write_bytes((snapshot / "model.safetensors").read_bytes()[:100])
    elif how == "config a list":
        (snapshot / "config.json").write_text("[]")
    elif how == "config not JSON":
        (snapshot / "config.json").write_text("{garbage")
    elif how == "pickle only":
        (snapshot / "model.safetensors").rename(snapshot / "pytorch_model.bin")


@pytest.mark.parametrize("how, message", [
    ("truncated weights", "model.safetensors: not a safetensors file: its header is missing or truncated"),
    ("config a list", "config.json: expected a JSON object of settings, got list"),
    ("config not JSON", "config.json: not valid JSON (Expecting property name"),
    ("pickle only", ": --model: holds only pickle checkpoints (pytorch_model.bin)"),
])
def test_a_broken_cached_model_is_checked_like_a_directory(tmp_path, monkeypatch, how, message):
    """Loaded from the cache (hub unreachable), a damaged copy is named file by file."""
    from huggingface_hub import constants

    from bpsom_bert import hub
    from bpsom_bert.checks import check_model_dir
    from bpsom_core.errors import InputError

    _cache_as_hub_model(make_tiny_model_dir(tmp_path), tmp_path / "hf", "someorg/tiny")
    snapshot = tmp_path / "hf" / "hub" / "models--someorg--tiny" / "snapshots" / ("0" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setattr(hub, "why_unreachable", lambda: "the hub cannot be reached")
    monkeypatch.setattr(hub, "go_offline", lambda: None)
    assert check_model_dir("someorg/tiny") is None          # the intact copy passes
    _broken(snapshot, how)
    with pytest.raises(InputError) as info:
        check_model_dir("someorg/tiny")
    assert str(snapshot) in info.value.one_line() and message in info.value.one_line()


@pytest.mark.parametrize("name, message", [
    ("", "--model: is empty; name a model directory or a hub name ('org/name')"),
    ("a" * 300, "--model: not usable as a directory ("),
    ("~no-such-user-here/x", "~no-such-user-here/x: --model: no such directory"),
])
def test_model_names_no_directory_can_have(name, message):
    from bpsom_bert.checks import check_model_dir
    from bpsom_core.errors import InputError

    with pytest.raises(InputError) as info:
        check_model_dir(name)
    assert message in info.value.one_line()


def test_a_model_type_transformers_does_not_know_names_the_directory(tmp_path):
    import json

    model = tmp_path / "odd"
    shutil.copytree(make_tiny_model_dir(tmp_path), model)
    cfg = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**cfg, "model_type": "nope"}))
    r, _ = _glue(tmp_path, "--model", str(model), "--data-dir", str(make_glue_dir(tmp_path)))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(f"bpsom: error: {model}: --model: cannot load ") and "`nope`" in r.stderr


@pytest.mark.parametrize("content", ["not json at all", "[1, 2]"])
def test_a_damaged_tokenizer_file_names_the_model_directory(tmp_path, content):
    model = tmp_path / "bad-tokenizer"
    shutil.copytree(make_tiny_model_dir(tmp_path), model)
    (model / "tokenizer.json").write_text(content)
    r, _ = _glue(tmp_path, "--model", str(model), "--data-dir", str(make_glue_dir(tmp_path)))
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(f"bpsom: error: {model}: --model: cannot load a tokenizer ("), r.stderr
