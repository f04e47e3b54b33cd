"""From error records and anomalous windows to incidents with a root cause.

Three streaming accumulators sit on the hot path (each bounded in memory, whatever the input size):

* :class:`HitCollector` matches every warning/error record against the knowledge base and folds
  hits into *episodes*: one per KB entry (or unrecognised error template) and burst, with its time
  span, count, the first few records as evidence and the affected request ids (capped).
* :class:`WindowCounts` keeps records / errors / warnings per window (the report's timeline).
* :class:`ExceptionGroups` groups exceptions like Sentry: fingerprint = error type + normalised stack
  (file names and functions, no line numbers, no values), with count, first/last seen and request
  ids; no text or audio content is stored, only templates.

:func:`build_incidents` then orders episodes in time and builds incidents: a cause opens an
incident; a later episode whose KB entry ``follows`` that cause (an OOM, then silent output, then
timeouts) joins it as a symptom; a cause seen shortly after a symptom it explains takes the root.
The root cause is therefore the earliest upstream signal, not the loudest.
"""
from __future__ import annotations

import bisect

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from analyzer.kb import SEVERITIES, UNRECOGNISED, KBEntry, KnowledgeBase, record_text

__all__ = [
    "IncidentConfig", "Evidence", "RootCause", "Symptom", "Incident", "Episode", "HitCollector",
    "WindowCounts", "ExceptionGroup", "ExceptionGroups", "build_incidents", "severity_rank",
]

UTC = timezone.utc
#: where records without a time are placed (one second a record): never shown, see HitCollector.add
_UNTIMED = datetime(1970, 1, 1, tzinfo=UTC)
ERROR_LEVELS = frozenset({"ERROR", "CRITICAL", "FATAL", "ALERT", "EMERGENCY"})
WARNING_LEVELS = frozenset({"WARNING", "WARN"})


@dataclass
class IncidentConfig:
    """How hits become incidents (all durations in seconds).

    Parameters
    ----------
    episode_gap : float
        Hits of the same KB entry further apart than this start a new episode. Default 120 (a
        failing request every minute or two is still one incident).
    attach_gap : float
        A symptom that starts up to this long after an incident's last record joins it. Default 120.
    cause_tolerance : float
        A cause logged up to this long *after* a symptom it explains still becomes the root (logs of
        different files are written at slightly different moments). Default 5.
    max_evidence : int
        Records kept as evidence per episode. Default 3.
    max_request_ids : int
        Request ids kept per episode / incident (all are counted). Default 20.
    max_episodes : int
        Bound on episodes kept (oldest unrecognised ones are dropped first). Default 20000.
    warning_incidents : bool
        Whether warnings open incidents on their own. Default False: an unrecognised warning only
        joins incidents as a symptom (or opens one inside an anomalous window), and a warning that
        names a known failure opens one only when it recurs (2+ in its episode), errors follow it, or
        it falls in an anomalous window.
    high_volume : int
        An incident with at least this many error records is raised one severity level. Default 50.
    """

    episode_gap: float = 120.0
    attach_gap: float = 120.0
    cause_tolerance: float = 5.0
    max_evidence: int = 3
    max_request_ids: int = 20
    max_episodes: int = 20000
    warning_incidents: bool = False
    high_volume: int = 50

    def __post_init__(self) -> None:
        from ttsops.config import check_types
        from ttsops.errors import ConfigError

        check_types(self, "incidents")
        for name in ("episode_gap", "attach_gap", "cause_tolerance"):
            if float(getattr(self, name)) < 0:
                raise ConfigError(f"{name} must be >= 0", where=f"incidents.{name}")
            setattr(self, name, float(getattr(self, name)))
        for name in ("max_evidence", "max_request_ids", "max_episodes", "high_volume"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1", where=f"incidents.{name}")


# ----------------------------------------------------------------------------------------------
# model
@dataclass
class Evidence:
    """One log line shown as evidence: where it is and its text (first line, capped)."""

    file: str
    line: int
    text: str
    time: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "text": self.text}


