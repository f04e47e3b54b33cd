"""Reading logs: paths -> a stream of :class:`~analyzer.records.Record`, merged in time order.

Inputs
    files, folders (recursive, symlink loops detected), globs, ``-`` for stdin. Plain or gzip
    (detected by magic bytes, so ``app.log.1.gz`` and ``app.log.gz`` both work; a truncated gzip
    keeps what was read and adds a warning).
Line formats (auto-detected per line)
    * loguru ``serialize=True`` JSON (message ``record.message``, level ``record.level.name``, time
      ``record.time.timestamp``, ``record.extra`` as fields, exception kept);
    * other JSON objects (structlog ``event``/``level``/``timestamp``; logstash ``@timestamp``/
      ``message``/``level``; common keys ``msg``/``message``/``log``/``time``/``ts``/``severity``);
    * plain text with a timestamp and/or level prefix: ISO 8601, ``2024-06-15 14:22:03,102 [ERROR] m``,
      loguru's default ``2024-06-15 14:22:03.102 | ERROR | mod:fn:1 - m``, Python logging
      ``... - name - ERROR - m``, syslog ``Jun 15 14:22:03 host prog[123]: m``, ``[Sun Dec 04 ...]``;
    * or a logparser header format given explicitly (``log_format="<Date> <Time> <Level> <Content>"``).
Multi-line records
    A line without a recognised header (a Python traceback, an indented continuation) joins the
    record before it, as long as that record had a header; the traceback text (from
    ``Traceback (most recent call last):`` on) is kept in ``Record.traceback``.
Bad input
    undecodable bytes, binary junk, NUL bytes, malformed JSON, over-long lines: counted in
    :class:`ReadStats` (the first few with ``file:line``), never fatal. Unreadable paths (missing,
    permission denied, FIFO, directory loop) are warnings; :func:`read_records` raises
    :class:`~ttsops.errors.InputError` only when nothing at all could be read.
Memory
    streaming: one pending record per open file (a joined record is capped at
    ``MAX_JOINED_LINES`` lines), lines capped at ``MAX_LINE_BYTES``.
"""
from __future__ import annotations

import glob as _glob
import gzip
import heapq
import io
import json
import os
import re
import stat
import sys
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Sequence

from analyzer.records import BadLine, Record

import orjson

from ttsops.errors import InputError


def _json_loads(text: str) -> Any:
    """orjson (3-4x faster than stdlib json on log lines); stdlib json for what orjson refuses but
    Python's own json writes (NaN, Infinity, integers over 64 bits) or lone surrogates."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)

__all__ = [
    "ReadStats", "read_records", "iter_file_records", "expand_paths", "load_logs",
    "LineParser", "logformat_regex", "parse_time", "MAX_LINE_BYTES", "LOG_SUFFIXES",
]

MAX_LINE_BYTES = 1 << 20        # a longer line is cut here (BadLine "line too long") and the rest skipped
MAX_JOINED_LINES = 2000          # a record never absorbs more continuation lines than this
MAX_JOINED_BYTES = 1 << 20
MAX_BAD_LINES_KEPT = 20
BAD_TEXT_PREVIEW = 120
UTC = timezone.utc
EPOCH_MIN = datetime(1970, 1, 1, tzinfo=UTC)

# file names picked up when walking a folder (explicit file arguments are always read)
LOG_SUFFIXES = (".log", ".jsonl", ".txt", ".json", ".out", ".err")
_LOGNAME_RE = re.compile(r"\.(?:log|jsonl|txt|json|out|err)(?:[._-][\w.-]*)?$|\.log\b|\.\d+$|\.gz$", re.I)


# --------------------------------------------------------------------------------------------
# stats
@dataclass
class ReadStats:
    """What reading saw. ``bad_lines`` keeps the first ``max_bad_lines``; ``bad_line_count`` all."""

    lines: int = 0
    records: int = 0
    bad_line_count: int = 0
    bad_lines: list[BadLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    bytes: int = 0
    max_bad_lines: int = MAX_BAD_LINES_KEPT

    def bad(self, file: str, line: int, reason: str, text: str | bytes = "") -> None:
        self.bad_line_count += 1
        if len(self.bad_lines) < self.max_bad_lines:
            if isinstance(text, bytes):
                text = text[:BAD_TEXT_PREVIEW].decode("utf-8", "backslashreplace")
            self.bad_lines.append(BadLine(file, line, reason, _printable(text[:BAD_TEXT_PREVIEW])))

    def warn(self, message: str) -> None:
        if len(self.warnings) < 1000 and message not in self.warnings:
            self.warnings.append(message)

    def as_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "records": self.records, "bad_lines": self.bad_line_count,
                "files": len(self.files), "warnings": list(self.warnings),
                "bad_line_examples": [{"file": b.file, "line": b.line, "reason": b.reason, "text": b.text}
                                      for b in self.bad_lines]}


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


# --------------------------------------------------------------------------------------------
# paths
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


# --------------------------------------------------------------------------------------------
# raw lines
def _open_binary(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    f = open(path, "rb")
    head = f.peek(2)[:2] if hasattr(f, "peek") else b""
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    return f


def iter_raw_lines(path: str, stats: ReadStats, display: str | None = None) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, bytes without line ending). Truncated gzip and I/O errors end the file
    with a warning, keeping every line read before."""
    name = display or path
    try:
        fh = _open_binary(path)
    except OSError as exc:
        stats.warn(f"{name}: cannot open ({exc.strerror or exc})")
        stats.unreadable.append(name)
        return
    stats.files.append(name)
    if fh.__class__ is io.BufferedReader and fh is not sys.stdin.buffer:
        yield from _iter_block_lines(fh, name, stats)
        return
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


