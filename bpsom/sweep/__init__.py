"""`bpsom sweep`: grids of `train`, `run` or `glue` trials on Ray, with results that survive.

Data flows one way: :mod:`.spec` reads and checks the YAML spec and expands it
into trials; :mod:`.trials` runs one trial (inside a Ray worker); :mod:`.runner`
hands trials to Ray and appends each finished row to ``results.csv``
(:mod:`.results`); :mod:`.summary` and :mod:`.plots` turn the rows into
``summary.csv``, a table and PNG plots.
"""

from .spec import SweepSpec, Trial, load_spec

__all__ = ["SweepSpec", "Trial", "load_spec"]
