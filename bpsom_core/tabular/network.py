"""A plain multilayer perceptron held as NumPy arrays.

Hidden units are sigmoids clamped at +-15 as in the C (bp.h,
activation_function); the output layer is the same sigmoid (trained on MSE
with 0.1/0.9 targets, the C's setting) or a softmax (cross-entropy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Sequence

import numpy as np

OUTPUTS = ("sigmoid", "softmax")


def sigmoid(s: np.ndarray) -> np.ndarray:
    """Logistic function, exactly 0 below -15 and 1 above +15 (the C's clamp)."""
    out = 1.0 / (1.0 + np.exp(-np.clip(s, -15.0, 15.0)))
    out[s < -15.0] = 0.0
    out[s > 15.0] = 1.0
    return out


def softmax(s: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted for stability."""
    z = np.exp(s - s.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


@dataclass
class Network:
    """Weights ``weights[l]`` (n_l, n_{l+1}) and biases ``biases[l]`` (n_{l+1},)."""

    weights: List[np.ndarray]
    biases: List[np.ndarray]
    output: str = "sigmoid"
    velocity_w: List[np.ndarray] = field(default_factory=list)
    velocity_b: List[np.ndarray] = field(default_factory=list)

    @classmethod
    def init(cls, sizes: Sequence[int], rng: np.random.Generator, output: str,
             scale: float = 1.0) -> "Network":
        """Uniform(-scale, scale) weights and biases, as the C's random_weights (scale 1)."""
        weights = [rng.uniform(-scale, scale, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
        biases = [rng.uniform(-scale, scale, b) for b in sizes[1:]]
        net = cls(weights, biases, output)
        net.reset_velocity()
        return net

    def reset_velocity(self) -> None:
        self.velocity_w = [np.zeros_like(w) for w in self.weights]
        self.velocity_b = [np.zeros_like(b) for b in self.biases]

    @property
    def sizes(self) -> List[int]:
        return [self.weights[0].shape[0]] + [w.shape[1] for w in self.weights]

    def forward(self, X: np.ndarray) -> List[np.ndarray]:
        """Activations of every layer, the input included (index 0)."""
        acts = [X]
        last = len(self.weights) - 1
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            s = acts[-1] @ w + b
            acts.append(softmax(s) if (l == last and self.output == "softmax") else sigmoid(s))
        return acts

    def copy(self) -> "Network":
        return Network([w.copy() for w in self.weights], [b.copy() for b in self.biases], self.output,
                       [v.copy() for v in self.velocity_w], [v.copy() for v in self.velocity_b])
