"""Tail log files like ``tail -F``, surviving rotation and truncation: ``follow_records``.

Files are tracked by identity (device, inode), not by name, so:

* rotation by rename (``app.log`` -> ``app.log.1``, a new ``app.log`` created): the old file is read
  to its end through the handle already open, then the new ``app.log`` is read from its start; the
  renamed ``app.log.1`` is recognised as the file already followed, never read twice;
* copy-truncate rotation (the file shrinks): reading restarts at offset 0 with a warning;
* files that appear later under a followed folder or glob are read from their start;
* compressed rotations (``.gz``) are skipped: their lines were read while the file was plain.

Records are parsed like :func:`analyzer.io.read_records` (same formats, continuation lines join
the record before them; a pending record is emitted once a new record starts or the file stays
quiet for ``flush_after`` seconds). Records come out in arrival order.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from analyzer.io import (_TB_START, MAX_JOINED_LINES, MAX_LINE_BYTES, LineParser, ReadStats, _decode, _finish,
                         _prefix_of, _same_header_continuation, expand_paths)
from analyzer.records import Record

__all__ = ["follow_records", "Follower"]


@dataclass
class _Tracked:
    key: tuple[int, int]
    path: str
    fh: object | None = None
    offset: int = 0
    buf: bytes = b""
    line_no: int = 0
    pending: Record | None = None
    pending_headered: bool = False
    pending_prefix: str | None = None
    in_tb: bool = False
    extra: list[str] = field(default_factory=list)
    last_data: float = 0.0
    last_time: object = None
    gone: bool = False


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
                t = _Tracked(key, p)
                if self._first and not self._from_start:
                    t.offset = st.st_size
                self.files[key] = t
                if p not in self.stats.files:
                    self.stats.files.append(p)
            else:
                t.path = p
                t.gone = False
            if st.st_size < t.offset:  # copy-truncate
                self.stats.warn(f"{p}: file shrank (truncated or rewritten); reading it again from the start")
                self._close(t)
                t.offset, t.buf, t.line_no = 0, b"", 0
        for key, t in self.files.items():
            if key not in seen_now:
                t.gone = True  # renamed away or deleted: finish it through the open handle
        self._first = False

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
        while True:
            try:
                data = t.fh.read(1 << 20)  # type: ignore[attr-defined]
            except OSError as exc:
                self.stats.warn(f"{t.path}: read error ({exc.strerror or exc})")
                break
            if not data:
                break
            chunks.append(data)
            t.offset += len(data)
            if sum(map(len, chunks)) >= 16 << 20:
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

    def _emit(self, t: _Tracked) -> Record | None:
        if t.pending is None:
            return None
        rec = _finish(t.pending, t.extra or None)
        t.pending, t.extra = None, []
        self.stats.records += 1
        return rec

    def _feed(self, t: _Tracked, n: int, raw: bytes) -> Iterator[Record]:
        self.stats.lines += 1
        text = _decode(raw, t.path, n, self.stats)
        if text is None or not text.strip():
            return
        kind, val = self.parser.parse(text, t.path, n)
        if kind == "bad":
            self.stats.bad(t.path, n, val, text)
            return
        if t.pending is not None and t.pending_headered and len(t.extra) < MAX_JOINED_LINES:
            cont = text if kind == "cont" else (
                val.message if kind == "rec" and _same_header_continuation(val, text, t.pending_prefix, t.in_tb)
                else None)
            if cont is not None:
                t.extra.append(cont)
                t.in_tb = t.in_tb or cont.startswith(_TB_START)
                return
        if kind in ("cont", "plain"):
            val = Record(None, None, text, t.path, n, {}, text)
            headered = False
        else:
            headered = val.time is not None or val.level is not None or self.parser.fmt_re is not None
        done = self._emit(t)
        if done is not None:
            yield done
        if val.time is None:
            val.time = t.last_time
        else:
            t.last_time = val.time
        t.pending, t.pending_headered = val, headered
        t.pending_prefix = _prefix_of(val, text) if kind == "rec" else None
        t.in_tb = val.message.startswith(_TB_START) or val.traceback is not None

    def poll(self, now: float | None = None) -> list[Record]:
        now = time.monotonic() if now is None else now
        self._discover()
        out: list[Record] = []
        for t in list(self.files.values()):
            data = self._read_new(t)
            if data:
                t.last_data = now
                for n, raw in self._lines(t, data):
                    out.extend(self._feed(t, n, raw))
            elif t.pending is not None and now - t.last_data >= self.flush_after:
                rec = self._emit(t)
                if rec is not None:
                    out.append(rec)
            if t.gone and data:
                rec = self._emit(t)  # rotated away: its last record is complete unless more arrives
                if rec is not None:
                    out.append(rec)
            if t.gone and not data:
                # rotated away and fully read: flush what is left, keep the identity to skip it later
                out.extend(self._drain(t))
                self._close(t)
        return out

    def _drain(self, t: _Tracked) -> list[Record]:
        """A file's unterminated last line and its pending record, as records."""
        out: list[Record] = []
        if t.buf:
            t.line_no += 1
            out.extend(self._feed(t, t.line_no, t.buf))
            t.buf = b""
        rec = self._emit(t)
        if rec is not None:
            out.append(rec)
        return out

    def flush(self) -> list[Record]:
        out: list[Record] = []
        for t in self.files.values():
            out.extend(self._drain(t))
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
