"""Fine-tuning loop with the C's work at epoch boundaries.

Per epoch (1-based, as the C): set the SOM learning rate and context from
their schedules; train (AdamW, linear warm-up/decay, gradient accumulation,
bf16/fp16 autocast on CUDA); relabel the SOM (a labelling pass over the
training data, or the counts gathered while training) and measure the hidden
units' activation mean/std; evaluate on dev; keep the best model (the C's
rule: better, or equal right after a pruning); prune low-variance units
(shrinking the head and the optimizer state); stop after ``patience`` epochs
without improvement.  Under torchrun / accelerate launch the model is wrapped
in DDP and only rank 0 writes files.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader

from . import distributed as du
from . import metrics as M
from .config import RunConfig
from .data import Collator, EncodedSplit, TaskSpec
from .head import BPSOMHead
from .modeling import BPSOMForSequenceClassification, save_files_atomically
from .pruning import shrink_optimizer_state
from .runlog import RunLog, format_avg_std, format_som_labeling


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_precision(requested: str, device: torch.device) -> str:
    """bf16 where the GPU supports it, fp32 on CPU; explicit requests honoured on CUDA."""
    if device.type != "cuda":
        return "fp32"
    if requested == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return requested


@dataclass
class EpochStats:
    """Running sums over one training epoch."""

    loss: float = 0.0
    correct: int = 0
    seen: int = 0
    som_used: int = 0
    steps: int = 0


@dataclass
class TrainResult:
    """What a finished run reports."""

    best_epoch: int
    best_metrics: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    hidden_units: Optional[int] = None
    train_examples_per_s: float = 0.0
    elapsed_s: float = 0.0


class GlueTrainer:
    """Trains one model on one task; ``on_progress`` receives per-step numbers."""

    def __init__(self, model: BPSOMForSequenceClassification, cfg: RunConfig, task: TaskSpec,
                 train: EncodedSplit, dev: EncodedSplit, tokenizer, out_dir: Path,
                 device: torch.device, log: RunLog,
                 on_progress: Optional[Callable[[str, dict], None]] = None):
        self.model = model.to(device)
        self.cfg = cfg
        self.task = task
        self.device = device
        self.out_dir = Path(out_dir)
        self.log = log
        self.on_progress = on_progress or (lambda kind, data: None)
        self.precision = pick_precision(cfg.training.precision, device)
        self.tokenizer = tokenizer
        collate = Collator(tokenizer)
        t = cfg.training
        self.train_sampler = (torch.utils.data.DistributedSampler(train, seed=t.seed, shuffle=True)
                              if du.is_distributed() else None)
        gen = torch.Generator().manual_seed(t.seed)
        self.train_loader = DataLoader(train, batch_size=t.batch_size, shuffle=self.train_sampler is None,
                                       sampler=self.train_sampler, collate_fn=collate, generator=gen)
        # labelling pass and dev evaluation: every rank sees its shard, then gathers
        self.label_loader = DataLoader(_Shard(train), batch_size=t.eval_batch_size, collate_fn=collate)
        self.dev_loader = DataLoader(_Shard(dev), batch_size=t.eval_batch_size, collate_fn=collate)
        self.optimizer = self._make_optimizer()
        steps_per_epoch = math.ceil(len(self.train_loader) / t.gradient_accumulation_steps)
        from transformers import get_linear_schedule_with_warmup
        self.scheduler = get_linear_schedule_with_warmup(
            self.optimizer, min(t.warmup_steps, steps_per_epoch * t.epochs), steps_per_epoch * t.epochs)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision == "fp16")
        self.ddp = self._wrap()

    # --- setup ---------------------------------------------------------------

    def _make_optimizer(self) -> torch.optim.Optimizer:
        t = self.cfg.training
        head_lr = t.head_learning_rate or t.learning_rate
        groups: dict[tuple, list] = {}
        for name, p in self.model.named_parameters():
            if not p.requires_grad:
                continue
            decay = 0.0 if (p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name) else t.weight_decay
            lr = head_lr if name.startswith("head.") else t.learning_rate
            groups.setdefault((lr, decay), []).append(p)
        return torch.optim.AdamW([{"params": ps, "lr": lr, "weight_decay": wd}
                                  for (lr, wd), ps in groups.items()])

    def _wrap(self):
        if not du.is_distributed():
            return self.model
        ids = [self.device.index] if self.device.type == "cuda" else None
        # buffers are kept identical by the SOM's own gather; no broadcast needed
        return du.wrap_ddp(self.model, ids)

    def _autocast(self):
        if self.precision in ("bf16", "fp16"):
            dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
            return torch.autocast(device_type="cuda", dtype=dtype)
        return torch.autocast(device_type=self.device.type, enabled=False)

    def _to_device(self, batch: dict) -> dict:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    # --- one epoch -----------------------------------------------------------

    def train_epoch(self, epoch: int) -> EpochStats:
        """One pass over the (sharded, shuffled) training data."""
        t = self.cfg.training
        bp = self.cfg.bpsom
        model = self.model
        if model.is_bpsom:
            head: BPSOMHead = model.head
            head.set_schedule(epoch, t.epochs, bp.som_lr_min, bp.som_lr_max,
                              bp.som_context_min, bp.som_context_max)
            head.collect_epoch_counts = bp.relabel == "epoch"
            head.reset_epoch()
        if self.train_sampler is not None:
            self.train_sampler.set_epoch(epoch)
        model.train()
        stats = EpochStats()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        used = torch.zeros((), device=self.device, dtype=torch.long)
        accum = t.gradient_accumulation_steps
        n_batches = len(self.train_loader)
        self.optimizer.zero_grad(set_to_none=True)
        for i, batch in enumerate(self.train_loader):
            batch = self._to_device(batch)
            last_micro = (i + 1) % accum == 0 or i + 1 == n_batches
            sync = self.ddp.no_sync() if (self.ddp is not self.model and not last_micro) else _null()
            with sync:
                with self._autocast():
                    out = self.ddp(**batch)
                self.scaler.scale(out.loss / accum).backward()
            if last_micro:
                if t.max_grad_norm > 0:
                    self.scaler.unscale_(self.optimizer)
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.max_grad_norm)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                stats.steps += 1
            b = batch["labels"].shape[0]
            loss_sum += out.loss.detach().float() * b
            correct += (out.logits.detach().argmax(-1) == batch["labels"]).sum()
            if out.som_used is not None:
                used += out.som_used
            stats.seen += b
            if (i + 1) % 10 == 0 or i + 1 == n_batches:
                stats.loss, stats.correct, stats.som_used = float(loss_sum), int(correct), int(used)
                self.on_progress("step", {"epoch": epoch, "batch": i + 1, "batches": n_batches,
                                          "loss": stats.loss / stats.seen,
                                          "accuracy": stats.correct / stats.seen,
                                          "som_usage": stats.som_used / stats.seen if model.is_bpsom else None})
        stats.loss, stats.correct, stats.som_used = float(loss_sum), int(correct), int(used)
        return stats

    # --- passes without learning ---------------------------------------------

    @torch.no_grad()
    def _pass(self, loader: DataLoader, want_acts: bool):
        """Logits (and head activations) of a loader, gathered over ranks, in order."""
        model = self.model
        model.eval()
        logits, acts, labels = [], [], []
        for batch in loader:
            batch = self._to_device(batch)
            with self._autocast():
                cls_vec = model.encode(batch["input_ids"], batch.get("attention_mask"),
                                       batch.get("token_type_ids"))
                out = model.head(cls_vec)
            logits.append(out.logits.float())
            labels.append(batch["labels"])
            if want_acts:
                acts.append(model.head.hidden_activations(cls_vec).float())
        width = self.task.num_labels
        lg = torch.cat(logits) if logits else torch.zeros(0, width, device=self.device)
        lb = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long, device=self.device)
        lg, _ = du.gather_rows(lg)
        lb, _ = du.gather_rows(lb)
        ac = None
        if want_acts:
            ac = torch.cat(acts) if acts else torch.zeros(0, model.head.hidden_size, device=self.device)
            ac, _ = du.gather_rows(ac)
        return lg, lb, ac

    def evaluate(self) -> dict[str, float]:
        """Dev metrics of the task (plus loss)."""
        lg, lb, _ = self._pass(self.dev_loader, want_acts=False)
        pred = lg.argmax(-1).cpu().numpy()
        gold = lb.cpu().numpy()
        res = M.compute(self.task.metrics, pred, gold)
        res["loss"] = float(torch.nn.functional.cross_entropy(lg, lb)) if len(gold) else 0.0
        return res

    def init_som(self, max_examples: int = 4096) -> None:
        """PCA-initialise the SOM on the head's first activations (``som_init: pca``)."""
        head: BPSOMHead = self.model.head
        base = self.label_loader.dataset.base
        n = min(len(base), max_examples)
        loader = DataLoader(_Shard(torch.utils.data.Subset(base, range(n))),
                            batch_size=self.cfg.training.eval_batch_size,
                            collate_fn=self.label_loader.collate_fn)
        _, _, acts = self._pass(loader, want_acts=True)
        head.init_prototypes_pca(acts)
        self.log.event("som_init", method="pca", examples=int(acts.shape[0]))

    def relabel(self) -> None:
        """The C's labelling epoch (or the counts gathered while training)."""
        head: BPSOMHead = self.model.head
        if self.cfg.bpsom.relabel == "pass":
            _, lb, acts = self._pass(self.label_loader, want_acts=True)
            head.relabel(acts, lb)
        else:
            head.relabel()

    def prune(self, epoch: int) -> int:
        """Variance pruning; returns the number of units removed."""
        head: BPSOMHead = self.model.head
        before = head.hidden_size
        result = self.model.prune(self.cfg.pruning.threshold)
        n = result.n_pruned
        if n:
            shrink_optimizer_state(self.optimizer, result)
            self.ddp = self._wrap()  # DDP's buckets were sized for the old parameters
            removed = [int(i) + 1 for i in torch.nonzero(result.mask).flatten()]
            self.log.line(f" 1:-{n}")
            self.log.event("pruned", epoch=epoch, units=removed, before=before, after=head.hidden_size)
        return n

    # --- the whole run ---------------------------------------------------------

    def fit(self) -> TrainResult:
        """Train for ``epochs`` epochs or until dev stops improving."""
        t = self.cfg.training
        primary = self.task.primary_metric
        best_score, best_loss, best_epoch, best = -math.inf, math.inf, 0, {}
        pruned_flag, waited = False, 0
        start = time.perf_counter()
        train_time, train_seen = 0.0, 0
        model = self.model
        if model.is_bpsom and self.cfg.bpsom.som_init == "pca":
            self.init_som()
        for epoch in range(1, t.epochs + 1):
            t0 = time.perf_counter()
            st = self.train_epoch(epoch)
            train_time += time.perf_counter() - t0
            seen = int(du.all_sum(torch.tensor(st.seen, device=self.device)))
            train_seen += seen
            loss = float(du.all_sum(torch.tensor(st.loss, device=self.device))) / max(seen, 1)
            acc = int(du.all_sum(torch.tensor(st.correct, device=self.device))) / max(seen, 1)
            record: dict[str, Any] = {"epoch": epoch, "train_loss": loss, "train_accuracy": acc}
            line = f"\n{epoch}/{t.epochs} LRN=1 MAT=1 LOSS={loss:5.3f} CE={100 * (1 - acc):6.2f}"
            if model.is_bpsom:
                head: BPSOMHead = model.head
                usage = int(du.all_sum(torch.tensor(st.som_used, device=self.device))) / max(seen, 1)
                record.update(som_usage=usage, som_lr=float(head.som_lr), som_context=int(head.som_context))
                line += f" USE SOM1={100 * usage:5.1f}"
                self.log.line(line)
                self.relabel()
                record.update(self._log_som(epoch))
            else:
                self.log.line(line)
            dev = self.evaluate()
            record.update({f"dev_{k}": v for k, v in dev.items()})
            score = dev[primary]
            improved = (score > best_score or (score == best_score and dev["loss"] < best_loss)
                        or (pruned_flag and score >= best_score))
            self.log.line(f"\n{epoch}/{t.epochs} LRN=0 MAT=2 LOSS={dev['loss']:5.3f} "
                          f"CE={100 * (1 - dev['accuracy']):6.2f} "
                          + " ".join(f"{k.upper()}={v:.4f}" for k, v in dev.items() if k != "loss"))
            if improved:
                best_score, best_loss, best_epoch, best = score, dev["loss"], epoch, dict(dev)
                pruned_flag, waited = False, 0
                self.log.line("*")
                if du.is_main():
                    model.save_pretrained(self.out_dir / "best_model")
                    save_files_atomically(self.tokenizer.save_pretrained, self.out_dir / "best_model")
            else:
                waited += 1
            if model.is_bpsom and self.cfg.pruning.enabled:
                n = self.prune(epoch)
                if n:
                    pruned_flag = True
                record["pruned"] = n
            if model.is_bpsom:
                record["hidden_units"] = model.head.hidden_size
            self.log.epoch(record)
            self.log.event("epoch", **record)
            self.on_progress("epoch", record)
            self.log.flush()
            if t.early_stopping_patience and waited >= t.early_stopping_patience:
                self.log.line(f"\nearly stop: no dev improvement in {waited} epochs")
                self.log.event("early_stop", epoch=epoch, patience=t.early_stopping_patience)
                break
        elapsed = time.perf_counter() - start
        self.log.line(f"\n\nbest epoch {best_epoch}: " + " ".join(f"{k}={v:.4f}" for k, v in best.items()))
        return TrainResult(best_epoch=best_epoch, best_metrics=best, history=self.log.history,
                           hidden_units=model.head.hidden_size if model.is_bpsom else None,
                           train_examples_per_s=train_seen / train_time if train_time else 0.0,
                           elapsed_s=elapsed)

    def _log_som(self, epoch: int) -> dict[str, float]:
        """Labelling table, AVG/STD and the two SOM plots for this epoch; returns the SOM figures."""
        head: BPSOMHead = self.model.head
        labels = head.cell_labels.cpu().numpy()
        rel = head.reliability.cpu().numpy()
        counts = head.counts.cpu().numpy()
        names = [str(i) for i in range(self.task.num_labels)]
        self.log.line("\n" + format_som_labeling(labels, rel, counts, head.grid_size, names))
        mean, std = head.act_mean.cpu().numpy(), head.act_std.cpu().numpy()
        self.log.line(format_avg_std(mean, std, self.cfg.pruning.threshold))
        labelled = labels > 0
        figures = {"som_labelled_cells": int(labelled.sum()),
                   "som_mean_reliability": float(rel[labelled].mean()) if labelled.any() else 0.0}
        self.log.event("som", epoch=epoch, labelled_cells=figures["som_labelled_cells"],
                       mean_reliability=figures["som_mean_reliability"],
                       som_lr=float(head.som_lr), som_context=int(head.som_context))
        if du.is_main() and self.log.enabled:
            from . import plots
            plots.som_combined(self.out_dir / f"som_combined_epoch_{epoch}.png", labels, rel,
                               head.grid_size, names, title=f"SOM labels / reliability, epoch {epoch}")
            plots.som_umatrix(self.out_dir / f"som_umatrix_epoch_{epoch}.png",
                              head.prototypes.cpu().numpy(), head.grid_size, title=f"U-matrix, epoch {epoch}")
            from .som_snapshots import save_snapshot
            save_snapshot(self.out_dir, epoch, head, self.task.label_names)
        return figures


class _Shard(torch.utils.data.Dataset):
    """This rank's contiguous slice of a dataset (whole dataset when not distributed)."""

    def __init__(self, base: torch.utils.data.Dataset):
        n, r, w = len(base), du.rank(), du.world_size()
        per = math.ceil(n / w)
        self.base, self.start, self.stop = base, min(r * per, n), min((r + 1) * per, n)

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: int):
        return self.base[self.start + i]


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
