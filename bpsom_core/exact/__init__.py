"""The exact engine: online BP-SOM, float32, byte-identical to the C program.

`run_experiment` reproduces ``bpsom FILE.prm [SEED]``; the numeric work per
example lives in `kernels` (numba, no fastmath) and the control flow of the
C's ``main`` in `engine`.
"""

from .engine import run_experiment  # noqa: F401
