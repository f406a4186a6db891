"""A BP-SOM model: the network, one optional SOM per hidden layer, and pruning bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from bpsom_core import primitives as P

from .network import Network
from .som_layer import SOMLayer


@dataclass
class BPSOMModel:
    """Network plus SOMs; ``unit_ids[l]`` are the original indices of the kept units of hidden layer l."""

    net: Network
    soms: List[Optional[SOMLayer]]
    unit_ids: List[np.ndarray] = field(default_factory=list)

    @classmethod
    def init(cls, n_in: int, n_out: int, hidden: tuple, som_dims: tuple, output: str,
             rng: np.random.Generator, init_scale: float = 1.0) -> "BPSOMModel":
        sizes = [n_in, *hidden, n_out]
        net = Network.init(sizes, rng, output, init_scale)
        soms = [SOMLayer.init(d, h, n_out, rng) if d > 0 else None for h, d in zip(hidden, som_dims)]
        return cls(net, soms, [np.arange(h) for h in hidden])

    @property
    def n_hidden_layers(self) -> int:
        return len(self.soms)

    def prune(self, means: List[np.ndarray], stds: List[np.ndarray], threshold: float) -> List[np.ndarray]:
        """Remove low-variance hidden units (C: prune_if_possible); returns the pruned original ids per layer."""
        removed = []
        for l in range(self.n_hidden_layers):
            mask = P.prune_mask(stds[l], threshold)
            removed.append(self.unit_ids[l][mask])
            if not mask.any():
                continue
            net = self.net
            # unit l lives in weights[l] columns (incoming) and weights[l+1] rows (outgoing)
            net.biases[l + 1] = P.absorb_bias(net.biases[l + 1], net.weights[l + 1], means[l], mask)
            net.weights[l] = P.remove_units(net.weights[l], mask, axis=1)
            net.velocity_w[l] = P.remove_units(net.velocity_w[l], mask, axis=1)
            net.biases[l] = P.remove_units(net.biases[l], mask, axis=0)
            net.velocity_b[l] = P.remove_units(net.velocity_b[l], mask, axis=0)
            net.weights[l + 1] = P.remove_units(net.weights[l + 1], mask, axis=0)
            net.velocity_w[l + 1] = P.remove_units(net.velocity_w[l + 1], mask, axis=0)
            if self.soms[l] is not None:
                self.soms[l].drop_units(mask)
            self.unit_ids[l] = self.unit_ids[l][~mask]
            means[l] = means[l][~mask]
            stds[l] = stds[l][~mask]
        return removed

    def copy(self) -> "BPSOMModel":
        return BPSOMModel(self.net.copy(), [None if s is None else s.copy() for s in self.soms],
                          [u.copy() for u in self.unit_ids])