@dataclass
class RootCause:
    kb_id: str
    title: str
    fix: str
    evidence: list[Evidence] = field(default_factory=list)
    cause: str = ""
    template: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kb_id": self.kb_id, "title": self.title, "fix": self.fix,
                             "evidence": [e.to_dict() for e in self.evidence], "cause": self.cause}
        if self.template is not None:
            d["template"] = self.template
        return d


@dataclass
class Symptom:
    kb_id: str
    title: str
    count: int
    first: datetime | None
    template: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kb_id": self.kb_id, "title": self.title, "count": self.count,
                "first": _iso(self.first), "template": self.template}


@dataclass
class Incident:
    """An incident as the report shows it (the JSON report is a plain serialisation).

    ``start``/``end`` are None when the logs carry no time (a console paste): the incident is then
    placed by ``file`` and its line span ``first_line``..``last_line``, which every incident has."""

    id: str
    start: datetime | None
    end: datetime | None
    severity: str
    root_cause: RootCause
    symptoms: list[Symptom] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    request_count: int = 0
    records: int = 0
    errors: int = 0
    score: float | None = None
    anomalous_window: bool = False
    file: str = ""
    first_line: int = 0
    last_line: int = 0
    order: float = 0.0

    @property
    def timed(self) -> bool:
        return self.start is not None

    @property
    def duration_s(self) -> float | None:
        return (self.end - self.start).total_seconds() if self.start is not None and self.end is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "start": _iso(self.start), "end": _iso(self.end), "time_known": self.timed,
                "location": {"file": self.file, "first_line": self.first_line, "last_line": self.last_line},
                "severity": self.severity,
                "root_cause": self.root_cause.to_dict(), "symptoms": [s.to_dict() for s in self.symptoms],
                "request_ids": list(self.request_ids), "request_count": self.request_count,
                "records": self.records, "errors": self.errors,
                "score": None if self.score is None else round(float(self.score), 4),
                "anomalous_window": self.anomalous_window}


def _iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.isoformat(timespec="milliseconds")


def severity_rank(sev: str) -> int:
    return SEVERITIES.index(sev) if sev in SEVERITIES else 0


# ----------------------------------------------------------------------------------------------
# episodes
@dataclass
class Episode:
    """A burst of records that match one KB entry (or one unrecognised template)."""

    key: str
    kb: KBEntry | None
    template_id: int | None
    template: str | None
    start: datetime
    end: datetime
    count: int = 0
    errors: int = 0
    evidence: list[Evidence] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    request_set: set[str] = field(default_factory=set)
    request_count: int = 0
    timed: bool = True
    file: str = ""
    first_line: int = 0
    last_line: int = 0
    title: str | None = None

    @property
    def kb_id(self) -> str:
        return self.kb.id if self.kb is not None else UNRECOGNISED

    @property
    def is_cause(self) -> bool:
        return self.kb is not None and self.kb.role == "cause"

    @property
    def rank(self) -> int:
        return self.kb.rank if self.kb is not None else 9


_TEXT_PREFIX = re.compile(r"^\s*(?:\w+\s*\|\s*)?[\w.<>]+:[\w.<>]+:\d+\s+-\s+")


