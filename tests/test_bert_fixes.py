"""Loose ends of the BERT head: eval mode after loading, patience after a pruning,
the distributed sampler's padding, DDP with a pooler, warm-up, test files, plots."""

from __future__ import annotations

import socket

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

from test_bert_support import tiny_model  # noqa: E402


def test_from_pretrained_returns_eval_mode(tmp_path):
    from bpsom_bert.modeling import BPSOMForSequenceClassification
    model = tiny_model()
    model.train()
    model.save_pretrained(tmp_path / "m")
    again = BPSOMForSequenceClassification.from_pretrained(tmp_path / "m")
    assert not again.training and not any(m.training for m in again.modules())


def test_a_pruning_restarts_the_patience():
    from bpsom_bert.trainer import Patience
    p = Patience(2)
    assert [p.update(True, False), p.update(False, False), p.update(False, True),
            p.update(False, False), p.update(False, False)] == [False, False, False, False, True]
    assert not any(Patience(0).update(False, False) for _ in range(5))


def test_sampler_marks_its_padding_and_every_example_counts_once():
    from bpsom_bert.trainer import IGNORE_LABEL, MaskedDistributedSampler, _Masked
    data = [{"input_ids": [i], "labels": i % 2} for i in range(5)]
    real, pads = [], 0
    for rank in range(3):                        # 5 examples on 3 ranks: 1 repeat pads the last rank
        s = MaskedDistributedSampler(data, num_replicas=3, rank=rank, shuffle=True, seed=1)
        items = [_Masked(data)[key] for key in s]
        assert len(items) == 2
        real += [it["input_ids"][0] for it in items if it["labels"] != IGNORE_LABEL]
        pads += sum(it["labels"] == IGNORE_LABEL for it in items)
    assert sorted(real) == [0, 1, 2, 3, 4] and pads == 1


def test_rows_without_a_class_leave_the_som_alone():
    """A padded row (label IGNORE_LABEL, class < 1) neither moves the map nor counts nor gets a pull."""
    torch.manual_seed(0)
    acts = torch.rand(5, 6)
    classes = torch.tensor([1, 2, 1, 2, 1])

    def step(a, c):
        model = tiny_model(hidden_size=6, grid=3, seed=0)
        head = model.head
        head.cell_labels.copy_(torch.tensor([1, 2, 1, 2, 1, 2, 1, 2, 1]))
        head.reliability.fill_(100)
        head.set_schedule(1, 4, 0.05, 0.2, 0, 1)
        head.collect_epoch_counts = True
        err, use = head.som_step(a, c)
        return head.prototypes.clone(), head.epoch_counts.clone(), err, use

    p_ref, n_ref, _, _ = step(acts, classes)
    padded = torch.cat([acts, acts[:2]])
    p, n, err, use = step(padded, torch.cat([classes, torch.tensor([-99, -99])]))
    torch.testing.assert_close(p, p_ref, rtol=0, atol=0)
    assert torch.equal(n, n_ref)
    assert not use[5:].any() and float(err[5:].abs().sum()) == 0.0


def test_warmup_ratio_scales_with_the_run():
    from bpsom_bert.config import TrainingSection, warmup_steps
    assert warmup_steps(TrainingSection(warmup_ratio=0.06), 126) == 8
    assert warmup_steps(TrainingSection(warmup_steps=500), 126) == 126
    assert warmup_steps(TrainingSection(warmup_steps=20), 126) == 20


def test_shipped_bpsom_config_gives_the_head_its_own_rate():
    from pathlib import Path

    from bpsom_bert.config import load_config
    for name in ("bpsom.yaml", "baseline.yaml"):
        t = load_config(Path(__file__).resolve().parents[1] / "configs" / name).training
        assert (t.head_learning_rate, t.warmup_ratio, t.learning_rate) == (1e-3, 0.06, 2e-5)


ADAPTATION_BPSOM = """\
model:
  name: "bert-base-uncased"
  dropout: 0.1
bpsom:
  hidden_size: 128
  som_grid_size: 20
  som_error_weight: 0.25
  som_lr_max: 0.20
  som_lr_min: 0.05
  som_context_max: 2
  som_context_min: 0
  reliability_threshold: 0.95
pruning:
  enabled: true
  threshold: 0.02
training:
  epochs: 10
  batch_size: 32
  learning_rate: 2e-5
  warmup_steps: 500
  early_stopping_patience: 3
"""


def test_the_adaptations_config_keys_load(tmp_path):
    """Their bpsom.yaml / baseline.yaml sections and keys (baseline = without bpsom/pruning)."""
    from bpsom_bert.config import load_config
    p = tmp_path / "bpsom.yaml"
    p.write_text(ADAPTATION_BPSOM)
    cfg = load_config(p)
    assert cfg.bpsom.threshold_percent == 95 and cfg.training.learning_rate == 2e-5
    base = tmp_path / "baseline.yaml"
    base.write_text(ADAPTATION_BPSOM.split("bpsom:")[0] + "training:" + ADAPTATION_BPSOM.split("training:")[1])
    assert load_config(base).training.warmup_steps == 500