def _iter_block_lines(fh: BinaryIO, name: str, stats: ReadStats) -> Iterator[tuple[int, bytes]]:
    """:func:`iter_raw_lines` for a plain file: big blocks split at newlines (a third of the cost of
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
                yield n, head
                skip = None
                block = block[i + 1:]
            lines = block.split(b"\n")
            if carry:
                lines[0] = carry + lines[0]
            carry = lines.pop()
            for line in lines:
                n += 1
                if len(line) >= MAX_LINE_BYTES:
                    stats.bad(name, n, f"line longer than {MAX_LINE_BYTES} bytes ({len(line) + 1} bytes), cut",
                              line[:MAX_LINE_BYTES])
                    yield n, line[:MAX_LINE_BYTES]
                elif line[-1:] == b"\r":
                    yield n, line[:-1]
                else:
                    yield n, line
            if len(carry) >= MAX_LINE_BYTES:
                skip, head, carry = len(carry), carry[:MAX_LINE_BYTES], b""
        if skip is not None:
            n += 1
            stats.bad(name, n, f"line longer than {MAX_LINE_BYTES} bytes ({skip} bytes), cut", head)
            yield n, head
        elif carry:  # no newline at the end of the file
            n += 1
            if len(carry) >= MAX_LINE_BYTES:
                stats.bad(name, n, f"line longer than {MAX_LINE_BYTES} bytes ({len(carry)} bytes), cut",
                          carry[:MAX_LINE_BYTES])
                carry = carry[:MAX_LINE_BYTES]
            yield n, carry
    finally:
        try:
            fh.close()
        except Exception:  # noqa: BLE001
            pass


_CTRL = bytes(range(0, 9)) + bytes(range(14, 32)) + b"\x7f"


def _decode(raw: bytes, name: str, n: int, stats: ReadStats) -> str | None:
    """bytes -> str, or None when the line is binary junk (counted as a bad line)."""
    if len(raw.translate(None, _CTRL)) == len(raw):  # the common case: no control bytes, valid UTF-8
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


# --------------------------------------------------------------------------------------------
# time parsing
_LEVELS = {
    "TRACE": "DEBUG", "DEBUG": "DEBUG", "DBG": "DEBUG", "D": "DEBUG", "V": "DEBUG", "VERBOSE": "DEBUG",
    "INFO": "INFO", "INF": "INFO", "I": "INFO", "NOTICE": "INFO", "SUCCESS": "INFO", "INFORMATION": "INFO",
    "WARN": "WARNING", "WARNING": "WARNING", "W": "WARNING",
    "ERROR": "ERROR", "ERR": "ERROR", "E": "ERROR", "SEVERE": "ERROR", "EXCEPTION": "ERROR",
    "CRITICAL": "CRITICAL", "CRIT": "CRITICAL", "FATAL": "CRITICAL", "F": "CRITICAL", "ALERT": "CRITICAL",
    "EMERG": "CRITICAL", "EMERGENCY": "CRITICAL", "PANIC": "CRITICAL",
}
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}


def norm_level(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int):
        return {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}.get(
            value - value % 10, "INFO" if value < 30 else "ERROR")
    s = str(value).strip().upper()
    return _LEVELS.get(s, s or None) if len(s) <= 12 else None


_TS_CACHE: dict[str, datetime | None] = {}
_LEVEL_CACHE: dict[Any, str | None] = {k: v for k, v in _LEVELS.items()}
_MISSING: Any = object()


def _level_cached(value: Any) -> str | None:
    """:func:`norm_level` remembered per distinct string (bounded)."""
    out = norm_level(value)
    if value.__class__ is str and len(_LEVEL_CACHE) < 4096:
        _LEVEL_CACHE[value] = out
    return out
_EXTRA_FORMATS = ("%y%m%d %H%M%S", "%y/%m/%d %H:%M:%S", "%m-%d %H:%M:%S.%f", "%a %b %d %H:%M:%S %Y",
                  "%b %d %H:%M:%S", "%d/%b/%Y:%H:%M:%S %z", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S",
                  "%Y-%m-%d-%H.%M.%S.%f", "%Y.%m.%d %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S",
                  "%H:%M:%S.%f", "%H:%M:%S")


def parse_time(value: Any) -> datetime | None:
    """A timestamp (ISO 8601 string, epoch seconds/ms, common log formats) -> aware datetime (UTC when
    the input has no zone), or None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        v = float(value)
        if v > 1e14:
            v /= 1e6
        elif v > 1e11:
            v /= 1e3
        try:
            return datetime.fromtimestamp(v, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, dict):  # loguru {"repr", "timestamp"}
        return parse_time(value.get("timestamp", value.get("repr")))
    s = str(value).strip()
    hit = _TS_CACHE.get(s)
    if hit is not None or s in _TS_CACHE:
        return hit
    out = _parse_time_str(s)
    if len(_TS_CACHE) > 50_000:
        _TS_CACHE.clear()
    _TS_CACHE[s] = out
    return out


