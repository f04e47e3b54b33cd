"""OpenTelemetry logs as JSON: the OTLP/JSON export (``{"resourceLogs": [...]}`` a line, as the
collector's file exporter writes it) and flat log records (``body``, ``severityText``,
``severityNumber``, ``timeUnixNano``, ``attributes``). The body is the service's text; the
semantic-convention ``exception.*`` attributes give the error type and stack trace."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from analyzer.read.envelopes.base import Inner
from analyzer.read.times import norm_level, parse_time

__all__ = ["OtelJson"]

_FLAT_MARKERS = ("severityText", "severityNumber", "timeUnixNano", "observedTimeUnixNano", "severity_text",
                 "time_unix_nano", "traceId", "spanId")
_MAX_FIELDS = 24


def _any(v: Any) -> Any:
    """An OTLP AnyValue -> a Python value."""
    if not isinstance(v, dict):
        return v
    for k in ("stringValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    if "intValue" in v:
        try:
            return int(v["intValue"])
        except (TypeError, ValueError):
            return v["intValue"]
    if "arrayValue" in v:
        return [_any(x) for x in (v["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in v:
        return {kv.get("key"): _any(kv.get("value")) for kv in (v["kvlistValue"] or {}).get("values", [])
                if isinstance(kv, dict)}
    return v


def _attrs(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    out: dict[str, Any] = {}
    if isinstance(raw, list):
        for kv in raw:
            if isinstance(kv, dict) and isinstance(kv.get("key"), str):
                out[kv["key"]] = _any(kv.get("value"))
    return out


def _nanos(v: Any) -> datetime | None:
    try:
        ns = int(v)
    except (TypeError, ValueError):
        return parse_time(v)
    if ns <= 0:
        return None
    try:
        return datetime.fromtimestamp(ns / 1e9, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _level(rec: dict[str, Any]) -> str | None:
    text = rec.get("severityText", rec.get("severity_text"))
    if isinstance(text, str) and text:
        return norm_level(text)
    num = rec.get("severityNumber", rec.get("severity_number"))
    if isinstance(num, int) and 1 <= num <= 24:
        return ("DEBUG", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")[(num - 1) // 4]
    return None


def _record(rec: dict[str, Any], resource: dict[str, Any]) -> Inner | None:
    body = _any(rec.get("body"))
    if body is None:
        return None
    text = body if isinstance(body, str) else str(body)
    attrs = _attrs(rec.get("attributes"))
    fields: dict[str, Any] = {}
    for src in (resource, attrs):
        for k, v in src.items():
            if len(fields) < _MAX_FIELDS and isinstance(v, (str, int, float, bool)):
                fields[k] = v
    tb = attrs.get("exception.stacktrace")
    if attrs.get("exception.type") is not None:
        fields["error_type"] = attrs["exception.type"]
    time = _nanos(rec.get("timeUnixNano", rec.get("time_unix_nano"))) or \
        _nanos(rec.get("observedTimeUnixNano")) or parse_time(rec.get("timestamp"))
    level = _level(rec)  # a record with a severity came from a logging SDK: a whole record
    return Inner(text, time, level, fields, tb if isinstance(tb, str) else None, starts=level is not None)


class OtelJson:
    name = "otel"

    @staticmethod
    def match(obj: dict[str, Any]) -> bool:
        return isinstance(obj.get("resourceLogs"), list) or ("body" in obj and any(k in obj for k in _FLAT_MARKERS))

    def unwrap(self, obj: dict[str, Any]) -> list[Inner]:
        if "resourceLogs" not in obj:
            r = _record(obj, _attrs(obj.get("resource", {}).get("attributes") if isinstance(obj.get("resource"), dict)
                                    else None))
            return [r] if r is not None else []
        out: list[Inner] = []
        for rl in obj["resourceLogs"]:
            if not isinstance(rl, dict):
                continue
            res = rl.get("resource")
            resource = _attrs(res.get("attributes")) if isinstance(res, dict) else {}
            for sl in rl.get("scopeLogs") or rl.get("instrumentationLibraryLogs") or []:
                if not isinstance(sl, dict):
                    continue
                for rec in sl.get("logRecords") or []:
                    if isinstance(rec, dict):
                        r = _record(rec, resource)
                        if r is not None:
                            out.append(r)
        return out

    def flush(self) -> list[Inner]:
        return []
