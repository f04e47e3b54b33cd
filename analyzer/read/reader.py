"""Paths -> a stream of :class:`~analyzer.records.Record`, merged in time order.

Per file, :class:`FileReader` runs each raw line through

1. the per-file envelope, sniffed from the first lines (journald ``-o export``, ``docker compose``
   prefixes, Markdown-quoted pastes: :func:`analyzer.read.envelopes.sniff`);
2. decoding (ANSI escapes removed, binary junk counted as bad lines) and cleaning: a tqdm line keeps
   what the terminal showed last (``\\r``), ``[rank0]:`` / ``(pid=123)`` prefixes of torchrun and Ray go;
3. per-line envelopes: JSON (Docker json-file, journald ``-o json``, OpenTelemetry, ECS) and CRI, whose
   inner text goes through steps 2-4 again;
4. the line parser (``--log-format``, JSON application logs, logfmt, plain-text headers) and the
   :class:`~analyzer.read.assemble.Assembler`, which joins tracebacks and infers missing levels.

The same :class:`FileReader` serves ``--follow`` (:mod:`analyzer.follow`), so both read alike.
"""
from __future__ import annotations

import heapq
import os
import re
from datetime import datetime
from typing import Any, Iterator, Sequence

import orjson

from analyzer.read.assemble import Assembler, apply_meta
from analyzer.read.envelopes import JSON_ENVELOPES, SNIFF_LINES, CriLog, Inner, sniff
from analyzer.read.jsonlog import json_loads, json_record, loguru_record
from analyzer.read.lines import decode_line, iter_raw_lines
from analyzer.read.logfmt import could_be, logfmt_object, under_header
from analyzer.read.parser import LineParser
from analyzer.read.paths import expand_paths
from analyzer.read.stats import FileFacts, ReadStats
from analyzer.read.text import parse_text
from analyzer.read.times import UTC
from analyzer.records import Record
from ttsops.errors import InputError

__all__ = ["FileReader", "iter_file_records", "read_records", "reader_records", "sniff_raw"]

EPOCH_MIN = datetime(1970, 1, 1, tzinfo=UTC)
#: torchrun's ``--tee`` / ``local_ranks_filter`` prefix and Ray's worker prefix
_RANK_RE = re.compile(r"^\[(?:rank|default)\d+\]: ?")
_RAY_RE = re.compile(r"^\((?:[\w.\-]+ )?pid=\d+(?:, ip=[\d.]+)?\) ")


def _last_segment(text: str) -> str:
    """What a terminal shows of a line rewritten with ``\\r`` (tqdm, pip progress)."""
    for seg in reversed(text.split("\r")):
        if seg.strip():
            return seg
    return ""


