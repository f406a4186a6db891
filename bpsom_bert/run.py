"""One `bpsom glue` experiment: data, model, training and files for each mode.

Output layout: ``<output-dir>/<task>/<mode>/`` holds the C-style text log
(``train.log``, also as ``logs/bpsom_experiment.log``), the JSON events and
summary (``log.json`` = ``logs/bpsom_experiment.json``), the per-epoch
history (``history.json`` = ``<mode>_history.json``), ``best_model/``
(``save_pretrained`` of the best dev epoch), ``test_predictions.tsv`` for an
unlabelled test split, and the plots in ``visualizations/``.  With ``--mode
both`` the two runs share data and seed, and ``<output-dir>/<task>/``
gets ``comparison_*.png`` (copied into each mode's ``visualizations/``) and
``comparison.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from bpsom_core.atomic import RunDirectory, atomic_write_bytes, atomic_write_text
from bpsom_core.errors import InputError, first_line, library_of

from . import distributed as du
from .config import RunConfig
from .batches import default_cache_dir, tokenize_split
from .data import Split, TaskSpec, load_task
from .modeling import BPSOMForSequenceClassification
from .reporting import EpochReporter
from .runlog import RunLog, format_label_key
from .trainer import GlueTrainer, TrainResult, set_seed, som_params

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
    test_every_epoch: bool = False
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
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    hub_logging.set_verbosity_error()   # the hub client's "Retrying in 1s" lines


def load_tokenizer(name: str):
    """The encoder's tokenizer (a local directory works offline)."""
    from transformers import AutoTokenizer
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except Exception as exc:   # noqa: BLE001 - the user's tokenizer files (garbage JSON, wrong types,
        # an unknown model type) fail in many ways inside transformers and tokenizers
        raise InputError(f"cannot load a tokenizer ({first_line(exc, 240) or type(exc).__name__})",
                         path=name, field="--model") from None
    if len(tokenizer.get_vocab()) <= len(set(tokenizer.all_special_tokens)):
        # transformers builds an empty tokenizer from a directory without tokenizer files:
        # every word would become [UNK] and the run would train on nothing
        raise InputError("no usable tokenizer (tokenizer.json or vocab.txt missing or empty): its vocabulary "
                         f"holds only the special tokens {', '.join(sorted(set(tokenizer.all_special_tokens)))}",
                         path=name, field="--model")
    return tokenizer


def build_model(cfg: RunConfig, task: TaskSpec, head_type: str) -> BPSOMForSequenceClassification:
    """A fresh head on the configured pretrained encoder."""
    b, som = cfg.bpsom, som_params(cfg)
    try:
        return BPSOMForSequenceClassification.from_encoder(
            cfg.model.name, num_labels=task.num_labels, head_type=head_type, seed=cfg.training.seed,
            label_names=list(task.label_names),
            hidden_size=b.hidden_size, som_grid_size=b.som_grid_size, som_error_weight=som.som_error_weight,
            reliability_threshold=som.reliability_threshold, classifier_dropout=cfg.model.dropout,
            som_update=som.som_update, som_input=b.som_input)
    except RuntimeError as exc:
        if "mismatched" not in str(exc) and "size mismatch" not in str(exc):
            raise
        raise InputError("the weights do not fit the encoder's config.json (tensor shapes differ)",
                         path=str(Path(cfg.model.name) / "model.safetensors"), field="--model") from None
    except (OSError, ValueError) as exc:   # ValueError: a config.json of a model type transformers lacks
        if isinstance(exc, ValueError) and library_of(exc) is None:
            raise
        raise InputError(f"cannot load the encoder ({first_line(exc, 240) or type(exc).__name__})",
                         path=cfg.model.name, field="--model") from None


def run_mode(job: GlueJob, mode: str, splits: dict[str, Split], tokenizer,
             on_progress: Callable[[str, dict], None],
             model: Optional[BPSOMForSequenceClassification] = None) -> TrainResult:
    """Train one mode ('bpsom' or 'baseline') and write its files."""
    with _run_directory(job.output_dir / job.task.name / mode) as out:
        return _train_mode(job, mode, splits, tokenizer, on_progress, model, out)


@contextlib.contextmanager
def _run_directory(final: Path):
    """Where one mode's files go while it trains.  The main rank writes a temporary directory
    beside ``final``, locked against a second run, and swaps it in when the mode has finished:
    an interrupted run or a full disk leaves the earlier run's directory as it was.  (TensorBoard
    sees the running one under ``.<mode>.*.tmp/tensorboard`` beside it.)  Other ranks write nothing."""
    if not du.is_main():
        yield final
        return
    run_dir = RunDirectory(final, force=True)
    with run_dir as tmp:
        yield tmp
        run_dir.commit()