def _norm(text: str) -> str:
    """Evidence text without a loguru text-format prefix (``channel | module:function:line - ``), for
    de-duplicating the same record mirrored into several files."""
    return _TEXT_PREFIX.sub("", text).strip()


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def record_evidence(rec: Any, *, full: bool = True, matched: str | None = None) -> list[Evidence]:
    """The lines that show what failed, each with its own file:line where the record spans lines:
    the record's message (for a traceback record: its root exception line), the line the KB matched
    (``matched``) and, with ``full``, the innermost frame of the root exception and the last
    exception line of a chain."""
    first = _first_line(rec.message or rec.raw or "")
    raw_lines = (rec.raw or "").split("\n")  # file lines: not splitlines(), which also cuts at \x1c-\x1e, \x85, \u2028
    multiline = len(raw_lines) > 1
    line_map = rec.line_map

    def where(text: str) -> int:
        if multiline:
            t = text.strip()
            for i, ln in enumerate(raw_lines):
                if ln.strip() == t or (t and ln.strip().endswith(t)):
                    if line_map is not None:
                        return line_map[i] if i < len(line_map) else line_map[-1]
                    return rec.line + i
        return rec.line

    picked: list[str] = [first]
    if matched and _first_line(matched) != first:
        picked.append(_first_line(matched))
    if full:
        tb = rec.traceback or (rec.fields or {}).get("traceback")
        if tb and isinstance(tb, str):
            lines = [ln for ln in tb.split("\n") if ln.strip()]
            root = first.strip()
            # the innermost frame before the root exception line (else the last frame)
            frames_before = []
            for ln in lines:
                if ln.strip() == root:
                    break
                if ln.strip().startswith("File "):
                    frames_before.append(ln)
            frames = frames_before or [ln for ln in lines if ln.strip().startswith("File ")]
            if frames:
                picked.append(frames[-1].strip())
            last = lines[-1].strip() if lines else ""
            if last and last != root and not last.startswith(("File ", "Traceback")) and not lines[-1][:1].isspace():
                picked.append(last)
    out: list[Evidence] = []
    for text in dict.fromkeys(t for t in picked if t):
        out.append(Evidence(rec.file, where(text), _first_line(text), rec.time))
    return out


class HitCollector:
    """Matches warning/error records against the KB and folds them into bounded episodes.

    ``add(record, template_id, template=None)`` on every record (non-error records cost one set
    lookup); :attr:`episodes` afterwards.
    """

    def __init__(self, kb: KnowledgeBase, config: IncidentConfig | None = None, *,
                 request_field: str = "request_id"):
        self.kb = kb
        self.config = config or IncidentConfig()
        self.request_field = request_field
        self.episodes: list[Episode] = []
        self._open: dict[str, Episode] = {}
        self._gap = timedelta(seconds=self.config.episode_gap)
        self._last_time: datetime | None = None
        self._seq = 0
        self.dropped = 0

    @staticmethod
    def is_candidate(rec: Any) -> bool:
        lvl = rec.level
        if lvl in ERROR_LEVELS or lvl in WARNING_LEVELS or rec.traceback:
            return True
        f = rec.fields
        return bool(f) and ("error_type" in f and bool(f.get("error_type")))

    def add(self, rec: Any, template_id: int | None = None, template: str | None = None, *,
            seq: int | None = None) -> Episode | None:
        """Account one record; returns the episode it joined (``None`` when not a candidate).

        ``seq`` (the record's position in the run) places records that carry no time: they are
        ordered by it, one record standing for one second, so episode and incident logic work the
        same on a console paste (their incidents say "time unknown")."""
        t = rec.time or self._last_time
        if rec.time is not None:
            self._last_time = rec.time
        if not self.is_candidate(rec):
            return None
        timed = t is not None
        if t is None:
            self._seq = seq if seq is not None else self._seq + 1
            t = _UNTIMED + timedelta(seconds=self._seq)
        entry, matched = self.kb.explain_record(rec)
        is_error = rec.level in ERROR_LEVELS or bool(rec.traceback) or bool((rec.fields or {}).get("error_type"))
        if entry is None:
            key = f"tpl:{template_id}" if template_id is not None else f"msg:{_first_line(rec.message, 80)}"
            if not is_error:
                key = "warn:" + key
        else:
            key = entry.id
        return self._account(key, entry, rec, t, timed, is_error, template_id, template, matched)

    def add_stall(self, rec: Any, entry: KBEntry, *, seq: int | None = None) -> Episode:
        """A file whose last record is an operation that never finished (``entry.stalls``)."""
        t = rec.time
        timed = t is not None
        if t is None:
            t = _UNTIMED + timedelta(seconds=seq if seq is not None else self._seq + 1)
        ep = self._account(entry.id + ":stall", entry, rec, t, timed, True, None, None, None)
        ep.title = f"Log ends during: {_first_line(rec.message, 100)} (stalled)"
        return ep

    def _account(self, key: str, entry: KBEntry | None, rec: Any, t: datetime, timed: bool, is_error: bool,
                 template_id: int | None, template: str | None, matched: str | None) -> Episode:
        ep = self._open.get(key)
        if ep is None or t - ep.end > self._gap or ep.timed != timed:
            ep = Episode(key=key, kb=entry, template_id=template_id, template=template, start=t, end=t,
                         timed=timed, file=rec.file, first_line=rec.line, last_line=rec.line)
            self._open[key] = ep
            self.episodes.append(ep)
            if len(self.episodes) > self.config.max_episodes:
                self._evict()
        ep.count += 1
        if is_error:
            ep.errors += 1
        if t > ep.end:
            ep.end = t
        if t < ep.start:
            ep.start = t
        if rec.file == ep.file:
            ep.last_line = max(ep.last_line, rec.end_line or rec.line)
            ep.first_line = min(ep.first_line, rec.line)
        if ep.count <= self.config.max_evidence:
            seen = {_norm(e.text) for e in ep.evidence}
            ep.evidence.extend(e for e in record_evidence(rec, full=ep.count == 1, matched=matched)
                               if _norm(e.text) not in seen)
        if ep.template is None and template is not None:
            ep.template = template
        rid = (rec.fields or {}).get(self.request_field)
        if rid is not None:
            rid = str(rid)
            if rid not in ep.request_set:
                ep.request_count += 1
                if len(ep.request_set) < 10_000:
                    ep.request_set.add(rid)
                if len(ep.request_ids) < self.config.max_request_ids:
                    ep.request_ids.append(rid)
        return ep

    def _evict(self) -> None:
        # drop the oldest warning-only episode, else the oldest unrecognised one, else the oldest
        for pred in (lambda e: e.key.startswith("warn:"), lambda e: e.kb is None, lambda e: True):
            for i, e in enumerate(self.episodes):
                if pred(e) and self._open.get(e.key) is not e:
                    del self.episodes[i]
                    self.dropped += 1
                    return
        self.episodes.pop(0)
        self.dropped += 1


