"""Text blocks of the C program's log file, formatted exactly as the C prints them.

Each function takes plain values and returns the text; the engine decides
when to write it.  Floats are Python floats holding the C's float32 values,
so Python's %-formatting matches glibc's printf.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np


def s(label: bytes) -> str:
    """A C label string (bytes up to the first NUL) as text."""
    return label.split(b"\0")[0].decode("latin-1")


def som_labeling(l: int, dim: int, labels: np.ndarray, reliability: np.ndarray, counts: np.ndarray,
                 classlabel: list[bytes]) -> str:
    """'Class labeling SOM' table (dump_som_labeling) for one layer."""
    out = [f"\n\nClass labeling SOM: {l}\n\n   "]
    out.extend(f"{x:4d}" for x in range(1, dim + 1))
    wr = np.float32(0.0)
    n_examples = 0
    for y in range(1, dim + 1):
        out.append("\n   ")
        for x in range(1, dim + 1):
            c = (x - 1) * dim + (y - 1)
            lab = int(labels[c])
            cnt = int(counts[c, lab]) if lab > 0 else 0
            out.append(f" {int(reliability[c]):3d}")
            wr = np.float32(float(wr) + 0.01 * int(reliability[c]) * cnt)
            n_examples += cnt
        out.append(f"\n{y:3d}")
        for x in range(1, dim + 1):
            c = (x - 1) * dim + (y - 1)
            lab = int(labels[c])
            out.append(f" {s(classlabel[lab]) if lab < len(classlabel) else '':>3s}" if lab > 0 else "    ")
        out.append("\n   ")
        for x in range(1, dim + 1):
            c = (x - 1) * dim + (y - 1)
            lab = int(labels[c])
            out.append(f" {int(counts[c, lab]) if lab > 0 else 0:3d}")
    if n_examples > 0:
        out.append(f"\nweighted reliability: {100.0 * float(wr) / n_examples:6.2f}\n")
    else:
        out.append("\nweighted reliability: n_examples=0 !!!\n")
    return "".join(out)


def avg_std(l: int, n: int, avg: np.ndarray, std: np.ndarray, prune_threshold: float) -> str:
    """'AVG and STD layer' block (dump_avg_std) for one hidden layer."""
    out = [f"\n\nAVG and STD layer {l}:\n      "]
    for j in range(1, n + 1):
        out.append(f"{j:5d}*" if std[j] <= np.float32(prune_threshold) else f"{j:5d} ")
    out.append("\nAVG:  ")
    out.extend(f"{float(avg[j]):5.3f} " for j in range(1, n + 1))
    out.append("\nSTD:  ")
    out.extend(f"{float(std[j]):5.3f} " for j in range(1, n + 1))
    out.append("\n")
    return "".join(out)


def fractions(n_labels: int, frac: list[float]) -> str:
    out = ["\n\nClass fractions in the learning material:\n"]
    out.extend(f"{i:5d}" for i in range(1, n_labels + 1))
    out.append("\n")
    out.extend(f"{frac[i]:5.2f}" for i in range(1, n_labels + 1))
    out.append("\n")
    return "".join(out)


def som_conf_matrix(l: int, pct: float, conf: np.ndarray, n_labels: int, classlabel: list[bytes]) -> str:
    out = [f"\n\nSOM-classification({l})-confusion matrix: {pct:5.2f}\n        "]
    out.extend(f"{s(classlabel[i])}   " for i in range(1, n_labels + 1))
    for i in range(1, n_labels + 1):
        out.append(f"\n{s(classlabel[i])}  ")
        out.extend(f" {int(conf[i, j]):5d}" for j in range(1, n_labels + 1))
    out.append("\n")
    return "".join(out)


def bp_conf_matrix(conf: np.ndarray, n_labels: int, classlabel: list[bytes]) -> str:
    out = ["\n\n |BP-confusion matrix:", "\n |        "]
    out.extend(f"{s(classlabel[i])}   " for i in range(1, n_labels + 1))
    for i in range(1, n_labels + 1):
        out.append(f"\n | {s(classlabel[i])}  ")
        out.extend(f" {int(conf[i, j]) if i < conf.shape[0] and j < conf.shape[1] else 0:5d}"
                   for j in range(1, n_labels + 1))
    out.append("\n\n")
    return "".join(out)


def dump_result(ok: bool, label: bytes, dump_layer: list[int], L: int, dims, som_info, acts, N, target) -> str:
    """Per-example dump (dump_result): SOM partial winners, activations, targets."""
    out = []
    if dump_layer[0] > 0:
        out.append("\n+" if ok else "\n-")
        out.append(f"IN: {s(label)} ")
        for l in range(L + 1):
            if dims[l] > 0:
                px, py, rel, dis = som_info(l)
                out.append(f"SOM{l}[{px:2d},{py:2d}] R={rel:3d} ED={math.sqrt(dis):5.3f} ")
        out.extend(f"{float(v):6.4f}," for v in acts(0)[1:N[0] + 1])
    for l in range(1, L + 1):
        if dump_layer[l] > 0:
            out.append(f"\nL{l}: ")
            out.extend(f"{float(v):6.4f}," for v in acts(l)[1:N[l] + 1])
    if dump_layer[L] > 0:
        out.append("\nTT: ")
        out.extend(f"{float(v):6.4f}," for v in target[1:N[L] + 1])
    return "".join(out)


def pass_line(epoch: int, n_epochs: int, lrn: int, material: int, mse: float, ce: float,
              som_use: Optional[dict[int, float]] = None) -> str:
    """One pass line of the log (administrate): ``1/10 LRN=1 MAT=1 MSE=0.823 CE= 88.00 USE SOM1=  0.0``.

    ``material`` 1 learning data, 2 validation, 3 test; ``ce`` in percent;
    ``som_use`` maps a layer to the percent of examples its SOM steered.
    """
    out = [f"\n{epoch}/{n_epochs} LRN={lrn} MAT={material} MSE={float(mse):5.3f} CE={float(ce):6.2f} USE"]
    out.extend(f" SOM{l}={v:5.1f}" for l, v in (som_use or {}).items())
    return "".join(out)


def prune_mark(layer: int, n_pruned: int) -> str:
    """What the C appends to the validation line per pruned unit: `` 1:-3`` (running count)."""
    return f" {layer}:-{n_pruned}"


def abstract(rows: list[tuple[int, tuple, tuple, tuple, dict[int, float]]]) -> str:
    """The ``ABSTRACT:`` table: per row epoch, (MSE, CE%) of LRN, VAL and TST, SOM CE% on TST.

    A (MSE, CE%) pair of None (no such material) prints as dashes.
    """
    out = ["\n\nABSTRACT:\n",
           "\n |     |          LRN|          VAL|          TST|",
           "\n |    #|   MSE| CLA E|   MSE| CLA E|   MSE| CLA E| SOMs on TST:"]
    for epoch, lrn, val, tst, soms in rows:
        text = f"\n||{epoch:5d},"
        for pair in (lrn, val, tst):
            text += "     -,     -," if pair is None else f" {float(pair[0]):5.2f}, {float(pair[1]):5.2f},"
        text += " "
        for l, ce in soms.items():
            text += f" {l}, {float(ce):5.2f},"
        out.append(text)
    return "".join(out)


def pruned_units(best_n_pruned: dict[int, int]) -> str:
    """The closing ``|# pruned units:`` line (units pruned up to the best network)."""
    return "\n\n |# pruned units: " + "".join(f"{l} > {n} pruned " for l, n in best_n_pruned.items())
