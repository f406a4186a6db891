"""Fine-tuning loop with the C's work at epoch boundaries.

Per epoch (1-based, as the C): set the SOM learning rate and context from
their schedules; train (AdamW, linear warm-up/decay, gradient accumulation,
bf16/fp16 autocast on CUDA); relabel the SOM (a labelling pass over the
training data, or the counts gathered while training) and measure the hidden
units' activation mean/std; evaluate on dev; keep the best model (the C's
rule, ``better_network``: better, equal with a dev loss lower by MIN_IMPROVE,
or equal right after a pruning); prune low-variance units
(shrinking the head and the optimizer state; a pruning restarts the
patience, as the C's ``prune_if_possible`` resets ``nothing_done``); stop
after ``patience`` epochs without improvement.  At the end the best model
(as saved in ``best_model/``) is evaluated on the test split, if there is
one.  Under torchrun / accelerate launch the model is wrapped in DDP and only
rank 0 writes files.
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from bpsom_core.atomic import atomic_write_text
from bpsom_core.writers import clog
from bpsom_core.params import BPSOMParams
from bpsom_core.primitives.rules import better_network

from . import distributed as du
from . import metrics as M
from .batches import (BatchPlan, DeviceTokens, TokenArrays, attention_mask_for, pass_batches, shard_range,
                      train_batches)
from .config import RunConfig, warmup_steps
from .data import TaskSpec
from .head import BPSOMHead
from .modeling import BPSOMForSequenceClassification, save_files_atomically
from .pruning import shrink_optimizer_state
from .runlog import (RunLog, c_labels, format_avg_std, format_fractions, format_pass, format_som_labeling,
                     table_names)

IGNORE_LABEL = -100   # cross-entropy's ignore_index: examples that must not count (sampler padding)


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



def som_params(cfg: RunConfig) -> BPSOMParams:
    """The YAML's SOM and pruning settings as BPSOMParams: the reliability fraction
    (0.95) becomes the integer percent (95) here, once."""
    b = cfg.bpsom
    return BPSOMParams(som_error_weight=b.som_error_weight,
                       reliability_threshold=BPSOMParams.percent(b.reliability_threshold),
                       som_context=(b.som_context_min, b.som_context_max), som_lr=(b.som_lr_min, b.som_lr_max),
                       prune_threshold=cfg.pruning.threshold, som_update=b.som_update)

@dataclass
class EpochStats:
    """Running sums over one training epoch."""

    loss: float = 0.0
    correct: int = 0
    seen: int = 0
    som_used: int = 0
    steps: int = 0
    sq_error: float = 0.0


class DeviceTotals:
    """Loss sum, correct predictions, squared error and SOM use of an epoch, on the device."""

    def __init__(self, device: torch.device):
        self.loss = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device, dtype=torch.long)
        self.used = torch.zeros((), device=device, dtype=torch.long)
        self.sq = torch.zeros((), device=device)

    def add(self, out, labels: torch.Tensor, n: int) -> None:
        """Add one batch of ``n`` counted examples (device ops only)."""
        if n:
            logits = out.logits.detach().float()
            self.loss += out.loss.detach().float() * n
            self.correct += (logits.argmax(-1) == labels).sum()
            self.sq += _sq_error(logits, labels)
        if out.som_used is not None:
            self.used += out.som_used

    def read_into(self, stats: "EpochStats") -> None:
        """Copy the sums to the host (this waits for the device)."""
        stats.loss, stats.correct, stats.som_used = float(self.loss), int(self.correct), int(self.used)
        stats.sq_error = float(self.sq)


@dataclass
class TrainResult:
    """What a finished run reports: dev (and test) results and size of the BEST model."""

    best_epoch: int
    best_metrics: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    hidden_units: Optional[int] = None
    train_examples_per_s: float = 0.0
    elapsed_s: float = 0.0
    test_metrics: Optional[dict[str, Any]] = None
    final_hidden_units: Optional[int] = None


class GlueTrainer:
    """Trains one model on one task; ``on_progress`` receives per-step and per-epoch numbers.

    ``test`` (optional) is evaluated with the best model at the end, and
    after every epoch when ``test_every_epoch``; an unlabelled test split
    (labels -1) gives ``test_predictions.tsv`` instead of metrics.
    """

    def __init__(self, model: BPSOMForSequenceClassification, cfg: RunConfig, task: TaskSpec,
                 train: TokenArrays, dev: TokenArrays, tokenizer, out_dir: Path,
                 device: torch.device, log: RunLog,
                 on_progress: Optional[Callable[[str, dict], None]] = None,
                 test: Optional[TokenArrays] = None, test_ids: Optional[list[str]] = None,
                 test_every_epoch: bool = False):
        self.model = model.to(device)
        self.cfg = cfg
        self.task = task
        self.device = device
        self.out_dir = Path(out_dir)
        self.log = log
        self.on_progress = on_progress or (lambda kind, data: None)
        self.precision = pick_precision(cfg.training.precision, device)
        self.tokenizer = tokenizer
        t = cfg.training
        self.train_labels = list(train.labels)
        # the tokens live on the device; batches are gathered and padded there
        self.train_tokens = DeviceTokens(train, tokenizer, device)
        self.dev_tokens = DeviceTokens(dev, tokenizer, device)
        self.n_train_batches = len(self._train_plan_indices(1))
        # labelling pass and dev evaluation: every rank sees its shard, then gathers
        self.label_plan = self._pass_plan(self.train_tokens)
        self.dev_plan = self._pass_plan(self.dev_tokens)
        self.test_tokens = DeviceTokens(test, tokenizer, device) if test is not None and len(test) else None
        self.test_plan = self._pass_plan(self.test_tokens) if self.test_tokens is not None else None
        self.test_labelled = test is not None and all(label >= 0 for label in test.labels)
        self.test_ids = test_ids
        self.test_every_epoch = test_every_epoch and self.test_labelled
        self.optimizer = self._make_optimizer()
        steps_per_epoch = math.ceil(self.n_train_batches / t.gradient_accumulation_steps)
        total = steps_per_epoch * t.epochs
        from transformers import get_linear_schedule_with_warmup
        self.warmup_steps = warmup_steps(t, total)
        self.scheduler = get_linear_schedule_with_warmup(self.optimizer, self.warmup_steps, total)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision == "fp16")
        self.ddp = self._wrap()
        self.n_pruned = 0
        self._test_confusion: Optional[np.ndarray] = None   # gold x predicted, of the best model

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

    def _train_plan_indices(self, epoch: int, repeats: Optional[list] = None) -> list[np.ndarray]:
        t = self.cfg.training
        return train_batches(self.train_tokens.lengths_host, t.batch_size, t.seed, epoch,
                             group_by_length=t.group_by_length, rank=du.rank(), world_size=du.world_size(),
                             repeats=repeats)

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
        som = som_params(self.cfg)
        model = self.model
        if model.is_bpsom:
            head: BPSOMHead = model.head
            head.set_schedule(epoch, t.epochs, *som.som_lr, *som.som_context)
            head.collect_epoch_counts = bp.relabel == "epoch"
            head.reset_epoch()
        repeats: list = []
        plan = BatchPlan(self.train_tokens, self._train_plan_indices(epoch, repeats))
        stats = EpochStats()
        totals = self.train_steps(epoch, plan, stats, repeats)
        totals.read_into(stats)
        if len(plan):
            self._report_step(epoch, len(plan), len(plan), stats)
        return stats

    def train_steps(self, epoch: int, plan: BatchPlan, stats: EpochStats,
                    repeats: Optional[list] = None) -> DeviceTotals:
        """The training steps over ``plan``; nothing in them waits for the device.

        Loss, correct predictions, squared error and SOM use are summed on the
        device; the host reads them only every ``log_interval`` steps (for
        progress) and once at the end of the epoch.  Batches flagged in
        ``repeats`` (a distributed run's padding, so every rank makes the same
        number of steps) get label IGNORE_LABEL: they run, but neither learn
        nor count.
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
            n_valid = plan.sizes[i]
            if repeats and repeats[i]:
                batch["labels"] = torch.full_like(batch["labels"], IGNORE_LABEL)
                n_valid = 0
            with sync:
                with self._autocast():
                    out = self.ddp(**self._model_inputs(batch, plan.padded[i]))
                loss = out.loss if n_valid else out.logits.sum() * 0.0   # every rank must backward
                self.scaler.scale(loss / accum).backward()
            if last_micro:
                if t.max_grad_norm > 0:
                    self.scaler.unscale_(self.optimizer)
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.max_grad_norm)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                stats.steps += 1
            totals.add(out, batch["labels"], n_valid)
            stats.seen += n_valid
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
    def _pass(self, plan: BatchPlan, want_acts: bool, model: Optional[BPSOMForSequenceClassification] = None):
        """Logits (and head activations) of a plan's examples, gathered over ranks, in order."""
        model = model or self.model
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

    def _scores(self, lg: torch.Tensor, lb: torch.Tensor) -> dict[str, float]:
        """The task's metrics, cross-entropy loss and the C's MSE (softmax vs one-hot)."""
        pred = lg.argmax(-1).cpu().numpy()
        gold = lb.cpu().numpy()
        res = M.compute(self.task.metrics, pred, gold)
        n = len(gold)
        res["loss"] = float(torch.nn.functional.cross_entropy(lg, lb)) if n else 0.0
        res["mse"] = float(_sq_error(lg, lb)) / n if n else 0.0
        return res

    def evaluate(self, plan: Optional[BatchPlan] = None,
                 model: Optional[BPSOMForSequenceClassification] = None) -> dict[str, float]:
        """Metrics of the task plus loss and MSE (dev by default)."""
        lg, lb, _ = self._pass(plan or self.dev_plan, want_acts=False, model=model)
        return self._scores(lg, lb)

    def predict_test(self, model: BPSOMForSequenceClassification) -> dict[str, Any]:
        """Unlabelled test split: ``test_predictions.tsv`` (``index<TAB>prediction``, label names)."""
        lg, _, _ = self._pass(self.test_plan, want_acts=False, model=model)
        pred = lg.argmax(-1).cpu().tolist()
        ids = self.test_ids or [str(i) for i in range(len(pred))]
        path = self.out_dir / "test_predictions.tsv"
        if du.is_main() and self.log.enabled:
            rows = "".join(f"{i}\t{self.task.label_names[p]}\n" for i, p in zip(ids, pred))
            atomic_write_text(path, "index\tprediction\n" + rows)
        counts = {name: pred.count(k) for k, name in enumerate(self.task.label_names)}
        return {"examples": len(pred), "predictions": path.name, "predicted": counts}

    def init_som(self, max_examples: int = 4096) -> None:
        """PCA-initialise the SOM on the head's first activations (``som_init: pca``)."""
        head: BPSOMHead = self.model.head
        _, _, acts = self._pass(self._pass_plan(self.train_tokens, max_examples), want_acts=True)
        head.init_prototypes_pca(acts)
        self.log.event("som_init", method="pca", examples=int(acts.shape[0]))

    def relabel(self) -> Optional[dict[str, float]]:
        """The C's labelling epoch (or the counts gathered while training).

        Returns the labelling pass's scores over the training data (None
        when the counts gathered while training were used).
        """
        head: BPSOMHead = self.model.head
        if self.cfg.bpsom.relabel == "pass":
            lg, lb, acts = self._pass(self.label_plan, want_acts=True)
            head.relabel(acts, lb)
            return self._scores(lg, lb)
        head.relabel()
        return None

    def prune(self, epoch: int) -> list[int]:
        """Variance pruning; returns the removed units (1-based, numbered before the pruning)."""
        head: BPSOMHead = self.model.head
        before = head.hidden_size
        result = self.model.prune(som_params(self.cfg).prune_threshold)
        if not result.n_pruned:
            return []
        shrink_optimizer_state(self.optimizer, result)
        self.ddp = self._wrap()  # DDP's buckets were sized for the old parameters
        removed = [int(i) + 1 for i in torch.nonzero(result.mask).flatten()]
        for _ in removed:
            self.n_pruned += 1
            self.log.line(clog.prune_mark(1, self.n_pruned))
        self.log.event("pruned", epoch=epoch, units=removed, before=before, after=head.hidden_size)
        self.on_progress("prune", {"epoch": epoch, "units": removed, "before": before,
                                   "after": head.hidden_size})
        return removed

    # --- the whole run ---------------------------------------------------------

    def fit(self) -> TrainResult:
        """Train for ``epochs`` epochs or until dev stops improving; test the best model."""
        t = self.cfg.training
        primary = self.task.primary_metric
        best_score, best_loss, best_epoch, best = -math.inf, math.inf, 0, {}
        best_record: dict[str, Any] = {}
        best_model, best_n_pruned = None, 0
        pruned_flag = False
        patience = Patience(t.early_stopping_patience)
        start = time.perf_counter()
        train_time, train_seen = 0.0, 0
        model = self.model
        bpsom = model.is_bpsom
        n = t.epochs
        self.log.line(format_fractions(self.train_labels, self.task.num_labels))
        if bpsom and self.cfg.bpsom.som_init == "pca":
            self.init_som()
        record: dict[str, Any] = {}
        last_train: dict[str, float] = {}
        for epoch in range(1, n + 1):
            t0 = time.perf_counter()
            st = self.train_epoch(epoch)
            train_time += time.perf_counter() - t0
            seen = int(du.all_sum(torch.tensor(st.seen, device=self.device)))
            train_seen += seen
            train = {"loss": float(du.all_sum(torch.tensor(st.loss, device=self.device))) / max(seen, 1),
                     "accuracy": int(du.all_sum(torch.tensor(st.correct, device=self.device))) / max(seen, 1),
                     "mse": float(du.all_sum(torch.tensor(st.sq_error, device=self.device))) / max(seen, 1)}
            record = {"epoch": epoch, "train_loss": train["loss"], "train_accuracy": train["accuracy"],
                      "train_mse": train["mse"]}
            usage = None
            if bpsom:
                head: BPSOMHead = model.head
                usage = int(du.all_sum(torch.tensor(st.som_used, device=self.device))) / max(seen, 1)
                record.update(som_usage=usage, som_lr=float(head.som_lr), som_context=int(head.som_context))
            self.log.line(format_pass(epoch, n, 1, 1, train, usage, bpsom))
            labelling = None
            if bpsom:
                labelling = self.relabel()
                if labelling is not None:
                    self.log.line(format_pass(epoch, n, 0, 1, labelling, 0.0, bpsom))
                record.update(self._log_som(epoch))
            dev = self.evaluate()
            record.update({f"dev_{k}": v for k, v in dev.items()})
            score = dev[primary]
            improved = better_network(score, dev["loss"], best_score, best_loss, pruned_flag)
            self.log.line(format_pass(epoch, n, 0, 2, dev, 0.0, bpsom))
            if improved:
                best_score, best_loss, best_epoch, best = score, dev["loss"], epoch, dict(dev)
                pruned_flag = False
                self.log.line("*")
                best_model, best_n_pruned = _snapshot(model), self.n_pruned
                best_record = {"train": labelling or train}
                if du.is_main():
                    model.save_pretrained(self.out_dir / "best_model")
                    save_files_atomically(self.tokenizer.save_pretrained, self.out_dir / "best_model")
            removed = []
            if bpsom and self.cfg.pruning.enabled:
                removed = self.prune(epoch)
                pruned_flag = pruned_flag or bool(removed)
                record["pruned"] = len(removed)
            stop = patience.update(improved, bool(removed))
            if bpsom:
                record["hidden_units"] = model.head.hidden_size
            if self.test_every_epoch:
                test = self.evaluate(self.test_plan)
                record.update({f"test_{k}": v for k, v in test.items()})
                self.log.line(format_pass(epoch, n, 0, 3, test, 0.0, bpsom))
            last_train = labelling or train
            self.log.epoch(record)
            self.log.event("epoch", **record)
            self.on_progress("epoch", record)
            self.log.flush()
            if stop:
                self.log.line(f"\nearly stop: no dev improvement in {patience.waited} epochs")
                self.log.event("early_stop", epoch=epoch, patience=t.early_stopping_patience)
                break
        elapsed = time.perf_counter() - start
        test_result = self._final_test(best_model, best_epoch, best)
        self._abstract(best_epoch, best, best_record, test_result, record, last_train, best_n_pruned)
        best_units = best_model.head.hidden_size if (bpsom and best_model is not None) else None
        return TrainResult(best_epoch=best_epoch, best_metrics=best, history=self.log.history,
                           hidden_units=best_units,
                           train_examples_per_s=train_seen / train_time if train_time else 0.0,
                           elapsed_s=elapsed, test_metrics=test_result,
                           final_hidden_units=model.head.hidden_size if bpsom else None)

    def _final_test(self, best_model, best_epoch: int, best_dev: dict) -> Optional[dict[str, Any]]:
        """The best model on the test split: metrics, or a predictions file when unlabelled."""
        if self.test_plan is None or best_model is None:
            return None
        best_model.to(self.device)
        if self.test_labelled:
            lg, lb, acts = self._pass(self.test_plan, want_acts=best_model.is_bpsom, model=best_model)
            result: dict[str, Any] = self._scores(lg, lb)
            if acts is not None and len(lb):
                som = best_model.head.som_classify(acts).to(lb.device)
                result["som_accuracy"] = float((som == lb + 1).float().mean())
            k = self.task.num_labels
            pairs = (lb.long() * k + lg.argmax(-1).long()).cpu()
            self._test_confusion = torch.bincount(pairs, minlength=k * k).reshape(k, k).numpy()
        else:
            result = self.predict_test(best_model)
        best_model.to("cpu")
        self.log.event("test", best_epoch=best_epoch, **result)
        self.on_progress("test", {"best_epoch": best_epoch, "labelled": self.test_labelled, **result,
                                  "dev": best_dev})
        return result

    def _abstract(self, best_epoch: int, best_dev: dict, best_record: dict,
                  test: Optional[dict], last: dict, last_train: dict, best_n_pruned: int) -> None:
        """The C's closing ABSTRACT (best and last epoch) and pruned-units line."""
        def pair(res: Optional[dict]):
            return None if not res or "mse" not in res else (res["mse"], 100.0 * (1.0 - res["accuracy"]))

        last_dev = {k[4:]: v for k, v in last.items() if k.startswith("dev_")}
        last_test = {k[5:]: v for k, v in last.items() if k.startswith("test_")}
        soms = {1: 100.0 * (1.0 - test["som_accuracy"])} if test and "som_accuracy" in test else {}
        rows = [(best_epoch, pair(best_record.get("train")), pair(best_dev), pair(test), soms),
                (last.get("epoch", 0), pair(last_train), pair(last_dev), pair(last_test), {})]
        self.log.line(clog.abstract(rows))
        if test and "mse" in test:   # the best network's test pass and its confusion matrix, as the C ends
            self.log.line("\n" + format_pass(best_epoch, self.cfg.training.epochs, 0, 3, test, 0.0,
                                              self.model.is_bpsom))
            k = self.task.num_labels
            conf = np.zeros((k + 1, k + 1), dtype=np.int64)
            conf[1:, 1:] = self._test_confusion
            self.log.line(clog.bp_conf_matrix(conf, k, c_labels(table_names(self.task.label_names))))
        self.log.line(clog.pruned_units({1: best_n_pruned} if self.model.is_bpsom else {}))

    def _log_som(self, epoch: int) -> dict[str, float]:
        """Labelling table, AVG/STD and the two SOM plots for this epoch; returns the SOM figures."""
        head: BPSOMHead = self.model.head
        labels = head.cell_labels.cpu().numpy()
        rel = head.reliability.cpu().numpy()
        counts = head.counts.cpu().numpy()
        names = list(self.task.label_names)
        self.log.line(format_som_labeling(labels, rel, counts, head.grid_size, names))
        mean, std = head.act_mean.cpu().numpy(), head.act_std.cpu().numpy()
        self.log.line(format_avg_std(mean, std, som_params(self.cfg).prune_threshold))
        labelled = labels > 0
        figures = {"som_labelled_cells": int(labelled.sum()),
                   "som_mean_reliability": float(rel[labelled].mean()) if labelled.any() else 0.0}
        self.log.event("som", epoch=epoch, labelled_cells=figures["som_labelled_cells"],
                       mean_reliability=figures["som_mean_reliability"],
                       som_lr=float(head.som_lr), som_context=int(head.som_context))
        if du.is_main() and self.log.enabled and head.n_cells > 0:   # som_grid_size 0: no map to draw
            from . import plots
            viz = self.out_dir / "visualizations"
            plots.som_combined(viz / f"som_combined_epoch_{epoch}.png", labels, rel,
                               head.grid_size, names, title=f"SOM labels / reliability, epoch {epoch}")
            plots.som_umatrix(viz / f"som_umatrix_epoch_{epoch}.png",
                              head.prototypes.cpu().numpy(), head.grid_size, title=f"U-matrix, epoch {epoch}")
            from .som_snapshots import save_snapshot
            save_snapshot(self.out_dir, epoch, head, self.task.label_names)
        return figures


class Patience:
    """Early stopping: epochs without a better dev result, restarted by a pruning.

    The C's ``nothing_done`` counter is reset both by a better network and
    by ``prune_if_possible``: a smaller network deserves its own chance.
    ``limit`` 0 never stops.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.waited = 0

    def update(self, improved: bool, pruned: bool) -> bool:
        """Count one epoch; True when training should stop."""
        self.waited = 0 if (improved or pruned) else self.waited + 1
        return bool(self.limit) and self.waited >= self.limit


def _sq_error(logits: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    """Summed squared error of softmax outputs against one-hot targets (the C's MSE numerator)."""
    if gold.numel() == 0:
        return torch.zeros((), device=logits.device)
    p = torch.softmax(logits.float(), -1)
    # one-hot by comparison: F.one_hot checks the labels' range, a sync on a GPU
    target = (torch.arange(p.shape[-1], device=p.device) == gold.long().unsqueeze(-1)).float()
    return ((p - target) ** 2).sum()


def _snapshot(model: BPSOMForSequenceClassification) -> BPSOMForSequenceClassification:
    """An independent copy of the model on the CPU (the best epoch's network, as best_model/)."""
    snap = copy.deepcopy(model).to("cpu")
    snap.eval()
    return snap


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
