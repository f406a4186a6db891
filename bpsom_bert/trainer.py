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

from . import distributed as du
from . import metrics as M
from .batches import (BatchPlan, DeviceTokens, TokenArrays, attention_mask_for, pass_batches, shard_range,
                      train_batches)
from .config import RunConfig
from .data import TaskSpec
from .head import BPSOMHead
from .modeling import BPSOMForSequenceClassification
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


class DeviceTotals:
    """Loss sum, correct predictions and SOM use of an epoch, kept on the device."""

    def __init__(self, device: torch.device):
        self.loss = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device, dtype=torch.long)
        self.used = torch.zeros((), device=device, dtype=torch.long)

    def add(self, out, labels: torch.Tensor, n: int) -> None:
        """Add one batch's numbers (device ops only)."""
        self.loss += out.loss.detach().float() * n
        self.correct += (out.logits.detach().argmax(-1) == labels).sum()
        if out.som_used is not None:
            self.used += out.som_used

    def read_into(self, stats: "EpochStats") -> None:
        """Copy the sums to the host (this waits for the device)."""
        stats.loss, stats.correct, stats.som_used = float(self.loss), int(self.correct), int(self.used)


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
                 train: TokenArrays, dev: TokenArrays, tokenizer, out_dir: Path,
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
        t = cfg.training
        # the tokens live on the device; batches are gathered and padded there
        self.train_tokens = DeviceTokens(train, tokenizer, device)
        self.dev_tokens = DeviceTokens(dev, tokenizer, device)
        self.n_train_batches = len(self._train_plan_indices(1))
        # labelling pass and dev evaluation: every rank sees its shard, then gathers
        self.label_plan = self._pass_plan(self.train_tokens)
        self.dev_plan = self._pass_plan(self.dev_tokens)
        self.optimizer = self._make_optimizer()
        steps_per_epoch = math.ceil(self.n_train_batches / t.gradient_accumulation_steps)
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
        # fused on CUDA: a few kernels for all parameters, step counters on the device (no
        # sync); on CPU the fused kernel's per-parameter threading costs more than it saves
        return torch.optim.AdamW([{"params": ps, "lr": lr, "weight_decay": wd}
                                  for (lr, wd), ps in groups.items()],
                                 fused=True if self.device.type == "cuda" else None)

    def _train_plan_indices(self, epoch: int) -> list[np.ndarray]:
        t = self.cfg.training
        return train_batches(self.train_tokens.lengths_host, t.batch_size, t.seed, epoch,
                             group_by_length=t.group_by_length, rank=du.rank(), world_size=du.world_size())

    def _pass_plan(self, tokens: DeviceTokens, limit: Optional[int] = None) -> BatchPlan:
        """This rank's share of the first ``limit`` examples, sorted by length, large batches."""
        n = len(tokens) if limit is None else min(limit, len(tokens))
        start, stop = shard_range(n, du.rank(), du.world_size())
        return BatchPlan(tokens, pass_batches(tokens.lengths_host, self.cfg.training.eval_batch_size,
                                              start, stop))

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

    def _model_inputs(self, batch: dict, padded: bool = True) -> dict:
        """The batch with its padding mask in the form the encoder takes without a sync."""
        batch = dict(batch)
        batch["attention_mask"] = attention_mask_for(self.model.encoder, batch["attention_mask"], padded)
        return batch

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
        plan = BatchPlan(self.train_tokens, self._train_plan_indices(epoch))
        stats = EpochStats()
        totals = self.train_steps(epoch, plan, stats)
        totals.read_into(stats)
        if len(plan):
            self._report_step(epoch, len(plan), len(plan), stats)
        return stats

    def train_steps(self, epoch: int, plan: BatchPlan, stats: EpochStats) -> "DeviceTotals":
        """The training steps over ``plan``; nothing in them waits for the device.

        Loss, correct predictions and SOM use are summed on the device; the
        host reads them only every ``log_interval`` steps (for progress) and
        once at the end of the epoch.
        """
        t = self.cfg.training
        self.model.train()
        totals = DeviceTotals(self.device)
        accum = t.gradient_accumulation_steps
        n_batches = len(plan)
        every = max(int(t.log_interval), 1)
        self.optimizer.zero_grad(set_to_none=True)
        for i, batch in enumerate(plan):
            last_micro = (i + 1) % accum == 0 or i + 1 == n_batches
            sync = self.ddp.no_sync() if (self.ddp is not self.model and not last_micro) else _null()
            with sync:
                with self._autocast():
                    out = self.ddp(**self._model_inputs(batch, plan.padded[i]))
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
            b = plan.sizes[i]
            totals.add(out, batch["labels"], b)
            stats.seen += b
            if (i + 1) % every == 0 and i + 1 < n_batches:
                totals.read_into(stats)
                self._report_step(epoch, i + 1, n_batches, stats)
        return totals

    def _report_step(self, epoch: int, batch: int, batches: int, stats: EpochStats) -> None:
        self.on_progress("step", {"epoch": epoch, "batch": batch, "batches": batches,
                                  "loss": stats.loss / max(stats.seen, 1),
                                  "accuracy": stats.correct / max(stats.seen, 1),
                                  "som_usage": (stats.som_used / max(stats.seen, 1)
                                                if self.model.is_bpsom else None)})

    # --- passes without learning ---------------------------------------------

    @torch.no_grad()
    def _pass(self, plan: BatchPlan, want_acts: bool):
        """Logits (and head activations) of a plan's examples, gathered over ranks, in order."""
        model = self.model
        model.eval()
        logits, acts, labels = [], [], []
        for batch, padded in zip(plan, plan.padded):
            with self._autocast():
                cls_vec = model.encode(batch["input_ids"],
                                       attention_mask_for(model.encoder, batch["attention_mask"], padded),
                                       batch.get("token_type_ids"))
                out = model.head(cls_vec)
            logits.append(out.logits.float())
            labels.append(batch["labels"])
            if want_acts:
                acts.append(model.head.hidden_activations(cls_vec).float())
        width = self.task.num_labels
        lg = plan.restore(torch.cat(logits)) if logits else torch.zeros(0, width, device=self.device)
        lb = plan.restore(torch.cat(labels)) if labels else torch.zeros(0, dtype=torch.long, device=self.device)
        lg, _ = du.gather_rows(lg)
        lb, _ = du.gather_rows(lb)
        ac = None
        if want_acts:
            ac = (plan.restore(torch.cat(acts)) if acts
                  else torch.zeros(0, model.head.hidden_size, device=self.device))
            ac, _ = du.gather_rows(ac)
        return lg, lb, ac

    def evaluate(self) -> dict[str, float]:
        """Dev metrics of the task (plus loss)."""
        lg, lb, _ = self._pass(self.dev_plan, want_acts=False)
        pred = lg.argmax(-1).cpu().numpy()
        gold = lb.cpu().numpy()
        res = M.compute(self.task.metrics, pred, gold)
        res["loss"] = float(torch.nn.functional.cross_entropy(lg, lb)) if len(gold) else 0.0
        return res

    def init_som(self, max_examples: int = 4096) -> None:
        """PCA-initialise the SOM on the head's first activations (``som_init: pca``)."""
        head: BPSOMHead = self.model.head
        _, _, acts = self._pass(self._pass_plan(self.train_tokens, max_examples), want_acts=True)
        head.init_prototypes_pca(acts)
        self.log.event("som_init", method="pca", examples=int(acts.shape[0]))

    def relabel(self) -> None:
        """The C's labelling epoch (or the counts gathered while training)."""
        head: BPSOMHead = self.model.head
        if self.cfg.bpsom.relabel == "pass":
            _, lb, acts = self._pass(self.label_plan, want_acts=True)
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
                self._log_som(epoch)
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

    def _log_som(self, epoch: int) -> None:
        """Labelling table, AVG/STD and the two SOM plots for this epoch."""
        head: BPSOMHead = self.model.head
        labels = head.cell_labels.cpu().numpy()
        rel = head.reliability.cpu().numpy()
        counts = head.counts.cpu().numpy()
        names = [str(i) for i in range(self.task.num_labels)]
        self.log.line("\n" + format_som_labeling(labels, rel, counts, head.grid_size, names))
        mean, std = head.act_mean.cpu().numpy(), head.act_std.cpu().numpy()
        self.log.line(format_avg_std(mean, std, self.cfg.pruning.threshold))
        labelled = labels > 0
        self.log.event("som", epoch=epoch, labelled_cells=int(labelled.sum()),
                       mean_reliability=float(rel[labelled].mean()) if labelled.any() else 0.0,
                       som_lr=float(head.som_lr), som_context=int(head.som_context))
        if du.is_main() and self.log.enabled:
            from . import plots
            plots.som_combined(self.out_dir / f"som_combined_epoch_{epoch}.png", labels, rel,
                               head.grid_size, names, title=f"SOM labels / reliability, epoch {epoch}")
            plots.som_umatrix(self.out_dir / f"som_umatrix_epoch_{epoch}.png",
                              head.prototypes.cpu().numpy(), head.grid_size, title=f"U-matrix, epoch {epoch}")


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
