"""Live analysis: ``tts-analyze --follow`` tails log files (:class:`analyzer.follow.Follower`,
rotation-safe), keeps the template miner and detectors
warm, and raises alerts when an incident opens or closes (with its root cause) and on slow trends.

Sinks: the terminal, a JSON-lines file (``--alerts-jsonl``), and an Alertmanager-compatible
webhook (``--webhook URL``; queued and POSTed by a worker thread with an overall deadline per POST
and retries with back-off, so a slow receiver never delays the tail loop or the other sinks).

Alert JSON (one object a line in the JSON-lines file)::

    {"status": "firing"|"resolved", "kind": "incident"|"trend", "id": "INC-001", "kb_id": "cuda_oom",
     "title": "...", "severity": "critical", "start": ISO, "end": ISO|null, "count": 12,
     "request_ids": [...], "evidence": [{"file","line","text"}], "fix": "...", "message": "..."}
"""
from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol

from analyzer.config import AlertConfig, AnalyzeConfig
from analyzer.incidents import Episode

__all__ = ["Alert", "AlertSink", "TerminalSink", "JsonlSink", "WebhookSink", "build_sinks", "LiveTracker",
           "follow_logs", "alertmanager_payload"]

UTC = timezone.utc


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass
class Alert:
    status: str                      # firing | resolved
    kind: str                        # incident | trend
    id: str
    kb_id: str
    title: str
    severity: str
    start: datetime
    end: datetime | None = None
    count: int = 0
    request_ids: list[str] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    fix: str = ""
    message: str = ""
    symptoms: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "kind": self.kind, "id": self.id, "kb_id": self.kb_id, "title": self.title,
                "severity": self.severity, "start": _iso(self.start), "end": _iso(self.end), "count": self.count,
                "request_ids": self.request_ids, "evidence": self.evidence, "fix": self.fix,
                "message": self.message, "symptoms": self.symptoms, "sent_at": _iso(datetime.now(UTC))}


class AlertSink(Protocol):
    def send(self, alert: Alert) -> None: ...

    def close(self) -> None: ...


class TerminalSink:
    """One line an alert on stdout (rich colours when it is a terminal)."""

    def __init__(self, console: Any = None):
        from rich.console import Console

        self.console = console or Console(highlight=False)

    def send(self, alert: Alert) -> None:
        from rich.text import Text

        style = {"critical": "bold white on red", "high": "bold red", "medium": "bold yellow"}.get(alert.severity, "cyan")
        t = Text()
        t.append(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] ")
        t.append(alert.status.upper(), style="bold red" if alert.status == "firing" else "bold green")
        t.append(" ")
        t.append(f" {alert.severity.upper()} ", style=style)
        t.append(f" {alert.id} {alert.kb_id} — {alert.title}")
        if alert.status == "firing" and alert.evidence:
            ev = alert.evidence[0]
            t.append(f"\n    {os.path.basename(ev['file'])}:{ev['line']}  {ev['text'][:160]}", style="dim")
        if alert.status == "firing" and alert.fix:
            t.append(f"\n    fix: {alert.fix[:200]}", style="green")
        if alert.status == "resolved":
            t.append(f"  ({alert.count} records"
                     + (", symptoms: " + ", ".join(f"{k}×{v}" for k, v in alert.symptoms.items()) if alert.symptoms else "")
                     + ")")
        if alert.kind == "trend":
            t.append(f"\n    {alert.message}", style="dim")
        self.console.print(t)

    def close(self) -> None:
        pass


