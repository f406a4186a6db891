"""`bpsom glue` under torchrun: two CPU processes (gloo) through the CLI entry point."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_bert_support import make_glue_dir, make_tiny_model_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_gloo_processes_through_the_cli(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model: {max_length: 16}\nbpsom: {hidden_size: 8, som_grid_size: 4}\n"
                   "training: {epochs: 2, batch_size: 8, learning_rate: 1.0e-3, warmup_steps: 0}\n")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           "-m", "bpsom.cli.main", "glue", "--task", "sst2", "--device", "cpu", "--config", str(cfg),
           "--model", str(make_tiny_model_dir(tmp_path)), "--data-dir", str(make_glue_dir(tmp_path, 40, 16)),
           "--output-dir", str(out), "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout[r.stdout.index("{"):])          # printed once, by rank 0
    assert r.stdout.count('"results"') == 1 and "bpsom" in summary["results"]
    log = json.loads((out / "sst2" / "bpsom" / "log.json").read_text())
    start = next(e for e in log["events"] if e["event"] == "start")
    assert start["world_size"] == 2 and start["train_examples"] == 40
    history = json.loads((out / "sst2" / "bpsom" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert (out / "sst2" / "bpsom" / "best_model" / "model.safetensors").is_file()
