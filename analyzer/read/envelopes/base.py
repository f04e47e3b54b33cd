"""What an envelope hands on: the service's own text plus what the collector knew about it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["Inner"]


@dataclass(slots=True)
class Inner:
    """One entry taken out of an envelope (a Docker json-file line, a CRI line, a journald entry, an
    OpenTelemetry log record, an ECS document).

    text : the service's own output: parsed like any line (its own header wins); may hold newlines.
    time, level : the collector's, used when the text has none of its own.
    fields : collector fields kept on the record (``stream``, ``unit``, ``service.name``, ...).
    traceback : a stack trace the envelope carried beside the message (ECS ``error.stack_trace``,
        OTel ``exception.stacktrace``).
    starts : the entry is a whole log record (sent by a logging library), so its text never continues
        the record before it; ``False`` for captured output, where each line is an entry (Docker, CRI,
        journald's stdout transport) and a traceback spans entries.
    """

    text: str
    time: datetime | None = None
    level: str | None = None
    fields: dict[str, Any] | None = None
    traceback: str | None = None
    starts: bool = False
