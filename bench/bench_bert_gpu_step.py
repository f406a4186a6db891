"""Bench (b): cost of the BP-SOM head in a bert-base-sized training step on a GPU.

One process, one GPU: a randomly initialised bert-base (12 layers, hidden 768;
no download) with the plain baseline head and with the BP-SOM head (128
units, 20x20 SOM, in-order SOM update every step), batch 32, sequence 128,
bf16 autocast, AdamW.  Both are timed in the same run, alternating blocks so
clock and thermal drift hit both alike.  Prints ms/step and the ratio; goal:
the BP-SOM step at most 1.05x the baseline step.  Without CUDA it prints
SKIPPED and exits 0.

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


def build(head_type: str, device):
    from transformers import BertConfig, BertModel

    from bpsom_bert.modeling import BPSOMConfig, BPSOMForSequenceClassification
    torch.manual_seed(0)
    enc = BertModel(BertConfig(), add_pooling_layer=False)      # bert-base-uncased shape
    cfg = BPSOMConfig(encoder=enc.config.to_dict(), head_type=head_type, hidden_size=128,
                      som_grid_size=20, num_labels=2, encoder_pooler=False)
    model = BPSOMForSequenceClassification(cfg, encoder=enc, seed=0).to(device)
    if head_type == "bpsom":
        model.head.set_schedule(1, 10, 0.05, 0.20, 0, 2)
        # a labelled, reliable map so the SOM error path runs on every example
        model.head.cell_labels.copy_(torch.arange(400, device=device) % 2 + 1)
        model.head.reliability.fill_(100)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5, fused=True)
    return model, opt


def time_steps(model, opt, batch, steps: int) -> float:
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(**batch)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("SKIPPED: no CUDA device (bench (b) needs a GPU; run it on one)")
        return
    dev = torch.device("cuda")
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 30000, (args.batch, args.seq), generator=g)
    batch = {"input_ids": ids.to(dev), "attention_mask": torch.ones_like(ids).to(dev),
             "token_type_ids": torch.zeros_like(ids).to(dev),
             "labels": torch.randint(0, 2, (args.batch,), generator=g).to(dev)}
    runs = {m: build(m, dev) for m in ("plain", "bpsom")}
    for m, (model, opt) in runs.items():
        time_steps(model, opt, batch, 5)               # warm-up: kernels, tables, allocator
    times = {m: [] for m in runs}
    for _ in range(args.rounds):
        for m, (model, opt) in runs.items():
            times[m].append(time_steps(model, opt, batch, args.steps))
    base, bp = statistics.median(times["plain"]), statistics.median(times["bpsom"])
    used = runs["bpsom"][0](**batch).som_usage
    print(f"{torch.cuda.get_device_name()}: bert-base, batch {args.batch}, seq {args.seq}, bf16, AdamW")
    print(f"  baseline head: {base:8.2f} ms/step   (rounds: {', '.join(f'{t:.2f}' for t in times['plain'])})")
    print(f"  BP-SOM head  : {bp:8.2f} ms/step   (rounds: {', '.join(f'{t:.2f}' for t in times['bpsom'])})"
          f"  SOM usage {float(used):.2f}")
    print(f"  ratio BP-SOM / baseline: {bp / base:.3f} (goal <= 1.05)")


if __name__ == "__main__":
    main()
