"""Tokenise once, then serve ready padded batches built on the training device.

Why: padding Python dicts with ``tokenizer.pad`` and copying every batch from
the host costs milliseconds per step, which a GPU notices.  Instead a split is
tokenised once (one batched call of the fast tokenizer, kept in an on-disk
array cache keyed by the tokenizer, ``max_length`` and the texts), its tokens
move to the device once as flat arrays, and every batch is gathered and padded
there from an index row: no per-step host work beyond a few kernel launches,
and no host-to-device copy.  Training batches are grouped by length (sorted
inside large shuffled chunks, then the batches shuffled), so little compute
goes to padding; labelling and dev passes walk the examples sorted by length
in large batches and put the results back in the original order.

The padded batches equal ``tokenizer.pad`` of the same examples (padding
side, pad token and pad token type included).
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch

from bpsom_core.atomic import atomic_write_bytes
from bpsom_core.errors import InputError

from .data import Split

CACHE_ENV = "BPSOM_CACHE_DIR"
_CACHE_VERSION = "1"


@dataclass
class TokenArrays:
    """One tokenised split on the host: ragged token rows as flat arrays."""

    input_ids: np.ndarray                 # (T,) int64, all examples' tokens back to back
    token_type_ids: Optional[np.ndarray]  # (T,) int64, or None when the tokenizer has none
    offsets: np.ndarray                   # (N+1,) int64, example i is [offsets[i], offsets[i+1])
    labels: np.ndarray                    # (N,) int64

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def default_cache_dir() -> Optional[Path]:
    """``$BPSOM_CACHE_DIR`` (``off`` disables the cache), else ``~/.cache/bpsom/tokens``."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in ("", "off", "none", "0") else Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bpsom" / "tokens"


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of everything that decides a tokenizer's output (vocabulary, rules, special tokens)."""
    h = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        h.update(backend.to_str().encode())
    else:
        for tok, i in sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1]):
            h.update(f"{i}\t{tok}\n".encode())
        h.update(repr(sorted(tokenizer.special_tokens_map.items())).encode())
    return h.hexdigest()


def cache_key(split: Split, tokenizer, max_length: int) -> str:
    """Key of one split's token arrays: tokenizer, ``max_length``, texts and labels."""
    h = hashlib.sha256(f"v{_CACHE_VERSION}|{tokenizer_fingerprint(tokenizer)}|{max_length}|".encode())
    for text in split.texts:
        h.update("\x1f".join(text).encode())
        h.update(b"\x1e")
    h.update(np.asarray(split.labels, dtype=np.int64).tobytes())
    return h.hexdigest()[:32]


