"""What reading saw: line and record counts, bad lines (the first few with ``file:line``), warnings,
and per file the format it was read as and how many records carried a time or a level, so a report
can say loudly when a file was read without either (a console paste) instead of finding nothing."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analyzer.records import BadLine

__all__ = ["ReadStats", "FileFacts", "MAX_BAD_LINES_KEPT"]

MAX_BAD_LINES_KEPT = 20
BAD_TEXT_PREVIEW = 120


@dataclass
class FileFacts:
    """How one file was read: its envelope (``docker``, ``cri``, ``journald``, ... or ``plain``),
    records, records with a time / a level of their own, and records whose level was inferred from
    their content (a traceback, an exception line, a crash line)."""

    envelope: str = "plain"
    records: int = 0
    timed: int = 0
    leveled: int = 0
    inferred: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"envelope": self.envelope, "records": self.records, "timed": self.timed,
                "leveled": self.leveled, "inferred": self.inferred}


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
    facts: dict[str, FileFacts] = field(default_factory=dict)

    def bad(self, file: str, line: int, reason: str, text: str | bytes = "") -> None:
        self.bad_line_count += 1
        if len(self.bad_lines) < self.max_bad_lines:
            if isinstance(text, bytes):
                text = text[:BAD_TEXT_PREVIEW].decode("utf-8", "backslashreplace")
            self.bad_lines.append(BadLine(file, line, reason, _printable(text[:BAD_TEXT_PREVIEW])))

    def warn(self, message: str) -> None:
        if len(self.warnings) < 1000 and message not in self.warnings:
            self.warnings.append(message)

    def file_done(self, name: str, facts: FileFacts, *, times: bool = True) -> None:
        """Record how ``name`` was read and say what a reader of the report must know about it
        (``times=False``: times were not read, as for ``tts-analyze templates``: nothing to say of them)."""
        self.facts[name] = facts
        if not facts.records:
            return
        no_time, no_level = times and facts.timed == 0, facts.leveled == 0
        how = "" if facts.envelope == "plain" else f" ({facts.envelope} envelope)"
        if no_time and no_level:
            self.warn(f"{name}{how}: no timestamps and no log levels recognised in {facts.records} records: read as "
                      "a console paste, ordered by line (incidents say 'time unknown' and give line numbers); errors "
                      "inferred from tracebacks, exception lines, crash lines and known failure signatures")
        elif no_time:
            self.warn(f"{name}{how}: no timestamps recognised: records ordered by line, incidents say 'time unknown'")
        elif no_level:
            self.warn(f"{name}{how}: no log levels recognised: errors inferred from tracebacks, exception lines, "
                      "crash lines and known failure signatures")

    def as_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "records": self.records, "bad_lines": self.bad_line_count,
                "files": len(self.files), "warnings": list(self.warnings),
                "formats": {k: v.to_dict() for k, v in self.facts.items()},
                "bad_line_examples": [{"file": b.file, "line": b.line, "reason": b.reason, "text": b.text}
                                      for b in self.bad_lines]}


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
