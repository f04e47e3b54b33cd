"""Run history: one JSON line a regression run, for the trend plot of the HTML report (``--history``).

Each line holds the time, verdict, mode, the verdict counts and the median of each headline metric over
the candidate's rows, so a night's drift shows next to the nights before it. A line that cannot be read
(a crash mid-write, a hand edit) is skipped and counted (the report says how many); it never stops it.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["append_run", "read_history", "run_record", "TREND_METRICS"]

#: metrics whose medians the trend plots (those present in a run)
TREND_METRICS = ("pesq_wb", "stoi", "mcd_dtw", "dnsmos_ovrl", "speaker_similarity")


def run_record(result: Any) -> dict[str, Any]:
    """The history line of one run (a :class:`~quality.regress.RegressResult` or a
    :class:`~quality.distribution.DistributionResult`)."""
    med: dict[str, float | None] = {}
    for m in TREND_METRICS:
        vals = np.array([_f(r.get(m)) for r in result.rows], dtype=float)
        vals = vals[np.isfinite(vals)]
        if len(vals):
            med[m] = round(float(np.median(vals)), 4)
    return {"time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "verdict": result.verdict,
            "mode": result.mode, "baseline": result.baseline.get("dir"), "summary": result.summary(), "medians": med}


def _f(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def append_run(path: str | Path, result: Any) -> dict[str, Any]:
    """Append this run's line to ``path`` (created with its folder); return the line."""
    from ttsops.output import output_error  # noqa: PLC0415

    rec = run_record(result)
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise output_error(exc, p, "the history file") from None
    return rec


def read_history(path: str | Path, *, last: int = 60) -> tuple[list[dict[str, Any]], int]:
    """The last ``last`` readable runs of ``path`` (oldest first) and how many lines were unreadable."""
    p = Path(path)
    if not p.is_file():
        return [], 0
    runs, bad = [], 0
    for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(rec, dict) and isinstance(rec.get("medians"), dict):
            runs.append(rec)
        else:
            bad += 1
    return runs[-last:], bad
