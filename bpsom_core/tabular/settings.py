"""Every knob of tabular BP-SOM training, validated once, with the C's defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

SOLVERS = ("online", "minibatch")
LOSSES = ("mse", "cross_entropy")
SOM_UPDATES = ("inorder", "summed")


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
    som_error_weight: float = 0.25
    reliability_threshold: int = 95
    som_context: Tuple[int, int] = (0, 2)
    som_lr: Tuple[float, float] = (0.05, 0.20)
    som_update: str = "inorder"
    prune_threshold: float = 0.0
    max_epochs: int = 100
    patience: Optional[int] = 30
    shuffle: bool = True
    init_scale: float = 1.0
