"""Keep an optimizer consistent after the head lost hidden units.

The C shifts ``del_old`` (its momentum) along with the weights when it prunes
(``prune_weights``); the torch analogue is slicing every per-parameter state
tensor of the optimizer (Adam's ``exp_avg``/``exp_avg_sq``, SGD's momentum
buffer) exactly like the parameter itself.  Scalar state (``step``) stays.
"""

from __future__ import annotations

import torch

from bpsom_core import primitives as P

from .head import PruneResult


@torch.no_grad()
def shrink_optimizer_state(optimizer: torch.optim.Optimizer, result: PruneResult) -> None:
    """Point ``optimizer`` at the pruned head's new parameters, state sliced alike.

    For each (old, new, axis) of ``result``: the new parameter takes the old
    one's place in its param group, and every state tensor shaped like the
    old parameter is cut with ``remove_units`` along ``axis`` (kept whole for
    the classifier bias, whose shape does not change).
    """
    swap = {id(old): new for old, new, _ in result.replaced}
    for group in optimizer.param_groups:
        group["params"] = [swap.get(id(p), p) for p in group["params"]]
    for old, new, axis in result.replaced:
        state = optimizer.state.pop(old, None)
        if not state:
            continue
        for key, value in list(state.items()):
            if axis is not None and isinstance(value, torch.Tensor) and value.shape == old.shape:
                state[key] = P.remove_units(value, result.mask.to(value.device), axis=axis).contiguous()
        optimizer.state[new] = state
