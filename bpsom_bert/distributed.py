"""Keep the SOM identical on every rank (torchrun / accelerate launch).

DDP averages gradients and broadcasts buffers from rank 0 only at
construction; SOM updates made on other ranks would simply be lost.  Instead
every rank gathers the whole global batch of (activation, class) rows, in
rank order, and applies the same in-order update to the same prototypes.
Everything here is a no-op when torch.distributed is not initialised.
"""

from __future__ import annotations

import os
from typing import Tuple

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True inside an initialised process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


def launched_distributed() -> bool:
    """True when torchrun / accelerate launch started us (WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def gather_rows(t: torch.Tensor) -> Tuple[torch.Tensor, int]:
    """All ranks' rows of ``t`` concatenated in rank order, and this rank's offset.

    Ranks may hold different numbers of rows (a last, short batch): sizes are
    exchanged first and the rows padded to the largest.
    """
    if not is_distributed():
        return t, 0
    n = torch.tensor([t.shape[0]], device=t.device, dtype=torch.long)
    sizes = [torch.zeros_like(n) for _ in range(world_size())]
    dist.all_gather(sizes, n)
    sizes_i = [int(s) for s in sizes]
    biggest = max(sizes_i)
    pad = t.new_zeros((biggest - t.shape[0],) + tuple(t.shape[1:]))
    padded = torch.cat([t, pad]) if pad.shape[0] else t.contiguous()
    parts = [torch.empty_like(padded) for _ in sizes_i]
    dist.all_gather(parts, padded)
    out = torch.cat([p[:s] for p, s in zip(parts, sizes_i)])
    return out, sum(sizes_i[:rank()])


def all_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum of ``t`` over ranks (a copy; ``t`` itself when not distributed)."""
    if not is_distributed():
        return t
    out = t.clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def rank_from_env() -> int:
    """This process's rank before the process group exists (0 when not launched)."""
    return int(os.environ.get("RANK", "0"))


def unused_parameter_names(model: torch.nn.Module) -> list[str]:
    """Parameters the loss never reaches: an encoder's pooler, which the head does not read.

    BERT-like encoders are loaded without it; ALBERT, MPNet and others build
    one regardless, and DDP without ``find_unused_parameters`` then fails
    waiting for their gradients.
    """
    return [name for name, p in model.named_parameters()
            if p.requires_grad and ("pooler" in name.split(".")[:-1])]


def wrap_ddp(model: torch.nn.Module, device_ids):
    """DDP without per-forward buffer broadcasts (the SOM keeps itself in sync).

    ``find_unused_parameters`` (a search of the graph every step) only when
    the model holds parameters the loss never reaches.
    """
    import inspect

    from torch.nn.parallel import DistributedDataParallel as DDP
    params = inspect.signature(DDP.__init__).parameters
    flag = "forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers"
    return DDP(model, device_ids=device_ids, find_unused_parameters=bool(unused_parameter_names(model)),
               **{flag: False})
