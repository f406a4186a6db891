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
