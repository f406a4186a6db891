"""One `bpsom glue` experiment: data, model, training and files for each mode.

Output layout: ``<output-dir>/<task>/<mode>/`` holds ``train.log`` (C-style
text), ``log.json`` (events + summary), ``history.json``, the PNG plots and
``best_model/`` (``save_pretrained`` of the best dev epoch).  With
``--mode both`` the two runs share data and seed, and
``<output-dir>/<task>/comparison_*.png`` plus ``comparison.json`` compare them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from bpsom_core.atomic import atomic_write_text
from bpsom_core.errors import InputError

from . import distributed as du
from .config import RunConfig
from .data import EncodedSplit, Split, TaskSpec, load_task
from .modeling import BPSOMForSequenceClassification
from .reporting import EpochReporter
from .runlog import RunLog
from .trainer import GlueTrainer, TrainResult, set_seed

MODES = ("bpsom", "baseline", "both")


@dataclass
class GlueJob:
    """What the CLI asked for."""

    task: TaskSpec
    mode: str
    cfg: RunConfig
    output_dir: Path
    data_dir: Optional[Any] = None   # TSV directory, saved dataset, data files spec or DatasetDict
    max_train: Optional[int] = None
    max_eval: Optional[int] = None
    device: str = "auto"
    report_to: tuple[str, ...] = ()   # "tensorboard": events under <output-dir>/<task>/<mode>/tensorboard


def pick_device(name: str) -> torch.device:
    """cuda (this rank's GPU) when available and not refused, else cpu."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise InputError("CUDA requested but no GPU is available", field="--device")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


def init_distributed(device: torch.device) -> None:
    """Join the process group that torchrun / accelerate launch prepared."""
    if du.launched_distributed() and not torch.distributed.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")


def quiet_transformers() -> None:
    """No load reports or shard progress bars: our own progress owns stderr."""
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_tokenizer(name: str):
    """The encoder's tokenizer (a local directory works offline)."""
    from transformers import AutoTokenizer
    try:
        return AutoTokenizer.from_pretrained(name)
    except OSError as exc:
        raise InputError(f"cannot load a tokenizer from '{name}' ({str(exc).splitlines()[0][:160]})",
                         field="--model") from None


def build_model(cfg: RunConfig, task: TaskSpec, head_type: str) -> BPSOMForSequenceClassification:
    """A fresh head on the configured pretrained encoder."""
    b = cfg.bpsom
    try:
        return BPSOMForSequenceClassification.from_encoder(
            cfg.model.name, num_labels=task.num_labels, head_type=head_type, seed=cfg.training.seed,
            label_names=list(task.label_names),
            hidden_size=b.hidden_size, som_grid_size=b.som_grid_size, som_error_weight=b.som_error_weight,
            reliability_threshold=b.threshold_percent, classifier_dropout=cfg.model.dropout,
            som_update=b.som_update)
    except OSError as exc:
        raise InputError(f"cannot load encoder '{cfg.model.name}' ({str(exc).splitlines()[0][:160]})",
                         field="--model") from None


def run_mode(job: GlueJob, mode: str, splits: dict[str, Split], tokenizer,
             on_progress: Callable[[str, dict], None],
             model: Optional[BPSOMForSequenceClassification] = None) -> TrainResult:
    """Train one mode ('bpsom' or 'baseline') and write its files."""
    cfg = job.cfg
    device = pick_device(job.device)
    set_seed(cfg.training.seed)
    out = job.output_dir / job.task.name / mode
    log = RunLog(out, enabled=du.is_main())
    if model is None:
        model = build_model(cfg, job.task, "bpsom" if mode == "bpsom" else "plain")
    train = EncodedSplit(splits["train"].head(job.max_train), tokenizer, cfg.model.max_length)
    dev = EncodedSplit(splits["validation"].head(job.max_eval), tokenizer, cfg.model.max_length)
    log.line(_header(job, mode, cfg, len(train), len(dev), model))
    log.event("start", task=job.task.name, mode=mode, config=cfg.to_dict(),
              train_examples=len(train), dev_examples=len(dev), world_size=du.world_size())
    if mode == "bpsom" and du.is_main() and log.enabled:
        from .som_snapshots import write_examples
        write_examples(out, splits["train"].head(job.max_train), job.task.label_names)
    reporter = EpochReporter(out, mode, job.report_to, enabled=du.is_main())

    def progress(kind: str, data: dict) -> None:
        if kind == "epoch":
            reporter.epoch(data)
        on_progress(kind, {"mode": mode, **data})

    trainer = GlueTrainer(model, cfg, job.task, train, dev, tokenizer, out, device, log, on_progress=progress)
    log.event("precision", precision=trainer.precision, device=str(device))
    try:
        result = trainer.fit()
    finally:
        reporter.close()
    summary = {"task": job.task.name, "mode": mode, "best_epoch": result.best_epoch,
               "dev": result.best_metrics, "hidden_units": result.hidden_units,
               "train_examples_per_s": result.train_examples_per_s, "elapsed_s": result.elapsed_s,
               "precision": trainer.precision, "device": str(device)}
    log.flush(summary)
    if du.is_main() and result.history:
        from . import plots
        plots.training_history(out / "training_history.png", result.history, job.task.primary_metric)
    return result


def _header(job: GlueJob, mode: str, cfg: RunConfig, n_train: int, n_dev: int, model) -> str:
    lines = [f"BP-SOM glue run: task={job.task.name} mode={mode} model={cfg.model.name}",
             f"train examples={n_train} dev examples={n_dev}"]
    for section, values in cfg.to_dict().items():
        if mode == "baseline" and section in ("bpsom", "pruning"):
            continue
        for k, v in values.items():
            lines.append(f"{section}.{k} = {v}")
    return "\n".join(lines)


def run_job(job: GlueJob, on_progress: Callable[[str, dict], None]) -> dict[str, dict]:
    """Run the requested mode(s); returns a summary per mode."""
    device = pick_device(job.device)
    init_distributed(device)
    quiet_transformers()
    job.task, splits = load_task(job.task, job.data_dir)   # label names of a custom task come from the data
    tokenizer = load_tokenizer(job.cfg.model.name)
    modes = ["baseline", "bpsom"] if job.mode == "both" else [job.mode]
    results: dict[str, TrainResult] = {}
    for mode in modes:
        results[mode] = run_mode(job, mode, splits, tokenizer, on_progress)
    summary = {m: {"best_epoch": r.best_epoch, "dev": r.best_metrics, "hidden_units": r.hidden_units,
                   "train_examples_per_s": round(r.train_examples_per_s, 2),
                   "elapsed_s": round(r.elapsed_s, 2)} for m, r in results.items()}
    if job.mode == "both" and du.is_main():
        _compare(job, results)
    if du.is_distributed():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return summary


def _compare(job: GlueJob, results: dict[str, TrainResult]) -> None:
    from . import plots
    d = job.output_dir / job.task.name
    hist = {m: r.history for m, r in results.items()}
    metric = job.task.primary_metric
    plots.comparison(d / f"comparison_dev_{metric}.png", hist, f"dev_{metric}", f"dev {metric}")
    plots.comparison(d / "comparison_train_loss.png", hist, "train_loss", "train loss")
    plots.comparison(d / "comparison_dev_loss.png", hist, "dev_loss", "dev loss")
    doc = {m: {"best_epoch": r.best_epoch, "dev": r.best_metrics,
               "train_examples_per_s": r.train_examples_per_s} for m, r in results.items()}
    atomic_write_text(d / "comparison.json", json.dumps(doc, indent=2))
