"""One decoded line -> a headered :class:`Record` or nothing: a ``--log-format`` header when one is
given, else a JSON object (see :mod:`analyzer.read.jsonlog`) or a plain-text header
(:mod:`analyzer.read.text`)."""
from __future__ import annotations

from typing import Any

from analyzer.read.jsonlog import json_loads, json_record
from analyzer.read.logformat import logformat_regex
from analyzer.read.text import parse_text
from analyzer.read.times import LEVEL_CACHE, MISSING, level_cached, parse_time
from analyzer.records import Record

__all__ = ["LineParser"]

_TIME_HEADERS = ("date", "day", "time", "timestamp", "datetime")  # "Day" (OpenSSH: 'Dec 10') is part of the time


class LineParser:
    """Stateless apart from the compiled format. :meth:`parse` returns ``("rec", Record)``,
    ``("plain", None)`` (no header: the assembler decides), ``("cont", None)`` (a line that does not
    match ``--log-format``) or ``("bad", reason)``."""

    __slots__ = ("fmt_re", "headers", "time_fields", "parse_times", "_fmt_time_cache", "_level_key")

    def __init__(self, log_format: str | None = None, *, parse_times: bool = True):
        self.parse_times = parse_times
        if log_format:
            self.fmt_re, self.headers = logformat_regex(log_format)
            self.time_fields = [h for h in self.headers if h.lower() in _TIME_HEADERS]
        else:
            self.fmt_re, self.headers, self.time_fields = None, [], []
        self._fmt_time_cache: dict[str, Any] = {}
        # the level header: the first of Level, Severity, Flag present (Flag is dropped, not a level)
        self._level_key = next((k for k in ("Level", "Severity", "Flag") if k in self.headers), None)

    def parse_format(self, text: str, name: str, n: int) -> Record | None:
        """The ``--log-format`` record of ``text`` (``None``: the line does not match)."""
        m = self.fmt_re.match(text)
        if m is None:
            return None
        d = m.groupdict()
        message = d.pop("Content")
        level = None
        lk = self._level_key
        if lk is not None:
            v = d.pop(lk)
            if lk != "Flag":
                level = LEVEL_CACHE.get(v, MISSING)
                if level is MISSING:
                    level = level_cached(v)
        time = None
        tf = self.time_fields
        if tf and self.parse_times:
            tstr = d[tf[0]] if len(tf) == 1 else f"{d[tf[0]]} {d[tf[1]]}" if len(tf) == 2 \
                else " ".join(d[h] for h in tf)
            cache = self._fmt_time_cache
            time = cache.get(tstr, MISSING)
            if time is MISSING:
                time = parse_time(tstr)
                if len(cache) > 20_000:
                    cache.clear()
                cache[tstr] = time
        return Record(time, level, message, name, n, d, text)

    def parse(self, text: str, name: str, n: int) -> tuple[str, Any]:
        if self.fmt_re is not None:
            rec = self.parse_format(text, name, n)
            return ("rec", rec) if rec is not None else ("cont", None)
        s = text.lstrip()
        if s[:2] == '{"' or (s[:1] == "{" and s.rstrip()[-1:] == "}"):
            try:
                obj = json_loads(s)
            except (ValueError, RecursionError, TypeError):
                return "bad", "malformed JSON"
            if isinstance(obj, dict):
                return "rec", json_record(obj, text, name, n, self.parse_times)
        rec = parse_text(text, name, n, self.parse_times)
        return ("rec", rec) if rec is not None else ("plain", None)
