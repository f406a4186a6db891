"""Every parameter of the C program's .prm file (`CParams`), with the C's ranges and defaults.

`CParams` holds the values as the C holds them (ints, float32 floats, file
names); `check_parameters` is the C's range check (``cheque_parameters``):
it substitutes defaults and reports each substitution with the C's words.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Callable

import numpy as np

MAX_LAST_LAYER = 5          # layers 0..5
MAX_UNITS = 500
M_DIM_SOM_NETWORK = 200
MAX_LABELS = 200
LABELL = 3                  # characters per class label in ALL_LABELS
NAME_L = 128
INT_MAX = 2147483647
VERSION = "PD1.00"


def f32(x: float) -> float:
    """Round to float32 and return it as a Python float (the value C stores)."""
    return float(np.float32(x))


@dataclass
class CParams:
    """The .prm parameters, named and typed as in the C program."""

    DUMP: int = 0
    DUMP_LAYER: list = field(default_factory=lambda: [0] * (MAX_LAST_LAYER + 1))
    SEED: int = 0
    LRN: str = ""
    VAL: str = ""
    TST: str = ""
    LOG: str = ""
    OLD_ENV: str = ""
    BEST_ENV: str = ""
    ALL_LABELS: str = ""
    N_EPOCHS: int = 0
    STOP_IF_NOTHING_DONE: int = 0
    TEST_RATIO: int = 0
    SOM_ERROR_USE: float = 0.0
    RELIABILITY_THRESHOLD: int = 0
    PRUNE_THRESHOLD: float = 0.0
    N: list = field(default_factory=lambda: [0] * (MAX_LAST_LAYER + 1))
    BP_LEARN_RATE: float = 0.0
    MOMENTUM: float = 0.0
    MM_AFTER_N_EXAMPLES: int = 0
    ERROR_LEARN_THRESHOLD: float = 0.0
    WEIGHT_DECAY_RATE: float = 0.0
    DIM_SOM: list = field(default_factory=lambda: [0] * (MAX_LAST_LAYER + 1))
    SOM_MAX_CONTEXT: int = 0
    SOM_MIN_CONTEXT: int = 0
    SOM_MAX_LEARN_RATE: float = 0.0
    SOM_MIN_LEARN_RATE: float = 0.0
    FORMAT: str = "grapho"   # our extension: 'grapho' (the C's) or 'dense' (PROBEN1 variant)

    def copy(self) -> "CParams":
        kw = {}
        for f in fields(self):
            v = getattr(self, f.name)
            kw[f.name] = list(v) if isinstance(v, list) else v
        return CParams(**kw)

    @property
    def last_layer(self) -> int:
        """Index of the output layer: the last layer with units (as the C finds it)."""
        last = 0
        for i, n in enumerate(self.N):
            if n > 0:
                last = i
        return last

    @property
    def n_labels(self) -> int:
        """Number of class labels in ALL_LABELS ('-a-|-b-|...' is 4 characters a label)."""
        return (len(self.ALL_LABELS.encode("latin-1")) + 1) // (LABELL + 1)

    def class_labels(self) -> list[bytes]:
        """Label strings 1..n_labels (index 0 unused), as the C cuts them from ALL_LABELS."""
        raw = self.ALL_LABELS.encode("latin-1")
        out = [b""]
        for lab in range(1, self.n_labels + 1):
            pos = (lab - 1) * (LABELL + 1)
            out.append(raw[pos:pos + LABELL])
        return out


class CFatal(Exception):
    """The C program would stop here with 'EXIT: fatal error' (after printing `text`)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


Emit = Callable[[str, str], None]  # (stdout text, log text)


def _drange(p: CParams, emit: Emit, name: str, get, put, lo: int, hi: int, default: int) -> None:
    value = get()
    if value > hi or value < lo:
        msg = f"\nWarning: {name} = {value} out of range ({lo} .. {hi});"
        emit(msg, msg)
        if default >= 0:
            msg = f"\ndefault {default} used."
            emit(msg, msg)
            put(default)
        else:
            emit("\nno default avaiable.", "")
            raise CFatal(f"{name} = {value} is out of range ({lo} .. {hi}) and has no default")