class JsonlSink:
    """Appends one JSON object a line; flushed after each alert."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.fh = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            from ttsops.errors import InputError

            raise InputError(f"cannot open alerts file: {exc.strerror or exc}", where=str(path)) from exc

    def send(self, alert: Alert) -> None:
        self.fh.write(json.dumps(alert.to_dict(), ensure_ascii=False) + "\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def alertmanager_payload(alert: Alert, fmt: str = "webhook") -> Any:
    """The alert in Alertmanager's shape: ``"webhook"`` = the version-4 webhook body a receiver gets,
    ``"api"`` = the list ``POST /api/v2/alerts`` accepts."""
    labels = {"alertname": "TTSOpsIncident" if alert.kind == "incident" else "TTSOpsTrend",
              "severity": alert.severity, "kb_id": alert.kb_id, "incident": alert.id, "service": "ttsops"}
    ev = "; ".join(f"{os.path.basename(e['file'])}:{e['line']} {e['text']}" for e in alert.evidence[:3])
    annotations = {"summary": alert.title, "description": alert.message or alert.title, "fix": alert.fix,
                   "evidence": ev, "request_ids": ", ".join(alert.request_ids[:10])}
    ends = _iso(alert.end) if alert.status == "resolved" and alert.end else "0001-01-01T00:00:00Z"
    item = {"labels": labels, "annotations": annotations, "startsAt": _iso(alert.start), "endsAt": ends,
            "generatorURL": ""}
    if fmt == "api":
        return [item]
    import hashlib

    fp = hashlib.sha1(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    return {"version": "4", "groupKey": f'{{}}:{{alertname="{labels["alertname"]}"}}', "truncatedAlerts": 0,
            "status": alert.status, "receiver": "tts-analyze", "groupLabels": {"alertname": labels["alertname"]},
            "commonLabels": labels, "commonAnnotations": annotations, "externalURL": "",
            "alerts": [{"status": alert.status, **item, "fingerprint": fp}]}


class WebhookSink:
    """POSTs each alert to ``url`` (Alertmanager JSON) from a worker thread, so that the tail loop and
    the other sinks never wait for the network.

    ``send`` only queues: at most ``queue_size`` alerts wait; when full, the oldest is dropped and
    counted (``dropped``). Each POST has an overall deadline of ``timeout`` seconds (a silent or
    trickling receiver cannot hold it longer: :func:`ttsops.http.request`); 5xx, 429 and network
    errors are retried ``retries`` times with exponential back-off, other 4xx are not. ``close``
    waits at most ``close_timeout`` seconds for the queue to drain, then reports on stderr what was
    not delivered. Failures are reported, never raised.
    """

    def __init__(self, url: str, *, timeout: float = 5.0, retries: int = 3, fmt: str = "webhook",
                 backoff: float = 0.5, queue_size: int = 100, close_timeout: float = 2.0):
        if not re.match(r"^https?://", url):
            from ttsops.errors import InputError

            raise InputError(f"alert URL {url!r} is not http(s)", where="--webhook/--alertmanager",
                             fix="e.g. http://127.0.0.1:5001/ (a receiver) or http://alertmanager:9093")
        self.url = url
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.fmt = fmt
        self.backoff = backoff
        self.queue_size = max(1, int(queue_size))
        self.close_timeout = close_timeout
        self.sent = self.failed = self.dropped = 0
        self._queue: deque[tuple[str, Any]] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._closing = False
        self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._work, name="webhook", daemon=True)
        self._thread.start()

    def send(self, alert: Alert) -> None:
        body = alertmanager_payload(alert, self.fmt)
        with self._cond:
            if len(self._queue) >= self.queue_size:
                old_id, _ = self._queue.popleft()
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 100 == 0:
                    print(f"webhook: {self.url} is not keeping up; queue full ({self.queue_size}), oldest alert "
                          f"{old_id} dropped ({self.dropped} so far)", file=sys.stderr)
            self._queue.append((alert.id, body))
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued alert was delivered or given up (True), or ``timeout`` passed."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                alert_id, body = self._queue.popleft()
                self._busy = True
            try:
                self._post(alert_id, body)
            except Exception as exc:  # the worker never dies: the next alert gets its chance
                self.failed += 1
                print(f"webhook: alert {alert_id} not sent ({type(exc).__name__}: {exc})", file=sys.stderr)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _post(self, alert_id: str, body: Any) -> None:
        import httpx

        from ttsops.http import request

        err = ""
        for attempt in range(self.retries + 1):
            if self._abandon.is_set():
                return
            try:
                r = request("POST", self.url, json=body, deadline=self.timeout)
                if r.status_code < 300:
                    self.sent += 1
                    return
                if r.status_code < 500 and r.status_code != 429:
                    print(f"webhook: {self.url} answered {r.status_code}; alert {alert_id} dropped", file=sys.stderr)
                    self.failed += 1
                    return
                err = f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                err = f"{type(exc).__name__}: {exc}"
            if self._abandon.is_set() or (attempt < self.retries and self._abandon.wait(self.backoff * (2 ** attempt))):
                return          # given up at close: counted there as not delivered
        self.failed += 1
        print(f"webhook: {self.url} failed after {self.retries + 1} tries ({err}); alert {alert_id} dropped",
              file=sys.stderr)

    def close(self) -> None:
        """Deliver what is queued for at most ``close_timeout`` seconds, then give up on the rest."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self.flush(self.close_timeout)
        with self._cond:
            left = len(self._queue) + (1 if self._busy else 0)
            self._queue.clear()
        self._abandon.set()
        if left:
            print(f"webhook: {left} alert(s) not delivered to {self.url} at exit (sent {self.sent}, "
                  f"failed {self.failed}, dropped {self.dropped})", file=sys.stderr)
        elif self.dropped:
            print(f"webhook: {self.dropped} alert(s) dropped while the queue was full (sent {self.sent})",
                  file=sys.stderr)


