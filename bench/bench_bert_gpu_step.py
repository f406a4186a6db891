"""Bench (b): cost of the BP-SOM head in a bert-base-sized training step on a GPU.

One process, one GPU: a randomly initialised bert-base (12 layers, hidden 768;
no download) with the plain baseline head and with the BP-SOM head (128
units, 20x20 SOM, in-order SOM update every step), batch 32, sequence 128,
bf16 autocast, fused AdamW, the step as the trainer runs it (padding mask in
the form that needs no sync).  A third model is "plain PyTorch":
``transformers.BertForSequenceClassification`` of the same configuration,
trained with the same optimizer and autocast and nothing of ours, the
reference for what PyTorch gives for this model and batch.  All three are
timed in the same run, alternating blocks so clock and thermal drift hit
them alike.  Prints ms/step and the ratios; goals: BP-SOM at most 1.05x the
baseline, the baseline within 1.5x of plain PyTorch.  Without CUDA it prints
SKIPPED and exits 0 (``--cpu-smoke`` runs a tiny configuration on the CPU to
check the script itself).

    python3 bench/bench_bert_gpu_step.py [--steps 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build(head_type: str, device, enc_cfg):
    from transformers import BertForSequenceClassification, BertModel

    from bpsom_bert.modeling import BPSOMConfig, BPSOMForSequenceClassification
    torch.manual_seed(0)
    fused = True if device.type == "cuda" else None
    if head_type == "plain pytorch":
        model = BertForSequenceClassification(enc_cfg).to(device)
        model.train()
        return model, torch.optim.AdamW(model.parameters(), lr=2e-5, fused=fused)
    enc = BertModel(enc_cfg, add_pooling_layer=False)
    cfg = BPSOMConfig(encoder=enc.config.to_dict(), head_type=head_type, hidden_size=128,
                      som_grid_size=20, num_labels=2, encoder_pooler=False)
    model = BPSOMForSequenceClassification(cfg, encoder=enc, seed=0).to(device)
    if head_type == "bpsom":
        model.head.set_schedule(1, 10, 0.05, 0.20, 0, 2)
        # a labelled, reliable map so the SOM error path runs on every example
        model.head.cell_labels.copy_(torch.arange(400, device=device) % 2 + 1)
        model.head.reliability.fill_(100)
    model.train()
    return model, torch.optim.AdamW(model.parameters(), lr=2e-5, fused=fused)


def time_steps(model, opt, batch, steps: int, device) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else torch.autocast("cpu", enabled=False))
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        with autocast:
            out = model(**batch)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    sync()
    return (time.perf_counter() - t0) / steps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--cpu-smoke", action="store_true", help="a tiny BERT on the CPU (checks the script only)")
    args = ap.parse_args()
    from transformers import BertConfig

    from bpsom_bert.batches import attention_mask_for
    if args.cpu_smoke:
        dev = torch.device("cpu")
        enc_cfg = BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=128)
        args.steps, args.rounds = min(args.steps, 3), min(args.rounds, 2)
    elif not torch.cuda.is_available():
        print("SKIPPED: no CUDA device (bench (b) needs a GPU; run it on one)")
        return
    else:
        dev = torch.device("cuda")
        enc_cfg = BertConfig()                      # bert-base-uncased shape
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 30000, (args.batch, args.seq), generator=g)
    mask = torch.ones_like(ids).to(dev)
    batch = {"input_ids": ids.to(dev), "attention_mask": mask, "token_type_ids": torch.zeros_like(ids).to(dev),
             "labels": torch.randint(0, 2, (args.batch,), generator=g).to(dev)}
    runs = {m: build(m, dev, enc_cfg) for m in ("plain", "bpsom", "plain pytorch")}
    # no padding in these batches: the trainer passes no mask then (bpsom_bert.batches.BatchPlan.padded)
    batches = {m: dict(batch, attention_mask=attention_mask_for(runs[m][0].encoder, mask, padded=False))
               for m in ("plain", "bpsom")}
    batches["plain pytorch"] = batch                 # what a plain loop passes: the 2-D mask
    for m, (model, opt) in runs.items():
        time_steps(model, opt, batches[m], 5, dev)   # warm-up: kernels, tables, CUDA graphs, allocator
    times = {m: [] for m in runs}
    for _ in range(args.rounds):
        for m, (model, opt) in runs.items():
            times[m].append(time_steps(model, opt, batches[m], args.steps, dev))
    med = {m: statistics.median(t) for m, t in times.items()}
    used = runs["bpsom"][0](**batches["bpsom"]).som_usage
    name = torch.cuda.get_device_name() if dev.type == "cuda" else "CPU smoke run (tiny BERT)"
    print(f"{name}: {'bert-base' if not args.cpu_smoke else 'tiny BERT'}, batch {args.batch}, seq {args.seq}, "
          f"{'bf16' if dev.type == 'cuda' else 'fp32'}, AdamW")
    for m, label in (("plain", "baseline head"), ("bpsom", "BP-SOM head"), ("plain pytorch", "plain PyTorch")):
        extra = f"  SOM usage {float(used):.2f}" if m == "bpsom" else ""
        print(f"  {label:14s}: {med[m]:8.2f} ms/step   (rounds: {', '.join(f'{t:.2f}' for t in times[m])}){extra}")
    print(f"  ratio BP-SOM / baseline: {med['bpsom'] / med['plain']:.3f} (goal <= 1.05)")
    print(f"  ratio baseline / plain PyTorch (BertForSequenceClassification, same batch and optimizer): "
          f"{med['plain'] / med['plain pytorch']:.3f} (goal <= 1.5)")


if __name__ == "__main__":
    main()
