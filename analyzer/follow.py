"""Tail log files like ``tail -F``, surviving rotation and truncation: ``follow_records``.

Files are tracked by identity (device, inode), not by name, so:

* rotation by rename (``app.log`` -> ``app.log.1``, a new ``app.log`` created): the old file is read
  to its end through the handle already open, then the new ``app.log`` is read from its start; the
  renamed ``app.log.1`` is recognised as the file already followed, never read twice;
* copy-truncate rotation (the file shrinks, or its first bytes change while it does not): reading
  restarts at offset 0 with a warning;
* files that appear later under a followed folder or glob are read from their start;
* compressed rotations (``.gz``) are skipped: their lines were read while the file was plain.

Records are read by the same :class:`analyzer.read.FileReader` as :func:`analyzer.read.read_records`
(same formats and envelopes, tracebacks joined; a pending record is emitted once a new record
starts or the file stays quiet for ``flush_after`` seconds). Records come out in arrival order.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from analyzer.read import MAX_LINE_BYTES, FileReader, LineParser, ReadStats, expand_paths
from analyzer.records import Record

__all__ = ["follow_records", "Follower"]

HEAD_BYTES = 256  # the head fingerprint: a file rewritten in place (copy-truncate, then refilled) changes it


@dataclass
class _Tracked:
    key: tuple[int, int]
    path: str
    reader: FileReader
    fh: object | None = None
    offset: int = 0
    buf: bytes = b""
    line_no: int = 0
    head: bytes = b""
    last_data: float = 0.0
    gone: bool = False
    records: list[Record] = field(default_factory=list)


def _head(path: str, n: int) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


class Follower:
    """The state behind :func:`follow_records`; ``poll()`` returns the records that arrived."""

    def __init__(self, paths: Iterable[str], *, log_format: str | None = None, stats: ReadStats | None = None,
                 from_start: bool = True, flush_after: float = 1.0):
        self.paths = [os.fspath(p) for p in paths]
        self.stats = stats if stats is not None else ReadStats()
        self.parser = LineParser(log_format)
        self.flush_after = flush_after
        self.files: dict[tuple[int, int], _Tracked] = {}
        self._first = True
        self._from_start = from_start
        self._warned = 0

    def new_warnings(self) -> list[str]:
        """Warnings (rotation, truncation, unreadable files) not returned before."""
        out = self.stats.warnings[self._warned:]
        self._warned = len(self.stats.warnings)
        return out

    # -- discovery -----------------------------------------------------------------------------
    def _discover(self) -> None:
        quiet = ReadStats()
        seen_now: set[tuple[int, int]] = set()
        for p in expand_paths(self.paths, quiet):
            if p == "-" or p.endswith(".gz"):
                continue
            try:
                st = os.stat(p)
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            seen_now.add(key)
            t = self.files.get(key)
            if t is None:
                t = _Tracked(key, p, FileReader(p, self.parser, self.stats))
                if self._first and not self._from_start:
                    t.offset = st.st_size
                    t.head = _head(p, min(HEAD_BYTES, st.st_size))
                self.files[key] = t
                if p not in self.stats.files:
                    self.stats.files.append(p)
                continue
            t.path = p
            t.gone = False
            if st.st_size < t.offset:  # copy-truncate: the file shrank
                self._restart(t, f"{p}: file shrank (truncated or rewritten); reading it again from the start")
            elif t.head and _head(p, len(t.head)) != t.head:  # rewritten in place, as long or longer
                self._restart(t, f"{p}: file rewritten in place (its first bytes changed); reading it again "
                                 "from the start")
        for key, t in self.files.items():
            if key not in seen_now:
                t.gone = True  # renamed away or deleted: finish it through the open handle
        self._first = False

    def _restart(self, t: _Tracked, why: str) -> None:
        self.stats.warn(f"{why} (was at byte {t.offset})")
        t.reader.flush()
        t.records.extend(t.reader.out)
        t.reader.out.clear()
        self._close(t)
        t.reader = FileReader(t.path, self.parser, self.stats)
        t.offset, t.buf, t.line_no, t.head = 0, b"", 0, b""

    # -- reading -------------------------------------------------------------------------------
    def _close(self, t: _Tracked) -> None:
        if t.fh is not None:
            try:
                t.fh.close()  # type: ignore[attr-defined]
            except OSError:
                pass
            t.fh = None

    def _read_new(self, t: _Tracked) -> bytes:
        if t.fh is None:
            if t.gone:
                return b""
            try:
                t.fh = open(t.path, "rb")
                st = os.fstat(t.fh.fileno())  # type: ignore[attr-defined]
                if (st.st_dev, st.st_ino) != t.key:  # the name now points at another file
                    self._close(t)
                    return b""
                t.fh.seek(t.offset)  # type: ignore[attr-defined]
            except OSError as exc:
                self.stats.warn(f"{t.path}: cannot open ({exc.strerror or exc})")
                self._close(t)
                return b""
        chunks = []
        size = 0
        while True:
            try:
                data = t.fh.read(1 << 20)  # type: ignore[attr-defined]
            except OSError as exc:
                self.stats.warn(f"{t.path}: read error ({exc.strerror or exc})")
                break
            if not data:
                break
            if len(t.head) < HEAD_BYTES and t.offset < HEAD_BYTES:
                t.head = (t.head + data[: HEAD_BYTES - t.offset])[:HEAD_BYTES]
            chunks.append(data)
            t.offset += len(data)
            size += len(data)
            if size >= 16 << 20:
                break
        return b"".join(chunks)

    def _lines(self, t: _Tracked, data: bytes) -> Iterator[tuple[int, bytes]]:
        buf = t.buf + data
        parts = buf.split(b"\n")
        t.buf = parts.pop()
        if len(t.buf) > MAX_LINE_BYTES:
            parts.append(t.buf[:MAX_LINE_BYTES])
            self.stats.bad(t.path, t.line_no + len(parts), f"line longer than {MAX_LINE_BYTES} bytes, cut", b"")
            t.buf = b""
        for raw in parts:
            t.line_no += 1
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            yield t.line_no, raw

    def _take(self, t: _Tracked) -> list[Record]:
        out = t.records + t.reader.out
        t.records = []
        t.reader.out.clear()
        self.stats.records += len(out)
        return out

    def poll(self, now: float | None = None) -> list[Record]:
        now = time.monotonic() if now is None else now
        self._discover()
        out: list[Record] = []
        for t in list(self.files.values()):
            data = self._read_new(t)
            if data:
                t.last_data = now
                reader = t.reader
                for n, raw in self._lines(t, data):
                    self.stats.lines += 1
                    reader.feed(n, raw)
                t.reader.settle()  # a live file is read as it comes: no waiting for a full sniff sample
            elif now - t.last_data >= self.flush_after:
                t.reader.flush()  # quiet: the pending record is complete
            if t.gone and data:
                t.reader.flush()  # rotated away: its last record is complete unless more arrives
            if t.gone and not data:
                # rotated away and fully read: flush what is left, keep the identity to skip it later
                self._drain(t)
                self._close(t)
            out.extend(self._take(t))
        return out

    def _drain(self, t: _Tracked) -> None:
        """A file's unterminated last line and its pending record."""
        if t.buf:
            t.line_no += 1
            t.reader.feed(t.line_no, t.buf)
            t.buf = b""
        t.reader.flush()

    def flush(self) -> list[Record]:
        out: list[Record] = []
        for t in self.files.values():
            self._drain(t)
            out.extend(self._take(t))
        return out

    def close(self) -> None:
        for t in self.files.values():
            self._close(t)


def follow_records(paths: Iterable[str], *, log_format: str | None = None, stats: ReadStats | None = None,
                   poll_interval: float = 0.5, from_start: bool = True, flush_after: float = 1.0,
                   stop: Callable[[], bool] | None = None, max_idle: float | None = None) -> Iterator[Record]:
    """Yield records as they are appended to the files under ``paths`` (files, folders, globs).

    from_start : read what the files already hold first (``False``: start at their current end).
    stop : called between polls; the generator ends (after flushing) when it returns True
        (e.g. ``threading.Event().is_set``). ``max_idle``: also end after that many seconds without data.
    A consumer may also just stop iterating; ``close()`` on the generator releases the files.
    """
    f = Follower(paths, log_format=log_format, stats=stats, from_start=from_start, flush_after=flush_after)
    idle_since = time.monotonic()
    try:
        while True:
            recs = f.poll()
            if recs:
                idle_since = time.monotonic()
                yield from recs
            if stop is not None and stop():
                break
            if max_idle is not None and time.monotonic() - idle_since >= max_idle:
                break
            if not recs:
                time.sleep(poll_interval)
        yield from f.flush()
    finally:
        f.close()