# strptime is pure Python (~20 us a call): formats made only of these numeric directives are parsed
# by one compiled regex (the same alternatives strptime's own regexes accept) and int() instead
_NUM_DIRECTIVES = {
    "Y": r"(?P<Y>\d\d\d\d)", "y": r"(?P<y>\d\d)", "m": r"(?P<m>1[0-2]|0[1-9]|[1-9])",
    "d": r"(?P<d>3[01]|[12]\d|0[1-9]|[1-9]| [1-9])", "H": r"(?P<H>2[0-3]|[0-1]\d|\d)",
    "M": r"(?P<M>[0-5]\d|\d)", "S": r"(?P<S>6[0-1]|[0-5]\d|\d)", "f": r"(?P<f>[0-9]{1,6})",
}


def _fast_format(fmt: str) -> re.Pattern[str] | None:
    """A regex equivalent to ``strptime(s, fmt)`` for numeric-only formats, else None."""
    out = []
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c == "%":
            d = fmt[i + 1: i + 2]
            if d not in _NUM_DIRECTIVES:
                return None
            out.append(_NUM_DIRECTIVES[d])
            i += 2
        elif c.isspace():
            out.append(r"\s+")
            i += 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out), re.I)


_FAST_FORMATS = {fmt: _fast_format(fmt) for fmt in _EXTRA_FORMATS}


