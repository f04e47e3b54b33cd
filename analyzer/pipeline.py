"""The analysis as a library function: ``analyze(paths, config) -> AnalysisResult``.

One streaming pass, memory bounded whatever the input size::

    read_records -> TemplateMiner.add -> WindowFeatures.add      (window features)
                                      -> HitCollector.add        (KB matches folded into episodes)
                                      -> ExceptionGroups.add     (Sentry-like grouping)
                                      -> SessionFeatures.add     (with ``sessions``)

then the window detector flags anomalous windows, and :func:`analyzer.incidents.build_incidents`
turns episodes + anomalous spans into incidents with a root cause.

>>> from analyzer.pipeline import analyze                      # doctest: +SKIP
>>> result = analyze(["logs/"])                                # doctest: +SKIP
>>> [(i.severity, i.root_cause.kb_id) for i in result.incidents]  # doctest: +SKIP
[('critical', 'cuda_oom')]
"""
from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Sequence

from analyzer.config import AnalyzeConfig
from analyzer.incidents import (ERROR_LEVELS, WARNING_LEVELS, ExceptionGroup, ExceptionGroups, HitCollector,
                                Incident, WindowCounts, build_incidents, spans_from_flags)
from analyzer.kb import KnowledgeBase, load_kb

__all__ = ["analyze", "AnalysisResult", "Summary", "Analyzer", "SCHEMA_VERSION"]

_ERROR_LEVELS = frozenset(("ERROR", "CRITICAL", "FATAL"))
_WARNING_LEVELS = frozenset(("WARNING", "WARN"))
_HIT_LEVELS = _ERROR_LEVELS | _WARNING_LEVELS | ERROR_LEVELS | WARNING_LEVELS

SCHEMA_VERSION = 2  # 2: incidents may have no time (start/end null, time_known false) and carry a location
UTC = timezone.utc


@dataclass
class Summary:
    lines: int = 0
    records: int = 0
    bad_lines: int = 0
    templates: int = 0
    new_templates: int = 0
    errors: int = 0
    warnings: int = 0
    error_rate: float = 0.0
    files: int = 0
    start: datetime | None = None
    end: datetime | None = None
    windows: int = 0
    anomalous_windows: int = 0
    inputs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "records": self.records, "bad_lines": self.bad_lines,
                "templates": self.templates, "new_templates": self.new_templates,
                "error_rate": round(self.error_rate, 6), "errors": self.errors, "warnings": self.warnings,
                "files": self.files, "start": _iso(self.start), "end": _iso(self.end),
                "windows": self.windows, "anomalous_windows": self.anomalous_windows, "inputs": self.inputs}


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass
class AnalysisResult:
    """What :func:`analyze` found. ``to_dict()`` is the JSON report (the machine-readable contract)."""

    summary: Summary
    incidents: list[Incident]
    bad_lines: list[Any] = field(default_factory=list)
    sessions: list[dict[str, Any]] | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)
    exception_groups: list[ExceptionGroup] = field(default_factory=list)
    new_templates: list[dict[str, Any]] = field(default_factory=list)
    anomalous_spans: list[dict[str, Any]] = field(default_factory=list)
    trends: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    window: str = "60s"

    @property
    def exit_code(self) -> int:
        """0 nothing found, 1 incidents (or, with ``sessions``, anomalous sessions) found."""
        if self.incidents or (self.sessions and any(s["anomalous"] for s in self.sessions)):
            return 1
        return 0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "summary": self.summary.to_dict(),
            "incidents": [i.to_dict() for i in self.incidents],
            "bad_lines": [{"file": b.file, "line": b.line, "reason": b.reason, "text": b.text}
                          for b in self.bad_lines],
            "exception_groups": [g.to_dict() for g in self.exception_groups],
            "new_templates": self.new_templates,
            "anomalous_windows": self.anomalous_spans,
            "trends": self.trends,
            "warnings": self.warnings,
        }
        if self.sessions is not None:
            d["sessions"] = self.sessions
        return d


def make_miner(config: AnalyzeConfig) -> Any:
    from analyzer.templates import TemplateConfig, TemplateMiner

    tcfg = TemplateConfig.from_dict(config.templates) if config.templates else TemplateConfig()
    return TemplateMiner(tcfg, state_dir=config.state_dir)


