"""BP-SOM's epoch-boundary work as a Hugging Face ``TrainerCallback``.

For users who train :class:`BPSOMForSequenceClassification` with
``transformers.Trainer`` instead of `bpsom glue`, the callback does what
`bpsom glue`'s trainer does between epochs:

* train start: lay the SOM out on the plane of the head's first activations
  (``som_init="pca"``, as `bpsom glue`; the C's random map never unfolds in
  a handful of epochs);
* epoch start: the C's SOM learning-rate and context schedules;
* epoch end: relabel the SOM (a labelling pass over the training data, or the
  winner counts gathered while training) and refresh the activation mean/std;
* after the epoch's evaluation: the C's best-model rule (better, or equal
  right after a pruning) saving ``<output_dir>/best_model`` with the
  tokenizer, then variance pruning that shrinks the optimizer state alike.

The SOM figures of each epoch (``som_usage``, ``som_labelled_cells``,
``som_mean_reliability``, ``som_hidden_units``, ...) are added to the next
Trainer log (``trainer.state.log_history``), go to the Python logger
``bpsom_bert``, and, with ``report_to`` naming ``tensorboard``, are written as
TensorBoard scalars under ``<output_dir>/runs/bpsom`` (or
``$TENSORBOARD_LOGGING_DIR/bpsom``).  Reporting callbacks run before user
callbacks in a Trainer, so the callback writes its own events rather than
relying on theirs.

Under several processes every rank does the same SOM work on the whole
training set, so the SOM stays identical; pruning is skipped there (the DDP
wrapper cannot follow a shrinking layer inside a Trainer) with a warning.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Optional

import torch
from torch.utils.data import DataLoader, Subset
from transformers import TrainerCallback

from . import distributed as du
from .head import BPSOMHead
from .pruning import shrink_optimizer_state

logger = logging.getLogger("bpsom_bert")


class BPSOMCallback(TrainerCallback):
    """Everything `bpsom glue` does at epoch boundaries, for ``transformers.Trainer``.

    ``n_epochs`` defaults to ``args.num_train_epochs``.  ``metric`` names the
    evaluation metric of the best-model rule (``eval_`` is prefixed when
    missing); ``prune_threshold=None`` turns pruning off; ``save_best=False``
    writes no ``best_model``.
    """

    def __init__(self, n_epochs: Optional[int] = None, lr_min: float = 0.05, lr_max: float = 0.20,
                 context_min: int = 0, context_max: int = 2, *, relabel: str = "pass",
                 som_init: str = "pca", prune_threshold: Optional[float] = 0.02,
                 metric: str = "accuracy", save_best: bool = True, init_examples: int = 4096):
        if relabel not in ("pass", "epoch"):
            raise ValueError(f"relabel must be 'pass' or 'epoch', got {relabel!r}")
        if som_init not in ("pca", "random"):
            raise ValueError(f"som_init must be 'pca' or 'random', got {som_init!r}")
        self.n_epochs = n_epochs
        self.lr = (lr_min, lr_max)
        self.context = (context_min, context_max)
        self.relabel = relabel
        self.som_init = som_init
        self.prune_threshold = prune_threshold
        self.metric = metric if metric.startswith("eval_") else f"eval_{metric}"
        self.save_best = save_best
        self.init_examples = init_examples
        self.best_score, self.best_loss, self.best_epoch = -math.inf, math.inf, 0
        self._pruned_flag = False
        self._epoch_done = False
        self._pending: dict[str, float] = {}
        self._used = self._seen = None
        self._hook = None
        self._writer = None

    @classmethod
    def from_run_config(cls, cfg: Any, metric: str = "accuracy") -> "BPSOMCallback":
        """The callback with the schedules, relabelling and pruning of a `bpsom glue` config."""
        b, p = cfg.bpsom, cfg.pruning
        return cls(cfg.training.epochs, b.som_lr_min, b.som_lr_max, b.som_context_min, b.som_context_max,
                   relabel=b.relabel, som_init=b.som_init,
                   prune_threshold=p.threshold if p.enabled else None, metric=metric)

    @staticmethod
    def _head(model) -> Optional[BPSOMHead]:
        head = getattr(getattr(model, "module", model), "head", None)
        return head if isinstance(head, BPSOMHead) else None

    # --- passes over the training data ------------------------------------------

    @staticmethod
    def _activations(model, loader: DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
        """Head activations (no dropout, no SOM work) and labels of a whole loader."""
        was_training = model.training
        model.eval()
        acts, labels = [], []
        device = next(model.parameters()).device
        with torch.no_grad():
            for batch in loader:
                batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
                cls_vec = model.encode(batch["input_ids"], batch.get("attention_mask"),
                                       batch.get("token_type_ids"))
                acts.append(model.head.hidden_activations(cls_vec).float())
                labels.append(batch["labels"])
        model.train(was_training)
        return torch.cat(acts), torch.cat(labels)

    @staticmethod
    def _sequential(train_dataloader: DataLoader, batch_size: int, limit: Optional[int] = None) -> DataLoader:
        """The training data in order, with the Trainer's own collator (no shuffling, no RNG use)."""
        data = train_dataloader.dataset
        if limit is not None and limit < len(data):
            data = Subset(data, range(limit))
        return DataLoader(data, batch_size=batch_size, collate_fn=train_dataloader.collate_fn)

    # --- Trainer events ---------------------------------------------------------------

    def on_train_begin(self, args, state, control, model=None, train_dataloader=None, **kwargs):
        head = self._head(model)
        if head is None:
            return
        if self.n_epochs is None:
            self.n_epochs = max(1, math.ceil(args.num_train_epochs))
        self._hook = head.register_forward_hook(self._count_usage)
        report_to = [args.report_to] if isinstance(args.report_to, str) else list(args.report_to or [])
        if ("tensorboard" in report_to or "all" in report_to) and state.is_world_process_zero \
                and _has_tensorboard():
            self._writer = _tensorboard_writer(args)
        if self.som_init == "pca" and state.global_step == 0 and train_dataloader is not None:
            loader = self._sequential(train_dataloader, args.per_device_eval_batch_size, self.init_examples)
            acts, _ = self._activations(model, loader)
            head.init_prototypes_pca(acts)
            logger.info("SOM initialised on the plane of %d examples' activations", acts.shape[0])

    def _count_usage(self, module, inputs, output) -> None:
        """Forward hook on the head: sums of SOM-steered and seen examples (kept on device)."""
        if output.som_used is not None and output.som_examples:
            self._used = output.som_used if self._used is None else self._used + output.som_used
            self._seen = (self._seen or 0) + output.som_examples

    def on_epoch_begin(self, args, state, control, model=None, **kwargs):
        head = self._head(model)
        if head is None:
            return
        epoch = int(round(state.epoch or 0)) + 1
        head.set_schedule(min(epoch, self.n_epochs), self.n_epochs, *self.lr, *self.context)
        head.collect_epoch_counts = self.relabel == "epoch"
        head.reset_epoch()
        self._used = self._seen = None

    def on_epoch_end(self, args, state, control, model=None, train_dataloader=None, **kwargs):
        head = self._head(model)
        if head is None:
            return
        if self.relabel == "pass" and train_dataloader is not None:
            acts, labels = self._activations(model, self._sequential(train_dataloader,
                                                                     args.per_device_eval_batch_size))
            head.relabel(acts, labels)
        else:
            head.relabel()
        labelled = head.cell_labels > 0
        rel = head.reliability[labelled].float()
        self._pending = {
            "som_usage": float(self._used) / self._seen if self._seen else 0.0,
            "som_labelled_cells": int(labelled.sum()),
            "som_mean_reliability": float(rel.mean()) if rel.numel() else 0.0,
            "som_hidden_units": head.hidden_size,
            "som_lr": float(head.som_lr),
            "som_context": int(head.som_context),
        }
        logger.info("epoch %d SOM: " + " ".join(f"{k}={v:.4g}" for k, v in self._pending.items()),
                    int(round(state.epoch or 0)))
        self._epoch_done = True
        if args.eval_strategy != "epoch":      # no evaluation to wait for: prune now
            self._prune(model, kwargs.get("optimizer"))
            self._epoch_done = False

    def on_evaluate(self, args, state, control, model=None, metrics=None, processing_class=None,
                    optimizer=None, **kwargs):
        if not self._epoch_done or self._head(model) is None:
            return      # an evaluation outside the epoch loop: no SOM work
        self._epoch_done = False
        metrics = metrics or {}
        if self.metric not in metrics:
            raise KeyError(f"BPSOMCallback: metric '{self.metric}' not in the evaluation metrics "
                           f"({', '.join(sorted(metrics))}); pass metric= or compute_metrics")
        score, loss = metrics[self.metric], metrics.get("eval_loss", math.inf)
        improved = (score > self.best_score or (score == self.best_score and loss < self.best_loss)
                    or (self._pruned_flag and score >= self.best_score))
        if improved:
            self.best_score, self.best_loss = score, loss
            self.best_epoch = int(round(state.epoch or 0))
            self._pruned_flag = False
            if self.save_best and state.is_world_process_zero:
                _save_best(model, processing_class, Path(args.output_dir) / "best_model")
        self._prune(model, optimizer)

    def _prune(self, model, optimizer) -> None:
        head = self._head(model)
        if self.prune_threshold is None or head is None:
            return
        if du.is_distributed():
            logger.warning("BPSOMCallback: pruning skipped under several processes")
            return
        before = head.hidden_size
        result = getattr(model, "module", model).prune(self.prune_threshold)
        if result.n_pruned:
            if optimizer is not None:
                shrink_optimizer_state(getattr(optimizer, "optimizer", optimizer), result)
            self._pruned_flag = True
            self._pending["som_hidden_units"] = head.hidden_size
            logger.info("pruned %d hidden units (%d -> %d)", result.n_pruned, before, head.hidden_size)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not self._pending or logs is None:
            return
        logs.update(self._pending)
        if state.log_history:
            state.log_history[-1].update(self._pending)
        if self._writer is not None:
            for k, v in self._pending.items():
                self._writer.add_scalar(k, v, state.global_step)
            self._writer.flush()
        self._pending = {}

    def on_train_end(self, args, state, control, **kwargs):
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _has_tensorboard() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


def _tensorboard_writer(args):
    """A SummaryWriter next to the Trainer's own TensorBoard runs."""
    from torch.utils.tensorboard import SummaryWriter
    root = os.environ.get("TENSORBOARD_LOGGING_DIR") or os.path.join(args.output_dir, "runs")
    return SummaryWriter(log_dir=os.path.join(root, "bpsom"))


def _save_best(model, tokenizer, directory: Path) -> None:
    """The best model so far, with its tokenizer, so pipelines load the directory."""
    getattr(model, "module", model).save_pretrained(directory)
    if tokenizer is not None:
        from .modeling import save_files_atomically
        save_files_atomically(tokenizer.save_pretrained, directory)
