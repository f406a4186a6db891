"""Synthetic ``.bst`` network files for OLD_ENV continuations.

The C program's save_environment() layout: the six layer sizes, the six SOM
sizes, each weight row ("%7.4f " per column), then per SOM cell its label,
reliability and prototype.  A continuation reads the network from this file
(its shape replaces the .prm's), so any valid shape and values will do.
"""

from __future__ import annotations

import random


def synth_bst(rng: random.Random, layers: list[int], dims: list[int], n_labels: int) -> bytes:
    """A network file the C program's read_environment() accepts.

    Cell labels stay within 0..n_labels: the C indexes its per-label counters
    with them.
    """
    last = max(i for i, n in enumerate(layers) if n > 0)
    out = ["".join(f"{n} " for n in layers), "".join(f"{d} " for d in dims)]
    for l in range(last):
        for _ in range(layers[l] + 1):
            out.append("".join("%7.4f " % rng.uniform(-1.5, 1.5) for _ in range(layers[l + 1])))
    for l in range(last + 1):
        for _ in range(dims[l] * dims[l]):
            label = rng.randint(0, n_labels)
            reliability = rng.choice([0, 100, rng.randint(0, 100)])
            vec = "".join("%7.4f " % rng.uniform(0.0, 1.0) for _ in range(layers[l]))
            out.append("%3d %3d " % (label, reliability) + vec)
    return ("\n".join(out) + "\n").encode("latin-1")
