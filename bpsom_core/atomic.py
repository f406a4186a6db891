"""Atomic file writes and run directories: a result is either complete or absent.

Files: write to a temporary file in the destination's directory, flush and
fsync, then rename over the destination, so an interrupted run never leaves a
half-written file and the previous good version survives.

Run directories: built under a hidden temporary name beside the final one,
while a lock beside it keeps a second run out, then swapped into place
(see :class:`RunDirectory`).

Everything created here follows the umask (0644 files, 0755 directories under
umask 022), as files written by any Unix tool do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import IO, Iterator, Optional, Union

PathLike = Union[str, "os.PathLike[str]"]

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (read by setting and restoring it, under a lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _follow_umask(fd_or_path, directory: bool = False) -> None:
    mode = (0o777 if directory else 0o666) & ~current_umask()
    if isinstance(fd_or_path, int):
        os.fchmod(fd_or_path, mode)
    else:
        os.chmod(fd_or_path, mode)


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", encoding: str | None = None,
                newline: str | None = None) -> Iterator[IO]:
    """Open a temp file beside ``path``; on clean exit rename it onto ``path``."""
    if mode not in ("w", "wb"):
        raise ValueError("atomic_open supports 'w' and 'wb' only")
    dest = Path(path)
    directory = dest.parent if str(dest.parent) else Path(".")
    if dest.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(dest))
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=directory)
    try:
        _follow_umask(fd)
        if mode == "wb":
            fh = os.fdopen(fd, "wb")
        else:
            fh = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline=newline)
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if exc.filename is None:   # a failed write names no file; the user needs the destination
            exc.filename = str(dest)
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w", encoding=encoding, newline="") as fh:
        fh.write(text)


# ---------------------------------------------------------------- checks before work

def check_output_file(path: PathLike, what: str = "output file") -> None:
    """Refuse an output path that cannot be written, before any work is done.

    The file may not exist yet; its directory must exist and be writable
    (atomic writes create a temporary file there), and the path must not be a
    directory or a special file.
    """
    import stat

    from .errors import InputError

    p = Path(os.path.abspath(path))
    if p.exists():
        mode = p.stat().st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"is a directory, not a {what}", path=str(path))
        if not stat.S_ISREG(mode):
            raise InputError(f"is not a regular file; a {what} is replaced by a new file", path=str(path))
    _check_directory(p.parent, str(path), what, os.path.dirname(os.fspath(path)) or ".")


def check_output_dir(path: PathLike, what: str = "output directory") -> None:
    """Refuse a directory that cannot be created or written, before any work is done."""
    from .errors import InputError

    p = Path(os.path.abspath(path))
    if p.is_symlink() and not p.exists():
        raise InputError(f"is a broken symbolic link (to {os.readlink(p)}); cannot be the {what}",
                         path=str(path))
    if p.exists() and not p.is_dir():
        raise InputError(f"exists and is not a directory; cannot be the {what}", path=str(path))
    parent = p
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{parent} is not a directory; cannot create the {what}", path=str(path))
    _check_directory(parent, str(path), what, str(parent))


def _check_directory(directory: Path, shown: str, what: str, name: str) -> None:
    """``directory`` must exist and be writable; messages name it as ``name`` (as the user wrote it)."""
    from .errors import InputError

    if not directory.exists():
        raise InputError(f"cannot write the {what}: no such directory {name}", path=shown)
    if not directory.is_dir():
        raise InputError(f"cannot write the {what}: {name} is not a directory", path=shown)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InputError(f"cannot write the {what}: permission denied in {name}", path=shown)


# ---------------------------------------------------------------- locks

@contextlib.contextmanager
def exclusive_lock(path: PathLike, busy_message: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (a small lock file) or fail at once with InputError.

    The lock is flock(2): the kernel releases it when the process dies, so a
    killed run never leaves a lock behind that blocks the next one.
    """
    import fcntl

    from .errors import InputError

    lock_path = Path(path)
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError(busy_message, path=str(lock_path)) from None
        try:   # the file may have been unlinked by its previous holder since we opened it
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(fd)