def _frange(p: CParams, emit: Emit, name: str, attr: str, lo: float, hi: float, default: float) -> None:
    value = getattr(p, attr)
    if value > hi or value < lo:
        msg = f"\nWarning: {name} = {value:6.5f} out of range ({lo:6.5f} .. {hi:6.5f});"
        emit(msg, msg)
        if default >= 0.0:
            msg = f"\ndefault {default:f} used."
            emit(msg, msg)
            setattr(p, attr, default)
        else:  # pragma: no cover - every float parameter has a default
            emit("\nno default avaiable.", "")
            raise CFatal(f"{name} out of range")


def _scalar(p: CParams, attr: str):
    return (lambda: getattr(p, attr)), (lambda v: setattr(p, attr, v))


def _item(lst: list, i: int):
    def put(v):
        lst[i] = v
    return (lambda: lst[i]), put


def check_parameters(p: CParams, emit: Emit, fixed: bool = False) -> None:
    """The C's ``cheque_parameters``: substitute defaults, warn, or raise CFatal.

    Order and wording are the C's, including the 'RELIABILTY' spelling and
    STOP_IF_NOTHING_DONE being checked against TEST_RATIO before TEST_RATIO
    itself is corrected.  `fixed` checks TEST_RATIO first, clamps a default
    that is itself out of range, and spells RELIABILITY correctly.
    """
    _drange(p, emit, "DUMP", *_scalar(p, "DUMP"), 0, 3, 0)
    for i in range(MAX_LAST_LAYER + 1):
        _drange(p, emit, "DUMPLAYER", *_item(p.DUMP_LAYER, i), 0, 1, -1)
    _drange(p, emit, "SEED", *_scalar(p, "SEED"), 0, 32000, 7)
    _drange(p, emit, "N_EPOCHS", *_scalar(p, "N_EPOCHS"), 1, INT_MAX, 2000)
    if fixed:
        _drange(p, emit, "TEST_RATIO", *_scalar(p, "TEST_RATIO"), 1, p.N_EPOCHS, min(5, p.N_EPOCHS))
        _drange(p, emit, "STOP_IF_NOTHING_DONE", *_scalar(p, "STOP_IF_NOTHING_DONE"),
                p.TEST_RATIO, p.N_EPOCHS, min(100, p.N_EPOCHS))
    else:
        _drange(p, emit, "STOP_IF_NOTHING_DONE", *_scalar(p, "STOP_IF_NOTHING_DONE"),
                p.TEST_RATIO, p.N_EPOCHS, 100)
        _drange(p, emit, "TEST_RATIO", *_scalar(p, "TEST_RATIO"), 1, p.N_EPOCHS, 5)
    _frange(p, emit, "SOM_ERROR_USE", "SOM_ERROR_USE", 0.0, 1.0, f32(0.25))
    _drange(p, emit, "RELIABILITY_THRESHOLD" if fixed else "RELIABILTY_THRESHOLD",
            *_scalar(p, "RELIABILITY_THRESHOLD"), 0, 100, 95)
    _frange(p, emit, "PRUNE_THRESHOLD", "PRUNE_THRESHOLD", 0.0, 1.0, f32(0.02))
    for i in range(MAX_LAST_LAYER + 1):
        _drange(p, emit, "BP-architecture", *_item(p.N, i), 0, MAX_UNITS, -1)
    _frange(p, emit, "BP_LEARN_RATE", "BP_LEARN_RATE", 0.0, 1.0, f32(0.15))
    _frange(p, emit, "MOMENTUM", "MOMENTUM", 0.0, 1.0, f32(0.40))
    _drange(p, emit, "MM_AFTER_N_EXAMPLES", *_scalar(p, "MM_AFTER_N_EXAMPLES"), 0, 32000, 100)
    _frange(p, emit, "ERROR_LEARN_THRESHOLD", "ERROR_LEARN_THRESHOLD", 0.0, 1.0, f32(0.02))
    _frange(p, emit, "WEIGHT_DECAY_RATE", "WEIGHT_DECAY_RATE", 0.0, f32(0.01), f32(0.00001))
    for i in range(1, MAX_LAST_LAYER + 1):
        _drange(p, emit, "SOM-architecture", *_item(p.DIM_SOM, i), 0, M_DIM_SOM_NETWORK, -1)
    _drange(p, emit, "SOM_MAX_CONTEXT", *_scalar(p, "SOM_MAX_CONTEXT"), p.SOM_MIN_CONTEXT, 10, 2)
    _drange(p, emit, "SOM_MIN_CONTEXT", *_scalar(p, "SOM_MIN_CONTEXT"), 0, p.SOM_MAX_CONTEXT, 0)
    _frange(p, emit, "SOM_MAX_LEARN_RATE", "SOM_MAX_LEARN_RATE", p.SOM_MIN_LEARN_RATE, 1.0, f32(0.20))
    _frange(p, emit, "SOM_MIN_LEARN_RATE", "SOM_MIN_LEARN_RATE", 0.0, p.SOM_MAX_LEARN_RATE, f32(0.05))

    if p.n_labels > MAX_LABELS:
        msg = f"\nFatal error: to many labels {p.n_labels} (max = {MAX_LABELS})"
        emit(msg, "")
        raise CFatal(f"too many labels in ALL_LABELS: {p.n_labels} (max {MAX_LABELS})")
    for i in range(MAX_LAST_LAYER + 1):
        if p.DIM_SOM[i] > M_DIM_SOM_NETWORK:
            emit(f"\nSOM-{i}-dim {p.DIM_SOM[i]} (max {M_DIM_SOM_NETWORK}): Fatal error!", "")
            raise CFatal(f"SOM-architecture: layer {i} grid {p.DIM_SOM[i]} is larger than {M_DIM_SOM_NETWORK}")