def test_glue_test_files_labelled_unlabelled_and_minus_one(tmp_path):
    from bpsom_core.errors import InputError

    from bpsom_bert.data import get_task, read_test_tsv
    sst2, mrpc = get_task("sst2"), get_task("mrpc")
    (tmp_path / "a.tsv").write_text("index\tsentence\n0\tgood film\n1\tbad film\n")
    a = read_test_tsv(tmp_path / "a.tsv", sst2)
    assert (a.ids, a.labels, a.texts, a.labelled) == (["0", "1"], [-1, -1], [("good film",), ("bad film",)], False)
    (tmp_path / "b.tsv").write_text("label\tsentence\n-1\tgood\n-1\tbad\n")
    b = read_test_tsv(tmp_path / "b.tsv", sst2)
    assert not b.labelled and b.ids == ["0", "1"]
    (tmp_path / "c.tsv").write_text("label\tsentence\n1\tgood\n0\tbad\n")
    assert read_test_tsv(tmp_path / "c.tsv", sst2).labels == [1, 0]
    (tmp_path / "d.tsv").write_text("index\t#1 ID\t#2 ID\t#1 String\t#2 String\n7\t1\t2\tA b\tA c\n")
    d = read_test_tsv(tmp_path / "d.tsv", mrpc)
    assert d.ids == ["7"] and d.texts == [("A b", "A c")]
    (tmp_path / "e.tsv").write_text("label\tsentence\n-1\tgood\n1\tbad\n")
    with pytest.raises(InputError, match="mixed"):
        read_test_tsv(tmp_path / "e.tsv", sst2)


def test_training_history_reads_well_with_one_epoch(tmp_path, monkeypatch):
    from bpsom_bert import plots
    figs = []
    monkeypatch.setattr(plots.core_plots, "save_png", lambda fig, path: figs.append(fig))
    plots.training_history(tmp_path / "h.png", [{"epoch": 1, "train_loss": 0.6, "dev_loss": 0.5,
                                                 "train_accuracy": 0.7, "dev_accuracy": 0.8,
                                                 "som_usage": 0.25, "hidden_units": 120}], "accuracy")
    axes = figs[0].axes
    assert len(axes) == 4
    for ax in axes:
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel()
        assert all(line.get_marker() == "o" for line in ax.get_lines())
        assert all(float(t).is_integer() for t in ax.get_xticks())
    som = next(ax for ax in axes if "SOM" in ax.get_title())
    assert "%" in som.get_ylabel() and som.get_lines()[0].get_ydata()[0] == pytest.approx(25.0)
    plots.comparison_panels(tmp_path / "c.png", {"baseline": [{"epoch": 1, "dev_accuracy": 0.8, "train_loss": 0.5}],
                                                 "bpsom": [{"epoch": 1, "dev_accuracy": 0.7, "train_loss": 0.6}]},
                            "accuracy")
    panels = figs[1].axes
    assert [ax.get_ylabel() for ax in panels] == ["accuracy (%)", "cross-entropy"]
    assert all(len(ax.get_lines()) == 2 for ax in panels)


# --- DDP with an encoder that builds a pooler the head never reads ---------------------

def _albert_model():
    from transformers import AlbertConfig, AlbertModel

    from bpsom_bert.modeling import BPSOMConfig, BPSOMForSequenceClassification
    torch.manual_seed(0)
    enc = AlbertModel(AlbertConfig(vocab_size=40, embedding_size=8, hidden_size=16, num_hidden_layers=1,
                                   num_attention_heads=2, intermediate_size=32, max_position_embeddings=32))
    cfg = BPSOMConfig(encoder=enc.config.to_dict(), hidden_size=4, som_grid_size=2, num_labels=2)
    return BPSOMForSequenceClassification(cfg, encoder=enc, seed=0)


def _albert_worker(rank: int, port: int, queue) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        from bpsom_bert.distributed import wrap_ddp
        model = _albert_model()
        model.train()
        ddp = wrap_ddp(model, None)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        g = torch.Generator().manual_seed(rank)
        for _ in range(3):
            ids = torch.randint(5, 40, (4, 6), generator=g)
            out = ddp(input_ids=ids, attention_mask=torch.ones_like(ids),
                      labels=torch.randint(0, 2, (4,), generator=g))
            out.loss.backward()
            opt.step()
            opt.zero_grad()
        queue.put((rank, "ok"))
    except Exception as exc:  # the parent reports it
        queue.put((rank, f"{type(exc).__name__}: {exc}"[:300]))
    finally:
        dist.destroy_process_group()


def test_ddp_trains_an_encoder_with_an_unused_pooler():
    from bpsom_bert.distributed import unused_parameter_names
    assert unused_parameter_names(tiny_model()) == []
    assert unused_parameter_names(_albert_model())            # ALBERT builds a pooler
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_albert_worker, args=(r, port, queue)) for r in range(2)]
    for p in procs:
        p.start()
    got = dict(queue.get(timeout=240) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert got == {0: "ok", 1: "ok"}


def test_som_classify_gives_the_winner_cells_label():
    model = tiny_model(hidden_size=2, grid=2, seed=0)
    head = model.head
    head.prototypes.copy_(torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]))
    head.cell_labels.copy_(torch.tensor([1, 2, 0, 2]))
    got = head.som_classify(torch.tensor([[0.1, 0.1], [0.1, 0.9], [0.9, 0.2], [0.8, 0.9]]))
    assert got.tolist() == [1, 2, 0, 2]