def _strptime(s: str, fmt: str) -> datetime:
    rx = _FAST_FORMATS.get(fmt)
    if rx is None:
        return datetime.strptime(s, fmt)
    m = rx.fullmatch(s)
    if m is None:
        raise ValueError(f"{s!r} does not match {fmt!r}")
    g = m.groupdict()
    if "Y" in g:
        year = int(g["Y"])
    elif "y" in g:
        year = int(g["y"])
        year += 1900 if year >= 69 else 2000
    else:
        year = 1900
    f = g.get("f")
    return datetime(year, int(g.get("m") or 1), int(g.get("d") or 1), int(g.get("H") or 0),
                    int(g.get("M") or 0), int(g.get("S") or 0), int(f.ljust(6, "0")) if f else 0)


def _parse_time_str(s: str) -> datetime | None:
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        dt = None
        if s.replace(".", "", 1).isdigit():
            return parse_time(float(s))
        for fmt in _EXTRA_FORMATS:
            try:
                dt = _strptime(s, fmt)
                break
            except ValueError:
                continue
        if dt is None:
            return None
        if dt.year == 1900:  # formats without a year (syslog, Android): assume the current year
            dt = dt.replace(year=datetime.now(UTC).year)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# line parsing
_LEVEL_WORD = (r"TRACE|DEBUG|INFO|NOTICE|SUCCESS|WARNING|WARN|ERROR|ERR|CRITICAL|CRIT|FATAL|SEVERE|"
               r"EMERG|ALERT|PANIC|EXCEPTION")
_ISO = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}|\s?UTC)?"
# 1: timestamp (ISO, bracketed or not), then optional level in many decorations, then the message
_TEXT_RE = re.compile(
    r"^\[?(?P<ts>" + _ISO + r")\]?"
    r"(?:\s*[|\-:]?\s*\[?(?P<level>" + _LEVEL_WORD + r")\b\]?\s*(?:[|:]\s*|-\s+)?"   # ts LEVEL / ts | LEVEL | / ts [LEVEL]
    r"(?:(?:(?P<channel>[\w.\-]+)\s*\|\s*)?(?P<src>[\w.<>\-]+:[\w.<>\-]+:\d+) - )?"  # loguru default [extra |] name:function:line -
    r"|\s+-\s+(?P<logger>[\w.$\-]+)\s+-\s+(?P<level2>" + _LEVEL_WORD + r")\b\s+-\s+"  # python: ts - name - LEVEL - m
    r"|\s*)"
    r"(?P<msg>.*)$", re.S | re.I)
_SYSLOG_RE = re.compile(
    r"^(?P<ts>(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{1,2}\s+\d{2}:\d{2}:\d{2})\s+"
    r"(?P<host>[\w.\-]+)\s+(?P<prog>[^\s:\[]+)(?:\[(?P<pid>\d+)\])?:\s?(?P<msg>.*)$", re.S)
_BRACKET_RE = re.compile(r"^\[(?P<ts>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}(?:\.\d+)? \d{4})\]\s*"
                         r"(?:\[(?P<level>\w+)\]\s*)?(?P<msg>.*)$", re.S)
_CLF_RE = re.compile(r'^(?P<host>\S+) \S+ \S+ \[(?P<ts>\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] (?P<msg>".*)$', re.S)
_LEVEL_ONLY_RE = re.compile(r"^\[?(?P<level>" + _LEVEL_WORD + r")\b\]?(?::(?P<logger>[\w.]+):|\s*[:|\-]\s+|\s+)(?P<msg>.*)$", re.S)
_CONT_RE = re.compile(r"^(?:\s|Traceback \(most recent call last\)|During handling of the above exception|"
                      r"The above exception was the direct cause|\^|~|File \"|Caused by:|at [\w.$]+\()")
_EXC_LINE_RE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Fault|Failure)\b:?")

_JSON_MSG_KEYS = ("message", "msg", "event", "log", "@message", "text", "short_message")
_JSON_LEVEL_KEYS = ("level", "levelname", "severity", "log.level", "lvl", "loglevel", "log_level")
_JSON_TIME_KEYS = ("@timestamp", "timestamp", "time", "ts", "asctime", "datetime", "date", "t")


