"""What the C program's out-of-bounds reads see (c mode only).

When a hidden layer has more units than the output layer, the C's backprop
gates hidden unit i by ``fabs(target[i] - act[last][i])`` and so reads past
both arrays.  On glibc x86-64 those reads land in malloc chunk headers, in
``error[last]`` and in a 4096-byte stdio buffer R; this module predicts them
(see docs/quirks.md for the rule) and hands them to the kernels as arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .engine import ExactRun
    from ..readers.cdata import CDataset

_NO_ROWS = np.zeros((1, 0), np.float32)
_NO_IDX = np.zeros(0, np.int32)
_NO_VEC = np.zeros(0, np.float32)


class OobEmulator:
    """Builds the out-of-bounds values for each learning pass."""

    @staticmethod
    def none() -> tuple:
        return (_NO_ROWS, _NO_IDX, _NO_VEC, _NO_VEC, -1)

    @classmethod
    def create(cls, run: "ExactRun") -> Optional["OobEmulator"]:
        net = run.net
        if run.cmode != 0:
            return None
        widest_hidden = max([int(net.N[l]) for l in range(1, net.L)], default=0)
        if widest_hidden <= int(net.N[net.L]):
            return None
        return None  # emulation not enabled yet

    def for_pass(self, lrn: int, material: int, ds: "CDataset") -> tuple:
        return self.none()

    def on_bst_written(self, data: bytes) -> None:
        pass
