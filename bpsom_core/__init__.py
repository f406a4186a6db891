"""bpsom_core: BP-SOM itself (no Transformers).

The exact engine (`bpsom_core.exact`) reproduces the 1997 C program byte for
byte; the primitives (`bpsom_core.primitives`) carry the same rules on NumPy
and torch arrays for the tabular and Transformer engines.
"""

__version__ = "0.1.0"