def tokenize_split(split: Split, tokenizer, max_length: int,
                   cache_dir: Optional[Path] = None) -> TokenArrays:
    """Token arrays of ``split`` from the cache, or one batched tokenizer call (then cached)."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{cache_key(split, tokenizer, max_length)}.npz"
        got = _read_cache(path)
        if got is not None:
            return got
    arrays = _tokenize(split, tokenizer, max_length)
    if path is not None:
        _write_cache(path, arrays)
    return arrays


def _tokenize(split: Split, tokenizer, max_length: int) -> TokenArrays:
    labels = np.asarray(split.labels, dtype=np.int64)
    if not len(split):
        empty = np.zeros(0, np.int64)
        return TokenArrays(empty, None, np.zeros(1, np.int64), labels)
    columns = [list(c) for c in zip(*split.texts)]
    enc = tokenizer(*columns, truncation=True, max_length=max_length)
    ids = enc["input_ids"]
    lengths = np.fromiter((len(r) for r in ids), dtype=np.int64, count=len(ids))
    offsets = np.zeros(len(ids) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat_ids = np.fromiter((t for r in ids for t in r), dtype=np.int64, count=int(offsets[-1]))
    types = None
    if "token_type_ids" in enc:
        types = np.fromiter((t for r in enc["token_type_ids"] for t in r), dtype=np.int64,
                            count=int(offsets[-1]))
    return TokenArrays(flat_ids, types, offsets, labels)


def _read_cache(path: Path) -> Optional[TokenArrays]:
    """The cached arrays, or None when absent or unreadable (then they are rebuilt)."""
    try:
        with np.load(path) as z:
            types = z["token_type_ids"] if "token_type_ids" in z.files else None
            return TokenArrays(z["input_ids"], types, z["offsets"], z["labels"])
    except (OSError, KeyError, ValueError, EOFError):
        return None


def _write_cache(path: Path, arrays: TokenArrays) -> None:
    """Best effort: a cache that cannot be written only costs the next run a tokenisation."""
    buf = io.BytesIO()
    parts = {"input_ids": arrays.input_ids, "offsets": arrays.offsets, "labels": arrays.labels}
    if arrays.token_type_ids is not None:
        parts["token_type_ids"] = arrays.token_type_ids
    np.savez(buf, **parts)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue())
    except OSError:
        pass


class DeviceTokens:
    """A tokenised split on one device; :meth:`batch` gathers padded batches there."""

    def __init__(self, arrays: TokenArrays, tokenizer, device: torch.device):
        if tokenizer.pad_token_id is None:
            raise InputError("the tokenizer has no padding token; batches cannot be padded", field="--model")
        self.device = torch.device(device)
        self.n = len(arrays)
        self.lengths_host = arrays.lengths
        self.pad_id = int(tokenizer.pad_token_id)
        self.pad_type_id = int(getattr(tokenizer, "pad_token_type_id", 0) or 0)
        self.left = getattr(tokenizer, "padding_side", "right") == "left"
        self.ids = _to_device(arrays.input_ids, self.device)
        self.types = None if arrays.token_type_ids is None else _to_device(arrays.token_type_ids, self.device)
        self.offsets = _to_device(arrays.offsets[:-1], self.device)
        self.lengths = _to_device(self.lengths_host, self.device)
        self.labels = _to_device(arrays.labels, self.device)
        self._positions = torch.arange(int(self.lengths_host.max(initial=1)), device=self.device)

    def __len__(self) -> int:
        return self.n

    def batch(self, rows: torch.Tensor, length: int) -> dict[str, torch.Tensor]:
        """``input_ids``, ``attention_mask`` (``token_type_ids``) and ``labels`` of examples
        ``rows`` (a device index tensor), padded to ``length`` tokens: gathers only, no sync."""
        lens = self.lengths[rows]
        pos = self._positions[:length].unsqueeze(0)
        if self.left:
            pos = pos - (length - lens).unsqueeze(1)
        valid = (pos >= 0) & (pos < lens.unsqueeze(1))
        flat = (self.offsets[rows].unsqueeze(1) + pos).clamp_(0, max(self.ids.shape[0] - 1, 0))
        out = {"input_ids": torch.where(valid, self.ids[flat], self.pad_id),
               "attention_mask": valid.long()}
        if self.types is not None:
            out["token_type_ids"] = torch.where(valid, self.types[flat], self.pad_type_id)
        out["labels"] = self.labels[rows]
        return out


def _to_device(a: np.ndarray, device: torch.device) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(a))
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


class BatchPlan:
    """An ordered list of batches (index rows and their padded lengths), uploaded once.

    ``order`` is where each served example came from (for putting pass
    results back in the original order).
    """

    def __init__(self, tokens: DeviceTokens, batches: list[np.ndarray]):
        self.tokens = tokens
        self.sizes = [int(b.shape[0]) for b in batches]
        lengths = tokens.lengths_host
        self.lengths = [int(lengths[b].max(initial=1)) if b.size else 1 for b in batches]
        # batches without padding need no attention mask (lets SDPA pick its fastest kernel)
        self.padded = [bool(b.size) and int(lengths[b].min()) < n for b, n in zip(batches, self.lengths)]
        width = max(self.sizes, default=0)
        table = np.zeros((len(batches), width), np.int64)
        for i, b in enumerate(batches):
            table[i, :b.shape[0]] = b
        self.order = np.concatenate(batches) if batches else np.zeros(0, np.int64)
        self._table = _to_device(table, tokens.device)
        self._restore = _to_device(np.argsort(self.order, kind="stable"), tokens.device)

    def __len__(self) -> int:
        return len(self.sizes)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for i, (n, length) in enumerate(zip(self.sizes, self.lengths)):
            yield self.tokens.batch(self._table[i, :n], length)

    @property
    def examples(self) -> int:
        return sum(self.sizes)

    def restore(self, rows: torch.Tensor) -> torch.Tensor:
        """Rows given in the plan's serving order, back in the examples' own order
        (for plans that serve each example of a contiguous range once)."""
        return rows[self._restore]


def train_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int, *,
                  group_by_length: bool = True, chunk_batches: int = 64,
                  rank: int = 0, world_size: int = 1, repeats: Optional[list] = None) -> list[np.ndarray]:
    """This rank's shuffled training batches of one epoch.

    Every rank draws the same global order from ``(seed, epoch)``; with
    ``group_by_length`` the order is sorted by length inside chunks of
    ``chunk_batches`` batches and the batches are shuffled again, so a batch
    holds examples of similar length while the epoch stays random.  Ranks
    take every ``world_size``-th batch; the list is padded with batches from
    its start so that every rank makes the same number of steps; a list
    passed as ``repeats`` receives, per returned batch, whether it is such a
    repeat (whose examples must not count twice).
    """
    n = int(lengths.shape[0])
    gen = np.random.default_rng([seed, epoch])
    order = gen.permutation(n)
    if group_by_length and n:
        chunk = max(batch_size * chunk_batches, 1)
        parts = [order[s:s + chunk] for s in range(0, n, chunk)]
        order = np.concatenate([p[np.argsort(lengths[p], kind="stable")] for p in parts])
    batches = [order[s:s + batch_size] for s in range(0, n, batch_size)]
    if group_by_length and batches:
        batches = [batches[i] for i in gen.permutation(len(batches))]
    flags = [False] * len(batches)
    if world_size > 1 and batches:
        short = (-len(batches)) % world_size
        flags = (flags + [True] * short)[rank::world_size]
        batches = (batches + batches[:short])[rank::world_size]
    if repeats is not None:
        repeats[:] = flags
    return batches


def pass_batches(lengths: np.ndarray, batch_size: int, start: int = 0,
                 stop: Optional[int] = None) -> list[np.ndarray]:
    """Batches over examples ``start..stop`` sorted by length (a pass without learning)."""
    stop = int(lengths.shape[0]) if stop is None else stop
    idx = np.arange(start, stop)
    idx = idx[np.argsort(lengths[start:stop], kind="stable")]
    return [idx[s:s + batch_size] for s in range(0, idx.shape[0], batch_size)]


def shard_range(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """This rank's contiguous slice of ``n`` examples (all of them for one rank)."""
    per = math.ceil(n / world_size) if world_size else n
    return min(rank * per, n), min((rank + 1) * per, n)


def attention_mask_for(encoder: torch.nn.Module, mask: torch.Tensor,
                       padded: bool = True) -> Optional[torch.Tensor]:
    """The padding mask as the encoder's attention wants it, without a host sync.

    Given a 2-D mask, Hugging Face's SDPA path first asks the GPU whether any
    token is padding (``mask.all()``, a sync every step) to drop the mask.  The
    host already knows: a batch that is not ``padded`` gets no mask (what that
    path would conclude), a padded one the boolean (B, 1, 1, L) mask that the
    path would build, which it uses as given.  Other attention
    implementations keep the 2-D mask.
    """
    config = getattr(encoder, "config", None)
    if getattr(config, "_attn_implementation", None) == "sdpa" and mask.dim() == 2:
        return mask.bool()[:, None, None, :] if padded else None
    return mask