# ---------------------------------------------------------------- run directories

TMP_SUFFIX = ".tmp"
OLD_SUFFIX = ".old"


class RunDirectory:
    """Build a run directory under a temporary name, then put it in place in one step.

    * a lock beside the directory (``.NAME.lock``) lets one run at a time
      write it; a second run is refused at once;
    * files go to ``.NAME.XXXX.tmp`` beside it; temporary directories left by
      killed runs are removed when the next run takes the lock;
    * :meth:`commit` swaps the new directory in.  Replacing an existing one
      (``--force``) exchanges the two atomically where the kernel supports it
      (renameat2 RENAME_EXCHANGE), else moves the old one aside first; the
      old one is deleted last, so a kill at any moment leaves a complete
      directory under the name (or, between the two renames of the fallback,
      the old one under ``.NAME.XXXX.old``, restored by the next run).
    """

    def __init__(self, final: PathLike, force: bool = False):
        self.final = Path(final)
        self.force = force
        self.tmp: Optional[Path] = None
        self._lock = None
        self._made: list = []
        self._committed = False

    def __enter__(self) -> Path:
        from .errors import InputError

        check_output_dir(self.final, "run directory")
        parent = self.final.parent
        self._made = [p for p in (parent, *parent.parents) if not p.exists()]   # removed again on failure
        parent.mkdir(parents=True, exist_ok=True)
        self._lock = exclusive_lock(parent / f".{self.final.name}.lock",
                                    f"another run is writing {self.final} now; wait for it or choose another "
                                    f"directory")
        self._lock.__enter__()
        try:
            self._recover()
            if self.final.exists() and any(self.final.iterdir()) and not self.force:
                raise InputError("run directory already exists and is not empty (use --force to replace it)",
                                 path=str(self.final))
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.", suffix=TMP_SUFFIX, dir=parent))
            _follow_umask(self.tmp, directory=True)
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self.tmp

    def _recover(self) -> None:
        """Clean up after killed runs: restore a directory left aside, drop half-built ones."""
        parent = self.final.parent
        stem = f".{self.final.name}."
        for entry in parent.iterdir():
            if not entry.name.startswith(stem):
                continue
            if entry.name.endswith(OLD_SUFFIX) and entry.is_dir():
                if not self.final.exists():
                    os.rename(entry, self.final)      # killed between the two renames: put it back
                else:
                    shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.endswith(TMP_SUFFIX) and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)

    def commit(self) -> None:
        """Put the finished temporary directory in place of the final one."""
        assert self.tmp is not None
        if not self.final.exists():
            os.rename(self.tmp, self.final)
        elif _exchange(self.tmp, self.final):
            shutil.rmtree(self.tmp, ignore_errors=True)     # now holds the old directory
        else:
            aside = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.", suffix=OLD_SUFFIX,
                                          dir=self.final.parent))
            os.rmdir(aside)
            os.rename(self.final, aside)
            os.rename(self.tmp, self.final)
            shutil.rmtree(aside, ignore_errors=True)
        self.tmp = None
        self._committed = True

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if isinstance(exc, OSError) and self.tmp is not None:
                self._name_final_path(exc)
            if self.tmp is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
                self.tmp = None
        finally:
            if self._lock is not None:
                self._lock.__exit__(None, None, None)
                self._lock = None
            if not self._committed:   # a failed first run leaves no empty folders behind
                for made in self._made:
                    with contextlib.suppress(OSError):
                        made.rmdir()


    def _name_final_path(self, exc: OSError) -> None:
        """A write that failed in the temporary directory (a full disk) names the file the
        user asked for: ``-o out``'s ``out/model.json``, not ``.out.x1y2.tmp/model.json``."""
        for attr in ("filename", "filename2"):
            name = getattr(exc, attr, None)
            if isinstance(name, (str, os.PathLike)):
                try:
                    inside = Path(name).relative_to(self.tmp)
                except ValueError:
                    continue
                setattr(exc, attr, str(self.final / inside))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))
