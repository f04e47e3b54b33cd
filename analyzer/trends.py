"""Slow trends on a windowed series: memory growth, latency drift, error-rate increase.

The window detector (:mod:`analyzer.detect`) catches sudden changes; these catch the slow ones
the runbooks dread — a GPU/RSS filling up over an hour, latency creeping up, errors getting more
frequent. Each detector takes a series indexed by window start (a column of
:meth:`analyzer.features.WindowFeatures.frame`) and returns :class:`TrendFinding` objects with
start, end, slope and evidence values.

>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2026-01-01", periods=60, freq="60s", tz="UTC")
>>> rss = pd.Series(1000 + 5.0 * np.arange(60), index=idx)       # +5 MB a minute = 300 MB/h
>>> [f.kind for f in memory_growth(rss)]
['memory_growth']
"""
from __future__ import annotations

import functools

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ttsops.errors import ConfigError

__all__ = ["TrendConfig", "TrendFinding", "memory_growth", "latency_drift", "error_rate_increase",
           "detect_trends"]


@dataclass
class TrendConfig:
    """Thresholds for the trend detectors (one object, validated).

    Memory
        ``memory_column`` (default ``"memory_mb"``): MB per window. Fires over every stretch of
        ``memory_period`` (with at least ``memory_min_points`` readings) whose Theil–Sen slope has
        the lower end of its ``confidence`` interval above ``memory_slope_mb_per_hour`` and a net
        rise of at least ``memory_min_rise_sigma`` times the robust noise around the fitted line:
        a sustained rise, not noise. Overlapping stretches merge into one finding.
    Latency
        ``latency_column`` (default ``"latency_p95"``, seconds). Baseline = median of the first
        ``baseline_windows`` windows with a value (or of a baseline series passed in); fires where
        the median of the last ``recent_windows`` exceeds ``latency_ratio`` x baseline and the
        baseline by at least ``latency_min_delta`` seconds.
    Error rate
        ``error_column`` (default ``"failure_ratio"``). Fires where the mean of the last
        ``recent_windows`` exceeds the baseline mean by ``error_rate_min_increase`` (absolute)
        and by a factor ``error_rate_ratio``.
    """

    memory_column: str = "memory_mb"
    memory_slope_mb_per_hour: float = 100.0
    memory_period: str = "60min"
    memory_min_points: int = 5
    memory_min_rise_sigma: float = 3.0
    confidence: float = 0.95
    latency_column: str = "latency_p95"
    latency_ratio: float = 1.5
    latency_min_delta: float = 0.05
    error_column: str = "failure_ratio"
    error_rate_min_increase: float = 0.1
    error_rate_ratio: float = 2.0
    baseline_windows: int = 10
    recent_windows: int = 5

    def __post_init__(self) -> None:
        try:
            ok = pd.Timedelta(self.memory_period) > pd.Timedelta(0)
        except (ValueError, TypeError):
            ok = False
        if not ok:
            raise ConfigError(f"memory_period={self.memory_period!r} is not a positive duration",
                              where="memory_period", fix='e.g. "60min"')
        for name in ("memory_min_points", "baseline_windows", "recent_windows"):
            if int(getattr(self, name)) < 3:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be >= 3", where=name, fix="e.g. 10")
        for name in ("memory_slope_mb_per_hour", "memory_min_rise_sigma", "latency_min_delta",
                     "error_rate_min_increase"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0", where=name)
        for name in ("latency_ratio", "error_rate_ratio"):
            if getattr(self, name) < 1.0:
                raise ConfigError(f"{name}={getattr(self, name)!r} must be >= 1", where=name, fix="e.g. 1.5")
        if not 0.5 <= self.confidence < 1.0:
            raise ConfigError(f"confidence={self.confidence!r} must be in [0.5, 1)", where="confidence")


@dataclass
class TrendFinding:
    """One trend: ``kind`` (``memory_growth``, ``latency_drift``, ``error_rate``), the window
    span ``start``..``end`` (UTC timestamps), ``slope`` (unit in ``unit``), ``baseline`` and
    ``recent`` values, a one-line ``message`` and the ``evidence`` values behind it."""

    kind: str
    start: pd.Timestamp
    end: pd.Timestamp
    slope: float
    unit: str
    baseline: float
    recent: float
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (timestamps as ISO 8601)."""
        d = asdict(self)
        d["start"], d["end"] = self.start.isoformat(), self.end.isoformat()
        return d


def _clean(series: pd.Series) -> pd.Series:
    s = pd.to_numeric(series, errors="coerce")
    return s[np.isfinite(s.to_numpy(dtype=float))]


def _segments(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True as (first, last) index pairs."""
    out, start = [], None
    for i, m in enumerate(mask):
        if m and start is None:
            start = i
        elif not m and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(mask) - 1))
    return out


