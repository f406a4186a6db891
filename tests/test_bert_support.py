"""Helpers for the BERT tests: a tiny random BERT and tokenizer, tiny TSVs. No tests here.

Everything is built inside the test's tmp directory: no hub, no network.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("BPSOM_CACHE_DIR", "off")   # tests that want the token cache pass their own directory

POS = ["good", "great", "fine", "lovely", "superb", "fun", "warm", "bright"]
NEG = ["bad", "awful", "dull", "poor", "boring", "ugly", "cold", "weak"]
FILL = ["the", "movie", "film", "was", "a", "very", "plot", "story", "and", "it"]


def make_sentences(n: int, seed: int = 0) -> list[tuple[int, str]]:
    """(label, sentence) pairs whose label is readable from the words."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = i % 2
        words = rng.sample(FILL, 4) + rng.sample(POS if label else NEG, 2)
        rng.shuffle(words)
        out.append((label, " ".join(words)))
    return out


def write_tsv(path: Path, rows: list[tuple[int, str]], header: bool = True, label_first: bool = True) -> Path:
    lines = []
    if header:
        lines.append("label\tsentence" if label_first else "sentence\tlabel")
    for label, text in rows:
        lines.append(f"{label}\t{text}" if label_first else f"{text}\t{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_glue_dir(root: Path, n_train: int = 64, n_dev: int = 32) -> Path:
    d = root / "sst2"
    d.mkdir(parents=True, exist_ok=True)
    write_tsv(d / "train.tsv", make_sentences(n_train, 1))
    write_tsv(d / "dev.tsv", make_sentences(n_dev, 2), label_first=False)
    return d


def make_tiny_model_dir(root: Path, hidden: int = 32, layers: int = 2, init_range: float = 0.02) -> Path:
    """A saved tiny BERT encoder and its WordPiece tokenizer, loadable offline.

    A wider ``init_range`` than BERT's 0.02 gives [CLS] vectors that differ
    enough between sentences for the SOM to organise in a few epochs.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    d = root / ("tiny-bert" if init_range == 0.02 else f"tiny-bert-{init_range}")
    if (d / "config.json").exists():
        return d
    d.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(POS + NEG + FILL))
    (d / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    import inspect
    arg = "vocab" if "vocab" in inspect.signature(BertTokenizerFast.__init__).parameters else "vocab_file"
    tok = BertTokenizerFast(**{arg: str(d / "vocab.txt")}, do_lower_case=True)   # transformers 5 renamed it
    tok.save_pretrained(str(d))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
                     num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=64,
                     initializer_range=init_range)
    BertModel(cfg).save_pretrained(str(d))
    return d


def tiny_model(head_type: str = "bpsom", hidden_size: int = 8, grid: int = 4, seed: int = 0, **kw):
    """A BPSOMForSequenceClassification on a random tiny BERT (no files)."""
    import torch
    from transformers import BertConfig, BertModel

    from bpsom_bert.modeling import BPSOMConfig, BPSOMForSequenceClassification

    torch.manual_seed(seed)
    enc = BertModel(BertConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=32), add_pooling_layer=False)
    cfg = BPSOMConfig(encoder=enc.config.to_dict(), head_type=head_type, hidden_size=hidden_size,
                      som_grid_size=grid, num_labels=2, encoder_pooler=False, **kw)
    return BPSOMForSequenceClassification(cfg, encoder=enc, seed=seed)


def tiny_trainer(root: Path, n_train: int = 48, n_dev: int = 16, head_type: str = "bpsom",
                 device: str = "cpu", **training):
    """A GlueTrainer on a tiny random BERT and tiny SST-2-like data (no files written)."""
    import torch
    from transformers import AutoTokenizer

    from bpsom_bert.batches import tokenize_split
    from bpsom_bert.config import config_from_dict
    from bpsom_bert.data import get_task, load_task_data
    from bpsom_bert.runlog import RunLog
    from bpsom_bert.trainer import GlueTrainer

    task = get_task("sst2")
    splits = load_task_data(task, make_glue_dir(root, n_train, n_dev))
    tok = AutoTokenizer.from_pretrained(str(make_tiny_model_dir(root)))
    train_cfg = {"epochs": 2, "batch_size": 8, "eval_batch_size": 32, "learning_rate": 1e-3,
                 "warmup_steps": 2, "early_stopping_patience": 0, "log_interval": 1000, **training}
    cfg = config_from_dict({"model": {"max_length": 16},
                            "bpsom": {"hidden_size": 8, "som_grid_size": 4, "som_init": "random"},
                            "training": train_cfg})
    model = tiny_model(head_type, hidden_size=8, grid=4, som_backend="torch")
    train = tokenize_split(splits["train"], tok, 16)
    dev = tokenize_split(splits["validation"], tok, 16)
    return GlueTrainer(model, cfg, task, train, dev, tok, root / "run", torch.device(device),
                       RunLog(root / "run", enabled=False))


class SyncProbe:
    """Records the ops that make a GPU stream wait for the host (on any device).

    ``.item()``/``float()``/``bool()`` of a tensor, ``nonzero``, boolean-mask
    indexing, ``bincount`` and friends block the host until the device has
    caught up, or need the result's size first.  On CPU they cost nothing, but
    seeing them here shows which step would stall a GPU.  Reads inside
    ``torch.optim`` are left out: on CPU AdamW keeps its step counters on the
    host, on CUDA the trainer's fused AdamW keeps them on the device (the
    GPU test checks that under ``torch.cuda.set_sync_debug_mode``).
    """

    def __init__(self):
        import torch
        from torch.utils._python_dispatch import TorchDispatchMode

        aten = torch.ops.aten
        blocking = {aten._local_scalar_dense.default, aten.nonzero.default, aten.masked_select.default,
                    aten.equal.default, aten.is_nonzero.default}
        packets = {aten.bincount, aten.unique_consecutive, aten._unique2, aten.unique_dim,
                   aten.repeat_interleave, aten.argwhere}
        hits = self.hits = []

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                bad = func in blocking or func.overloadpacket in packets
                if func.overloadpacket in (aten.index, aten.index_put, aten.index_put_):
                    bad = any(t is not None and t.dtype in (torch.bool, torch.uint8) for t in args[1])
                if bad:
                    import traceback
                    stack = traceback.format_stack()
                    if any("torch/optim/" in ln for ln in stack):
                        return func(*args, **(kwargs or {}))
                    where = [ln.strip().splitlines()[0] for ln in stack[:-1]
                             if "site-packages/torch/" not in ln][-2:]
                    hits.append(f"{func} at {' <- '.join(reversed(where))}")
                return func(*args, **(kwargs or {}))

        self.mode = _Mode()

    def __enter__(self):
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self.mode.__exit__(*exc)
