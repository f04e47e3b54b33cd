"""The Record: the unit after reading. Everything downstream of ``analyzer.read`` works on Records,
whatever the input format (loguru JSON, plain JSON, plain text, tracebacks)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Record", "BadLine"]


@dataclass(slots=True)
class Record:
    """One log record.

    time : timezone-aware datetime or None when the line carries no timestamp.
    level : upper-case level name (``INFO``, ``WARNING``, ``ERROR``, ``CRITICAL``, ``DEBUG``) or None.
    message : the human text to mine for templates (for JSON records: the message field only).
    file, line : where the record starts (1-based line number) in its source file.
    fields : structured fields (loguru ``record.extra``, JSON keys) — features, never mined as text.
    raw : the raw line(s), tracebacks joined with newlines.
    traceback : the joined traceback text when one followed the record, else None.
    inferred : the level was inferred from the content (a traceback, an exception or crash line, a
        known failure signature), not written by the service.
    end_line : the file line of the record's last line (``line`` for a one-line record).
    line_map : the file line of each line of ``raw`` when they are not ``line, line+1, ...`` (lines of
        one envelope entry share its line; rejoined partial lines span several), else None.
    """

    time: datetime | None
    level: str | None
    message: str
    file: str
    line: int
    fields: dict[str, Any] = field(default_factory=dict)
    raw: str = ""
    traceback: str | None = None
    inferred: bool = False
    end_line: int = 0
    line_map: tuple[int, ...] | None = None


@dataclass(slots=True)
class BadLine:
    """A line that could not be decoded or parsed: counted and reported, never fatal."""

    file: str
    line: int
    reason: str
    text: str = ""