def parameter_dump(p: CParams, fixed: bool = False) -> str:
    """The parameter block the C writes to the log (``dump_parameters``)."""
    dl = " ".join(str(v) for v in p.DUMP_LAYER[1:])
    lines = [
        f"\nDUMP = {p.DUMP}",
        f"\nDUMP_LAYER = {p.DUMP_LAYER[0]} {dl}",
        f"\nSEED = {p.SEED}",
        f"\n\nLRN = {p.LRN}",
        f"\nVAL = {p.VAL}",
        f"\nTST = {p.TST}",
        f"\nLOG = {p.LOG}",
        f"\nOLD_ENV = {p.OLD_ENV}",
        f"\nBEST_ENV = {p.BEST_ENV}",
        f"\nALL_LABELS = {p.ALL_LABELS}",
        f"\nN_EPOCHS = {p.N_EPOCHS}",
        f"\nSTOP_IF_NOTHING_DONE = {p.STOP_IF_NOTHING_DONE}",
        f"\nTEST_RATIO = {p.TEST_RATIO}",
        f"\nSOM_ERROR_USE = {p.SOM_ERROR_USE:f}",
        f"\n{'RELIABILITY' if fixed else 'RELIABILTY'}_THRESHOLD = {p.RELIABILITY_THRESHOLD}",
        f"\nPRUNE_THRESHOLD = {p.PRUNE_THRESHOLD:f}",
        f"\n\nBP-architecture = {p.N[0]} " + "".join(f"{n} " for n in p.N[1:]),
        f"\nBP_LEARN_RATE = {p.BP_LEARN_RATE:f}",
        f"\nMOMENTUM = {p.MOMENTUM:f}",
        f"\nMM_AFTER_N_EXAMPLES = {p.MM_AFTER_N_EXAMPLES}",
        f"\nERROR_LEARN_THRESHOLD = {p.ERROR_LEARN_THRESHOLD:f}",
        f"\nWEIGHT_DECAY_RATE = {p.WEIGHT_DECAY_RATE:f}",
        f"\n\nSOM-architecture = {p.DIM_SOM[0]}" + "".join(f" {d}" for d in p.DIM_SOM[1:]),
        f"\nSOM_MAX_CONTEXT = {p.SOM_MAX_CONTEXT}",
        f"\nSOM_MIN_CONTEXT = {p.SOM_MIN_CONTEXT}",
        f"\nSOM_MAX_LEARN_RATE = {p.SOM_MAX_LEARN_RATE:f}",
        f"\nSOM_MIN_LEARN_RATE = {p.SOM_MIN_LEARN_RATE:f}",
    ]
    return "".join(lines)

