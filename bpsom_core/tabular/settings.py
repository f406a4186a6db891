"""Every knob of tabular BP-SOM training, validated once, with the C's defaults.

The SOM's own settings are a :class:`~bpsom_core.params.BPSOMParams`; the
rest is the network and its optimiser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from ..params import TABULAR_DEFAULTS, BPSOMParams

SOLVERS = ("online", "minibatch")
LOSSES = ("mse", "cross_entropy")


@dataclass(frozen=True)
class TrainSettings:
    """Resolved training settings (see BPSOMClassifier for what each one means)."""

    hidden_layer_sizes: Tuple[int, ...] = (20,)
    som_dims: Tuple[int, ...] = (7,)
    solver: str = "online"
    batch_size: int = 1
    loss: str = "mse"
    learning_rate: float = 0.15
    momentum: float = 0.4
    weight_decay: float = 0.0
    error_threshold: float = 0.02
    som: BPSOMParams = TABULAR_DEFAULTS
    max_epochs: int = 100
    patience: Optional[int] = 30
    shuffle: bool = True
    init_scale: float = 1.0
