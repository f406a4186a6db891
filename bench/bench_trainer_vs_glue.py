"""`bpsom glue` and `transformers.Trainer` + BPSOMCallback on the same data, seed and settings.

Run: python bench/bench_trainer_vs_glue.py --model ENCODER_DIR --data-dir SST2_DIR
         [--train 1000] [--epochs 2] [--max-length 64] [--seed 42]
Prints each path's dev accuracy per epoch, its SOM use, and the best epoch.
With MiniLM (6 layers) on a CPU, 2000 training examples take tens of
minutes per path; use --train 400 for a first look, or a GPU.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def _config(args):
    from bpsom_bert.config import config_from_dict
    return config_from_dict({
        "model": {"name": args.model, "max_length": args.max_length},
        "pruning": {"enabled": True, "threshold": 0.02},
        "training": {"epochs": args.epochs, "batch_size": 32, "eval_batch_size": 64,
                     "learning_rate": args.lr, "warmup_steps": 0, "early_stopping_patience": 0,
                     "seed": args.seed}})


def run_glue(args, out: Path) -> dict:
    from bpsom_bert.data import get_task
    from bpsom_bert.run import GlueJob, run_job
    job = GlueJob(task=get_task("sst2"), mode="bpsom", cfg=_config(args), output_dir=out,
                  data_dir=Path(args.data_dir), max_train=args.train, device="cpu")
    run_job(job, lambda kind, data: None)
    hist = json.loads((out / "sst2" / "bpsom" / "history.json").read_text())
    return {"dev_accuracy": [h["dev_accuracy"] for h in hist], "som_usage": [h["som_usage"] for h in hist]}


def run_trainer(args, out: Path) -> dict:
    import datasets
    from transformers import AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments, set_seed

    from bpsom_bert import BPSOMForSequenceClassification
    from bpsom_bert.callback import BPSOMCallback
    from bpsom_bert.data import get_task, load_task_data

    cfg = _config(args)
    task = get_task("sst2")
    splits = load_task_data(task, Path(args.data_dir))
    set_seed(args.seed)
    tok = AutoTokenizer.from_pretrained(args.model)

    def to_ds(split, n=None):
        split = split.head(n)
        ds = datasets.Dataset.from_dict({"sentence": [t[0] for t in split.texts], "label": split.labels})
        return ds.map(lambda b: tok(b["sentence"], truncation=True, max_length=args.max_length), batched=True)

    b = cfg.bpsom
    model = BPSOMForSequenceClassification.from_encoder(
        args.model, num_labels=2, seed=args.seed, hidden_size=b.hidden_size, som_grid_size=b.som_grid_size,
        som_error_weight=b.som_error_weight, reliability_threshold=b.threshold_percent,
        classifier_dropout=cfg.model.dropout, label_names=list(task.label_names))
    targs = TrainingArguments(str(out), num_train_epochs=args.epochs, per_device_train_batch_size=32,
                              per_device_eval_batch_size=64, learning_rate=args.lr, weight_decay=0.01,
                              warmup_steps=0, max_grad_norm=1.0, eval_strategy="epoch",
                              logging_strategy="epoch", save_strategy="no", report_to="none",
                              seed=args.seed, use_cpu=True, disable_tqdm=True)

    def accuracy(pred):
        return {"accuracy": float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())}

    trainer = Trainer(model=model, args=targs, train_dataset=to_ds(splits["train"], args.train),
                      eval_dataset=to_ds(splits["validation"]), processing_class=tok,
                      data_collator=DataCollatorWithPadding(tok), compute_metrics=accuracy,
                      callbacks=[BPSOMCallback.from_run_config(cfg)])
    from transformers.trainer_callback import PrinterCallback
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    hist = trainer.state.log_history
    return {"dev_accuracy": [h["eval_accuracy"] for h in hist if "eval_accuracy" in h],
            "som_usage": [h["som_usage"] for h in hist if "som_usage" in h]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--train", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    import datasets
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    datasets.disable_progress_bars()
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in (("bpsom glue", run_glue), ("Trainer + BPSOMCallback", run_trainer)):
            t0 = time.perf_counter()
            r = fn(args, Path(tmp) / name.split()[0])
            acc = " ".join(f"{a:.4f}" for a in r["dev_accuracy"])
            use = " ".join(f"{100 * u:.1f}%" for u in r["som_usage"])
            print(f"{name:<26} dev accuracy per epoch {acc}   best {max(r['dev_accuracy']):.4f}   "
                  f"SOM use {use}   {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
