"""Elastic Common Schema documents (ecs-logging libraries, Filebeat/Elastic Agent output):
``@timestamp``, ``message``, ``log.level`` (flat or nested) and ``error.type`` / ``error.message`` /
``error.stack_trace``. The message is parsed as the service's own line (Filebeat keeps a raw
container line there), the stack trace becomes the record's traceback."""
from __future__ import annotations

from typing import Any

from analyzer.read.envelopes.base import Inner
from analyzer.read.times import norm_level, parse_time

__all__ = ["Ecs"]

_KEEP = ("service.name", "host.name", "host.hostname", "process.pid", "container.name", "trace.id",
         "event.dataset", "log.logger", "request_id")


def _get(obj: dict[str, Any], dotted: str) -> Any:
    """``obj["a.b"]`` or ``obj["a"]["b"]`` (ECS allows both)."""
    if dotted in obj:
        return obj[dotted]
    cur: Any = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


class Ecs:
    name = "ecs"

    @staticmethod
    def match(obj: dict[str, Any]) -> bool:
        if "@timestamp" not in obj:
            return False
        return "ecs.version" in obj or isinstance(obj.get("ecs"), dict) or "log.level" in obj \
            or (isinstance(obj.get("log"), dict) and "level" in obj["log"])

    def unwrap(self, obj: dict[str, Any]) -> list[Inner]:
        msg = obj.get("message")
        if not isinstance(msg, str):
            msg = "" if msg is None else str(msg)
        fields: dict[str, Any] = {}
        for k in _KEEP:
            v = _get(obj, k)
            if isinstance(v, (str, int, float)):
                fields[k] = v
        etype, emsg, stack = _get(obj, "error.type"), _get(obj, "error.message"), _get(obj, "error.stack_trace")
        if isinstance(etype, str):
            fields["error_type"] = etype
        if isinstance(emsg, str) and emsg and emsg not in msg:
            fields["error"] = emsg
        lvl = _get(obj, "log.level")
        return [Inner(msg, parse_time(obj.get("@timestamp")), norm_level(lvl) if lvl is not None else None, fields,
                      stack if isinstance(stack, str) else None, starts=lvl is not None)]

    def flush(self) -> list[Inner]:
        return []
