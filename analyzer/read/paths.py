"""Which files to read: explicit files as given, folders walked (sorted, symlink loops detected) for
log-like names, globs expanded, ``-`` for stdin. Problems become warnings, never exceptions."""
from __future__ import annotations

import glob as _glob
import os
import re
import stat
from typing import Iterable

from analyzer.read.stats import ReadStats

__all__ = ["expand_paths", "LOG_SUFFIXES", "NOT_LOGS"]

# file names picked up when walking a folder (explicit file arguments are always read)
LOG_SUFFIXES = (".log", ".jsonl", ".txt", ".json", ".out", ".err")
_LOGNAME_RE = re.compile(r"\.(?:log|jsonl|txt|json|out|err)(?:[._-][\w.-]*)?$|\.log\b|\.\d+$|\.gz$", re.I)

#: files a folder walk skips although their names look like logs: the engine's fault ground truth
#: and a batch run's outputs are data about the run, not records of it (named explicitly, they are read)
NOT_LOGS = frozenset({"labels.jsonl", "manifest.jsonl", "failed.jsonl"})


def _is_log_name(name: str) -> bool:
    return name not in NOT_LOGS and bool(_LOGNAME_RE.search(name))


def expand_paths(paths: Iterable[str | os.PathLike[str]], stats: ReadStats | None = None) -> list[str]:
    """Files to read, in a stable order: explicit files as given, folders walked (sorted) for log-like
    names, globs expanded, ``-`` kept as stdin. Problems become warnings in ``stats``."""
    stats = stats if stats is not None else ReadStats()
    out: list[str] = []
    seen: set[tuple[int, int] | str] = set()

    def add_file(p: str) -> None:
        try:
            st = os.stat(p)
            key: tuple[int, int] | str = (st.st_dev, st.st_ino)
        except OSError:
            key = p
        if key in seen:
            return
        seen.add(key)
        out.append(p)

    def walk(root: str) -> None:
        visited: set[tuple[int, int]] = set()

        def _walk(d: str) -> None:
            try:
                st = os.stat(d)
            except OSError as exc:
                stats.warn(f"{d}: cannot read folder ({exc.strerror or exc})")
                stats.unreadable.append(d)
                return
            key = (st.st_dev, st.st_ino)
            if key in visited:
                stats.warn(f"{d}: directory loop (symlink back to a parent), skipped")
                return
            visited.add(key)
            try:
                entries = sorted(os.scandir(d), key=lambda e: e.name)
            except OSError as exc:
                stats.warn(f"{d}: cannot list folder ({exc.strerror or exc})")
                stats.unreadable.append(d)
                return
            for e in entries:
                try:
                    if e.is_dir(follow_symlinks=True):
                        _walk(e.path)
                    elif e.is_file(follow_symlinks=True):
                        if _is_log_name(e.name):
                            add_file(e.path)
                    elif e.is_symlink() and not os.path.exists(e.path):
                        stats.warn(f"{e.path}: broken symlink, skipped")
                except OSError as exc:
                    stats.warn(f"{e.path}: {exc.strerror or exc}")

        _walk(root)

    for raw in paths:
        p = os.fspath(raw)
        if p == "-":
            out.append("-")
            continue
        if os.path.isdir(p):
            walk(p)
        elif os.path.exists(p):
            mode = os.stat(p).st_mode
            if stat.S_ISREG(mode):
                add_file(p)
            else:
                stats.warn(f"{p}: not a regular file (FIFO, socket or device), skipped")
                stats.unreadable.append(p)
        elif _glob.has_magic(p):
            matches = sorted(_glob.glob(p, recursive=True))
            if not matches:
                stats.warn(f"{p}: no file matches this pattern")
            for m in matches:
                if os.path.isdir(m):
                    walk(m)
                elif os.path.isfile(m):
                    add_file(m)
        elif os.path.islink(p):
            stats.warn(f"{p}: broken symlink")
            stats.unreadable.append(p)
        else:
            stats.warn(f"{p}: no such file or folder")
            stats.unreadable.append(p)
    return out

