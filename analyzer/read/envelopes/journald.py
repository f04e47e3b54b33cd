"""systemd's journal as ``journalctl -o json`` (one JSON object an entry) and ``-o export`` (``KEY=value``
lines, entries separated by a blank line, binary-safe fields as ``KEY`` + 64-bit little-endian length +
bytes). ``MESSAGE`` is the service's text (bytes arrays decoded), ``__REALTIME_TIMESTAMP`` (µs) its time.

An entry sent through the journal API (``_TRANSPORT=journal``/``syslog``) is a whole record; captured
stdout/stderr (``_TRANSPORT=stdout``) is one entry a line, so a traceback spans entries and is joined.

``PRIORITY`` is kept as a level only when it says warning or worse (0..4): output captured from
stdout/stderr is logged at 6 (info) whatever it says, so 5..7 mean "unknown" and the text decides."""
from __future__ import annotations

import struct
from datetime import datetime, timezone
from typing import Any

from analyzer.read.envelopes.base import Inner

__all__ = ["JournaldJson", "JournaldExport"]

_PRIORITY = {"0": "CRITICAL", "1": "CRITICAL", "2": "CRITICAL", "3": "ERROR", "4": "WARNING"}
_FIELDS = {"_SYSTEMD_UNIT": "unit", "SYSLOG_IDENTIFIER": "identifier", "_PID": "pid", "_HOSTNAME": "host",
           "_COMM": "comm", "CONTAINER_NAME": "container"}
_MARKERS = ("__REALTIME_TIMESTAMP", "__CURSOR", "_SYSTEMD_UNIT", "SYSLOG_IDENTIFIER", "PRIORITY", "_PID")


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if value and all(isinstance(b, int) and 0 <= b < 256 for b in value):
            return bytes(value).decode("utf-8", "replace")
        if value and isinstance(value[0], str):  # a field logged twice: the first
            return value[0]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None


def _entry(get: Any) -> Inner | None:
    msg = _text(get("MESSAGE"))
    if msg is None:
        return None
    time = None
    ts = _text(get("__REALTIME_TIMESTAMP"))
    if ts and ts.isdigit():
        try:
            time = datetime.fromtimestamp(int(ts) / 1e6, timezone.utc)
        except (OverflowError, OSError, ValueError):
            time = None
    fields: dict[str, Any] = {}
    for key, name in _FIELDS.items():
        v = _text(get(key))
        if v is not None:
            fields[name] = int(v) if name == "pid" and v.isdigit() else v
    transport = _text(get("_TRANSPORT"))
    starts = transport in ("journal", "syslog", "kernel", "audit") or "\n" in msg.rstrip("\n")
    return Inner(msg.rstrip("\n"), time, _PRIORITY.get(_text(get("PRIORITY")) or ""), fields, starts=starts)


class JournaldJson:
    name = "journald"

    @staticmethod
    def match(obj: dict[str, Any]) -> bool:
        return "MESSAGE" in obj and any(k in obj for k in _MARKERS)

    def unwrap(self, obj: dict[str, Any]) -> list[Inner]:
        e = _entry(obj.get)
        return [e] if e is not None else []

    def flush(self) -> list[Inner]:
        return []


class JournaldExport:
    """``journalctl -o export``: stateful over raw byte lines (binary fields span lines)."""

    name = "journald-export"
    wants_bytes = True

    def __init__(self) -> None:
        self._cur: dict[str, str] = {}
        self._bin_key: str | None = None
        self._bin: list[bytes] = []

    @staticmethod
    def sniff(sample: list[str]) -> float:
        if not sample:
            return 0.0
        if sample[0].startswith("__CURSOR="):
            return 1.0
        hits = sum(1 for s in sample if "=" in s and s.split("=", 1)[0].isupper()
                   and s.split("=", 1)[0].replace("_", "").isalnum())
        return hits / len(sample) if any(s.startswith("__REALTIME_TIMESTAMP=") for s in sample) else 0.0

    def feed_raw(self, raw: bytes) -> list[Inner]:
        if self._bin_key is not None:
            self._bin.append(raw)
            buf = b"\n".join(self._bin)
            if len(buf) < 8:
                return []
            (size,) = struct.unpack("<Q", buf[:8])
            if len(buf) < 8 + size:
                return []
            self._cur[self._bin_key] = buf[8:8 + size].decode("utf-8", "replace")
            rest = buf[8 + size:]
            self._bin_key, self._bin = None, []
            return self.feed_raw(rest) if rest else []
        if not raw:
            return self._end()
        key, eq, value = raw.partition(b"=")
        if not eq:  # a binary field: its length and bytes follow
            self._bin_key = key.decode("ascii", "replace")
            return []
        self._cur[key.decode("ascii", "replace")] = value.decode("utf-8", "replace")
        return []

    def _end(self) -> list[Inner]:
        cur, self._cur = self._cur, {}
        e = _entry(cur.get) if cur else None
        return [e] if e is not None else []

    def flush(self) -> list[Inner]:
        self._bin_key, self._bin = None, []
        return self._end()
