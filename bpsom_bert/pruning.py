"""Keep an optimizer consistent after the head lost hidden units.

The C shifts ``del_old`` (its momentum) along with the weights when it prunes
(``prune_weights``); the torch analogue is slicing every per-parameter state
tensor of the optimizer (Adam's ``exp_avg``/``exp_avg_sq``, SGD's momentum
buffer) exactly like the parameter itself.  Scalar state (``step``) stays.
"""

from __future__ import annotations

import torch

from bpsom_core import primitives as P

from .head import BPSOMHead


def head_pruned_axes(head: BPSOMHead) -> list[tuple[torch.nn.Parameter, int]]:
    """Each shrinking parameter of the head and the axis that holds the units."""
    return [(head.hidden.weight, 0), (head.hidden.bias, 0), (head.classifier.weight, 1)]


@torch.no_grad()
def shrink_optimizer_state(optimizer: torch.optim.Optimizer, head: BPSOMHead,
                           mask: torch.Tensor, old_shapes: dict) -> None:
    """Slice the state of the head's pruned parameters with ``mask`` (H,) bool.

    ``old_shapes`` maps each parameter to its shape before pruning: state
    tensors of that shape are sliced, anything else is left alone.
    """
    for param, axis in head_pruned_axes(head):
        state = optimizer.state.get(param)
        if not state:
            continue
        for key, value in list(state.items()):
            if isinstance(value, torch.Tensor) and tuple(value.shape) == tuple(old_shapes[param]):
                state[key] = P.remove_units(value, mask.to(value.device), axis=axis).contiguous()