class AlertmanagerSink(WebhookSink):
    """Posts alerts to an Alertmanager's own API (``URL/api/v2/alerts``), as Prometheus does: the
    firing alerts of open incidents are posted again every ``repeat`` seconds (Alertmanager resolves an
    alert it has not heard of for its ``resolve_timeout``), a resolved one once with its ``endsAt``.
    Delivery is the webhook sink's: off the tail loop, bounded queue, a deadline per POST."""

    def __init__(self, url: str, *, repeat: float = 60.0, **kw: Any):
        base = url.rstrip("/")
        if not base.endswith("/api/v2/alerts"):
            base += "/api/v2/alerts"
        super().__init__(base, fmt="api", **kw)
        self.repeat = float(repeat)
        self._active: dict[str, Alert] = {}
        self._stop = threading.Event()
        self._repeater = threading.Thread(target=self._again, name="alertmanager-repeat", daemon=True)
        self._repeater.start()

    def send(self, alert: Alert) -> None:
        with self._cond:
            if alert.status == "firing":
                self._active[alert.id] = alert
            else:
                self._active.pop(alert.id, None)
        super().send(alert)

    def _again(self) -> None:
        while not self._stop.wait(self.repeat):
            with self._cond:
                active = list(self._active.values())
            for alert in active:
                super().send(alert)

    def close(self) -> None:
        self._stop.set()
        super().close()


def build_sinks(*, terminal: bool = True, jsonl: str | None = None, webhook: str | None = None,
                alertmanager: str | None = None, config: AlertConfig | None = None) -> list[Any]:
    """The alert sinks of ``--follow``: the terminal, ``--alerts-jsonl FILE``, ``--webhook URL`` (the
    body Alertmanager sends its webhook receivers: for a receiver, a chat bridge, a pager) and
    ``--alertmanager URL`` (an Alertmanager itself, e.g. ``http://alertmanager:9093``)."""
    cfg = config or AlertConfig()
    sinks: list[Any] = []
    if terminal:
        sinks.append(TerminalSink())
    if jsonl:
        sinks.append(JsonlSink(jsonl))
    if webhook:
        sinks.append(WebhookSink(webhook, timeout=cfg.webhook_timeout, retries=int(cfg.webhook_retries),
                                 fmt=cfg.webhook_format))
    if alertmanager:
        sinks.append(AlertmanagerSink(alertmanager, timeout=cfg.webhook_timeout, retries=int(cfg.webhook_retries),
                                      repeat=cfg.alertmanager_repeat))
    return sinks


# ----------------------------------------------------------------------------------------------
# live incidents
@dataclass
class _Live:
    id: str
    root: Episode
    kb_id: str
    title: str
    severity: str
    fix: str
    start: datetime
    last: datetime
    last_wall: float
    count: int = 0
    symptoms: dict[str, int] = field(default_factory=dict)
    request_ids: list[str] = field(default_factory=list)


