"""JSON application logs, one object a line: loguru ``serialize=True`` (message ``record.message``,
level ``record.level.name``, time ``record.time.timestamp``, ``record.extra`` as fields, the
exception kept) and the common shapes (structlog ``event``/``level``/``timestamp``; logstash
``@timestamp``/``message``; ``msg``/``log``/``time``/``ts``/``severity``; python-json-logger's
``levelname``/``asctime``/``exc_info``). Collector envelopes around JSON are
:mod:`analyzer.read.envelopes`."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import orjson

from analyzer.read.times import LEVEL_CACHE, MISSING, UTC, level_cached, norm_level, parse_time
from analyzer.records import Record

__all__ = ["json_loads", "loguru_record", "json_record", "JSON_MSG_KEYS"]

JSON_MSG_KEYS = ("message", "msg", "event", "log", "@message", "text", "short_message")
_JSON_LEVEL_KEYS = ("level", "levelname", "severity", "log.level", "lvl", "loglevel", "log_level")
_JSON_TIME_KEYS = ("@timestamp", "timestamp", "time", "ts", "asctime", "datetime", "date", "t")
_TB_KEYS = ("traceback", "exc_info", "exception", "stack_trace", "stacktrace", "stack")


def json_loads(text: str | bytes) -> Any:
    """orjson (3-4x faster than stdlib json on log lines); stdlib json for what orjson refuses but
    Python's own json writes (NaN, Infinity, integers over 64 bits) or lone surrogates."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def loguru_record(obj: dict, rec: dict, text: str, name: str, n: int, parse_times: bool = True) -> Record:
    """A loguru ``serialize=True`` line (``obj``) whose ``record`` is ``rec``."""
    lvl = rec.get("level")
    lname = lvl.get("name") if lvl.__class__ is dict else lvl
    level = LEVEL_CACHE.get(lname, MISSING) if lname.__class__ is str else MISSING
    if level is MISSING:
        level = level_cached(lname)
    time = None
    if parse_times:
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
    return Record(time, level, message if isinstance(message, str) else str(message), name, n, fields, text, tb)


def json_record(obj: dict, text: str, name: str, n: int, parse_times: bool = True) -> Record:
    """Any other JSON object: the first message / level / time key of the common spellings; every
    other key a field; a string traceback under a common key kept."""
    rec = obj.get("record")
    if isinstance(rec, dict) and "message" in rec:
        return loguru_record(obj, rec, text, name, n, parse_times)
    msg_key = next((k for k in JSON_MSG_KEYS if k in obj and isinstance(obj[k], (str, int, float))), None)
    message = str(obj[msg_key]) if msg_key else ""
    level_key = next((k for k in _JSON_LEVEL_KEYS if k in obj), None)
    level = norm_level(obj[level_key]) if level_key else None
    if level_key is None and isinstance(obj.get("log"), dict):
        level = norm_level(obj["log"].get("level"))
    time_key = next((k for k in _JSON_TIME_KEYS if k in obj), None)
    time = parse_time(obj[time_key]) if (time_key and parse_times) else None
    fields = {k: v for k, v in obj.items() if k not in (msg_key, level_key, time_key)}
    tb = next((fields[k] for k in _TB_KEYS if isinstance(fields.get(k), str) and fields[k]), None)
    return Record(time, level, message, name, n, fields, text, tb)
