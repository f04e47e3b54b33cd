"""logfmt lines: ``time="2024-06-15T14:22:03Z" level=info msg="Loading containers: done." took=1.2s``.

What Go's structured loggers write as text: go-kit/log (Prometheus, Alertmanager, Loki), logrus's
text formatter (the Docker daemon, containerd, runc, under journald or in a container's log), log15
and Grafana (``lvl=eror``), slog's ``TextHandler``; structlog's ``KeyValueRenderer`` writes the same
with single quotes. klog's structured form (every Kubernetes component) is a quoted message then
pairs after the glog header: ``I0615 14:22:03.1 1 sync.go:12] "Synced" pod="default/tts-0"``. Under
journald's syslog-style output a logfmt line follows a header (``Jun 15 14:22:03 gpu1 dockerd[812]:
time=... level=error msg=...``): the header gives the host and program, the pairs the rest.

A line is logfmt only when *all* of it is ``key=value`` pairs and one key names the message (the
spellings JSON logs use): ``step=10 loss=0.5`` (a training log) stays plain text. The pairs then read
like a JSON object (:func:`~analyzer.read.jsonlog.json_record`): the message is the event, not one
quoted variable among the fields, and ``level=`` / ``time=`` are the record's level and time.

The pattern is linear-time on any line (possessive quantifiers only), checked on a 1 MiB line.
"""
from __future__ import annotations

import re

from analyzer.read.jsonlog import JSON_MSG_KEYS, json_loads, json_record
from analyzer.records import Record

__all__ = ["could_be", "parse_pairs", "logfmt_object", "klog_message", "under_header", "MESSAGE_KEYS"]

#: keys that hold the message: JSON logs' spellings (:func:`json_record` takes the first one present)
MESSAGE_KEYS = frozenset(JSON_MSG_KEYS)
_HEAD = re.compile(r"[A-Za-z_@][\w.@\-]*+=")
# one pair: a key, ``=``, and a bare or quoted value; then a space or the end
_PAIR = re.compile(r"[ \t]*+([A-Za-z_@][\w.@/\-]*+)=(\"(?:[^\"\\]++|\\.)*+\"|'(?:[^'\\]++|\\.)*+'|[^\s\"']*+)"
                   r"(?=[ \t]|$)", re.S)
_QUOTED_HEAD = re.compile(r"\"(?:[^\"\\]++|\\.)*+\"(?=[ \t]|$)", re.S)
_ESCAPE = re.compile(r"\\(.)", re.S)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}


def could_be(text: str) -> bool:
    """A cheap first look: the line starts with ``key=``."""
    return _HEAD.match(text) is not None


def _unquote(value: str) -> str:
    if value[:1] not in "\"'" or len(value) < 2:
        return value
    if value[0] == '"' and "\\" in value:
        try:
            out = json_loads(value)  # Go's strconv.Quote escapes are JSON's, but for \x and \a
            if isinstance(out, str):
                return out
        except ValueError:
            pass
    body = value[1:-1]
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), body) if "\\" in body else body


def parse_pairs(text: str, pos: int = 0) -> dict[str, str] | None:
    """``text[pos:]`` as ``key=value`` pairs (values unquoted), or ``None`` when anything else is in it."""
    out: dict[str, str] = {}
    end = len(text.rstrip())
    match = _PAIR.match
    while pos < end:
        m = match(text, pos)
        if m is None:
            return None
        out.setdefault(m.group(1), _unquote(m.group(2)))
        pos = m.end()
    return out


def logfmt_object(text: str) -> dict[str, str] | None:
    """The pairs of a logfmt line, or ``None`` when it is not one (not all pairs, fewer than two, or no
    message key)."""
    if not could_be(text):
        return None
    obj = parse_pairs(text)
    if obj is None or len(obj) < 2 or MESSAGE_KEYS.isdisjoint(obj):
        return None
    return obj


def klog_message(msg: str) -> tuple[str, dict[str, str]] | None:
    """klog's structured message, ``"Synced" pod="default/tts-0" err="..."``: (message, pairs), or
    ``None`` when ``msg`` is not one."""
    m = _QUOTED_HEAD.match(msg)
    if m is None:
        return None
    pairs = parse_pairs(msg, m.end())
    if pairs is None:
        return None
    return _unquote(m.group()), pairs


def under_header(rec: Record, obj: dict[str, str], parse_times: bool = True) -> Record:
    """A headered record whose message is the logfmt ``obj``: message, level and time of the pairs
    (a syslog header has no level and no year), the header's time and level where the pairs have
    none, the header's fields (host, program, pid) kept."""
    inner = json_record(obj, rec.raw, rec.file, rec.line, parse_times)
    if inner.time is None:
        inner.time = rec.time
    if inner.level is None:
        inner.level = rec.level
    for k, v in rec.fields.items():
        inner.fields.setdefault(k, v)
    return inner