class FileReader:
    """One file's raw lines -> records in ``out`` (the caller drains it); ``facts`` says how it read."""

    def __init__(self, name: str, parser: LineParser, stats: ReadStats):
        self.name = name
        self.parser = parser
        self.stats = stats
        self.out: list[Record] = []
        self.facts = FileFacts()
        self.asm = Assembler(name, self.out, self.facts, has_format=parser.fmt_re is not None)
        self._sniffed = False
        self._line_fn: Any = None
        self._sample: list[tuple[int, bytes]] = []
        self._prefix: Any = None      # per-file text envelope (quote, compose): a class with strip()
        self._bytes_env: Any = None   # per-file byte envelope (journald export): an instance
        self._json_env: dict[Any, Any] = {}
        self._cri: CriLog | None = None
        self._last_n = 0

    # -- feeding ------------------------------------------------------------------------------
    def feed(self, n: int, raw: bytes) -> None:
        """One raw line. The first lines wait for the envelope sniff; after it ``feed`` is rebound to
        the line path itself (look it up on the reader each time, do not keep a bound copy)."""
        if self._sniffed:
            self._line_fn(n, raw)
            return
        self._last_n = n
        self._sample.append((n, raw))
        if len(self._sample) >= SNIFF_LINES:
            self.settle()

    def settle(self) -> None:
        """Choose the per-file envelope from the lines seen so far and read them."""
        if self._sniffed:
            return
        self._sniffed = True
        # a --log-format file is what the user said it is
        env = None if self.parser.fmt_re is not None else sniff_raw([raw for _n, raw in self._sample])
        if env is not None:
            self.facts.envelope = env.name
            if getattr(env, "wants_bytes", False):
                self._bytes_env = env()
            else:
                self._prefix = env
        sample, self._sample = self._sample, []
        self._line_fn = self._line_format if self.parser.fmt_re is not None else self._line
        self.feed = self._line_fn  # type: ignore[method-assign]
        for n, raw in sample:
            self._line_fn(n, raw)

    def flush(self) -> None:
        """End of the file (or of what it holds for now): every pending record comes out."""
        self.settle()
        for env in [self._bytes_env, self._cri, *self._json_env.values()]:
            if env is not None:
                for inner in env.flush():
                    self._inner(self._last_n, inner)
        self.asm.flush()

    # -- one line -----------------------------------------------------------------------------
    def _line_format(self, n: int, raw: bytes) -> None:
        """``--log-format``: the header the user gave, else a continuation of the record before."""
        self._last_n = n
        text = decode_line(raw, self.name, n, self.stats)
        if text is None:
            return
        if "\r" in text:
            text = _last_segment(text)
        rec = self.parser.parse_format(text, self.name, n)
        if rec is not None:
            self.asm.record(self._pairs(rec), text)
        elif not self.asm.unformatted(n, text) and text.strip():
            self.stats.bad(self.name, n, "line does not match the log format", text)

    def _line(self, n: int, raw: bytes) -> None:
        self._last_n = n
        if self._bytes_env is not None:
            for inner in self._bytes_env.feed_raw(raw):
                self._inner(n, inner)
            return
        if raw[:2] == b'{"' and self.parser.fmt_re is None and b"\x7f" not in raw:
            # fast path for JSON lines: orjson reads the bytes (and checks their UTF-8); anything it
            # refuses takes the general path below, which gives the same result
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                obj = None
            if obj.__class__ is dict:
                text = raw.decode("utf-8")
                rec = obj.get("record")
                if rec.__class__ is dict and "message" in rec:
                    self.asm.record(loguru_record(obj, rec, text, self.name, n, self.parser.parse_times), text)
                else:
                    self._json(n, obj, text, None)
                return
        text = decode_line(raw, self.name, n, self.stats)
        if text is not None:
            self._text(n, text, None)

    def _text(self, n: int, text: str, meta: Inner | None) -> None:
        if "\r" in text:
            text = _last_segment(text)
        if self._prefix is not None and meta is None:
            text, fields = self._prefix.strip(text)
            if fields:
                meta = Inner(text, fields=fields)
        c = text[:1]
        if c == "[" and text[1:5] in ("rank", "defa"):
            text = _RANK_RE.sub("", text, count=1)
        elif c == "(" and "pid=" in text[:64]:
            text = _RAY_RE.sub("", text, count=1)
        parser = self.parser
        s = text.lstrip()[:1]
        if s == "{":
            s = text.strip()
            if s[:2] == '{"' or s[-1:] == "}":
                try:
                    obj = json_loads(s)
                except (ValueError, RecursionError, TypeError):
                    self.stats.bad(self.name, n, "malformed JSON", text)
                    return
                if isinstance(obj, dict):
                    self._json(n, obj, text, meta)
                    return
        elif meta is None and CriLog.could_be(text):
            cri = self._cri
            if cri is None:
                cri = self._cri = CriLog()
            entries = cri.unwrap_text(text)
            if entries is not None:
                if self.facts.envelope == "plain":
                    self.facts.envelope = cri.name
                for inner in entries:
                    self._inner(n, inner)
                return
        elif s.isalpha() or s == "_" or s == "@":
            obj = logfmt_object(text.lstrip())
            if obj is not None:
                rec = json_record(obj, text, self.name, n, parser.parse_times)
                self.asm.record(apply_meta(rec, meta), text)
                return
        rec = parse_text(text, self.name, n, parser.parse_times)
        if rec is not None:
            self.asm.record(apply_meta(self._pairs(rec), meta), text)
        else:
            self.asm.plain(n, text, meta)

    def _pairs(self, rec: Record) -> Record:
        """A headered record whose message is logfmt (``Jun 15 14:22:03 gpu1 dockerd[812]: time=...
        level=error msg=...``, or the ``<Content>`` of a ``--log-format``): its pairs' message, level,
        time and fields."""
        if could_be(rec.message):
            obj = logfmt_object(rec.message)
            if obj is not None:
                return under_header(rec, obj, self.parser.parse_times)
        return rec

    def _json(self, n: int, obj: dict, text: str, meta: Inner | None) -> None:
        if meta is None:
            rec = obj.get("record")
            if not (isinstance(rec, dict) and "message" in rec):
                for cls in JSON_ENVELOPES:
                    if cls.match(obj):
                        env = self._json_env.get(cls)
                        if env is None:
                            env = self._json_env[cls] = cls()
                            if self.facts.envelope == "plain":
                                self.facts.envelope = cls.name
                        for inner in env.unwrap(obj):
                            self._inner(n, inner)
                        return
        rec = json_record(obj, text, self.name, n, self.parser.parse_times)
        self.asm.record(apply_meta(rec, meta), text)

    def _inner(self, n: int, inner: Inner) -> None:
        text = inner.text
        if "\n" not in text:
            self._text(n, text, inner)
            return
        lines = text.split("\n")
        self._text(n, lines[0], inner)
        for line in lines[1:]:
            self._text(n, line.rstrip("\r"), None)


