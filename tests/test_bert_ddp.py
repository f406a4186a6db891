"""Two CPU processes (gloo): the SOM stays identical on both ranks and learns from both.

DDP's buffer broadcast alone would keep rank 0's SOM and drop rank 1's
updates; the head gathers every rank's activations instead.  The check: both
ranks end with bit-identical SOM state, equal to one process that trained on
the concatenated batches (so rank 1's examples were used).
"""

from __future__ import annotations

import socket

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

from test_bert_support import tiny_model  # noqa: E402

B, STEPS = 4, 3


def _batches(rank: int):
    g = torch.Generator().manual_seed(100 + rank)
    out = []
    for _ in range(STEPS):
        ids = torch.randint(5, 40, (B, 8), generator=g)
        ids[:, 0] = 2
        out.append({"input_ids": ids, "attention_mask": torch.ones_like(ids),
                    "labels": torch.randint(0, 2, (B,), generator=g)})
    return out


def _prepare():
    model = tiny_model(hidden_size=6, grid=3, seed=0)
    for m in model.modules():                  # identical math on every layout of the batch
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    model.head.cell_labels.copy_(torch.tensor([1, 2, 1, 2, 1, 2, 1, 2, 1]))
    model.head.reliability.fill_(100)
    model.head.set_schedule(1, 4, 0.05, 0.2, 0, 1)
    model.train()
    return model


def _train(model, batches, wrapped=None):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    used = 0
    for b in batches:
        out = (wrapped or model)(**b)
        out.loss.backward()
        opt.step()
        opt.zero_grad()
        used += int(out.som_used)
    return used


def _worker(rank: int, port: int, queue) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        from bpsom_bert.distributed import gather_rows, wrap_ddp
        rows, offset = gather_rows(torch.arange(3 - rank, dtype=torch.float32)[:, None] + 10 * rank)
        torch.manual_seed(0)
        model = _prepare()
        ddp = wrap_ddp(model, None)
        used = _train(model, _batches(rank), wrapped=ddp)
        h = model.head
        queue.put((rank, rows.flatten().tolist(), offset, used,
                   {k: v.numpy().copy() for k, v in h.state_dict().items()}))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_keep_one_som():
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, port, queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = {}
    for _ in procs:
        r = queue.get(timeout=240)
        results[r[0]] = r[1:]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    (rows0, off0, used0, s0), (rows1, off1, used1, s1) = results[0], results[1]
    s0 = {k: torch.from_numpy(v) for k, v in s0.items()}
    s1 = {k: torch.from_numpy(v) for k, v in s1.items()}
    # uneven gather: rank 0 has 3 rows, rank 1 has 2, in rank order
    assert rows0 == rows1 == [0.0, 1.0, 2.0, 10.0, 11.0] and (off0, off1) == (0, 3)
    for k in s0:
        assert torch.equal(s0[k], s1[k]), k
    # one process on the concatenated batches reaches the same SOM
    torch.manual_seed(0)
    ref = _prepare()
    start = ref.head.prototypes.clone()
    b0, b1 = _batches(0), _batches(1)
    joined = [{k: torch.cat([x[k], y[k]]) for k in x} for x, y in zip(b0, b1)]
    used = _train(ref, joined)
    assert used == used0 + used1 > 0
    torch.testing.assert_close(s0["prototypes"], ref.head.prototypes, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(s0["hidden.weight"], ref.head.hidden.weight, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(s0["prototypes"], start)


def _glue_worker(rank: int, port: int, root: str, queue) -> None:
    import os
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    from pathlib import Path

    from bpsom_bert.config import config_from_dict
    from bpsom_bert.data import get_task
    from bpsom_bert.run import GlueJob, run_job
    r = Path(root)
    cfg = config_from_dict({
        "model": {"name": str(r / "tiny-bert"), "max_length": 16},
        "bpsom": {"hidden_size": 6, "som_grid_size": 3, "relabel": "pass"},
        "pruning": {"enabled": True, "threshold": 0.05},
        "training": {"epochs": 2, "batch_size": 6, "learning_rate": 1e-3, "warmup_steps": 1,
                     "gradient_accumulation_steps": 2, "early_stopping_patience": 0}})
    job = GlueJob(task=get_task("sst2"), mode="bpsom", cfg=cfg, output_dir=r / "out",
                  data_dir=r / "sst2", device="cpu")
    captured = {}
    import bpsom_bert.run as run_mod
    original = run_mod.run_mode

    def spy(job, mode, splits, tokenizer, on_progress, model=None):
        model = run_mod.build_model(job.cfg, job.task, "bpsom")
        captured["model"] = model
        return original(job, mode, splits, tokenizer, on_progress, model=model)
    run_mod.run_mode = spy
    summary = run_job(job, lambda kind, data: None)
    head = captured["model"].head
    queue.put((rank, (head.hidden_size, summary["bpsom"]["hidden_units"]),
               {k: v.detach().numpy().copy() for k, v in head.state_dict().items()}))


def test_two_rank_glue_run_prunes_and_stays_in_step(tmp_path):
    """The whole trainer under 2 gloo ranks: pruning rebuilds DDP, SOM state stays equal."""
    from test_bert_support import make_glue_dir, make_tiny_model_dir
    make_glue_dir(tmp_path, 36, 12)
    make_tiny_model_dir(tmp_path)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_glue_worker, args=(r, port, str(tmp_path), queue)) for r in range(2)]
    for p in procs:
        p.start()
    got = {}
    for _ in procs:
        r = queue.get(timeout=300)
        got[r[0]] = r[1:]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    (units0, s0), (units1, s1) = got[0], got[1]
    # a random tiny BERT has near-constant units: the final model is pruned on both ranks
    # (the summary's count is the best model's, which may be the unpruned epoch 1)
    assert units0 == units1 and units0[0] < 6 and units0[1] in (units0[0], 6)
    for k in s0:
        assert (s0[k] == s1[k]).all(), k
    run = tmp_path / "out" / "sst2" / "bpsom"
    assert (run / "history.json").is_file() and "1:-" in (run / "train.log").read_text()