def _train_mode(job: GlueJob, mode: str, splits: dict[str, Split], tokenizer,
                on_progress: Callable[[str, dict], None], model: Optional[BPSOMForSequenceClassification],
                out: Path) -> TrainResult:
    """run_mode's work, its files written to ``out``."""
    cfg = job.cfg
    device = pick_device(job.device)
    set_seed(cfg.training.seed)
    log = RunLog(out, enabled=du.is_main(), mode=mode)
    if model is None:
        model = build_model(cfg, job.task, "bpsom" if mode == "bpsom" else "plain")
    # tokenised once; the array cache serves the second mode and later runs
    cache = default_cache_dir()
    train = tokenize_split(splits["train"].head(job.max_train), tokenizer, cfg.model.max_length, cache)
    dev = tokenize_split(splits["validation"].head(job.max_eval), tokenizer, cfg.model.max_length, cache)
    test_split = splits.get("test")
    test = tokenize_split(test_split, tokenizer, cfg.model.max_length, cache) if test_split is not None else None
    log.line(_header(job, mode, cfg, len(train), len(dev), test_split))
    log.event("start", task=job.task.name, mode=mode, config=cfg.to_dict(),
              train_examples=len(train), dev_examples=len(dev),
              test_examples=len(test_split) if test_split is not None else 0,
              test_labelled=test_split.labelled if test_split is not None else None,
              world_size=du.world_size())
    if mode == "bpsom" and du.is_main() and log.enabled:
        from .som_snapshots import write_examples
        write_examples(out, splits["train"].head(job.max_train), job.task.label_names)
    reporter = EpochReporter(out, mode, job.report_to, enabled=du.is_main())

    def progress(kind: str, data: dict) -> None:
        if kind == "epoch":
            reporter.epoch(data)
        on_progress(kind, {"mode": mode, **data})

    trainer = GlueTrainer(model, cfg, job.task, train, dev, tokenizer, out, device, log,
                          on_progress=progress,
                          test=test, test_ids=test_split.ids if test_split is not None else None,
                          test_every_epoch=job.test_every_epoch)
    log.event("precision", precision=trainer.precision, device=str(device),
              warmup_steps=trainer.warmup_steps)
    try:
        result = trainer.fit()
    finally:
        reporter.close()
    summary = {"task": job.task.name, "mode": mode, **summarise(result),
               "precision": trainer.precision, "device": str(device)}
    log.flush(summary)
    if du.is_main() and result.history:
        from . import plots
        plots.training_history(out / "visualizations" / "training_history.png", result.history,
                               job.task.primary_metric)
    return result


def summarise(r: TrainResult) -> dict:
    """What stdout's JSON and the logs report per mode: the BEST model's dev, test and size."""
    out = {"best_epoch": r.best_epoch, "dev": r.best_metrics}
    if r.test_metrics is not None:
        out["test"] = r.test_metrics
    out.update(hidden_units=r.hidden_units, train_examples_per_s=round(r.train_examples_per_s, 2),
               elapsed_s=round(r.elapsed_s, 2))
    if r.final_hidden_units is not None and r.final_hidden_units != r.hidden_units:
        out["final_hidden_units"] = r.final_hidden_units
    return out


def _header(job: GlueJob, mode: str, cfg: RunConfig, n_train: int, n_dev: int, test) -> str:
    n_test = "none" if test is None else f"{len(test)}{'' if test.labelled else ' (unlabelled)'}"
    lines = [f"BP-SOM glue run: task={job.task.name} mode={mode} model={cfg.model.name}",
             f"train examples={n_train} dev examples={n_dev} test examples={n_test}",
             format_label_key(job.task.label_names)]
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
    summary = {m: summarise(r) for m, r in results.items()}
    if job.mode == "both" and du.is_main():
        _compare(job, results)
    if du.is_distributed():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return summary


def _compare(job: GlueJob, results: dict[str, TrainResult]) -> None:
    """Comparison plots in ``<task>/``, copied into each mode's ``visualizations/``."""
    from . import plots
    d = job.output_dir / job.task.name
    hist = {m: r.history for m, r in results.items()}
    metric = job.task.primary_metric
    written = [d / f"comparison_dev_{metric}.png", d / "comparison_train_loss.png",
               d / "comparison_dev_loss.png", d / "comparison.png"]
    plots.comparison(written[0], hist, f"dev_{metric}", f"dev {metric}", plots.axis_label(metric))
    plots.comparison(written[1], hist, "train_loss", "train loss", "cross-entropy")
    plots.comparison(written[2], hist, "dev_loss", "dev loss", "cross-entropy")
    plots.comparison_panels(written[3], hist, metric)
    for mode in results:
        viz = d / mode / "visualizations"
        viz.mkdir(parents=True, exist_ok=True)
        for path in written:
            atomic_write_bytes(viz / path.name, path.read_bytes())
    doc = {m: {"best_epoch": r.best_epoch, "dev": r.best_metrics, "test": r.test_metrics,
               "hidden_units": r.hidden_units, "train_examples_per_s": r.train_examples_per_s}
           for m, r in results.items()}
    atomic_write_text(d / "comparison.json", json.dumps(doc, indent=2))