def _onset(x: np.ndarray, y: np.ndarray, a: int, b: int, min_points: int) -> int:
    """Where the rise starts inside [a, b]: the knee of the best "flat, then linear" (hinge)
    least-squares fit; ``a`` when a plain line fits as well."""
    xs, ys = x[a:b + 1], y[a:b + 1]
    best_k, best = 0, None
    last = len(xs) - min_points
    for k in np.unique(np.linspace(0, max(last, 0), num=min(200, max(last, 0) + 1)).astype(int)):
        h = np.maximum(xs - xs[k], 0.0)
        A = np.column_stack([np.ones_like(h), h])
        coef, *_ = np.linalg.lstsq(A, ys, rcond=None)
        sse = float(((A @ coef - ys) ** 2).sum())
        if best is None or sse < best - 1e-9:
            best_k, best = int(k), sse
    return a + best_k


@functools.lru_cache(maxsize=64)
def _upper(m: int) -> np.ndarray:
    """Mask of the pairs (k, l) with k > l in an m x m outer difference (row k minus column l)."""
    return np.tril(np.ones((m, m), bool), -1)


def memory_growth(series: pd.Series, config: TrendConfig | None = None) -> list[TrendFinding]:
    """Sustained memory rise: Theil–Sen slope (MB/h) over sliding stretches of ``memory_period``."""
    from scipy.stats import theilslopes

    cfg = config or TrendConfig()
    s = _clean(series)
    n = len(s)
    if n < cfg.memory_min_points:
        return []
    secs = (s.index - s.index[0]).total_seconds().to_numpy()
    hours = secs / 3600.0
    period = pd.Timedelta(cfg.memory_period).total_seconds()
    y = s.to_numpy(dtype=float)
    ends = np.searchsorted(secs, secs + period, side="right")  # stretch i = [i, ends[i])
    rising = np.zeros(n, bool)
    strict = bool(np.all(np.diff(hours) > 0))
    for i in range(n):
        j = ends[i]
        if j - i < cfg.memory_min_points or secs[j - 1] - secs[i] < 0.8 * period:
            continue  # too few readings, or the stretch does not cover the period
        # lo <= the Theil-Sen slope = the median pairwise slope: when that median is below the limit
        # the stretch cannot fire (same answer as theilslopes, far cheaper on flat stretches).
        # Times are increasing, so a pair's slope exceeds L iff z = y - L*x increases: with at most
        # (N-1)//2 of the N pairs doing so the median is <= L; otherwise the exact median decides
        lim = cfg.memory_slope_mb_per_hour
        z = y[i:j] - lim * hours[i:j]
        m = j - i
        if strict and np.count_nonzero(np.subtract.outer(z, z)[_upper(m)] > 0) <= (m * (m - 1) // 2 - 1) // 2:
            continue
        dx = np.subtract.outer(hours[i:j], hours[i:j])
        dy = np.subtract.outer(y[i:j], y[i:j])
        pos = dx > 0
        if not pos.any() or np.median(dy[pos] / dx[pos]) <= lim:
            continue
        slope, icpt, lo, _ = theilslopes(y[i:j], hours[i:j], alpha=cfg.confidence)
        if lo <= cfg.memory_slope_mb_per_hour:
            continue
        resid = y[i:j] - (icpt + slope * hours[i:j])
        noise = 1.4826 * float(np.median(np.abs(resid - np.median(resid))))
        if slope * (hours[j - 1] - hours[i]) >= cfg.memory_min_rise_sigma * noise:
            rising[i:j] = True
    out = []
    for a, b in _segments(rising):
        a = _onset(hours, y, a, b, cfg.memory_min_points)
        slope, _, lo, hi = theilslopes(y[a:b + 1], hours[a:b + 1], alpha=cfg.confidence)
        out.append(TrendFinding(
            kind="memory_growth", start=s.index[a], end=s.index[b], slope=float(slope), unit="MB/h",
            baseline=float(y[a]), recent=float(y[b]),
            message=(f"memory rose from {y[a]:.0f} to {y[b]:.0f} MB in {s.index[b] - s.index[a]} "
                     f"({slope:.0f} MB/h, limit {cfg.memory_slope_mb_per_hour:g} MB/h)"),
            evidence={"column": series.name, "readings": b - a + 1, "slope_low": float(lo), "slope_high": float(hi),
                      "limit_mb_per_hour": cfg.memory_slope_mb_per_hour}))
    return out


def _drift(series: pd.Series, baseline: pd.Series | None, cfg: TrendConfig, *, kind: str, agg: str,
           ratio: float, min_delta: float, unit: str, label: str) -> list[TrendFinding]:
    s = _clean(series)
    if baseline is not None:
        base_vals = _clean(baseline).to_numpy(dtype=float)
        run = s
    else:
        base_vals = s.iloc[: cfg.baseline_windows].to_numpy(dtype=float)
        run = s.iloc[cfg.baseline_windows:]
    if len(base_vals) < 3 or len(run) < cfg.recent_windows:
        return []
    base = float(np.median(base_vals) if agg == "median" else np.mean(base_vals))
    roll = run.rolling(cfg.recent_windows)
    recent = (roll.median() if agg == "median" else roll.mean()).to_numpy(dtype=float)
    fire = np.nan_to_num((recent > base * ratio) & (recent - base >= min_delta), nan=0).astype(bool)
    out = []
    for a, b in _segments(fire):
        a0 = max(0, a - cfg.recent_windows + 1)  # the first window feeding the first alarm
        peak = float(np.nanmax(recent[a:b + 1]))
        hours = max((run.index[b] - run.index[a0]).total_seconds() / 3600.0, 1e-9)
        out.append(TrendFinding(
            kind=kind, start=run.index[a0], end=run.index[b], slope=(float(recent[b]) - base) / hours, unit=unit,
            baseline=base, recent=float(recent[b]),
            message=f"{label} {recent[b]:.3g} vs baseline {base:.3g} (x{recent[b] / base if base else float('inf'):.1f})",
            evidence={"column": series.name, "peak": peak, "windows": b - a0 + 1, "ratio_limit": ratio,
                      "min_delta": min_delta, "baseline_windows": int(len(base_vals))}))
    return out


def latency_drift(series: pd.Series, config: TrendConfig | None = None, *,
                  baseline: pd.Series | None = None) -> list[TrendFinding]:
    """Recent latency (rolling median) well above the baseline median."""
    cfg = config or TrendConfig()
    return _drift(series, baseline, cfg, kind="latency_drift", agg="median", ratio=cfg.latency_ratio,
                  min_delta=cfg.latency_min_delta, unit="s/h", label="latency")


def error_rate_increase(series: pd.Series, config: TrendConfig | None = None, *,
                        baseline: pd.Series | None = None) -> list[TrendFinding]:
    """Recent error / failure rate (rolling mean) well above the baseline mean."""
    cfg = config or TrendConfig()
    return _drift(series, baseline, cfg, kind="error_rate", agg="mean", ratio=cfg.error_rate_ratio,
                  min_delta=cfg.error_rate_min_increase, unit="1/h", label="error rate")


def detect_trends(frame: pd.DataFrame, config: TrendConfig | None = None, *,
                  baseline: pd.DataFrame | None = None) -> list[TrendFinding]:
    """All three detectors on a :meth:`WindowFeatures.frame` (columns that are missing or empty
    are skipped), sorted by start time."""
    cfg = config or TrendConfig()
    out: list[TrendFinding] = []
    if cfg.memory_column in frame:
        out += memory_growth(frame[cfg.memory_column], cfg)
    for col, fn in ((cfg.latency_column, latency_drift), (cfg.error_column, error_rate_increase)):
        if col in frame:
            base = baseline[col] if baseline is not None and col in baseline else None
            out += fn(frame[col], cfg, baseline=base)
    return sorted(out, key=lambda f: f.start)