class WindowCounts:
    """Records / errors / warnings per window (epoch-aligned), for the report's timeline."""

    def __init__(self, window_s: float):
        self.window_s = float(window_s)
        self.rows: dict[int, list[int]] = {}
        self._last_key: int | None = None

    def add(self, rec: Any) -> None:
        t = rec.time
        key = int(t.timestamp() // self.window_s) if t is not None else self._last_key
        if key is None:
            return
        self._last_key = key
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = [0, 0, 0]
        row[0] += 1
        if rec.level in ERROR_LEVELS:
            row[1] += 1
        elif rec.level in WARNING_LEVELS:
            row[2] += 1

    def between(self, start: datetime, end: datetime) -> tuple[int, int]:
        """(records, errors) in the windows overlapping [start, end]."""
        k0 = int(start.timestamp() // self.window_s)
        k1 = int(end.timestamp() // self.window_s)
        recs = errs = 0
        for k in range(k0, k1 + 1):
            row = self.rows.get(k)
            if row:
                recs += row[0]
                errs += row[1]
        return recs, errs

    def table(self) -> list[dict[str, Any]]:
        if not self.rows:
            return []
        k0, k1 = min(self.rows), max(self.rows)
        out = []
        for k in range(k0, k1 + 1):
            r = self.rows.get(k, [0, 0, 0])
            out.append({"start": datetime.fromtimestamp(k * self.window_s, UTC), "records": r[0],
                        "errors": r[1], "warnings": r[2]})
        return out


# ----------------------------------------------------------------------------------------------
# exception groups (Sentry-like)
@dataclass
class ExceptionGroup:
    fingerprint: str
    error_type: str
    frames: list[str]
    kb_id: str
    template: str | None
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    request_ids: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "error_type": self.error_type, "frames": self.frames,
                "kb_id": self.kb_id, "template": self.template, "count": self.count,
                "first_seen": _iso(self.first_seen), "last_seen": _iso(self.last_seen),
                "request_ids": self.request_ids, "files": self.files}


class ExceptionGroups:
    """Sentry-like groups from :class:`analyzer.errors_group.ErrorGrouper` (class + normalised
    ``module:function`` stack + root cause; no message text, values or input stored): one group per
    exception and one root cause per group. The same failure logged as a traceback in one file and
    as an ``error_type`` field without frames in another (a service's access log) is one group."""

    def __init__(self, kb: KnowledgeBase | None = None, *, max_groups: int = 500, max_request_ids: int = 5,
                 request_field: str = "request_id"):
        from analyzer.errors_group import ErrorGrouper

        self.kb = kb
        self.grouper = ErrorGrouper(max_groups=max_groups, max_request_ids=max_request_ids,
                                    request_field=request_field)
        self.kb_ids: dict[str, str] = {}
        self.templates: dict[str, str | None] = {}

    @property
    def overflow(self) -> int:
        return self.grouper.overflow

    def add(self, rec: Any, template: str | None = None, template_id: int | None = None,
            kb_id: str | None = None) -> ExceptionGroup | None:
        """Group one record; ``kb_id`` when the caller already matched it (else the KB is asked)."""
        if kb_id is None:
            hit = self.kb.match_record(rec) if self.kb is not None else None
            kb_id = hit.id if hit else UNRECOGNISED
        g = self.grouper.add(rec, template_id, cause=kb_id)
        if g is None:
            return None
        self.kb_ids.setdefault(g.fingerprint, kb_id)
        self.templates.setdefault(g.fingerprint, template)
        return g

    def top(self, n: int | None = None) -> list[ExceptionGroup]:
        groups = self.grouper.top()
        # frames-less groups (an error_type field) fold into the group of the same class and cause
        # that has a stack, when there is one
        framed: dict[tuple[str, str], Any] = {}
        for g in groups:
            key = (g.error_type.rsplit(".", 1)[-1], self.kb_ids.get(g.fingerprint, UNRECOGNISED))
            if g.frames and key not in framed:
                framed[key] = g
        out: dict[str, ExceptionGroup] = {}
        for g in groups:
            kb_id = self.kb_ids.get(g.fingerprint, UNRECOGNISED)
            target = g if g.frames else framed.get((g.error_type.rsplit(".", 1)[-1], kb_id), g)
            eg = out.get(target.fingerprint)
            if eg is None:
                eg = out[target.fingerprint] = ExceptionGroup(
                    target.fingerprint, target.error_type, list(target.frames[-3:]), kb_id,
                    self.templates.get(target.fingerprint), 0, None, None, [], [])
            eg.count += g.count
            for t in (g.first_seen, g.last_seen):
                if t is not None:
                    eg.first_seen = t if eg.first_seen is None or t < eg.first_seen else eg.first_seen
                    eg.last_seen = t if eg.last_seen is None or t > eg.last_seen else eg.last_seen
            for r in g.request_ids:
                if r not in eg.request_ids and len(eg.request_ids) < self.grouper.max_request_ids:
                    eg.request_ids.append(r)
            if g.first_location and g.first_location not in eg.files and len(eg.files) < 5:
                eg.files.append(g.first_location)
        ordered = sorted(out.values(), key=lambda e: (-e.count, e.first_seen.timestamp() if e.first_seen else 0.0))
        return ordered if n is None else ordered[:n]


# ----------------------------------------------------------------------------------------------
# building incidents
@dataclass
class _Draft:
    root: Episode
    members: list[Episode]
    start: datetime
    end: datetime
    notice: bool = False  # a lone warning: dropped unless something joins it


def _explains(cause: Episode, other: Episode) -> bool:
    """Whether ``other`` is a consequence of ``cause`` per the KB's ``follows`` lists."""
    if other.kb is None:
        return True  # unrecognised errors during an incident are treated as its symptoms
    return cause.kb is not None and cause.kb.id in other.kb.follows


def build_incidents(episodes: Iterable[Episode], kb: KnowledgeBase, config: IncidentConfig | None = None, *,
                    spans: Iterable[tuple[datetime, datetime, float]] = (),
                    counts: WindowCounts | None = None,
                    templates: Mapping[int, str] | None = None) -> list[Incident]:
    """Incidents from episodes (and anomalous window spans): real failures in the order they
    happened (by time, or by line for logs without times), then degradations (low severity).

    Parameters
    ----------
    episodes : the :class:`HitCollector`'s episodes.
    spans : (start, end, score) of merged anomalous windows; an unrecognised warning episode inside
        one opens an incident, and incidents overlapping one get its score.
    counts : per-window counts, for the failure ratio in the severity.
    templates : final template texts by id (Drain3 templates evolve while reading).
    """
    cfg = config or IncidentConfig()
    spans = sorted(spans)
    tol = timedelta(seconds=cfg.cause_tolerance)
    attach = timedelta(seconds=cfg.attach_gap)

    starts = [s for s, _e, _sc in spans]
    ends = [e for _s, e, _sc in spans]
    ends_sorted = all(a <= b for a, b in zip(ends, ends[1:]))  # merged spans: no overlaps

    def in_span(t0: datetime, t1: datetime) -> tuple[bool, float | None]:
        # spans with s - tol <= t1 are a prefix (sorted by start); with sorted ends, those with
        # t0 <= e + tol are its tail: two bisections instead of a scan of every span
        hi = bisect.bisect_right(starts, t1 + tol)
        lo = bisect.bisect_left(ends, t0 - tol, 0, hi) if ends_sorted else 0
        best = None
        hit = False
        for s, e, score in spans[lo:hi]:
            if s - tol <= t1 and t0 <= e + tol:
                hit = True
                best = score if best is None else max(best, score)
        return hit, best

    eps = [e for e in episodes]
    for e in eps:
        if templates and e.template_id is not None and e.template_id in templates:
            e.template = templates[e.template_id]
    role_order = {"cause": 0, "symptom": 1, "degradation": 2}
    eps.sort(key=lambda e: (e.start, role_order.get(e.kb.role if e.kb else "cause", 2), e.rank))

    drafts: list[_Draft] = []
    for ep in eps:
        warn_only = ep.key.startswith("warn:")
        joined = False
        # newest drafts first: the closest preceding incident is the likeliest parent
        for d in reversed(drafts):
            if ep.start > d.end + attach:
                continue
            if ep.start < d.start - tol:
                continue
            if ep.key == d.root.key or any(ep.key == m.key for m in d.members):
                d.members.append(ep)
            elif _explains(d.root, ep):
                d.members.append(ep)
            elif ep.kb is not None and ep.timed and ep.start <= d.start + tol and _explains(ep, d.root) \
                    and ep.rank <= d.root.rank:
                # the cause was logged a moment after a symptom it explains (clocks and buffers of
                # several files): it takes the root. Without times, lines are in the order they happened.
                d.members.append(d.root)
                d.root = ep
            elif d.root.kb is None and ep.kb is not None and ep.start <= d.start + tol:
                d.members.append(d.root)
                d.root = ep
            else:
                continue
            d.start = min(d.start, ep.start)
            d.end = max(d.end, ep.end)
            joined = True
            break
        if joined:
            continue
        if warn_only and not cfg.warning_incidents:
            if not in_span(ep.start, ep.end)[0] or ep.kb is None:
                continue
        if ep.kb is None and warn_only:
            continue
        # one warning naming a known failure while nothing fails (an optional package missing, a
        # benign cuDNN plan warning) is a notice: kept only if a cause or more records join it
        notice = ep.kb is not None and ep.errors == 0 and ep.count < 2 and not cfg.warning_incidents \
            and not (ep.timed and in_span(ep.start, ep.end)[0])
        drafts.append(_Draft(ep, [], ep.start, ep.end, notice))

    incidents: list[Incident] = []
    degraded: set[int] = set()  # ids of incidents that are no failure: a degradation or warnings only
    for d in drafts:
        if d.notice and not d.members:
            continue
        root = d.root
        entry = root.kb or kb.unrecognised
        members = [root] + d.members
        rids: list[str] = []
        seen: set[str] = set()
        req_total = 0
        for m in members:
            for r in m.request_ids:
                if r not in seen and len(rids) < cfg.max_request_ids:
                    rids.append(r)
                seen.add(r)
            req_total += m.request_count
        all_req: set[str] = set()
        for m in members:
            all_req |= m.request_set
        request_count = max(len(all_req), len(seen)) if all_req else len(seen)
        if any(m.request_count > len(m.request_set) for m in members):
            request_count = max(request_count, req_total)
        # symptoms: group members by kb id (or template)
        sym: dict[str, Symptom] = {}
        top: dict[str, int] = {}
        for m in d.members:
            if m.key == root.key:
                continue
            key = m.kb.id if m.kb else UNRECOGNISED   # unrecognised templates: one row, top template shown
            s = sym.get(key)
            if s is None:
                sym[key] = Symptom(m.kb.id if m.kb else UNRECOGNISED,
                                   m.title or (m.kb.title if m.kb else "Unrecognised"), m.count,
                                   m.start if m.timed else None, m.template)
                top[key] = m.count
            else:
                s.count += m.count
                if m.timed and (s.first is None or m.start < s.first):
                    s.first = m.start
                if m.kb is None and m.count > top[key]:
                    top[key] = m.count
                    s.template = m.template
        records = sum(m.count for m in members)
        errors = sum(m.errors for m in members)
        anomalous, score = in_span(d.start, d.end)
        level = entry.severity_level
        if root.kb is None and root.errors == 0:
            level = 0
        if errors >= cfg.high_volume:
            level += 1
        if counts is not None:
            n, ne = counts.between(d.start, d.end)
            if n >= 10 and ne / n >= 0.5:
                level += 1
        level = max(0, min(3, level))
        evidence = [ev for ev in root.evidence][: cfg.max_evidence * 3]
        rc = RootCause(kb_id=entry.id, title=root.title or (entry.title if root.kb else _unrec_title(root)),
                       fix=entry.fix, evidence=evidence, cause=entry.cause,
                       template=root.template if root.kb is None else None)
        in_file = [m for m in members if m.file == root.file]
        incidents.append(Incident(id="", start=d.start if root.timed else None, end=d.end if root.timed else None,
                                  severity=SEVERITIES[level], root_cause=rc,
                                  symptoms=sorted(sym.values(), key=lambda s: (s.first is None, s.first or d.start)),
                                  request_ids=rids, request_count=request_count, records=records, errors=errors,
                                  score=score if root.timed else None, anomalous_window=anomalous and root.timed,
                                  file=root.file, first_line=min(m.first_line for m in in_file),
                                  last_line=max(m.last_line for m in in_file), order=d.start.timestamp()))
        if errors == 0 or entry.role == "degradation":
            degraded.add(id(incidents[-1]))
    # ids in the order things happened; the list in that order too, real failures first (the first
    # incident is the earliest failure, not a degradation like a CPU fallback or a lone warning)
    incidents.sort(key=lambda i: (i.order, i.first_line))
    for n, inc in enumerate(incidents, 1):
        inc.id = f"INC-{n:03d}"
    incidents.sort(key=lambda i: (id(i) in degraded, i.order, i.first_line))
    return incidents


def _unrec_title(ep: Episode) -> str:
    tpl = ep.template or (ep.evidence[0].text if ep.evidence else "")
    tpl = tpl.strip().splitlines()[0] if tpl.strip() else ""
    return f"Unrecognised error: {tpl[:120]}" if tpl else "Unrecognised error"


def spans_from_flags(index: Iterable[datetime], flags: Iterable[int], scores: Iterable[float],
                     window_s: float) -> list[tuple[datetime, datetime, float]]:
    """Merge adjacent flagged windows into (start, end, max score) spans."""
    out: list[tuple[datetime, datetime, float]] = []
    w = timedelta(seconds=window_s)
    cur: list[Any] | None = None
    for t, f, s in zip(index, flags, scores):
        t = t.to_pydatetime() if hasattr(t, "to_pydatetime") else t
        if f:
            if cur is not None and t <= cur[1]:
                cur[1] = t + w
                cur[2] = max(cur[2], float(s))
            else:
                if cur is not None:
                    out.append((cur[0], cur[1], cur[2]))
                cur = [t, t + w, float(s)]
        else:
            if cur is not None:
                out.append((cur[0], cur[1], cur[2]))
                cur = None
    if cur is not None:
        out.append((cur[0], cur[1], cur[2]))
    return out
