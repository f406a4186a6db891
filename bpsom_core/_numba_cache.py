"""Where numba keeps its compiled kernels: next to the package, or somewhere writable.

numba caches compiled kernels beside their source (``__pycache__``) or in
the user's cache directory (``~/.cache/numba``).  On a read-only install
without a writable home (a container, a service account) it finds neither
and every ``cache=True`` kernel fails at import.  Before any kernel is
defined, :func:`ensure_numba_cache` checks those places and, when none can
be written, points numba at a private temporary directory instead, so a
valid run never fails for want of a cache (it only compiles again).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import MutableMapping, Optional, Sequence

PACKAGE = Path(__file__).resolve().parent
KERNEL_DIRS = ("primitives", "exact")


def writable_dir(path: Optional[os.PathLike | str]) -> bool:
    """True when ``path`` exists or can be made, and a file can be created in it (numba's own test)."""
    if not path:
        return False
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
        return True
    except OSError:
        return False


def _user_cache(env: MutableMapping[str, str]) -> Optional[Path]:
    base = env.get("XDG_CACHE_HOME") or (str(Path(env["HOME"]) / ".cache") if env.get("HOME") else None)
    return Path(base) / "numba" if base else None


def _private_temp_dir() -> Optional[Path]:
    """A temporary cache directory owned by this user (never one another user made)."""
    path = Path(tempfile.gettempdir()) / f"bpsom-numba-cache-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        if path.stat().st_uid == os.getuid() and writable_dir(path):
            return path
        return Path(tempfile.mkdtemp(prefix="bpsom-numba-cache-"))
    except OSError:
        return None


def ensure_numba_cache(package: Path = PACKAGE, kernel_dirs: Sequence[str] = KERNEL_DIRS,
                       env: MutableMapping[str, str] = os.environ) -> Optional[str]:
    """Point numba at a temporary cache when neither the package nor the user cache is writable.

    Returns the directory chosen, or None when numba's own choice works.
    """
    if env.get("NUMBA_CACHE_DIR") and writable_dir(env["NUMBA_CACHE_DIR"]):
        return None
    if all(writable_dir(package / d / "__pycache__") for d in kernel_dirs):
        return None
    if writable_dir(_user_cache(env)):
        return None
    tmp = _private_temp_dir()
    if tmp is None:
        return None
    env["NUMBA_CACHE_DIR"] = str(tmp)
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None and env is os.environ:   # numba already read its settings
        numba_config.CACHE_DIR = str(tmp)
    return str(tmp)


def _index_path(dispatcher) -> Optional[str]:
    """Where numba keeps ``dispatcher``'s cache index (None if numba's internals changed)."""
    cache = getattr(dispatcher, "_cache", None)
    index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
    return index if isinstance(index, str) else None


def cached_on_disk(dispatcher) -> bool:
    """True when numba's on-disk cache holds some compiled version of ``dispatcher``."""
    index = _index_path(dispatcher)
    return index is not None and os.path.exists(index)


def cold_kernels(*modules) -> bool:
    """True when none of these modules' compiled kernels has a cache entry yet: a first run.

    Reads numba's own cache paths, so it agrees with wherever numba decided
    to cache (kernels a run never calls are never cached, hence "none", not
    "any"); if numba's internals change, it answers False (no message).
    """
    indexes = [i for module in modules for i in map(_index_path, vars(module).values()) if i is not None]
    return bool(indexes) and not any(os.path.exists(i) for i in indexes)


ENGINE_MODULES = ("bpsom_core.exact.kernels",)
PRIMITIVE_MODULES = ("bpsom_core.primitives.rules", "bpsom_core.primitives.som", "bpsom_core.primitives.step",
                     "bpsom_core.primitives.winners", "bpsom_core.primitives.distance",
                     "bpsom_core.primitives._fast.row_search", "bpsom_core.primitives._fast.parallel",
                     "bpsom_core.primitives._fast.search_kernels", "bpsom_core.primitives._fast.screen")


def compiling_note(module_names: Sequence[str]) -> Optional[str]:
    """The status line to show before a run whose kernels are not cached yet, else None."""
    import importlib

    # No ImportError is swallowed here: a renamed kernel module must fail loudly, not silence the note.
    modules = [importlib.import_module(name) for name in module_names]
    if not cold_kernels(*modules):
        return None
    return "bpsom: compiling the kernels this command needs, first time only (15-25 s; cached for later runs)"
