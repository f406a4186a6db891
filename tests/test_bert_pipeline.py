"""The input pipeline: cached token arrays, padded batches built on the device, no syncs per step."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_bert_support import (SyncProbe, make_sentences, make_tiny_model_dir, tiny_model,  # noqa: E402
                               tiny_trainer)

from bpsom_bert import batches as B  # noqa: E402
from bpsom_bert.data import Split  # noqa: E402


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(make_tiny_model_dir(tmp_path_factory.mktemp("tok"))))


def _split(n, pairs=False, seed=0):
    rows = make_sentences(n, seed)
    rng = np.random.default_rng(seed)
    texts = []
    for i, (_, s) in enumerate(rows):
        words = s.split()[: 1 + int(rng.integers(0, 6))]   # lengths vary
        texts.append((" ".join(words), rows[-1 - i][1]) if pairs else (" ".join(words),))
    return Split(texts, [lab for lab, _ in rows])


@pytest.mark.parametrize("pairs", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_batches_equal_tokenizer_pad(tok, pairs, side):
    split = _split(30, pairs)
    arrays = B.tokenize_split(split, tok, max_length=9)
    tok.padding_side = side
    try:
        tokens = B.DeviceTokens(arrays, tok, torch.device("cpu"))
        enc = tok(*[list(c) for c in zip(*split.texts)], truncation=True, max_length=9)
        for rows in ([0], [3, 1, 4, 1, 5], list(range(29, -1, -2))):
            lengths = arrays.lengths[rows]
            got = tokens.batch(torch.tensor(rows), int(lengths.max()))
            want = tok.pad([{k: enc[k][i] for k in enc.keys()} for i in rows], return_tensors="pt")
            assert set(got) == set(want) | {"labels"}
            for k in want:
                assert torch.equal(got[k], want[k]), k
            assert got["labels"].tolist() == [split.labels[i] for i in rows]
    finally:
        tok.padding_side = "right"


def test_token_cache_is_keyed_and_survives_damage(tok, tmp_path, monkeypatch):
    split = _split(20)
    first = B.tokenize_split(split, tok, 9, tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1

    def refuse(*a, **k):
        raise AssertionError("tokenised again despite the cache")
    monkeypatch.setattr(B, "_tokenize", refuse)
    again = B.tokenize_split(split, tok, 9, tmp_path)
    for name in ("input_ids", "token_type_ids", "offsets", "labels"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
    monkeypatch.undo()
    # another max_length or other texts: another key
    assert B.cache_key(split, tok, 8) != B.cache_key(split, tok, 9)
    assert B.cache_key(_split(20, seed=1), tok, 9) != B.cache_key(split, tok, 9)
    files[0].write_bytes(b"not an npz")       # a damaged cache file is rebuilt, not trusted
    rebuilt = B.tokenize_split(split, tok, 9, tmp_path)
    np.testing.assert_array_equal(rebuilt.input_ids, first.input_ids)


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(B.CACHE_ENV, str(tmp_path))
    assert B.default_cache_dir() == tmp_path
    monkeypatch.setenv(B.CACHE_ENV, "off")
    assert B.default_cache_dir() is None


def test_train_batches_cover_each_example_once_and_group_by_length():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 60, 1000)
    for group in (False, True):
        plan = B.train_batches(lengths, 32, seed=7, epoch=1, group_by_length=group)
        assert sorted(np.concatenate(plan).tolist()) == list(range(1000))
        assert all(len(b) <= 32 for b in plan)
        again = B.train_batches(lengths, 32, seed=7, epoch=1, group_by_length=group)
        assert all(np.array_equal(a, b) for a, b in zip(plan, again))
        other = B.train_batches(lengths, 32, seed=7, epoch=2, group_by_length=group)
        assert not all(np.array_equal(a, b) for a, b in zip(plan, other))
    padded = {g: sum(len(b) * lengths[b].max() for b in B.train_batches(lengths, 32, 7, 1, group_by_length=g))
              for g in (False, True)}
    assert padded[True] < 0.7 * padded[False]


def test_train_batches_shard_over_ranks_with_equal_step_counts():
    lengths = np.arange(1, 102)
    shards = [B.train_batches(lengths, 8, 3, 1, rank=r, world_size=3) for r in range(3)]
    assert len({len(s) for s in shards}) == 1
    seen = np.concatenate([np.concatenate(s) for s in shards])
    assert set(seen.tolist()) == set(range(101))


def test_pass_plan_restores_the_original_order(tok):
    split = _split(37)
    tokens = B.DeviceTokens(B.tokenize_split(split, tok, 9), tok, torch.device("cpu"))
    plan = B.BatchPlan(tokens, B.pass_batches(tokens.lengths_host, 8, 5, 30))
    assert [b["input_ids"].shape[1] for b in plan] == sorted(b["input_ids"].shape[1] for b in plan)
    labels = plan.restore(torch.cat([b["labels"] for b in plan]))
    assert labels.tolist() == split.labels[5:30]
    assert B.shard_range(10, 1, 3) == (4, 8) and B.shard_range(10, 2, 3) == (8, 10)


def test_boolean_mask_for_sdpa_gives_the_same_encoder_output():
    model = tiny_model("plain").eval()
    ids = torch.randint(5, 30, (4, 9))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    mask[3, 2:] = 0
    enc = model.encoder
    assert enc.config._attn_implementation == "sdpa"
    with torch.no_grad():
        want = enc(input_ids=ids, attention_mask=mask).last_hidden_state
        got = enc(input_ids=ids, attention_mask=B.attention_mask_for(enc, mask)).last_hidden_state
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    full = torch.ones_like(ids)
    with torch.no_grad():
        want = enc(input_ids=ids, attention_mask=full).last_hidden_state
        got = enc(input_ids=ids, attention_mask=B.attention_mask_for(enc, full, padded=False)).last_hidden_state
    assert B.attention_mask_for(enc, full, padded=False) is None
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    enc.config._attn_implementation = "eager"
    assert B.attention_mask_for(enc, mask) is mask
    assert B.attention_mask_for(enc, full, padded=False) is full


def test_plan_knows_which_batches_hold_padding(tok):
    split = Split([("good",), ("good film",), ("bad",), ("dull",)], [1, 1, 0, 0])
    tokens = B.DeviceTokens(B.tokenize_split(split, tok, 9), tok, torch.device("cpu"))
    plan = B.BatchPlan(tokens, [np.array([0, 2, 3]), np.array([0, 1])])
    assert plan.padded == [False, True]
    for batch, padded in zip(plan, plan.padded):
        assert bool((batch["attention_mask"] == 0).any()) == padded


@pytest.mark.parametrize("head_type", ["bpsom", "plain"])
def test_training_steps_make_no_host_syncs(tmp_path, head_type):
    """The steps of an epoch hold no op that would make a GPU's host wait
    (tests/test_bert_gpu.py checks the same on CUDA with the sync debug mode)."""
    from bpsom_bert.batches import BatchPlan
    from bpsom_bert.trainer import EpochStats

    trainer = tiny_trainer(tmp_path, n_train=48, head_type=head_type)
    trainer.train_epoch(1)           # first epoch: one-off host work (tables, caches)
    if head_type == "bpsom":
        trainer.relabel()
        trainer.model.head.reliability.fill_(100)   # the SOM error path runs in every step
    plan = BatchPlan(trainer.train_tokens, trainer._train_plan_indices(2))
    stats = EpochStats()
    with SyncProbe() as probe:
        totals = trainer.train_steps(2, plan, stats)
    assert probe.hits == []
    totals.read_into(stats)
    assert stats.seen == 48 and stats.steps == 6 and stats.loss > 0
    if head_type == "bpsom":
        assert stats.som_used > 0
    # the probe does see a read
    with SyncProbe() as probe:
        totals.read_into(stats)
    assert len(probe.hits) == 4     # loss, correct, SOM use, squared error


def test_trainer_passes_return_rows_in_example_order(tmp_path):
    trainer = tiny_trainer(tmp_path, n_train=40, eval_batch_size=8)
    lg, lb, acts = trainer._pass(trainer.label_plan, want_acts=True)
    assert lb.tolist() == trainer.train_tokens.labels.tolist()
    # the same rows, one example at a time in order, without padding
    trainer.model.eval()
    with torch.no_grad():
        for i in (0, 17, 39):
            one = trainer.train_tokens.batch(torch.tensor([i]), int(trainer.train_tokens.lengths_host[i]))
            cls = trainer.model.encode(one["input_ids"], one["attention_mask"], one.get("token_type_ids"))
            torch.testing.assert_close(trainer.model.head(cls).logits[0], lg[i], rtol=1e-5, atol=1e-5)