def logformat_regex(log_format: str) -> tuple[re.Pattern[str], list[str]]:
    """logparser's header syntax (``<Date> <Time> <Level> <Content>``) -> (regex, header names).
    Literal parts are regex text (as in logparser: ``\\[<Pid>\\]``); runs of spaces match ``\\s+``."""
    headers: list[str] = []
    parts = re.split(r"(<[^<>]+>)", log_format)
    regex = ""
    for k, part in enumerate(parts):
        if k % 2 == 0:
            regex += re.sub(" +", r"\\s+", part)
        else:
            name = part.strip("<>").strip()
            if not re.fullmatch(r"[A-Za-z_]\w*", name):
                raise InputError(f"bad field name {part!r} in log format", where="--log-format",
                                 fix="use <Name> fields, e.g. '<Date> <Time> <Level> <Content>'")
            if name in headers:
                raise InputError(f"field {part} appears twice in log format", where="--log-format")
            headers.append(name)
            regex += f"(?P<{name}>.*?)" if name != "Content" else f"(?P<{name}>.*)"
    if "Content" not in headers:
        raise InputError("log format has no <Content> field", where="--log-format",
                         fix="end the format with <Content>, e.g. '<Date> <Time> <Level> <Content>'")
    try:
        return re.compile("^" + regex + "$", re.S), headers
    except re.error as exc:
        raise InputError(f"log format is not a valid pattern ({exc})", where="--log-format") from None


