"""Records -> feature frames: fixed time windows (:class:`WindowFeatures`) and id-grouped sessions
(:class:`SessionFeatures`).

Both are streaming accumulators: ``add(record, template_id)`` costs a few dict operations per
record (no pandas until :meth:`WindowFeatures.frame` / :meth:`SessionFeatures.frame`), so they sit
on the hot path of ``tts-analyze`` without slowing it.

Structured fields (``request_id``, ``event``, ``elapsed``, ``rtf``, ``audio_seconds``,
``peak_rss_mb``...) are read as features, never mined as text.

>>> from datetime import datetime, timezone
>>> from analyzer.records import Record
>>> wf = WindowFeatures(FeatureConfig(window="60s"))
>>> t = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> wf.add(Record(time=t, level="ERROR", message="boom", file="x.log", line=1), 7)
>>> int(wf.frame().loc[t, "errors"])
1
"""
from __future__ import annotations

import math
import re
import warnings
from array import array
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from ttsops.errors import ConfigError

__all__ = [
    "FeatureConfig",
    "WindowFeatures",
    "SessionFeatures",
    "TEMPLATE_PREFIX",
    "template_columns",
    "template_id_of",
]

#: Template count columns of a window frame are named ``tpl_<template id>``.
TEMPLATE_PREFIX = "tpl_"
#: Windows more than this many windows older than the newest one seen are compacted (see
#: ``_Window.close``): time-ordered input (``read_records`` merges files in time order) never
#: writes to them again, so memory stays small per window whatever the request volume.
CLOSE_LAG = 5


def template_columns(frame: pd.DataFrame) -> list[str]:
    """The template count columns (``tpl_<id>``) of a window frame, in frame order."""
    return [c for c in frame.columns if isinstance(c, str) and c.startswith(TEMPLATE_PREFIX)]


def template_id_of(column: str) -> int:
    """``"tpl_12"`` -> ``12``."""
    return int(column[len(TEMPLATE_PREFIX):])


@dataclass
class FeatureConfig:
    """Everything the feature builders read from records, in one place.

    Parameters
    ----------
    window : str
        Window length, any pandas Timedelta string (``"60s"``, ``"5min"``). Default ``"60s"``.
    quantiles : tuple of float
        Quantiles (0 < q < 1) of latency and RTF reported per window.
    request_field : str
        Structured field holding the request id (distinct ids per window = request rate).
    event_field : str
        Structured field naming the event (``synthesis_start``, ``synthesis_error``...).
    latency_field : str
        Structured field with the elapsed time in seconds: a number, or a dict per stage (its
        ``total`` entry when present, else the sum of its numeric values).
    rtf_field, audio_field : str
        Real-time factor and audio duration (seconds) fields.
    memory_fields : tuple of str
        Fields holding a memory reading in MB (the first present is used; the window keeps the max).
    error_levels, warning_levels : tuple of str
        Upper-case level names counted as errors / warnings.
    error_event_pattern : str
        Case-insensitive regex on the event field: matching events count as errors even when
        logged at a lower level (``synthesis_error``, ``request_timeout``...).
    start_event_pattern : str
        Regex on the event field for attempts (``synthesis_start``); with error events it gives
        the failure ratio. Without start events the ratio is failed requests / requests.
    max_windows : int
        Memory bound for sparse logs spanning a long time: beyond this many windows between the
        first and last record, :meth:`WindowFeatures.frame` keeps the active windows and one
        empty window after each run of them (a warning says so).
    """

    window: str = "60s"
    quantiles: tuple[float, ...] = (0.5, 0.95, 0.99)
    request_field: str = "request_id"
    event_field: str = "event"
    latency_field: str = "elapsed"
    rtf_field: str = "rtf"
    audio_field: str = "audio_seconds"
    memory_fields: tuple[str, ...] = ("peak_rss_mb", "rss_mb", "rss", "gpu_memory_mb", "gpu_mem_mb")
    error_levels: tuple[str, ...] = ("ERROR", "CRITICAL", "FATAL")
    warning_levels: tuple[str, ...] = ("WARNING", "WARN")
    error_event_pattern: str = r"error|fail|exception|timeout|oom|crash"
    start_event_pattern: str = r"_start$|^start"
    max_windows: int = 100_000

    def __post_init__(self) -> None:
        from ttsops.config import check_types

        check_types(self, "features")
        try:
            td = pd.Timedelta(self.window)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"window {self.window!r} is not a duration", where="window",
                              fix='use a pandas duration such as "60s" or "5min"') from exc
        if td <= pd.Timedelta(0):
            raise ConfigError(f"window {self.window!r} must be positive", where="window", fix='e.g. "60s"')
        self.quantiles = tuple(float(q) for q in self.quantiles)
        for q in self.quantiles:
            if not 0.0 < q < 1.0:
                raise ConfigError(f"quantile {q} is outside (0, 1)", where="quantiles", fix="e.g. (0.5, 0.95)")
        if int(self.max_windows) < 1:
            raise ConfigError(f"max_windows={self.max_windows!r} must be >= 1", where="max_windows")
        for name in ("error_event_pattern", "start_event_pattern"):
            try:
                re.compile(getattr(self, name))
            except re.error as exc:
                raise ConfigError(f"{name} is not a valid regex: {exc}", where=name) from exc

    @property
    def window_seconds(self) -> float:
        """The window length in seconds."""
        return pd.Timedelta(self.window).total_seconds()


