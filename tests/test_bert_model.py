"""BPSOMForSequenceClassification: outputs, pruning shrink, save/load round trip."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_bert_support import tiny_model  # noqa: E402

from bpsom_bert.modeling import BPSOMForSequenceClassification  # noqa: E402
from bpsom_bert.pruning import shrink_optimizer_state  # noqa: E402


def _batch(b=6, n=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 40, (b, n), generator=g)
    ids[:, 0] = 2
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids),
            "token_type_ids": torch.zeros_like(ids), "labels": torch.arange(b) % 2}


def test_output_carries_som_usage_and_trains():
    model = tiny_model()
    model.head.reliability.fill_(100)
    model.head.cell_labels.copy_(torch.tensor([1, 2] * 8))
    model.head.set_schedule(1, 2, 0.05, 0.2, 0, 1)
    model.train()
    out = model(**_batch())
    assert out.loss.requires_grad and out.logits.shape == (6, 2)
    assert out.som_examples == 6 and float(out.som_usage) == 1.0
    out.loss.backward()
    assert model.head.hidden.weight.grad is not None
    assert model.encoder.embeddings.word_embeddings.weight.grad is not None
    model.eval()
    assert model(**_batch()).som_usage is None    # no SOM work outside training


def _make_constant_units(model, units):
    """Units whose activation is constant: zero incoming weights, known bias."""
    head = model.head
    with torch.no_grad():
        head.hidden.weight[units] = 0.0
        head.hidden.bias[units] = torch.linspace(-1, 1, len(units))
        acts = head.hidden_activations(model.encode(**{k: v for k, v in _batch().items() if k != "labels"}))
    mean, std = acts.mean(0), acts.std(0, unbiased=False)
    assert float(std[units].max()) == 0.0
    head.act_mean.copy_(mean)
    # a random tiny BERT maps every input to nearly the same [CLS]: mark the
    # other units as varying so that only the constant ones are prunable
    is_unit = torch.zeros_like(std, dtype=torch.bool)
    is_unit[units] = True
    head.act_std.copy_(torch.where(is_unit, std, torch.ones_like(std)))
    return mean


def test_pruning_shrinks_every_tensor_and_keeps_the_outputs():
    model = tiny_model(hidden_size=8, grid=3)
    model.eval()
    units = [1, 4, 5]
    mean = _make_constant_units(model, units)
    b = {k: v for k, v in _batch().items() if k != "labels"}
    with torch.no_grad():
        before = model(**b).logits
        keep = [i for i in range(8) if i not in units]
        kept_protos = model.head.prototypes[:, keep].clone()
        kept_w = model.head.classifier.weight[:, keep].clone()
    mask = model.prune(0.02).mask
    assert mask.tolist() == [i in units for i in range(8)]
    h = model.head
    assert h.hidden.weight.shape == (5, 32) and h.hidden.bias.shape == (5,)
    assert h.classifier.weight.shape == (2, 5) and h.prototypes.shape == (9, 5)
    assert h.act_mean.shape == (5,) and model.config.hidden_size == 5
    assert torch.equal(h.prototypes, kept_protos) and torch.equal(h.classifier.weight, kept_w)
    with torch.no_grad():
        after = model(**b).logits
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)
    assert mean.shape == (8,)


def test_optimizer_state_follows_the_pruned_units():
    model = tiny_model(hidden_size=8, grid=3)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(**_batch()).loss.backward()
    opt.step()
    head = model.head
    avg_before = opt.state[head.hidden.weight]["exp_avg"].clone()
    cls_before = opt.state[head.classifier.weight]["exp_avg_sq"].clone()
    bias_state = opt.state[head.classifier.bias]["exp_avg"].clone()
    model.eval()
    _make_constant_units(model, [0, 7])
    result = model.prune(0.02)
    shrink_optimizer_state(opt, result)
    keep = torch.tensor([1, 2, 3, 4, 5, 6])
    in_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    assert all(id(new) in in_opt and id(old) not in in_opt for old, new, _ in result.replaced)
    assert torch.equal(opt.state[head.classifier.bias]["exp_avg"], bias_state)
    assert torch.equal(opt.state[head.hidden.weight]["exp_avg"], avg_before[keep])
    assert torch.equal(opt.state[head.classifier.weight]["exp_avg_sq"], cls_before[:, keep])
    assert opt.state[head.hidden.bias]["exp_avg"].shape == (6,)
    model.train()
    opt.zero_grad()
    model(**_batch(seed=1)).loss.backward()
    opt.step()                                  # shapes agree: AdamW runs on
    assert head.hidden.weight.shape == (6, 32)


def test_save_and_load_round_trip_keeps_som_state_and_pruned_shape(tmp_path):
    model = tiny_model(hidden_size=8, grid=3)
    model.head.set_schedule(1, 3, 0.05, 0.2, 0, 2)
    model.train()
    model(**_batch()).loss.backward()          # one SOM update moves prototypes
    model.head.relabel(torch.rand(30, 8), torch.randint(0, 2, (30,)))
    model.eval()
    _make_constant_units(model, [2])
    model.prune(0.02)
    model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").is_file()
    loaded = BPSOMForSequenceClassification.from_pretrained(tmp_path / "m")
    loaded.eval()
    for name in ("prototypes", "cell_labels", "reliability", "counts", "act_mean", "act_std",
                 "som_lr", "som_context"):
        assert torch.equal(getattr(loaded.head, name), getattr(model.head, name)), name
    assert loaded.head.hidden_size == 7
    b = {k: v for k, v in _batch().items() if k != "labels"}
    with torch.no_grad():
        torch.testing.assert_close(loaded(**b).logits, model(**b).logits, rtol=0, atol=0)


def test_plain_head_baseline_has_no_som():
    model = tiny_model(head_type="plain")
    model.train()
    out = model(**_batch())
    assert out.som_usage is None and not model.is_bpsom
    assert not any("prototypes" in k for k in model.state_dict())


def test_hf_trainer_with_the_bpsom_callback(tmp_path):
    """transformers.Trainer trains the model; the callback runs schedules and relabelling."""
    from transformers import Trainer, TrainingArguments

    from bpsom_bert.callback import BPSOMCallback

    class Data(torch.utils.data.Dataset):
        def __len__(self):
            return 24

        def __getitem__(self, i):
            g = torch.Generator().manual_seed(i)
            ids = torch.randint(5, 40, (8,), generator=g)
            ids[0] = 2
            return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor(i % 2)}

    model = tiny_model(hidden_size=6, grid=3)
    before = model.head.prototypes.clone()
    args = TrainingArguments(output_dir=str(tmp_path), num_train_epochs=2, per_device_train_batch_size=8,
                             report_to=[], save_strategy="no", logging_strategy="no", use_cpu=True,
                             disable_tqdm=True)
    Trainer(model=model, args=args, train_dataset=Data(), callbacks=[BPSOMCallback(2)]).train()
    assert not torch.equal(before, model.head.prototypes)
    assert int(model.head.counts.sum()) == 24              # relabelled from the last epoch's 24 examples
    assert float(model.head.som_lr) == pytest.approx(0.05)  # epoch 2 of 2: the minimum
