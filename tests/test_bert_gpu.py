"""On a CUDA device: primitives agree with NumPy, the head's step equals the CPU step,
a tiny BERT trains with pruning and a save/load round trip, and training steps never
make the host wait for the GPU.  Run with ``pytest -m gpu``; skipped without CUDA."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

from bpsom_core import primitives as P  # noqa: E402

from test_bert_support import tiny_trainer  # noqa: E402

DEV = "cuda"


def _case(seed, b=32, dim=20, h=128, n_labels=2, ties=False):
    rng = np.random.default_rng(seed)
    acts = rng.random((b, h)).astype(np.float32)
    protos = rng.random((dim * dim, h)).astype(np.float32)
    if ties:   # duplicate cells, examples sitting on cells, coarse values
        src, dst = rng.integers(0, dim * dim, 60), rng.integers(0, dim * dim, 60)
        protos[dst] = protos[src]
        on = rng.random(b) < 0.5
        acts[on] = protos[rng.integers(0, dim * dim, on.sum())]
        acts, protos = np.round(acts * 2) / 2, np.round(protos * 2) / 2
    labels = rng.integers(0, n_labels + 1, dim * dim)
    classes = rng.integers(0, n_labels + 1, b)
    rel = rng.integers(0, 101, dim * dim)
    return acts, protos, labels, classes, rel


def _cuda(*arrays):
    return [torch.from_numpy(np.ascontiguousarray(a)).to(DEV) for a in arrays]


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("ties", [False, True])
def test_primitives_on_cuda_agree_with_numpy(seed, ties):
    acts, protos, labels, classes, rel = _case(seed, ties=ties)
    t = _cuda(acts, protos, labels, classes, rel)
    # exact distances: bit-identical sums, so the tie rules (first winner, last partial) must agree
    for got, want in zip(P.find_winners(*t[:4], method="exact"), P.find_winners(acts, protos, labels, classes)):
        np.testing.assert_array_equal(got.cpu().numpy(), want)
    # fast distances: the same rules on the matmul expansion's distances
    got = P.find_winners(*t[:4], method="fast")
    want = P.find_winners(acts, protos, labels, classes, method="fast")
    np.testing.assert_array_equal(got[0].cpu().numpy(), want[0])
    np.testing.assert_array_equal(got[1].cpu().numpy(), want[1])
    winner, partial, wd, _ = P.find_winners(acts, protos, labels, classes)
    for context in (0, 1, 2):
        moved = P.som_update(t[1], t[0], torch.from_numpy(winner).to(DEV), 20, context, 0.2,
                             active=torch.from_numpy(P.update_mask(wd)).to(DEV))
        ref = P.som_update(protos, acts, winner, 20, context, 0.2, active=P.update_mask(wd))
        np.testing.assert_allclose(moved.cpu().numpy(), ref, rtol=0, atol=2e-6)
    err, use = P.som_error(t[0], t[1], torch.from_numpy(partial).to(DEV), t[4], 95)
    err_ref, use_ref = P.som_error(acts, protos, partial, rel, 95)
    np.testing.assert_array_equal(use.cpu().numpy(), use_ref)
    np.testing.assert_allclose(err.cpu().numpy(), err_ref, rtol=0, atol=1e-7)
    counts = P.count_cells(torch.from_numpy(winner).to(DEV), t[3], 400, 2)
    np.testing.assert_array_equal(counts.cpu().numpy(), P.count_cells(winner, classes, 400, 2))
    lab, r = P.label_cells(counts)
    lab_ref, r_ref = P.label_cells(P.count_cells(winner, classes, 400, 2))
    np.testing.assert_array_equal(lab.cpu().numpy(), lab_ref)
    np.testing.assert_array_equal(r.cpu().numpy(), r_ref)


def _head_pair(cuda_graph):
    from bpsom_bert.head import BPSOMHead
    heads = []
    for device, backend in (("cpu", "numpy"), (DEV, "torch")):
        h = BPSOMHead(16, 128, 2, grid_size=20, seed=0, distance="exact", backend=backend,
                      cuda_graph=cuda_graph).to(device)
        h.set_schedule(1, 3, 0.05, 0.2, 0, 2)
        h.cell_labels.copy_(torch.arange(400) % 3)
        h.reliability.copy_(torch.arange(400) % 101)
        h.train()
        heads.append(h)
    return heads


@pytest.mark.parametrize("cuda_graph", [False, True])
def test_head_step_on_cuda_equals_the_cpu_step(cuda_graph):
    cpu, gpu = _head_pair(cuda_graph)
    g = torch.Generator().manual_seed(0)
    for size in (32, 32, 32, 7, 32):
        acts, cls1 = torch.rand(size, 128, generator=g), torch.randint(1, 3, (size,), generator=g)
        err_c, use_c = cpu.som_step(acts, cls1)
        err_g, use_g = gpu.som_step(acts.to(DEV), cls1.to(DEV))
        assert torch.equal(use_g.cpu(), use_c)
        torch.testing.assert_close(err_g.cpu(), err_c, rtol=0, atol=1e-6)
        torch.testing.assert_close(gpu.prototypes.cpu(), cpu.prototypes, rtol=0, atol=1e-5)
    assert bool(cuda_graph) == bool(gpu._graphs)


def test_head_step_inside_bf16_autocast_keeps_float32_winners():
    cpu, gpu = _head_pair(True)
    acts, cls1 = torch.rand(32, 128), torch.randint(1, 3, (32,))
    with torch.autocast("cuda", dtype=torch.bfloat16):
        err_g, use_g = gpu.som_step(acts.to(DEV), cls1.to(DEV))
    err_c, use_c = cpu.som_step(acts, cls1)
    assert torch.equal(use_g.cpu(), use_c)
    torch.testing.assert_close(gpu.prototypes.cpu(), cpu.prototypes, rtol=0, atol=1e-5)


def test_tiny_bert_trains_20_steps_with_pruning_and_round_trip(tmp_path):
    from bpsom_bert.modeling import BPSOMForSequenceClassification
    trainer = tiny_trainer(tmp_path, n_train=160, n_dev=32, device=DEV, epochs=1, batch_size=8)
    stats = trainer.train_epoch(1)
    assert stats.steps == 20 and stats.seen == 160
    trainer.relabel()
    head = trainer.model.head                   # a tiny random BERT saturates its units: set a spread
    head.act_std.copy_(torch.linspace(0.01, 0.2, head.hidden_size, device=DEV))
    trainer.cfg.pruning.threshold = 0.1         # about half the units go
    before = trainer.model.head.hidden_size
    removed = trainer.prune(1)
    assert removed > 0 and trainer.model.head.hidden_size == before - removed
    trainer.train_epoch(1)                      # the shrunk head and its optimizer state still train
    trainer.model.save_pretrained(tmp_path / "saved")
    back = BPSOMForSequenceClassification.from_pretrained(tmp_path / "saved", map_location=DEV)
    assert back.head.hidden_size == trainer.model.head.hidden_size
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    dev = trainer.evaluate()
    assert 0.0 <= dev["accuracy"] <= 1.0


@pytest.mark.parametrize("head_type", ["bpsom", "plain"])
def test_training_steps_never_sync(tmp_path, head_type):
    trainer = tiny_trainer(tmp_path, n_train=64, head_type=head_type, device=DEV, log_interval=1000)
    trainer.train_epoch(1)                      # one-off work first: tables, graphs, kernels
    if head_type == "bpsom":
        trainer.relabel()
        trainer.model.head.reliability.fill_(100)   # the SOM error path in every step
    from bpsom_bert.batches import BatchPlan
    from bpsom_bert.trainer import EpochStats
    plan = BatchPlan(trainer.train_tokens, trainer._train_plan_indices(2))
    stats = EpochStats()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        totals = trainer.train_steps(2, plan, stats)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    totals.read_into(stats)
    assert stats.seen == 64 and stats.steps == 8 and stats.loss > 0
