"""bpsom: the command-line front end's package (``python -m bpsom``)."""
from bpsom_core import __version__

__all__ = ["__version__"]
