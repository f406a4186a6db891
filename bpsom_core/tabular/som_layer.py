"""The SOM attached to one hidden layer: prototypes plus their class labelling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bpsom_core import primitives as P


@dataclass
class SOMLayer:
    """A ``dim`` x ``dim`` map over a hidden layer; cells in the C's scan order."""

    dim: int
    prototypes: np.ndarray   # (C, H)
    labels: np.ndarray       # (C,) 1-based class, 0 = none
    reliability: np.ndarray  # (C,) int percent
    counts: np.ndarray       # (C, n_labels+1)

    @classmethod
    def init(cls, dim: int, n_units: int, n_labels: int, rng: np.random.Generator) -> "SOMLayer":
        """Prototypes uniform in (-0.5, 1.5) as the C's random_weights; no labels yet."""
        n_c = dim * dim
        return cls(dim, rng.uniform(-0.5, 1.5, (n_c, n_units)), np.zeros(n_c, np.int64),
                   np.zeros(n_c, np.int64), np.zeros((n_c, n_labels + 1), np.int64))

    @property
    def n_cells(self) -> int:
        return self.dim * self.dim

    def relabel(self, acts: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Recount labels and reliabilities from one pass over the training data; returns winners."""
        n_labels = self.counts.shape[1] - 1
        winner = P.find_winners(acts, self.prototypes, self.labels, classes)[0]
        self.counts = P.count_cells(winner, classes, self.n_cells, n_labels)
        self.labels, self.reliability = P.label_cells(self.counts)
        return winner

    def drop_units(self, pruned: np.ndarray) -> None:
        self.prototypes = P.remove_units(self.prototypes, pruned, axis=1)

    def copy(self) -> "SOMLayer":
        return SOMLayer(self.dim, self.prototypes.copy(), self.labels.copy(),
                        self.reliability.copy(), self.counts.copy())