def sniff_raw(sample: list[bytes]) -> Any:
    """The per-file envelope class for a file's first raw lines (``None``: lines are read one by one)."""
    return sniff([t for t in (raw.decode("utf-8", "replace").strip() for raw in sample) if t])


def iter_file_records(path: str, *, log_format: str | None = None, stats: ReadStats | None = None,
                      parser: LineParser | None = None, display: str | None = None) -> Iterator[Record]:
    """Records of one file, in file order; continuation lines joined; times inherited forward."""
    stats = stats if stats is not None else ReadStats()
    parser = parser or LineParser(log_format)
    name = display or ("<stdin>" if path == "-" else path)
    reader = FileReader(name, parser, stats)
    yield from reader_records(reader, iter_raw_lines(path, stats, name), stats)
    stats.file_done(name, reader.facts, times=parser.parse_times)


def reader_records(reader: FileReader, raw_lines: Iterator[tuple[int, bytes]], stats: ReadStats) -> Iterator[Record]:
    """The records ``reader`` makes of ``raw_lines``, every pending one flushed at the end (a whole
    file, or one piece of it: :mod:`analyzer.dist`)."""
    out = reader.out
    lines = 0
    for n, raw in raw_lines:
        lines += 1
        reader.feed(n, raw)
        if out:
            stats.records += len(out)
            yield from out
            out.clear()
    stats.lines += lines
    reader.flush()
    if out:
        stats.records += len(out)
        yield from out
        out.clear()


def _sort_key_stream(idx: int, recs: Iterator[Record]) -> Iterator[tuple[datetime, int, int, Record]]:
    seq = 0
    for r in recs:
        seq += 1
        yield (r.time or EPOCH_MIN, idx, seq, r)


def read_records(paths: Sequence[str | os.PathLike[str]] | str, *, log_format: str | None = None,
                 stats: ReadStats | None = None, merge: bool = True, parse_times: bool = True,
                 strict: bool = True) -> Iterator[Record]:
    """Stream the records of every file under ``paths``, merged in time order (``heapq.merge`` of
    the per-file streams; a record without a time inherits the previous one's in its file; a file
    without any time keeps its line order).

    ``merge=False`` concatenates files in path order instead (logparser semantics for ``templates``).
    Raises :class:`InputError` (exit code 2) when ``strict`` and no path could be read at all."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    stats = stats if stats is not None else ReadStats()
    files = expand_paths(paths, stats)
    if not files:
        if strict:
            detail = "; ".join(stats.warnings[:3]) or "no log files found"
            raise InputError(f"nothing to read ({detail})", where=", ".join(map(os.fspath, paths))[:200],
                             fix="give log files, folders, globs or - for stdin")
        return
    parser = LineParser(log_format, parse_times=parse_times)
    streams = [iter_file_records(f, stats=stats, parser=parser) for f in files]
    if not merge or len(streams) == 1:
        for s in streams:
            yield from s
    else:
        for _t, _i, _s, rec in heapq.merge(*(_sort_key_stream(i, s) for i, s in enumerate(streams))):
            yield rec
    if strict and not stats.files:
        detail = "; ".join(stats.warnings[:3])
        raise InputError(f"no input could be read ({detail})", where=", ".join(map(os.fspath, paths))[:200])
