"""bpsom: the command-line front end's package (``python -m bpsom``).

Installed, ``bpsom.cli`` and ``bpsom.parity`` are the repository's ``cli/`` and
``parity/`` folders (setup.py maps them).  Run from a source checkout that was
never installed (``PYTHONPATH=. python -m bpsom``, a GPU machine without
network), the checkout's root joins this package's search path so that the
same names resolve to those folders.
"""

from pathlib import Path

from bpsom_core import __version__

_HERE = Path(__file__).resolve().parent
if not (_HERE / "cli").is_dir() and (_HERE.parent / "cli" / "main.py").is_file() \
        and (_HERE.parent / "setup.py").is_file():
    __path__.append(str(_HERE.parent))  # noqa: F821 - a package's own search path

__all__ = ["__version__"]
