"""BPSOMParams: the settings of one BP-SOM layer, with canonical names, units and defaults.

Every front end translates its own spelling into this object at its edge,
once: the C's ``.prm`` keys (:meth:`BPSOMParams.from_prm`), the scikit-learn
classifier's constructor and the ``train`` options (through the classifier),
and the BERT YAML config (a reliability fraction such as 0.95 becomes the
integer percent 95 there).  Engines read only this object.

Defaults are the C program's.  The one documented difference: the tabular
classifier (and ``bpsom train``) default to ``prune_threshold=0.0``, pruning
off, because its early stopping keeps the best validation epoch and pruning
changes the model's shape under it; pass 0.02 for the C's behaviour.  The C
and the BERT head prune at 0.02 by default.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Optional, Tuple

SOM_UPDATES = ("inorder", "summed")
# Most epochs any front end accepts: the C program counts them in an int, and the
# schedules raise the count to the 4th power (a float overflows past about 1e77).
MAX_EPOCHS = 2**31 - 1
MAX_SEED = 2**32 - 1       # numpy and torch refuse seeds outside 0..2**32-1


def check_int(name: str, value: Any, low: Optional[int] = None, high: Optional[int] = None) -> int:
    """``value`` as an int, or ValueError ``NAME must be ...`` naming the allowed range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {rng}, got {value!r}")
    return int(value)


def check_float(name: str, value: Any, low: float, high: float, open_: bool = False,
                low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float inside the interval, or ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    lo_bad = value <= low if (open_ or low_open) else value < low
    hi_bad = value >= high if (open_ or high_open) else value > high
    if lo_bad or hi_bad:
        left = "(" if (open_ or low_open) else "["
        right = ")" if (open_ or high_open) else "]"
        raise ValueError(f"{name} must be in {left}{low}, {high}{right}, got {value!r}")
    return float(value)


def _pair(name: str, value: Any, check) -> tuple:
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(f"{name} must be a (min, max) pair, got {value!r}") from None
    if len(items) != 2:
        raise ValueError(f"{name} must be a (min, max) pair, got {value!r}")
    low, high = (check(f"{name}[{i}]", v) for i, v in enumerate(items))
    if low > high:
        raise ValueError(f"{name} must be (min, max) with min <= max, got {value!r}")
    return low, high


@dataclass(frozen=True)
class BPSOMParams:
    """How a hidden layer's SOM steers learning (validated on construction).

    som_error_weight       a in [0, 1]: the SOM error's share of the hidden delta,
                           ``(1-a)*bp + a*som`` (C: SOM_ERROR_USE)
    reliability_threshold  integer percent in [0, 100] a partial winner's cell needs
                           before its SOM error is used (C: RELIABILITY_THRESHOLD)
    som_context            (min, max) neighbourhood radius in grid rings, falling over
                           the epochs (C: SOM_MIN_CONTEXT, SOM_MAX_CONTEXT)
    som_lr                 (min, max) SOM learning rate in [0, 1], falling likewise
                           (C: SOM_MIN_LEARN_RATE, SOM_MAX_LEARN_RATE)
    prune_threshold        activation std at or below which a hidden unit is pruned;
                           pruning is off at or below 0.0001 (C: PRUNE_THRESHOLD)
    som_update             "inorder" (examples one after another, the C) or "summed"
                           (one summed step per batch), for batched engines
    """

    som_error_weight: float = 0.25
    reliability_threshold: int = 95
    som_context: Tuple[int, int] = (0, 2)
    som_lr: Tuple[float, float] = (0.05, 0.20)
    prune_threshold: float = 0.02
    som_update: str = "inorder"

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "som_error_weight", check_float("som_error_weight", self.som_error_weight, 0.0, 1.0))
        put(self, "reliability_threshold", check_int("reliability_threshold", self.reliability_threshold, 0, 100))
        put(self, "som_context", _pair("som_context", self.som_context, lambda n, v: check_int(n, v, low=0)))
        put(self, "som_lr", _pair("som_lr", self.som_lr, lambda n, v: check_float(n, v, 0.0, 1.0)))
        put(self, "prune_threshold", check_float("prune_threshold", self.prune_threshold, 0.0, 1.0))
        if self.som_update not in SOM_UPDATES:
            raise ValueError(f"som_update must be one of {', '.join(map(repr, SOM_UPDATES))}; "
                             f"got {self.som_update!r}")

    @classmethod
    def from_prm(cls, p: Any) -> "BPSOMParams":
        """From the C's checked ``.prm`` parameters (:class:`~bpsom_core.prm_params.CParams`)."""
        return cls(som_error_weight=p.SOM_ERROR_USE, reliability_threshold=p.RELIABILITY_THRESHOLD,
                   som_context=(p.SOM_MIN_CONTEXT, p.SOM_MAX_CONTEXT),
                   som_lr=(p.SOM_MIN_LEARN_RATE, p.SOM_MAX_LEARN_RATE), prune_threshold=p.PRUNE_THRESHOLD)

    @staticmethod
    def percent(fraction: float, name: str = "reliability_threshold") -> int:
        """A reliability given as a fraction in [0, 1] (YAML: 0.95) as the integer percent (95)."""
        return int(round(100 * check_float(name, fraction, 0.0, 1.0)))

    def context(self, epoch: int, n_epochs: int) -> int:
        """The neighbourhood radius of ``epoch`` (1-based) of ``n_epochs``."""
        from .primitives.schedule import context_schedule
        return context_schedule(epoch, n_epochs, *self.som_context)

    def learning_rate(self, epoch: int, n_epochs: int) -> float:
        """The SOM learning rate of ``epoch`` (1-based) of ``n_epochs``, a float32 value."""
        from .primitives.schedule import lr_schedule
        return lr_schedule(epoch, n_epochs, *self.som_lr)


TABULAR_DEFAULTS = BPSOMParams(prune_threshold=0.0)
"""The tabular classifier's and ``bpsom train``'s defaults: the C's, pruning off (module doc)."""