class LiveTracker:
    """Incident state machine over a warm :class:`analyzer.pipeline.Analyzer`.

    ``feed(record)`` -> alerts (an incident opens at its first KB-cause or unrecognised error hit;
    later hits that follow from it join silently); ``tick()`` -> alerts (window detector, trends,
    and incidents resolved after ``resolve_after`` seconds without a related record, in log time or
    in wall time when the logs go quiet).
    """

    def __init__(self, config: AnalyzeConfig | None = None, *, analyzer: Any = None):
        from analyzer.pipeline import Analyzer

        self.config = config or AnalyzeConfig()
        self.an = analyzer or Analyzer(self.config)
        self.acfg = self.config.alerts
        self.open: list[_Live] = []
        self.n = 0
        self.opened_total = 0
        self.log_now: datetime | None = None
        self._last_window_key: int | None = None
        self._trend_seen: set[tuple[str, str]] = set()
        self._last_trend = 0.0
        self._anomaly_live: _Live | None = None
        self._window_dirty = False

    def _new_id(self) -> str:
        self.n += 1
        return f"INC-{self.n:03d}"

    def _alert(self, live: _Live, status: str) -> Alert:
        ev = [e.to_dict() for e in live.root.evidence[:3]]
        msg = (f"{live.title}: {live.count} records since {_iso(live.start)}" if status == "firing"
               else f"{live.title}: resolved after {live.count} records")
        return Alert(status=status, kind="incident", id=live.id, kb_id=live.kb_id, title=live.title,
                     severity=live.severity, start=live.start, end=live.last if status == "resolved" else None,
                     count=live.count, request_ids=list(live.request_ids[:10]), evidence=ev, fix=live.fix,
                     message=msg, symptoms=dict(live.symptoms))

    def feed(self, rec: Any) -> list[Alert]:
        if rec.time is not None and (self.log_now is None or rec.time > self.log_now):
            self.log_now = rec.time
        ep = self.an.feed(rec)
        alerts: list[Alert] = []
        if self.log_now is not None:
            key = int(self.log_now.timestamp() // self.config.window_seconds)
            if self._last_window_key is not None and key != self._last_window_key:
                self._window_dirty = True   # evaluated once per tick, not per record
            self._last_window_key = key
        if ep is None:
            return alerts
        t = rec.time or self.log_now or datetime.now(UTC)
        wall = time.monotonic()
        rid = (rec.fields or {}).get("request_id")
        for live in reversed(self.open):
            related = (ep.key == live.root.key
                       or (ep.kb is not None and live.kb_id in ep.kb.follows)
                       or (ep.kb is None and live.root.kb is not None))
            if related:
                live.count += 1
                live.last = max(live.last, t)
                live.last_wall = wall
                if ep.key != live.root.key:
                    k = ep.kb.id if ep.kb else "unrecognised"
                    live.symptoms[k] = live.symptoms.get(k, 0) + 1
                if rid is not None and len(live.request_ids) < 20 and str(rid) not in live.request_ids:
                    live.request_ids.append(str(rid))
                return alerts
        if ep.key.startswith("warn:"):
            return alerts
        kb = ep.kb or self.an.kb.unrecognised
        title = kb.title if ep.kb else f"Unrecognised error: {(ep.template or rec.message)[:100]}"
        live = _Live(id=self._new_id(), root=ep, kb_id=kb.id, title=title, severity=kb.severity, fix=kb.fix,
                     start=t, last=t, last_wall=wall, count=1,
                     request_ids=[str(rid)] if rid is not None else [])
        self.open.append(live)
        self.opened_total += 1
        alerts.append(self._alert(live, "firing"))
        return alerts

    def _window_closed(self) -> list[Alert]:
        alerts: list[Alert] = []
        frame = self.an.windows.frame()
        if len(frame) < max(int(self.acfg.warmup_windows), 2) + 2:
            return alerts
        try:
            from analyzer.detect import WindowDetector
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # the last row is the window in progress; the one before it just closed
                hist, last = frame.iloc[:-2], frame.iloc[-2:-1]
                det = WindowDetector(**self.config.detect).fit(hist)
                ex = det.explain(last)
        except Exception as exc:  # the live loop never dies on a detector problem
            print(f"follow: window detector skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
            return alerts
        anomalous = bool(ex["anomalous"].iloc[-1])
        t = last.index[-1].to_pydatetime()
        if anomalous and not self.open and self._anomaly_live is None:
            ep = Episode(key="window", kb=None, template_id=None, template=None, start=t, end=t)
            reasons = ex["reasons"].iloc[-1]
            live = _Live(id=self._new_id(), root=ep, kb_id="unrecognised",
                         title=f"Anomalous window ({reasons or 'score'})", severity="low",
                         fix=self.an.kb.unrecognised.fix, start=t, last=t, last_wall=time.monotonic(), count=1)
            self._anomaly_live = live
            self.open.append(live)
            self.opened_total += 1
            alerts.append(self._alert(live, "firing"))
        alerts += self._trends(frame)
        return alerts

    def _trends(self, frame: Any) -> list[Alert]:
        now = time.monotonic()
        if now - self._last_trend < self.acfg.trend_every and self._last_trend:
            return []
        self._last_trend = now
        try:
            from analyzer.trends import detect_trends

            found = detect_trends(frame)
        except Exception as exc:
            print(f"follow: trends skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
            return []
        out = []
        for f in found:
            key = (f.kind, str(f.start))
            if key in self._trend_seen:
                continue
            self._trend_seen.add(key)
            out.append(trend_alert(f))
        return out

    def tick(self) -> list[Alert]:
        """Window detector and trends (when a window closed), then resolve quiet incidents."""
        alerts: list[Alert] = []
        if self._window_dirty:
            self._window_dirty = False
            alerts += self._window_closed()
        wall = time.monotonic()
        after = self.acfg.resolve_after
        keep = []
        for live in self.open:
            quiet_log = self.log_now is not None and (self.log_now - live.last).total_seconds() > after
            quiet_wall = wall - live.last_wall > after
            if quiet_log or quiet_wall:
                alerts.append(self._alert(live, "resolved"))
                if live is self._anomaly_live:
                    self._anomaly_live = None
            else:
                keep.append(live)
        self.open = keep
        return alerts


def trend_alert(f: Any) -> Alert:
    start = f.start.to_pydatetime() if hasattr(f.start, "to_pydatetime") else f.start
    end = f.end.to_pydatetime() if hasattr(f.end, "to_pydatetime") else f.end
    titles = {"memory_growth": "Memory rising", "latency_drift": "Latency drift", "error_rate": "Error rate rising"}
    return Alert(status="firing", kind="trend", id=f"TREND-{f.kind}", kb_id=f.kind,
                 title=titles.get(f.kind, f.kind), severity="medium", start=start, end=end, count=0,
                 message=f.message, fix="See the trend's evidence; compare with the last deploy or load change.")


def follow_logs(paths: list[str], config: AnalyzeConfig | None = None, *, sinks: list[Any] | None = None,
                max_seconds: float | None = None, from_start: bool = True) -> int:
    """Tail ``paths`` and alert until interrupted or ``max_seconds``. Exit code: 1 if any incident
    alert fired, else 0."""
    config = config or AnalyzeConfig()
    sinks = sinks if sinks is not None else build_sinks(config=config.alerts)
    from analyzer.follow import Follower
    from analyzer.read import ReadStats, expand_paths

    if not [p for p in expand_paths(paths, ReadStats()) if p != "-"]:
        from ttsops.errors import InputError

        raise InputError("nothing to follow", where=", ".join(paths)[:200], fix="give log files or folders")
    tracker = LiveTracker(config)
    follower = Follower(paths, log_format=config.log_format, from_start=from_start,
                        flush_after=max(float(config.alerts.poll_interval), 0.2))
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    interval = max(float(config.alerts.poll_interval), 0.05)

    def emit(alerts: list[Alert]) -> None:
        for a in alerts:
            for s in sinks:
                try:
                    s.send(a)
                except Exception as exc:  # one broken sink never stops the others
                    print(f"alert sink {type(s).__name__} failed: {exc}", file=sys.stderr)

    try:
        while True:
            for rec in follower.poll():
                emit(tracker.feed(rec))
            for w in follower.new_warnings():  # rotation, truncation, unreadable files: said when seen
                print(f"tts-analyze --follow: {w}", file=sys.stderr)
            emit(tracker.tick())
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic())))
    except KeyboardInterrupt:
        pass
    finally:
        try:
            for rec in follower.flush():
                emit(tracker.feed(rec))
        finally:
            follower.close()
            for s in sinks:
                try:
                    s.close()
                except Exception:
                    pass
        if config.state_dir is not None:
            try:
                tracker.an.miner.save()
            except Exception as exc:
                print(f"follow: template state not saved ({exc})", file=sys.stderr)
    return 1 if tracker.opened_total else 0