class LineParser:
    """One decoded line -> ``("rec", Record)``, ``("cont", None)`` (joins the previous record) or
    ``("bad", reason)``. Stateless apart from the compiled format."""

    __slots__ = ("fmt_re", "headers", "time_fields", "parse_times", "_fmt_time_cache", "_level_key")

    def __init__(self, log_format: str | None = None, *, parse_times: bool = True):
        self.parse_times = parse_times
        if log_format:
            self.fmt_re, self.headers = logformat_regex(log_format)
            self.time_fields = [h for h in self.headers if h.lower() in ("date", "day", "time", "timestamp",
                                                                           "datetime")]
            # "Day" (OpenSSH: 'Dec 10') is a day-of-month, keep it in the time string
        else:
            self.fmt_re, self.headers, self.time_fields = None, [], []
        self._fmt_time_cache: dict[str, Any] = {}
        # the level header: the first of Level, Severity, Flag present (Flag is dropped, not a level)
        self._level_key = next((k for k in ("Level", "Severity", "Flag") if k in self.headers), None)

    # -- JSON -------------------------------------------------------------------------------
    def parse_json(self, text: str, name: str, n: int) -> tuple[str, Any]:
        try:
            obj = _json_loads(text)
        except (ValueError, RecursionError, TypeError):
            return "bad", "malformed JSON"
        if not isinstance(obj, dict):
            return "text", None
        rec = obj.get("record")
        if isinstance(rec, dict) and "message" in rec:
            return "rec", self._loguru(obj, rec, text, name, n)
        msg_key = next((k for k in _JSON_MSG_KEYS if k in obj and isinstance(obj[k], (str, int, float))), None)
        message = str(obj[msg_key]) if msg_key else ""
        level_key = next((k for k in _JSON_LEVEL_KEYS if k in obj), None)
        level = norm_level(obj[level_key]) if level_key else None
        if level_key is None and isinstance(obj.get("log"), dict):
            level = norm_level(obj["log"].get("level"))
        time_key = next((k for k in _JSON_TIME_KEYS if k in obj), None)
        time = parse_time(obj[time_key]) if (time_key and self.parse_times) else None
        fields = {k: v for k, v in obj.items() if k not in (msg_key, level_key, time_key)}
        tb = fields.get("traceback") or fields.get("exc_info") or fields.get("exception") or fields.get("stack_trace")
        if not isinstance(tb, str):
            tb = None
        return "rec", Record(time, level, message, name, n, fields, text, tb)

    def _loguru(self, obj: dict, rec: dict, text: str, name: str, n: int) -> Record:
        lvl = rec.get("level")
        lname = lvl.get("name") if lvl.__class__ is dict else lvl
        level = _LEVEL_CACHE.get(lname, _MISSING) if lname.__class__ is str else _MISSING
        if level is _MISSING:
            level = _level_cached(lname)
        time = None
        if self.parse_times:
            t = rec.get("time")
            ts = t.get("timestamp") if t.__class__ is dict else None
            if ts.__class__ is float and 1e8 < ts < 1e11:  # epoch seconds, loguru's own: no string parsing
                time = datetime.fromtimestamp(ts, UTC)
            else:
                time = parse_time(t)
        extra = rec.get("extra")
        # the parsed line is ours alone: extra becomes the fields as is (no copy)
        fields: dict[str, Any] = extra if extra.__class__ is dict else {}
        v = rec.get("name")
        if v is not None and "logger" not in fields:
            fields["logger"] = v
        v = rec.get("function")
        if v is not None and "function" not in fields:
            fields["function"] = v
        tb = fields.get("traceback")
        if tb is not None and tb.__class__ is not str:
            tb = None
        exc = rec.get("exception")
        if exc.__class__ is dict:
            if exc.get("type") is not None:
                fields.setdefault("exception_type", exc.get("type"))
            if exc.get("value") is not None:
                fields.setdefault("exception_value", exc.get("value"))
            if tb is None:
                formatted = obj.get("text")
                if isinstance(formatted, str):
                    i = formatted.find("Traceback (most recent call last)")
                    if i >= 0:
                        tb = formatted[i:].rstrip("\n")
                if tb is None and isinstance(exc.get("traceback"), str):
                    tb = exc["traceback"]
        message = rec.get("message")
        return Record(time, level, message if isinstance(message, str) else str(message), name, n, fields,
                      text, tb)

    # -- text -------------------------------------------------------------------------------
    def parse(self, text: str, name: str, n: int) -> tuple[str, Any]:
        if self.fmt_re is not None:
            m = self.fmt_re.match(text)
            if m is None:
                return "cont", None
            d = m.groupdict()
            message = d.pop("Content")
            level = None
            lk = self._level_key
            if lk is not None:
                v = d.pop(lk)
                if lk != "Flag":
                    level = _LEVEL_CACHE.get(v, _MISSING)
                    if level is _MISSING:
                        level = _level_cached(v)
            time = None
            tf = self.time_fields
            if tf and self.parse_times:
                tstr = d[tf[0]] if len(tf) == 1 else f"{d[tf[0]]} {d[tf[1]]}" if len(tf) == 2 \
                    else " ".join(d[h] for h in tf)
                cache = self._fmt_time_cache
                time = cache.get(tstr, _MISSING)
                if time is _MISSING:
                    time = parse_time(tstr)
                    if len(cache) > 20_000:
                        cache.clear()
                    cache[tstr] = time
            return "rec", Record(time, level, message, name, n, d, text)
        s = text.lstrip()
        if s[:2] == '{"' or (s[:1] == "{" and s.rstrip()[-1:] == "}"):
            kind, val = self.parse_json(s, name, n)
            if kind != "text":
                return kind, val
        c = text[:1]
        if c.isdigit() or c == "[":
            m = _TEXT_RE.match(text)
            if m is not None:
                level = m.group("level") or m.group("level2")
                fields = {"logger": m.group("logger")} if m.group("logger") else {}
                ts = m.group("ts")
                time = parse_time(ts.replace(" UTC", "+00:00")) if self.parse_times else None
                return "rec", Record(time, norm_level(level), m.group("msg"), name, n, fields, text)
            if c == "[":
                m = _BRACKET_RE.match(text)
                if m is not None:
                    time = parse_time(m.group("ts")) if self.parse_times else None
                    return "rec", Record(time, norm_level(m.group("level")), m.group("msg"), name, n, {}, text)
        elif c.isalpha():
            if c.isupper():
                m = _SYSLOG_RE.match(text)
                if m is not None:
                    fields = {"host": m.group("host"), "program": m.group("prog")}
                    if m.group("pid"):
                        fields["pid"] = int(m.group("pid"))
                    time = parse_time(m.group("ts")) if self.parse_times else None
                    return "rec", Record(time, None, m.group("msg"), name, n, fields, text)
                m = _LEVEL_ONLY_RE.match(text)
                if m is not None and not _EXC_LINE_RE.match(text):
                    fields = {"logger": m.group("logger")} if m.group("logger") else {}
                    return "rec", Record(None, norm_level(m.group("level")), m.group("msg"), name, n, fields, text)
        if _CONT_RE.match(text) or _EXC_LINE_RE.match(text):
            return "cont", None
        m = _CLF_RE.match(text)
        if m is not None:
            time = parse_time(m.group("ts")) if self.parse_times else None
            return "rec", Record(time, None, m.group("msg"), name, n, {"host": m.group("host")}, text)
        return "plain", None