class Analyzer:
    """The streaming state behind :func:`analyze` (also kept warm by ``--follow``).

    ``feed(record)`` for each record, then :meth:`result`.
    """

    def __init__(self, config: AnalyzeConfig | None = None, *, kb: KnowledgeBase | None = None,
                 miner: Any = None, hits: Any = None, exceptions: Any = None, sessions: Any = None,
                 keep_windows_open: bool = False):
        """``miner``, ``hits`` (a :class:`HitCollector`), ``exceptions`` (:class:`ExceptionGroups`) and
        ``sessions`` (a :class:`~analyzer.features.SessionFeatures`, with ``config.sessions``) may be
        given (a Dask worker gives recorders: :mod:`analyzer.dist.piece`); ``keep_windows_open``
        keeps every window's request ids (a piece's windows are merged with other pieces')."""
        self.config = config or AnalyzeConfig()
        self.kb = kb or load_kb(self.config.kb_path)
        self.miner = miner if miner is not None else make_miner(self.config)
        from analyzer.features import FeatureConfig, WindowFeatures

        fkw = dict(self.config.features)
        fkw["window"] = self.config.window
        self.feature_config = FeatureConfig(**fkw)
        canonical = self.miner.canonical  # streamed template ids fold into final ids (templates may merge)
        self.windows = WindowFeatures(self.feature_config, canonical=canonical, keep_open=keep_windows_open)
        self.hits = hits if hits is not None else \
            HitCollector(self.kb, self.config.incidents, request_field=self.feature_config.request_field)
        self.counts = WindowCounts(self.config.window_seconds)
        self.exceptions = exceptions if exceptions is not None else \
            ExceptionGroups(self.kb, request_field=self.feature_config.request_field)
        self.sessions = None
        if self.config.sessions:
            from analyzer.features import SessionFeatures

            self.sessions = sessions if sessions is not None else \
                SessionFeatures(self.config.sessions, canonical=canonical)
        self.records = 0
        self.errors = 0
        self.warnings_n = 0
        self.new_templates: dict[int, dict[str, Any]] = {}
        self.first_time: datetime | None = None
        self.last_time: datetime | None = None
        self._last_by_file: dict[str, tuple[Any, int]] = {}
        self._last_episode: Any = None

    def feed(self, rec: Any) -> Any:
        """Account one record; returns the episode it joined (a KB or error hit) or ``None``."""
        self.run((rec,))
        return self._last_episode

    def run(self, records: Iterable[Any], tick: Callable[[Any], None] | None = None) -> None:
        """Account every record: templates, window features, KB hits, exception groups, sessions.

        A record without a level whose text is a known failure signature (:meth:`KnowledgeBase.promotable`)
        counts as an error: a plain ``print`` of ``[Errno 98] Address already in use`` is one."""
        miner_add = self.miner.add
        wadd = self.windows.add
        hit = self.hit
        note_new = self.note_new
        promotable = self.kb.promotable
        sess_add = self.sessions.add if self.sessions is not None else None
        new_templates = self.new_templates
        last_by_file = self._last_by_file
        err_levels, warn_levels = _ERROR_LEVELS, _WARNING_LEVELS
        hit_levels = _HIT_LEVELS
        first, last = self.first_time, self.last_time
        n = self.records
        errors = warns = 0
        ep = None
        try:
            for rec in records:
                n += 1
                m = miner_add(rec.message)
                tid = m.template_id
                is_new = m.is_new
                lvl = rec.level
                if lvl is None and promotable(rec) is not None:
                    lvl = rec.level = "ERROR"
                    rec.inferred = True
                wadd(rec, tid, is_new)
                t = rec.time
                if t is not None:
                    if last is None or t >= last:
                        last = t
                        if first is None:
                            first = t
                    elif first is None or t < first:
                        first = t
                if lvl in hit_levels:
                    if lvl in err_levels:
                        errors += 1
                    elif lvl in warn_levels:
                        warns += 1
                if is_new and len(new_templates) < 1000:
                    note_new(tid, m.template, t, rec.file, rec.line)
                if lvl in hit_levels or rec.traceback or (rec.fields and rec.fields.get("error_type")):
                    # == HitCollector.is_candidate(rec), tested inline
                    ep = hit(rec, tid, m.template, n)
                else:
                    ep = None
                if sess_add is not None:
                    sess_add(rec, tid)
                last_by_file[rec.file] = (rec, n)
                if tick is not None:
                    tick(rec)
        finally:
            self.records = n
            self.errors += errors
            self.warnings_n += warns
            self.first_time, self.last_time = first, last
            self._last_episode = ep

    def hit(self, rec: Any, tid: int, template: str, n: int) -> Any:
        """A warning/error record (the ``n``-th of the run): KB episode and exception group."""
        ep = self.hits.add(rec, tid, template, seq=n)
        self.exceptions.add(rec, template, tid, ep.kb_id if ep is not None else None)
        return ep

    def note_new(self, tid: int, template: str, t: datetime | None, file: str, line: int) -> None:
        """A template first seen in this run (the first 1000 are listed)."""
        if len(self.new_templates) < 1000:
            self.new_templates[tid] = {"id": tid, "template": template, "first_seen": t, "file": file, "line": line}

    def stalls(self) -> None:
        """Files whose last record is an operation that never finished (a model download or load the
        log stops in): one episode each, as the KB entry whose ``stalls`` match. (A service still
        starting up reads the same: ``--follow`` is the mode for live logs, and has no such check.)"""
        for rec, seq in self._last_by_file.values():
            if rec.level in _ERROR_LEVELS or rec.traceback:
                continue
            entry = self.kb.stalled(rec)
            if entry is not None:
                self.hits.add_stall(rec, entry, seq=seq)
        self._last_by_file.clear()

    def detect_windows(self, baseline_frame: Any = None) -> tuple[Any, list[tuple[datetime, datetime, float]], list[str]]:
        """Window frame with ``score``/``anomalous``/``reasons`` columns, merged anomalous spans, and
        warnings (e.g. too few windows for the forest)."""
        notes: list[str] = []
        with warnings.catch_warnings(record=True) as caught:  # e.g. max_windows: sparse frame
            warnings.simplefilter("always")
            frame = self.windows.frame()
        notes += [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)][:3]
        if len(frame) == 0:
            return frame, [], notes
        from analyzer.detect import WindowDetector

        fit_frame = baseline_frame if baseline_frame is not None and len(baseline_frame) else frame
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            det = WindowDetector(**self.config.detect).fit(fit_frame)
            ex = det.explain(frame)
        notes += [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)][:3]
        frame = frame.assign(score=ex["score"].to_numpy(), anomalous=ex["anomalous"].to_numpy(),
                             reasons=ex["reasons"].to_numpy())
        spans = spans_from_flags(frame.index, frame["anomalous"].to_numpy(), frame["score"].to_numpy(),
                                 self.config.window_seconds)
        return frame, spans, notes

    def session_scores(self) -> list[dict[str, Any]] | None:
        """``[{id, score, anomalous}]`` per session (SessionDetector fitted on the run, no labels)."""
        if self.sessions is None:
            return None
        frame = self.sessions.frame()
        if not len(frame):
            return []
        from analyzer.detect import SessionDetector

        det = SessionDetector().fit(frame)
        scores = det.score_samples(frame)
        labels = det.predict(frame)
        return [{"id": str(i), "score": round(float(s), 6), "anomalous": bool(a)}
                for i, s, a in zip(frame.index, scores, labels)]

    def _fill_counts(self) -> WindowCounts:
        """Records / errors / warnings per window for the incidents, read off the window features
        (the same windows, counted once on the hot path)."""
        counts = WindowCounts(self.config.window_seconds)
        counts.rows = {k: [w.records, w.errors, w.warnings] for k, w in self.windows.windows_by_key().items()}
        if counts.rows:
            counts._last_key = max(counts.rows)
        self.counts = counts
        return counts

    def result(self, *, stats: Any = None, baseline_frame: Any = None) -> AnalysisResult:
        self.stalls()
        self.miner.fold()      # templates a more common one covers (logged sentences) read as it
        frame, spans, notes = self.detect_windows(baseline_frame)
        self._fill_counts()
        final_templates = self.miner.templates()
        canon = self.miner.canonical
        tmap = {tid: final_templates.get(canon(tid), "") for tid in
                {e.template_id for e in self.hits.episodes if e.template_id is not None}}
        incidents = build_incidents(self.hits.episodes, self.kb, self.config.incidents, spans=spans,
                                    counts=self.counts, templates=tmap)
        timeline = []
        if len(frame):
            cols = [frame[c].to_numpy() for c in ("records", "errors", "warnings", "score", "anomalous", "reasons")]
            for t, rc, er, wa, sc, an, rs in zip(frame.index.to_pydatetime(), *cols):
                timeline.append({"start": t, "records": int(rc), "errors": int(er), "warnings": int(wa),
                                 "score": float(sc), "anomalous": bool(an), "reasons": rs})
        summary = Summary(records=self.records, errors=self.errors, warnings=self.warnings_n,
                          templates=len({canon(tid) for tid in final_templates}),
                          new_templates=len({canon(tid) for tid in self.new_templates}),
                          error_rate=self.errors / self.records if self.records else 0.0,
                          start=self.first_time, end=self.last_time, windows=len(frame),
                          anomalous_windows=int(frame["anomalous"].sum()) if len(frame) else 0)
        bad: list[Any] = []
        warn_list = list(notes)
        if stats is not None:
            summary.lines = stats.lines
            summary.bad_lines = stats.bad_line_count
            summary.files = len(stats.files)
            summary.inputs = [{"file": name, **facts.to_dict()} for name, facts in stats.facts.items()]
            bad = list(stats.bad_lines)[: self.config.max_bad_lines]
            warn_list = list(stats.warnings)[:20] + warn_list
        else:
            summary.lines = self.records
        if self.hits.dropped:
            warn_list.append(f"{self.hits.dropped} old error episodes dropped (max_episodes)")
        new_t = []
        shown: set[int] = set()
        for tid, info in self.new_templates.items():   # one entry per final template: its first sight
            final = canon(tid)
            if final in shown:
                continue
            shown.add(final)
            new_t.append({"id": tid, "template": final_templates.get(final, info["template"]),
                          "first_seen": _iso(info["first_seen"]), "file": info["file"], "line": info["line"]})
            if len(new_t) >= 200:
                break
        spans_out = [{"start": _iso(s), "end": _iso(e), "score": round(float(sc), 4)} for s, e, sc in spans]
        trends: list[dict[str, Any]] = []
        if len(frame):
            try:
                from analyzer.trends import detect_trends

                trends = [f.to_dict() for f in detect_trends(frame)]
            except Exception as exc:  # a trend problem never loses the incidents
                warn_list.append(f"trends skipped: {type(exc).__name__}: {exc}")
        return AnalysisResult(summary=summary, incidents=incidents, bad_lines=bad,
                              sessions=self.session_scores(), timeline=timeline,
                              exception_groups=self.exceptions.top(20), new_templates=new_t,
                              anomalous_spans=spans_out, trends=trends, warnings=warn_list,
                              window=self.config.window)