def _number(v: Any) -> float | None:
    c = v.__class__
    if c is float:
        return v if v - v == 0.0 else None  # finite (inf - inf and nan - nan are nan)
    if c is int:
        return float(v) if -1e308 < v < 1e308 else None
    if c is bool or v is None:
        return None
    if isinstance(v, (int, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, str):
        try:
            f = float(v)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def _latency(v: Any) -> float | None:
    if v.__class__ is dict or isinstance(v, Mapping):
        if "total" in v:
            return _number(v["total"])
        total, seen = 0.0, False
        for x in v.values():
            if x.__class__ is not float or x - x != 0.0:
                x = _number(x)
                if x is None:
                    continue
            total += x
            seen = True
        return total if seen else None
    return _number(v)


def _quantiles(values: list[float], qs: tuple[float, ...]) -> list[float]:
    """``numpy.quantile(values, qs)`` (linear method, same arithmetic) for a short list, without
    numpy's per-call overhead (the frame computes it for every window)."""
    v = sorted(values)
    n = len(v)
    out = []
    for q in qs:
        pos = q * (n - 1)
        lo = int(pos)
        hi = min(lo + 1, n - 1)
        t = pos - lo
        a, b = v[lo], v[hi]
        d = b - a
        out.append(b - d * (1.0 - t) if t >= 0.5 else a + d * t)
    return out


class _Window:
    __slots__ = ("records", "errors", "warnings", "error_events", "starts", "templates", "requests",
                 "failed", "latency", "rtf", "audio", "memory", "new_templates", "closed_requests",
                 "closed_failed")

    def __init__(self) -> None:
        self.records = 0
        self.errors = 0
        self.warnings = 0
        self.error_events = 0
        self.starts = 0
        self.templates: dict[int, int] = {}
        self.requests: set = set()
        self.failed: set = set()
        self.latency: list[float] = []
        self.rtf: list[float] = []
        self.audio = 0.0
        self.memory = float("nan")
        self.new_templates = 0
        self.closed_requests = 0  # distinct ids counted when the window was closed (compact form)
        self.closed_failed = 0

    def close(self) -> None:
        """Compact form once the stream has moved on: id sets become counts, value lists become
        arrays of doubles (quantiles stay exact). A window written to again is reopened."""
        self.closed_requests += len(self.requests)
        self.closed_failed += len(self.failed)
        self.requests = self.failed = _EMPTY
        self.latency = array("d", self.latency)
        self.rtf = array("d", self.rtf)

    def reopen(self) -> None:
        """Writable again (a record older than the stream's newest windows): ids seen before the
        window was closed are not remembered, so one seen again is counted again."""
        self.requests, self.failed = set(), set()
        self.latency, self.rtf = list(self.latency), list(self.rtf)

    @property
    def n_requests(self) -> int:
        return self.closed_requests + len(self.requests)

    @property
    def n_failed(self) -> int:
        return self.closed_failed + len(self.failed)


_EMPTY: frozenset = frozenset()


class WindowFeatures:
    """Streaming per-window features.

    ``add(record, template_id, is_new=False)`` for each record, then :meth:`frame`.

    Records without a timestamp go to the window of the last timed record (or the first window
    when none came yet).

    ``canonical`` (e.g. ``miner.canonical`` of :class:`analyzer.templates.TemplateMiner`) folds
    template ids handed out while streaming into the ids they became after later merges and
    splits; it is applied in :meth:`frame`, so ``add`` stays cheap.
    """

    def __init__(self, config: FeatureConfig | None = None, *, canonical: Callable[[int], int] | None = None,
                 keep_open: bool = False):
        self.config = config or FeatureConfig()
        self.canonical = canonical
        #: never compact windows (a piece of a distributed run: its request ids are merged with other pieces')
        self.keep_open = keep_open
        self._w = self.config.window_seconds
        self._windows: dict[int, _Window] = {}
        self._key: int | None = None
        self._cur: _Window | None = None
        self._lo: datetime | None = None  # current window's [start, end) as datetimes
        self._hi: datetime | None = None
        cfg = self.config
        self._keys = frozenset((cfg.event_field, cfg.request_field, cfg.latency_field, cfg.rtf_field,
                                cfg.audio_field, *cfg.memory_fields))
        self._ev_f, self._rid_f, self._lat_f = cfg.event_field, cfg.request_field, cfg.latency_field
        self._rtf_f, self._audio_f, self._mem_f = cfg.rtf_field, cfg.audio_field, tuple(cfg.memory_fields)
        self._mem_keys = frozenset(cfg.memory_fields)
        self._pending = _Window()  # untimed records before any timed one
        self._open: list[int] = []  # keys of windows not closed yet
        self._newest = -(1 << 62)
        self._event_class: dict[str, int] = {}  # event -> 0 plain, 1 error, 2 start
        self._err_re = re.compile(self.config.error_event_pattern, re.IGNORECASE)
        self._start_re = re.compile(self.config.start_event_pattern, re.IGNORECASE)
        self._error_levels = frozenset(self.config.error_levels)
        self._warning_levels = frozenset(self.config.warning_levels)
        #: template ids seen at an error level or with an error event
        self.error_templates: set[int] = set()
        #: first time (epoch seconds) each template id was seen
        self.first_seen: dict[int, float] = {}

    def _window(self, rec: Any) -> _Window:
        t = rec.time
        if t is None:
            return self._cur if self._cur is not None else self._pending
        lo = self._lo
        if lo is not None and lo <= t < self._hi:  # same window as the last record: no arithmetic
            return self._cur  # type: ignore[return-value]
        key = int(t.timestamp() // self._w)
        win = self._windows.get(key)
        if win is None:
            win = self._windows[key] = _Window()
            self._open.append(key)
            if key > self._newest:
                self._newest = key
                if len(self._open) > 2 * CLOSE_LAG and not self.keep_open:
                    self._close_old()
        elif win.requests is _EMPTY:
            win.reopen()
            self._open.append(key)
        self._key, self._cur = key, win
        try:
            self._lo = datetime.fromtimestamp(key * self._w, tz=timezone.utc)
            self._hi = self._lo + timedelta(seconds=self._w)
        except (OverflowError, OSError, ValueError):  # far outside the datetime range
            self._lo = self._hi = None
        return win

    def _close_old(self) -> None:
        """Compact the windows more than CLOSE_LAG windows older than the newest one: memory per
        closed window is a few counters, its template counts and its latency/RTF values."""
        limit = self._newest - CLOSE_LAG
        keep = []
        windows = self._windows
        for k in self._open:
            if k < limit:
                w = windows[k]
                if w.requests is not _EMPTY:
                    w.close()
            else:
                keep.append(k)
        self._open = keep

    def add(self, record: Any, template_id: int | None = None, is_new: bool = False) -> None:
        """Account one record (an :class:`analyzer.records.Record`) with its template id."""
        t = record.time
        lo = self._lo
        if t is not None and lo is not None and lo <= t < self._hi:  # the last record's window
            win = self._cur
        else:
            win = self._window(record)
        win.records += 1
        is_error = False
        level = record.level
        if level in self._error_levels:
            win.errors += 1
            is_error = True
        elif level in self._warning_levels:
            win.warnings += 1
        fields = record.fields
        if fields and not self._keys.isdisjoint(fields):
            ev = fields.get(self._ev_f)
            if ev.__class__ is str:
                cls = self._event_class.get(ev)
                if cls is None:
                    cls = 1 if self._err_re.search(ev) else 2 if self._start_re.search(ev) else 0
                    self._event_class[ev] = cls
                if cls == 1:
                    win.error_events += 1
                    is_error = True
                elif cls == 2:
                    win.starts += 1
            rid = fields.get(self._rid_f)
            if rid is not None:
                win.requests.add(rid)
                if is_error:
                    win.failed.add(rid)
            v = fields.get(self._lat_f)
            if v is not None:
                v = _latency(v)
                if v is not None:
                    win.latency.append(v)
            v = fields.get(self._rtf_f)
            if v is not None:
                v = _number(v)
                if v is not None:
                    win.rtf.append(v)
            v = fields.get(self._audio_f)
            if v is not None:
                v = _number(v)
                if v is not None:
                    win.audio += v
            if not self._mem_keys.isdisjoint(fields):
                for name in self._mem_f:
                    if name in fields:
                        v = _number(fields[name])
                        if v is not None and not (v <= win.memory):  # nan-safe max
                            win.memory = v
                        break
        if template_id is not None:
            tc = win.templates
            tc[template_id] = tc.get(template_id, 0) + 1
            if is_error:
                self.error_templates.add(template_id)
            if template_id not in self.first_seen:
                self.first_seen[template_id] = record.time.timestamp() if record.time is not None else math.nan
        if is_new:
            win.new_templates += 1

    def add_many(self, items: Iterable[tuple[Any, int | None]]) -> None:
        """``add`` for each ``(record, template_id)`` pair."""
        for rec, tid in items:
            self.add(rec, tid)

    def __len__(self) -> int:
        return len(self._windows)

    def absorb(self, other: "WindowFeatures", template_map: Mapping[int, int]) -> None:
        """Add the windows of ``other`` (a piece of the same run, built with ``keep_open``), its
        template ids renamed by ``template_map``: counts and sums add, request ids unite, latency
        and RTF values join (quantiles stay exact). ``first_seen`` is left to the caller (it needs
        the run's record order)."""
        def renamed(w: _Window) -> _Window:
            out = _Window()
            _merge(out, w)
            out.templates = {}
            for t, c in w.templates.items():
                t = template_map[t]
                out.templates[t] = out.templates.get(t, 0) + c
            return out

        for key, w in other._windows.items():
            mine = self._windows.get(key)
            if mine is None:
                self._windows[key] = renamed(w)
            else:
                _merge(mine, renamed(w))
        if other._pending.records:
            _merge(self._pending, renamed(other._pending))
        self.error_templates.update(template_map[t] for t in other.error_templates)

    def count_new_template(self, time: datetime | None) -> None:
        """One more new template in the window of ``time`` (``None``: before any timed record), as
        ``add(..., is_new=True)`` counts it."""
        if time is None:
            self._pending.new_templates += 1
            return
        key = int(time.timestamp() // self._w)
        win = self._windows.get(key)
        if win is None:
            win = self._windows[key] = _Window()
        win.new_templates += 1

    def windows_by_key(self) -> dict[int, Any]:
        """The accumulated windows by key (window start // window length): each has ``records``,
        ``errors``, ``warnings``, ``error_events``... (read-only use)."""
        return self._windows

    def frame(self, *, canonical: Callable[[int], int] | None = None) -> pd.DataFrame:
        """One row a window (index: window start, UTC), every window between the first and last.

        Columns: ``records, errors, warnings, error_events, requests, failed_requests,
        failure_ratio, starts, latency_p<q>, rtf_p<q>`` (NaN where no value),
        ``audio_seconds, memory_mb`` (NaN where absent), ``new_templates``, then one ``tpl_<id>``
        count column per template id (sorted). ``frame.attrs["error_templates"]`` lists the
        template ids seen at an error level or with an error event; ``frame.attrs["window"]`` the
        window length. ``canonical`` overrides the constructor's id folding.
        """
        cfg = self.config
        fold = canonical or self.canonical
        windows = dict(self._windows)
        if self._pending.records and windows:  # untimed records before the first timed one
            first = min(windows)
            merged = _Window()  # a copy: frame() may be called again
            _merge(merged, windows[first])
            _merge(merged, self._pending)
            windows[first] = merged
        # records with no time at all (a console paste) have no windows: no row at 1970-01-01
        qs = cfg.quantiles
        qnames = [_qname(q) for q in qs]
        base_cols = (["records", "errors", "warnings", "error_events", "requests", "failed_requests",
                      "failure_ratio", "starts"]
                     + [f"latency_{n}" for n in qnames] + [f"rtf_{n}" for n in qnames]
                     + ["audio_seconds", "memory_mb", "new_templates"])
        fmap = _fold_map({t for w in windows.values() for t in w.templates} | self.error_templates, fold)
        tids = sorted(set(fmap.values()))
        if not windows:
            idx = pd.DatetimeIndex([], tz="UTC", name="window")
            out = pd.DataFrame(columns=base_cols + [f"{TEMPLATE_PREFIX}{t}" for t in tids], index=idx, dtype=float)
            out.attrs.update(error_templates=[], window=cfg.window)
            return out
        k0, k1 = min(windows), max(windows)
        if k1 - k0 + 1 <= cfg.max_windows:
            keys = np.arange(k0, k1 + 1)
        else:  # a long, sparse span: active windows plus one empty window after each run of them
            active = sorted(windows)
            keys = np.array(sorted(set(active) | {k + 1 for k in active if k + 1 not in windows and k < k1}))
            warnings.warn(f"{k1 - k0 + 1} windows of {cfg.window} between first and last record "
                          f"(> max_windows={cfg.max_windows}): empty stretches are shown as one empty window",
                          RuntimeWarning, stacklevel=2)
        n = len(keys)
        row_of = {int(k): i for i, k in enumerate(keys)}
        base = np.zeros((n, len(base_cols)))
        base[:, 8:8 + 2 * len(qs)] = np.nan
        base[:, len(base_cols) - 2] = np.nan  # memory_mb
        tpos = {t: i for i, t in enumerate(tids)}
        counts = np.zeros((n, len(tids)))
        for key, w in windows.items():
            i = row_of[key]
            nreq = w.n_requests
            nfail = w.n_failed
            if w.starts:
                ratio = min(1.0, w.error_events / w.starts) if w.error_events else nfail / max(nreq, 1)
            elif nreq:
                ratio = nfail / nreq
            else:
                ratio = (w.errors + w.error_events) / w.records if w.records else 0.0
            row = [w.records, w.errors, w.warnings, w.error_events, nreq, nfail, ratio, w.starts]
            base[i, :8] = row
            if w.latency:
                base[i, 8:8 + len(qs)] = _quantiles(w.latency, qs)
            if w.rtf:
                base[i, 8 + len(qs):8 + 2 * len(qs)] = _quantiles(w.rtf, qs)
            base[i, len(base_cols) - 3] = w.audio
            base[i, len(base_cols) - 2] = w.memory
            base[i, len(base_cols) - 1] = w.new_templates
            for t, c in w.templates.items():
                counts[i, tpos[fmap[t]]] += c
        idx = pd.DatetimeIndex(pd.to_datetime(keys * self._w, unit="s", utc=True), name="window")
        out = pd.concat([pd.DataFrame(base, index=idx, columns=base_cols),
                         pd.DataFrame(counts, index=idx, columns=[f"{TEMPLATE_PREFIX}{t}" for t in tids])], axis=1)
        out.attrs.update(error_templates=sorted({fmap[t] for t in self.error_templates}), window=cfg.window)
        return out


def _fold_map(ids: Iterable[int], fold: Callable[[int], int] | None) -> dict[int, int]:
    return {t: (fold(t) if fold is not None else t) for t in ids}


def _qname(q: float) -> str:
    s = f"{q * 100:g}".replace(".", "_")
    return f"p{s}"


def _merge(into: _Window, other: _Window) -> None:
    for name in ("records", "errors", "warnings", "error_events", "starts", "new_templates"):
        setattr(into, name, getattr(into, name) + getattr(other, name))
    for t, c in other.templates.items():
        into.templates[t] = into.templates.get(t, 0) + c
    if into.requests is _EMPTY:
        into.reopen()
    into.requests |= other.requests
    into.failed |= other.failed
    into.closed_requests += other.closed_requests
    into.closed_failed += other.closed_failed
    into.latency += list(other.latency)
    into.rtf += list(other.rtf)
    into.audio += other.audio
    if not (other.memory <= into.memory):
        into.memory = other.memory if not math.isnan(other.memory) else into.memory


@dataclass
class _Session:
    seq: list = field(default_factory=list)


class SessionFeatures:
    """Group records by an id and count templates per id.

    Parameters
    ----------
    id_regex : str, optional
        Regex whose matches in the message are the session ids (``r"blk_-?\\d+"``). A message
        naming several distinct ids counts for each. When the message has none, string field
        values are searched too.
    id_field : str, optional
        Structured field holding the id (``"request_id"``); used first when present.

    canonical : callable, optional
        Folds streamed template ids into their final ids (``miner.canonical``); applied when
        reading out, so ``add`` stays cheap. Every read-out method also takes it.

    ``add(record, template_id)``; then :meth:`matrix` (ids, count matrix), :meth:`frame`
    (DataFrame ids x template ids) and :meth:`sequences` (ordered template ids per id, for
    sequence models).
    """

    def __init__(self, id_regex: str | None = None, *, id_field: str | None = None,
                 canonical: Callable[[int], int] | None = None):
        if id_regex is None and id_field is None:
            raise ConfigError("SessionFeatures needs id_regex or id_field", fix=r'e.g. id_regex=r"blk_-?\d+"')
        try:
            self._re = re.compile(id_regex) if id_regex else None
        except re.error as exc:
            raise ConfigError(f"id_regex {id_regex!r} is not a valid regex: {exc}", where="--sessions") from exc
        self.id_regex = id_regex
        self.id_field = id_field
        self.canonical = canonical
        self._seqs: dict[str, list[int]] = {}

    def _ids(self, rec: Any) -> list[str]:
        fields = rec.fields
        if self.id_field and fields:
            v = fields.get(self.id_field)
            if v is not None:
                return [str(v)]
        if self._re is None:
            return []
        found = self._re.findall(rec.message) if rec.message else []
        if not found and fields:
            for v in fields.values():
                if isinstance(v, str):
                    found = self._re.findall(v)
                    if found:
                        break
        if len(found) > 1:
            found = list(dict.fromkeys(found))
        return found

    def add(self, record: Any, template_id: int) -> None:
        """Append ``template_id`` to the sequence of every id the record names."""
        for sid in self._ids(record):
            seq = self._seqs.get(sid)
            if seq is None:
                seq = self._seqs[sid] = []
            seq.append(template_id)

    def add_ids(self, ids: Iterable[str], template_id: int) -> None:
        """Append ``template_id`` to the given ids (when the caller already extracted them)."""
        for sid in ids:
            self._seqs.setdefault(sid, []).append(template_id)

    def __len__(self) -> int:
        return len(self._seqs)

    def sequences(self, *, canonical: Callable[[int], int] | None = None) -> dict[str, list[int]]:
        """Ordered template ids per session id (first-seen order of ids)."""
        fold = canonical or self.canonical
        if fold is None:
            return self._seqs
        fmap = _fold_map({t for s in self._seqs.values() for t in s}, fold)
        if all(k == v for k, v in fmap.items()):
            return self._seqs
        return {sid: [fmap[t] for t in seq] for sid, seq in self._seqs.items()}

    def matrix(self, columns: Iterable[int] | None = None, *,
               canonical: Callable[[int], int] | None = None) -> tuple[list[str], np.ndarray]:
        """``(ids, X)``: X[i, j] = count of template ``columns[j]`` in session ``ids[i]``.

        ``columns`` defaults to all template ids seen, sorted; pass a fitted detector's columns to
        align (templates outside ``columns`` are dropped — use :meth:`frame` to keep them).
        """
        seqs = self.sequences(canonical=canonical)
        ids = list(seqs)
        cols = sorted({t for s in seqs.values() for t in s}) if columns is None else list(columns)
        pos = {t: j for j, t in enumerate(cols)}
        X = np.zeros((len(ids), len(cols)))
        for i, sid in enumerate(ids):
            row = X[i]
            for t in seqs[sid]:
                j = pos.get(t)
                if j is not None:
                    row[j] += 1
        return ids, X

    def frame(self, *, canonical: Callable[[int], int] | None = None) -> pd.DataFrame:
        """Count matrix as a DataFrame: index = session id, columns = template ids (int)."""
        seqs = self.sequences(canonical=canonical)
        cols = sorted({t for s in seqs.values() for t in s})
        ids, X = self.matrix(cols, canonical=canonical)
        return pd.DataFrame(X, index=pd.Index(ids, name="session"), columns=cols)