_TB_START = "Traceback (most recent call last)"
_TB_BODY_RE = re.compile(r"^(?:\s|Traceback \(most recent call last\)|During handling of the above exception|"
                         r"The above exception was the direct cause|\^|~)")


def _same_header_continuation(val: Record, text: str, pending_prefix: str | None, in_tb: bool) -> bool:
    """A line with its own header that continues a traceback logged line by line (each traceback
    line re-prefixed with the same timestamp/level/source as the record before it)."""
    if pending_prefix is None or not text.endswith(val.message):
        return False
    if text[: len(text) - len(val.message)] != pending_prefix:
        return False
    msg = val.message
    return bool(_TB_BODY_RE.match(msg)) or (in_tb and (not msg.strip() or bool(_EXC_LINE_RE.match(msg))))


def _prefix_of(rec: Record, text: str) -> str | None:
    return text[: len(text) - len(rec.message)] if rec.message and text.endswith(rec.message) else None


def _finish(rec: Record, extra: list[str] | None) -> Record:
    if extra:
        joined = "\n".join(extra)
        rec.raw = rec.raw + "\n" + joined
        if rec.traceback is None:
            if rec.message.startswith(_TB_START):
                rec.traceback = rec.message + "\n" + joined
                # a record that is only a traceback: its message is the exception line
                for line in reversed(extra):
                    if line and not line[0].isspace() and _EXC_LINE_RE.match(line):
                        rec.message = line
                        break
            else:
                i = joined.find(_TB_START)
                if i >= 0:
                    rec.traceback = joined[i:]
    return rec


def iter_file_records(path: str, *, log_format: str | None = None, stats: ReadStats | None = None,
                      parser: LineParser | None = None, display: str | None = None,
                      join_continuations: bool = True) -> Iterator[Record]:
    """Records of one file, in file order; continuation lines joined; times inherited forward."""
    stats = stats if stats is not None else ReadStats()
    parser = parser or LineParser(log_format)
    name = display or ("<stdin>" if path == "-" else path)
    pending: Record | None = None
    pending_headered = False
    pending_prefix: str | None = None
    in_tb = False
    extra: list[str] | None = None
    extra_bytes = 0
    last_time: datetime | None = None
    json_fast = parser.fmt_re is None
    loguru = parser._loguru
    for n, raw in iter_raw_lines(path, stats, name):
        stats.lines += 1
        kind = None
        if json_fast and raw.startswith(b'{"') and b"\x7f" not in raw:  # DEL is valid JSON, but junk to _decode
            # fast path for a loguru JSON line: orjson reads the bytes (and checks their UTF-8);
            # anything it refuses takes the general path below, which gives the same result
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                obj = None
            if obj.__class__ is dict:
                rec = obj.get("record")
                if rec.__class__ is dict and "message" in rec:
                    text = raw.decode("utf-8")
                    kind, val = "rec", loguru(obj, rec, text, name, n)
        if kind is None:
            text = _decode(raw, name, n, stats)
            if text is None:
                continue
            if not text or text.isspace():
                if pending is not None and extra is not None and join_continuations and pending_headered:
                    extra.append(text)  # blank line inside a traceback / multi-line message
                continue
            kind, val = parser.parse(text, name, n)
        if kind == "bad":
            stats.bad(name, n, val, text)
            continue
        prefix = None  # the header before the message (as in _prefix_of / _same_header_continuation)
        if kind == "rec":
            msg = val.message
            if text.endswith(msg):
                prefix = text[: len(text) - len(msg)]
        if join_continuations and pending is not None and pending_headered \
                and (extra is None or (len(extra) < MAX_JOINED_LINES and extra_bytes < MAX_JOINED_BYTES)):
            if kind == "cont":
                cont = text
            elif kind == "rec" and pending_prefix is not None and prefix == pending_prefix \
                    and _same_header_continuation(val, text, pending_prefix, in_tb):
                cont = val.message
            else:
                cont = None
            if cont is not None:
                if extra is None:
                    extra = []
                extra.append(cont)
                extra_bytes += len(cont)
                in_tb = in_tb or cont.startswith(_TB_START)
                continue
        if kind in ("cont", "plain"):
            if kind == "cont" and parser.fmt_re is not None:
                stats.bad(name, n, "line does not match the log format", text)
                continue
            val = Record(None, None, text, name, n, {}, text)
            headered = False
        else:
            headered = val.time is not None or val.level is not None or parser.fmt_re is not None
        if pending is not None:
            stats.records += 1
            yield _finish(pending, extra)
        pending, pending_headered, extra, extra_bytes = val, headered, None, 0
        pending_prefix = prefix if kind == "rec" and val.message else None  # == _prefix_of(val, text)
        in_tb = val.message.startswith(_TB_START) or val.traceback is not None
        if val.time is None:
            val.time = last_time
        else:
            last_time = val.time
    if pending is not None:
        stats.records += 1
        yield _finish(pending, extra)


