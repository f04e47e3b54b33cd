"""Small formatting helpers shared by the renderers."""
from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "bold yellow", "low": "cyan"}


def ts(t: datetime | None, *, date: bool = True) -> str:
    if t is None:
        return "-"
    t = t.astimezone(timezone.utc)
    s = t.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")
    return s + f".{t.microsecond // 1000:03d}"


def span(start: datetime, end: datetime) -> str:
    same_day = start.astimezone(timezone.utc).date() == end.astimezone(timezone.utc).date()
    secs = (end - start).total_seconds()
    dur = f"{secs:.0f} s" if secs < 120 else f"{secs / 60:.1f} min" if secs < 7200 else f"{secs / 3600:.1f} h"
    return f"{ts(start)} → {ts(end, date=not same_day)} UTC ({dur})"


def when(inc: Any) -> str:
    """An incident's place: its time span when the logs have times, else "time unknown"; then the
    file and line span it was read from."""
    where = f"{short_file(inc.file)} lines {inc.first_line}–{inc.last_line}" if inc.file else ""
    if inc.start is None:
        return "time unknown" + (f" · {where}" if where else "")
    return span(inc.start, inc.end) + (f" · {where}" if where else "")


def short_file(path: str) -> str:
    return os.path.basename(path) or path


def request_list(inc: Any, n: int = 5) -> str:
    if not inc.request_ids:
        return "none"
    shown = ", ".join(inc.request_ids[:n])
    more = inc.request_count - min(n, len(inc.request_ids))
    return f"{inc.request_count}: {shown}" + (f", … (+{more})" if more > 0 else "")


def pct(x: float) -> str:
    return f"{100 * x:.2f} %"
