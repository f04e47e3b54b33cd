"""Raw lines of a file: plain or gzip (by magic bytes), read in big blocks split at newlines (a third of
the cost of a ``readline`` call per line), CRLF folded, over-long lines cut at ``MAX_LINE_BYTES``, a
truncated gzip keeping what was read; then bytes -> text with ANSI escapes removed and binary junk,
NUL bytes and invalid UTF-8 counted as bad lines (never fatal)."""
from __future__ import annotations

import gzip
import io
import re
import sys
import zlib
from typing import BinaryIO, Iterator

from analyzer.read.stats import ReadStats

__all__ = ["iter_raw_lines", "iter_raw_batches", "decode_line", "MAX_LINE_BYTES"]

MAX_LINE_BYTES = 1 << 20        # a longer line is cut here (BadLine "line too long") and the rest skipped

def _open_binary(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    f = open(path, "rb")
    head = f.peek(2)[:2] if hasattr(f, "peek") else b""
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    return f


def iter_raw_lines(path: str, stats: ReadStats, display: str | None = None, *,
                   span: tuple[int, int | None] | None = None) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, bytes without line ending). Truncated gzip and I/O errors end the file
    with a warning, keeping every line read before.

    ``span=(start, end)``: only the bytes ``[start, end)`` of a plain file (``end=None``: to its end),
    numbered from 1; both must be line starts (a piece of a large file, :mod:`analyzer.dist.partition`)."""
    for first, lines in iter_raw_batches(path, stats, display, span=span):
        yield from enumerate(lines, first)


def iter_raw_batches(path: str, stats: ReadStats, display: str | None = None, *,
                     span: tuple[int, int | None] | None = None) -> Iterator[tuple[int, list[bytes]]]:
    """The lines of :func:`iter_raw_lines` in batches: (number of the first, lines). A plain file
    gives a block's worth at a time, so a hot loop can work a batch with C-level ``map`` calls;
    stdin gives each line as it comes (a pipe must not wait for a batch to fill)."""
    name = display or path
    try:
        fh = _open_binary(path)
    except OSError as exc:
        stats.warn(f"{name}: cannot open ({exc.strerror or exc})")
        stats.unreadable.append(name)
        return
    stats.files.append(name)
    if fh.__class__ is io.BufferedReader and fh is not sys.stdin.buffer:
        if span is not None:
            fh.seek(span[0])
            if span[1] is not None:
                fh = _Limited(fh, span[1] - span[0])  # type: ignore[assignment]
        yield from _iter_blocks(fh, name, stats)
        return
    if span is not None:
        fh.close()
        raise ValueError(f"{name}: a byte range of a compressed file or stdin cannot be read")
    if fh is sys.stdin.buffer:
        for n, line in _iter_readline(fh, name, stats):
            yield n, [line]
        return
    batch: list[bytes] = []
    first = 1
    for n, line in _iter_readline(fh, name, stats):
        if not batch:
            first = n
        batch.append(line)
        if len(batch) >= _BATCH:
            yield first, batch
            batch = []
    if batch:
        yield first, batch


def _iter_readline(fh: BinaryIO, name: str, stats: ReadStats) -> Iterator[tuple[int, bytes]]:
    """Lines of a compressed file or stdin, one ``readline`` at a time."""
    n = 0
    try:
        readline = fh.readline
        while True:
            try:
                line = readline(MAX_LINE_BYTES)
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                stats.warn(f"{name}: compressed file is truncated or corrupt after line {n} ({exc}); "
                           f"kept the {n} lines read")
                return
            except OSError as exc:
                stats.warn(f"{name}: read error after line {n} ({exc.strerror or exc})")
                return
            if not line:
                return
            n += 1
            stats.bytes += len(line)
            if line[-1] == 10:  # b"\n": the common case
                yield n, (line[:-2] if line[-2:-1] == b"\r" else line[:-1])
                continue
            if len(line) >= MAX_LINE_BYTES:
                # over-long line: keep the head, skip the rest up to the newline
                skipped = 0
                while True:
                    try:
                        more = readline(MAX_LINE_BYTES)
                    except (EOFError, zlib.error, OSError):
                        more = b""
                    skipped += len(more)
                    stats.bytes += len(more)
                    if not more or more.endswith(b"\n"):
                        break
                stats.bad(name, n, f"line longer than {MAX_LINE_BYTES} bytes "
                                   f"({len(line) + skipped} bytes), cut", line)
                yield n, line
                continue
            if line.endswith(b"\n"):
                line = line[:-1]
                if line.endswith(b"\r"):
                    line = line[:-1]
            yield n, line
    finally:
        if fh is not sys.stdin.buffer:
            try:
                fh.close()
            except Exception:  # noqa: BLE001 - closing a broken gzip must not hide the data read
                pass


_BLOCK = 1 << 18
_BATCH = 4096        # lines a batch of a compressed file


class _Limited:
    """``read``/``close`` of a file that stops ``left`` bytes on (a byte range)."""

    __slots__ = ("fh", "left")

    def __init__(self, fh: BinaryIO, left: int):
        self.fh, self.left = fh, left

    def read(self, n: int) -> bytes:
        if self.left <= 0:
            return b""
        block = self.fh.read(min(n, self.left))
        self.left -= len(block)
        return block

    def close(self) -> None:
        self.fh.close()


def _iter_blocks(fh: BinaryIO, name: str, stats: ReadStats) -> Iterator[tuple[int, list[bytes]]]:
    """:func:`iter_raw_batches` for a plain file: big blocks split at newlines (a third of the cost of
    a ``readline`` call per line), same lines, numbers, over-long cuts and warnings."""
    n = 0
    carry = b""          # the unfinished line at the end of the last block
    skip: int | None = None  # inside an over-long line: its byte count so far (head already kept)
    head = b""
    read = fh.read
    try:
        while True:
            try:
                block = read(_BLOCK)
            except OSError as exc:
                stats.warn(f"{name}: read error after line {n} ({exc.strerror or exc})")
                return
            if not block:
                break
            stats.bytes += len(block)
            if skip is not None:  # finish skipping an over-long line
                i = block.find(b"\n")
                if i < 0:
                    skip += len(block)
                    continue
                n += 1
                stats.bad(name, n, f"line longer than {MAX_LINE_BYTES} bytes ({skip + i + 1} bytes), cut", head)
                yield n, [head]
                skip = None
                block = block[i + 1:]
            lines = block.split(b"\n")
            if carry:
                lines[0] = carry + lines[0]
            carry = lines.pop()
            if lines:
                if len(lines[0]) >= MAX_LINE_BYTES or b"\r" in block:  # the rare case: line by line
                    lines = [_cut(name, n + k, line, stats) for k, line in enumerate(lines, 1)]
                yield n + 1, lines
                n += len(lines)
            if len(carry) >= MAX_LINE_BYTES:
                skip, head, carry = len(carry), carry[:MAX_LINE_BYTES], b""
        if skip is not None:
            n += 1
            stats.bad(name, n, f"line longer than {MAX_LINE_BYTES} bytes ({skip} bytes), cut", head)
            yield n, [head]
        elif carry:  # no newline at the end of the file
            yield n + 1, [_cut(name, n + 1, carry, stats)]
    finally:
        try:
            fh.close()
        except Exception:  # noqa: BLE001
            pass


def _cut(name: str, n: int, line: bytes, stats: ReadStats) -> bytes:
    """A line of a block without its CR, cut (and counted bad) when over-long."""
    if len(line) >= MAX_LINE_BYTES:
        stats.bad(name, n, f"line longer than {MAX_LINE_BYTES} bytes ({len(line) + 1} bytes), cut",
                  line[:MAX_LINE_BYTES])
        return line[:MAX_LINE_BYTES]
    return line[:-1] if line[-1:] == b"\r" else line


_CTRL = bytes(range(0, 9)) + bytes(range(14, 32)) + b"\x7f"


# ANSI escape sequences (colours, cursor moves, OSC titles/links) that terminals and rich/colorama
# consoles write: removed before the binary-junk check, which would otherwise count ESC bytes as junk
_ANSI_RE = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


def decode_line(raw: bytes, name: str, n: int, stats: ReadStats) -> str | None:
    """bytes -> str without ANSI escapes, or None when the line is binary junk (counted as a bad line)."""
    if len(raw.translate(None, _CTRL)) == len(raw):  # the common case: no control bytes, valid UTF-8
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    elif b"\x1b" in raw:
        raw = _ANSI_RE.sub(b"", raw)
        if len(raw.translate(None, _CTRL)) == len(raw):
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                pass
    if b"\x00" in raw:
        stripped = raw.replace(b"\x00", b"")
        if len(stripped) * 2 < len(raw) or not stripped.strip():
            stats.bad(name, n, "binary data (NUL bytes)", raw)
            return None
        stats.bad(name, n, "NUL bytes removed", raw)
        raw = stripped
    try:
        text = raw.decode("utf-8")
        invalid = False
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "replace")
        invalid = True
    junk = (len(raw) - len(raw.translate(None, _CTRL))) + (text.count("\ufffd") if invalid else 0)
    if junk >= 2 and junk * 3 >= len(text):
        stats.bad(name, n, "binary data (not text)", raw)
        return None
    if invalid:
        stats.bad(name, n, "invalid UTF-8 (decoded with U+FFFD replacements)", raw)
    elif junk * 4 > len(raw) and len(raw) > 8:
        stats.bad(name, n, "binary data (control characters)", raw)
        return None
    return text