def _baseline_features(paths: Sequence[str], config: AnalyzeConfig, miner: Any) -> Any:
    """Window features of known-good logs, mined with the run's miner so template ids line up; the
    frame is read out after the run (:func:`_quiet_frame`), its ids folded with all the miner learned."""
    from analyzer.features import FeatureConfig, WindowFeatures
    from analyzer.read import ReadStats, read_records

    fkw = dict(config.features)
    fkw["window"] = config.window
    # template ids folded into their final ids, as the run's frame is (the miner is shared)
    wf = WindowFeatures(FeatureConfig(**fkw), canonical=miner.canonical)
    for rec in read_records(list(paths), log_format=config.log_format, stats=ReadStats()):
        m = miner.add(rec.message)
        wf.add(rec, m.template_id, m.is_new)
    return wf


def _quiet_frame(wf: Any) -> Any:
    with warnings.catch_warnings():  # the run's frame reports max_windows; the baseline is a reference
        warnings.simplefilter("ignore", RuntimeWarning)
        return wf.frame()


def _progress(paths: Sequence[str], enabled: bool) -> tuple[Callable[[Any], None] | None, Callable[[], None]]:
    """A rich progress bar on stderr (bytes read, estimated from record sizes) for large inputs:
    ``(tick or None, done)``."""
    if not enabled or not sys.stderr.isatty():
        return None, (lambda: None)
    total = 0
    for p in paths:
        try:
            if os.path.isdir(p):
                for root, _d, files in os.walk(p):
                    total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
            elif os.path.exists(p):
                total += os.path.getsize(p)
        except OSError:
            pass
    if total < 5_000_000:
        return None, (lambda: None)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    prog = Progress(TextColumn("analyzing"), BarColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), transient=True)
    task = prog.add_task("read", total=total)
    prog.start()
    acc = [0, 0]

    def tick(rec: Any) -> None:
        acc[0] += len(rec.raw or rec.message) + 1
        acc[1] += 1
        if acc[1] % 5000 == 0:
            prog.update(task, completed=min(acc[0], total))

    def done() -> None:
        prog.update(task, completed=total)
        prog.stop()

    return tick, done


def analyze(paths: Sequence[str | os.PathLike[str]] | str, config: AnalyzeConfig | None = None, *,
            kb: KnowledgeBase | None = None) -> AnalysisResult:
    """Analyze log files/folders/globs (``"-"`` = stdin): incidents with root causes, ranked.

    Raises :class:`ttsops.errors.InputError` when nothing could be read, and
    :class:`ttsops.errors.ConfigError` for a bad configuration or knowledge base.
    """
    from analyzer.read import ReadStats, read_records

    config = config or AnalyzeConfig()
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    an = Analyzer(config, kb=kb)
    baseline = None
    if config.baseline:
        baseline = _baseline_features(config.baseline, config, an.miner)
        an.new_templates.clear()
    stats = ReadStats()
    tick, done = _progress(paths, config.progress)
    try:
        an.run(read_records(paths, log_format=config.log_format, stats=stats), tick)
    finally:
        done()
    baseline_frame = _quiet_frame(baseline) if baseline is not None else None
    result = an.result(stats=stats, baseline_frame=baseline_frame)
    if config.state_dir is not None:
        an.miner.save()
    return result