def _sort_key_stream(idx: int, recs: Iterator[Record]) -> Iterator[tuple[datetime, int, int, Record]]:
    seq = 0
    for r in recs:
        seq += 1
        yield (r.time or EPOCH_MIN, idx, seq, r)


def read_records(paths: Sequence[str | os.PathLike[str]] | str, *, log_format: str | None = None,
                 stats: ReadStats | None = None, merge: bool = True, parse_times: bool = True,
                 strict: bool = True) -> Iterator[Record]:
    """Stream the records of every file under ``paths``, merged in time order (``heapq.merge`` of
    the per-file streams; a record without a time inherits the previous one's in its file).

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


# --------------------------------------------------------------------------------------------
# notebooks
def load_logs(paths: Sequence[str | os.PathLike[str]] | str, *, log_format: str | None = None,
              templates: bool = True, template_config: Any = None, state_dir: str | os.PathLike[str] | None = None,
              stats: ReadStats | None = None, max_records: int | None = None):
    """All records as a ``pandas.DataFrame``: one row a record, columns ``time, level, message, file,
    line`` then the structured fields, ``traceback`` and (``templates=True``) ``template_id``,
    ``template`` from :class:`analyzer.templates.TemplateMiner`. ``df.attrs["read_stats"]`` holds the
    :class:`ReadStats`."""
    import pandas as pd

    stats = stats if stats is not None else ReadStats()
    miner = None
    if templates:
        from analyzer.templates import TemplateConfig, TemplateMiner
        miner = TemplateMiner(template_config or TemplateConfig(), state_dir=state_dir)
    rows: list[dict[str, Any]] = []
    for rec in read_records(paths, log_format=log_format, stats=stats):
        row: dict[str, Any] = {"time": rec.time, "level": rec.level, "message": rec.message,
                               "file": rec.file, "line": rec.line}
        for k, v in rec.fields.items():
            if k not in row:
                row[k] = v if not isinstance(v, (dict, list)) else json.dumps(v, default=str)
        row["traceback"] = rec.traceback
        if miner is not None:
            m = miner.add(rec.message)
            row["template_id"] = m.template_id
            row["template"] = None
        rows.append(row)
        if max_records is not None and len(rows) >= max_records:
            break
    df = pd.DataFrame(rows)
    if miner is not None:
        if len(df):
            # fold ids handed out while streaming into their final ids (same as `templates` batch ids)
            df["template_id"] = df["template_id"].map(miner.canonical).astype("int64")
            final = miner.templates()
            df["template"] = df["template_id"].map(final)
        else:
            df["template_id"] = pd.Series(dtype="int64")
            df["template"] = pd.Series(dtype="object")
        if state_dir is not None:
            miner.save()
    if len(df) and "time" in df:
        df["time"] = pd.to_datetime(df["time"], utc=True)
    df.attrs["read_stats"] = stats
    return df
