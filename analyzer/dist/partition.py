"""The input of a distributed run cut into pieces: whole files, and large plain files by byte ranges
cut where a new record starts, so a traceback (or any multi-line record) is never split.

A cut is made only where reading would start a new record whatever came before:

* the file's head has no per-file envelope (journald ``-o export``, ``docker compose`` prefixes,
  quoted pastes) and is not gzip: such files stay whole;
* the line at the cut and the line before it are plain lines: no CRI or JSON envelope line (their
  partial entries are rejoined across lines), no ``\\r``, ANSI escape, NUL or rank/pid prefix;
* the line at the cut is a headered record *with a time* (``--log-format`` match, a plain-text
  header, or an application JSON / loguru line), so nothing before it is inherited;
* its message cannot continue the record before it: it is not a traceback body line, blank, or an
  exception line (the only headered lines :class:`~analyzer.read.assemble.Assembler` joins to the
  record before, a traceback logged line by line under one header).

The search for a cut starts at each nominal offset and goes on for ``CUT_SEARCH_BYTES``; where no
line qualifies, the piece before simply grows. Line numbers are counted by the pieces themselves
and offset on the client (:mod:`analyzer.dist.merge`), so planning reads only a little of each file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import orjson

from analyzer.read.assemble import never_continues
from analyzer.read.envelopes import JSON_ENVELOPES, SNIFF_LINES, CriLog
from analyzer.read.jsonlog import json_record, loguru_record
from analyzer.read.parser import LineParser
from analyzer.read.reader import sniff_raw
from analyzer.read.text import parse_text
from analyzer.records import Record

__all__ = ["Piece", "plan_pieces", "find_cut", "is_cut_line", "CUT_SEARCH_BYTES"]

CUT_SEARCH_BYTES = 4 << 20   # how far past a nominal offset a cut is looked for
_HEAD_BYTES = 1 << 20


@dataclass(frozen=True)
class Piece:
    """Bytes ``[start, end)`` of ``path`` (``end=None``: to the end); ``file_idx``: the file's place
    in the run (``expand_paths`` order); ``index``: the piece's place in its file."""

    path: str
    file_idx: int
    index: int
    start: int = 0
    end: int | None = None

    @property
    def span(self) -> tuple[int, int | None] | None:
        return None if self.start == 0 and self.end is None else (self.start, self.end)

    def label(self) -> str:
        if self.span is None:
            return self.path
        end = "" if self.end is None else _mb(self.end)
        return f"{self.path}[{_mb(self.start)}:{end}]"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f}MB" if n >= 1e5 else f"{n}B"


def _plain(raw: bytes) -> str | None:
    """The line as text when it is a plain line (see the module doc), else ``None``."""
    if b"\r" in raw or b"\x1b" in raw or b"\x00" in raw or len(raw) > 65536:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    c = text[:1]
    if (c == "[" and text[1:5] in ("rank", "defa")) or (c == "(" and "pid=" in text[:64]):
        return None
    return text


def _envelope_line(text: str) -> bool:
    """A CRI line or a JSON envelope (Docker json-file, journald, OTel, ECS): state across lines."""
    s = text.lstrip()
    if s[:1] == "{":
        try:
            obj = orjson.loads(s)
        except orjson.JSONDecodeError:
            return False
        if isinstance(obj, dict) and not isinstance(obj.get("record"), dict):
            return any(cls.match(obj) for cls in JSON_ENVELOPES)
        return False
    return CriLog.could_be(text)


def _record_of(text: str, parser: LineParser) -> Record | None:
    if parser.fmt_re is not None:
        return parser.parse_format(text, "", 0)
    if text[:2] == '{"':
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        if obj.__class__ is not dict:
            return None
        rec = obj.get("record")
        if rec.__class__ is dict and "message" in rec:
            return loguru_record(obj, rec, text, "", 0, True)
        return json_record(obj, text, "", 0, True)
    if text.lstrip()[:1] == "{":
        return None
    return parse_text(text, "", 0, True)


def is_cut_line(prev: bytes, line: bytes, parser: LineParser) -> bool:
    """Whether a piece may start at ``line`` (``prev``: the line before it)."""
    text, before = _plain(line), _plain(prev)
    if text is None or before is None:
        return False
    if parser.fmt_re is None and (_envelope_line(text) or _envelope_line(before)):
        return False
    rec = _record_of(text, parser)
    if rec is None or rec.time is None:
        return False
    return never_continues(rec.message)


def _lines_from(fh, offset: int, limit: int) -> Iterator[tuple[int, bytes]]:  # noqa: ANN001
    """(start offset, bytes) of the whole lines that start after ``offset``, read in 64 KB blocks
    up to ``limit`` bytes past it (planning reads only what it looks at)."""
    pos = max(0, offset - 1)
    fh.seek(pos)
    buf = b""
    end = pos + limit
    first = True
    while pos < end:
        block = fh.read(min(1 << 16, end - pos))
        if not block:
            return
        buf += block
        pos += len(block)
        base = pos - len(buf)
        i = buf.find(b"\n") if first else -1
        if first:
            if i < 0:
                continue
            first = False
            buf = buf[i + 1:]
            base += i + 1
        start = 0
        while True:
            j = buf.find(b"\n", start)
            if j < 0:
                break
            yield base + start, buf[start:j]
            start = j + 1
        buf = buf[start:]


def find_cut(path: str, offset: int, parser: LineParser, *, limit: int = CUT_SEARCH_BYTES) -> int | None:
    """The first line start at or after ``offset`` where a piece may begin (``None``: none found)."""
    with open(path, "rb") as fh:
        prev: bytes | None = None
        for start, line in _lines_from(fh, offset, limit):
            if prev is not None and is_cut_line(prev, line, parser):
                return start
            prev = line
    return None


def _cuttable(path: str, parser: LineParser) -> bool:
    """A plain (not gzip) file whose head has no per-file envelope."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError:
        return False
    if head[:2] == b"\x1f\x8b":
        return False
    if parser.fmt_re is not None:
        return True
    sample = head.split(b"\n")[:SNIFF_LINES]
    return sniff_raw(sample) is None


def plan_pieces(files: list[str], *, piece_bytes: int, log_format: str | None = None) -> list[Piece]:
    """Pieces of at most about ``piece_bytes`` each (a file smaller than that is one piece)."""
    parser = LineParser(log_format)
    out: list[Piece] = []
    for idx, path in enumerate(files):
        try:
            size = os.path.getsize(path)
        except OSError:
            size = 0
        if size <= piece_bytes * 1.5 or not _cuttable(path, parser):
            out.append(Piece(path, idx, 0))
            continue
        cuts = []
        nominal = piece_bytes
        while nominal < size - piece_bytes // 2:
            cut = find_cut(path, nominal, parser)
            if cut is None or cut >= size:
                nominal += piece_bytes
                continue
            if not cuts or cut > cuts[-1]:
                cuts.append(cut)
            nominal = max(cut, nominal) + piece_bytes
        bounds = [0, *cuts, None]
        for k in range(len(bounds) - 1):
            out.append(Piece(path, idx, k, bounds[k], bounds[k + 1]))
    return out
