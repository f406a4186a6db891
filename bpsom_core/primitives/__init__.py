"""BP-SOM primitives, written once for NumPy and torch (chosen by array type).

Every engine (the exact C port, the tabular classifier, the BERT head) uses
these functions; none re-implements a rule of the algorithm.  Each rule is one
small per-example function in :mod:`.rules` (numba-compiled where the
kernels need it); the batch functions below call it from their compiled
kernels and mirror it, in one marked place beside the call, for torch.
Torch is only imported when a tensor is passed in, and tensors stay on their
device.  ``docs/architecture.md`` lists each rule, its function and callers.

Conventions: cells are flattened in the C's scan order ``k = (x-1)*D + (y-1)``
(x outer); class labels are 1-based, 0 means unlabelled; -1 means "no cell".

For developers: numba caches the compiled kernels next to their modules
(``__pycache__/*.nbi``, ``*.nbc``) and does not notice when a kernel's callee
in *another* module changes; after editing a kernel, clear the caches
(``find bpsom_core -name '*.nb[ic]' -delete``) before testing or timing.
"""

from .distance import sq_distances
from .pruning import absorb_bias, activation_stats, prune_mask, remove_units
from .schedule import context_schedule, lr_schedule
from .step import SomStep, som_step
from .rules import (DONOTHING, MIN_IMPROVE, better_network, cell_label, pruning_choice,
                    pruning_enabled)
from .som import (cell_coords, neighbourhood_power, som_update,
                  som_update_one, update_mask)
from .winners import combine_hidden_delta, count_cells, find_winners, label_cells, som_error

__all__ = [
    "DONOTHING", "MIN_IMPROVE", "SomStep", "better_network", "cell_label", "pruning_choice",
    "pruning_enabled", "absorb_bias", "activation_stats", "cell_coords", "combine_hidden_delta",
    "context_schedule", "count_cells", "find_winners", "label_cells", "lr_schedule",
    "neighbourhood_power", "prune_mask", "remove_units", "som_error", "som_update",
    "som_step", "som_update_one", "sq_distances", "update_mask",
]
