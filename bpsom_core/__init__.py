"""bpsom_core: BP-SOM itself (no Transformers).

The exact engine (`bpsom_core.exact`) reproduces the 1997 C program byte for
byte; the primitives (`bpsom_core.primitives`) carry the same rules on NumPy
and torch arrays for the tabular and Transformer engines.
"""

from ._numba_cache import ensure_numba_cache

__version__ = "0.1.0"

ensure_numba_cache()   # before any numba kernel is defined
