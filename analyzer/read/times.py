"""Timestamps and level names: any common spelling -> an aware datetime (UTC when the text has no
zone; offsets such as gunicorn's ``+0800`` kept) and an upper-case level. Remembered per distinct
string (bounded), and numeric strptime formats parsed by one compiled regex instead of strptime."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

__all__ = ["parse_time", "norm_level", "level_cached", "LEVEL_CACHE", "MISSING", "UTC", "MIN_YEAR", "MAX_YEAR"]

UTC = timezone.utc
#: a time outside these years is no time (``None``): a corrupt or placeholder stamp, never a crash later
MIN_YEAR, MAX_YEAR = 1971, 2999
_LEVELS = {
    "TRACE": "DEBUG", "DEBUG": "DEBUG", "DBG": "DEBUG", "DBUG": "DEBUG", "D": "DEBUG", "V": "DEBUG",
    "VERBOSE": "DEBUG",
    "INFO": "INFO", "INF": "INFO", "I": "INFO", "NOTICE": "INFO", "SUCCESS": "INFO", "INFORMATION": "INFO",
    "WARN": "WARNING", "WARNING": "WARNING", "W": "WARNING",
    "ERROR": "ERROR", "ERR": "ERROR", "EROR": "ERROR", "E": "ERROR", "SEVERE": "ERROR", "EXCEPTION": "ERROR",
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
LEVEL_CACHE: dict[Any, str | None] = {k: v for k, v in _LEVELS.items()}
MISSING: Any = object()


def level_cached(value: Any) -> str | None:
    """:func:`norm_level` remembered per distinct string (bounded)."""
    out = norm_level(value)
    if value.__class__ is str and len(LEVEL_CACHE) < 4096:
        LEVEL_CACHE[value] = out
    return out


_EXTRA_FORMATS = ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S.%f %z", "%y%m%d %H%M%S", "%y/%m/%d %H:%M:%S", "%m-%d %H:%M:%S.%f", "%a %b %d %H:%M:%S %Y",
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
            dt = datetime.fromtimestamp(v, UTC)
        except (OverflowError, OSError, ValueError):
            return None
        return dt if MIN_YEAR <= dt.year <= MAX_YEAR else None
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
    if not MIN_YEAR <= dt.year <= MAX_YEAR:
        return None  # year 1 or 9999: arithmetic on it (windows, spans) would overflow
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
