"""Writer for the C program's .bst network file, byte for byte as ``save_environment``."""

from __future__ import annotations

import numpy as np

from ..prm_params import MAX_LAST_LAYER


def _row(values: np.ndarray) -> str:
    return "".join("%7.4f " % v for v in values.astype(np.float64).tolist())


def format_bst(N: list[int], dims: list[int], weights, som) -> bytes:
    """The .bst text.

    weights(l) -> (N[l]+1, N[l+1]) array (C rows i, columns j=1..);
    som(l) -> (labels (cells,), reliability (cells,), vectors (cells, N[l])) or None.
    """
    L = max([i for i, n in enumerate(N) if n > 0], default=0)
    parts = ["".join(f"{n} " for n in N[: MAX_LAST_LAYER + 1]), "\n",
             "".join(f"{d} " for d in dims[: MAX_LAST_LAYER + 1]), "\n"]
    for l in range(L):
        w = weights(l)
        for i in range(N[l] + 1):
            parts.append(_row(w[i]))
            parts.append("\n")
    for l in range(L + 1):
        if dims[l] <= 0:
            continue
        labels, rel, vectors = som(l)
        for c in range(labels.shape[0]):
            parts.append("%3d %3d " % (labels[c], rel[c]))
            parts.append(_row(vectors[c]))
            parts.append("\n")
    return "".join(parts).encode("latin-1")
