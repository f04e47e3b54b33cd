"""Writing what a command produces where the user pointed: one place for every tool (reports, CSV,
WAVs, textfiles).

* ``-`` is stdout;
* an existing FIFO or character/block device (``/dev/null``, ``/dev/full``, a named pipe) is written
  through, never replaced (``special_ok=False`` refuses them instead: a batch must not block on a pipe
  planted in its output folder); a directory or a socket is refused;
* a regular file or a new name is written atomically: a temp file in the same folder created with
  ``O_EXCL | O_NOFOLLOW`` (a planted link is never written through), fsync, ``os.replace`` — readers
  see no file or the whole one, even after a kill mid-write;
* a symlink is followed only when its target stays inside the link's own folder.

Every failure is an :class:`OutputError` (an :class:`InputError`, exit 2) naming the path, with the
system's reason (disk full, read-only, permission) and its ``errno``.
"""
from __future__ import annotations

import errno
import os
import stat
import sys
import threading
from pathlib import Path

from ttsops.errors import InputError

__all__ = ["OutputError", "write_output", "write_atomic", "output_error", "STORAGE_ERRNOS"]

STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EIO}


class OutputError(InputError):
    """An output that cannot be written where the user pointed. ``errno`` is set when the system
    refused (disk full, read-only, permissions) and ``None`` when we refused (a directory, a socket,
    a symlink leading out of its folder)."""

    def __init__(self, message: str, *, where: str | None = None, fix: str | None = None,
                 errno: int | None = None):
        super().__init__(message, where=where, fix=fix)
        self.errno = errno


def output_error(exc: OSError, path: Path | str, what: str = "the output") -> OutputError:
    return OutputError(f"cannot write {what}: {exc.strerror or exc}", where=str(path), errno=exc.errno,
                       fix="free space or choose a writable folder" if exc.errno in STORAGE_ERRNOS else None)


def write_atomic(path: str | Path, data: bytes, *, what: str = "the output", tmp_suffix: str = ".tmp") -> Path:
    """``data`` into ``path`` via a temp file in the same folder, fsync, then ``os.replace``."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.{threading.get_ident()}{tmp_suffix}")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, p)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
    except OSError as exc:
        raise output_error(exc, p, what) from None
    return p


def write_output(path: str | Path, data: bytes | str, *, special_ok: bool = True, what: str = "the output",
                 tmp_suffix: str = ".tmp") -> Path:
    """Write ``data`` where the user pointed, never replacing what is not a regular file (see the
    module docstring). ``str`` is written as UTF-8."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if str(path) == "-":
        try:
            out = sys.stdout.buffer
            out.write(data)
            out.flush()
        except OSError as exc:
            raise output_error(exc, "<stdout>", what) from None
        return Path("-")
    p = Path(path)
    st = _lstat(p, what)
    if st is not None and stat.S_ISLNK(st.st_mode):
        folder = p.absolute().parent.resolve()
        target = p.resolve()
        if folder != target.parent and folder not in target.parents:
            raise OutputError(f"is a symlink to {target}, outside {folder}; refusing to follow it", where=str(p),
                              fix="remove the link or give the path you mean to write")
        p, st = target, _lstat(target, what)
    if st is None or stat.S_ISREG(st.st_mode):
        return write_atomic(p, data, what=what, tmp_suffix=tmp_suffix)
    if stat.S_ISDIR(st.st_mode):
        raise OutputError("is a directory", where=str(p), fix="give a file name")
    if stat.S_ISSOCK(st.st_mode) or not special_ok:
        raise OutputError("exists and is not a regular file; refusing to replace it", where=str(p),
                          fix="remove it or choose another name")
    try:  # FIFO or device: write through, as a shell redirection would
        fd = os.open(p, os.O_WRONLY | os.O_CLOEXEC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
    except OSError as exc:
        raise output_error(exc, p, what) from None
    return p


def _lstat(p: Path, what: str) -> os.stat_result | None:
    try:
        return os.lstat(p)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise output_error(exc, p, what) from None
