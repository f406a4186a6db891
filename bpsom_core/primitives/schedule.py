"""SOM context and learning-rate schedules (C: update_som_context_and_lr).

The context falls with the 4th power of the remaining fraction of epochs, the
learning rate linearly; both are evaluated with the C's double/float mix so
the exact engine can use them unchanged.
"""

from __future__ import annotations

import math

import numpy as np

SOM_CONTEXT_FALL = 4
SOM_LR_FALL = 1


def context_schedule(epoch: int, n_epochs: int, cmin: int, cmax: int) -> int:
    """Neighbourhood radius for ``epoch`` (1-based): cmin + floor(r^4 (cmax-cmin) + 0.5)."""
    ratio = (float(n_epochs) - epoch) ** SOM_CONTEXT_FALL / float(n_epochs) ** SOM_CONTEXT_FALL
    return int(cmin + math.floor(ratio * (cmax - cmin) + 0.5))


def lr_schedule(epoch: int, n_epochs: int, lrmin: float, lrmax: float) -> float:
    """SOM learning rate for ``epoch``: lrmin + (float)(r * (lrmax-lrmin)), in float32 like the C."""
    f32 = np.float32
    lo, hi = f32(lrmin), f32(lrmax)
    span = float(f32(hi - lo))
    ratio = (float(n_epochs) - epoch) ** SOM_LR_FALL / float(n_epochs) ** SOM_LR_FALL
    return float(f32(lo + f32(ratio * span)))
