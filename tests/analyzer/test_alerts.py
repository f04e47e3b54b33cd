"""Live analysis: tailing with rotation, incident open/resolve alerts, JSON-lines and an
Alertmanager-compatible webhook on a loopback receiver (127.0.0.1 only), retries, CLI --follow."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from analyzer.alerts import Alert, JsonlSink, WebhookSink, alertmanager_payload, follow_logs
from analyzer.config import AlertConfig, AnalyzeConfig

from incident_logs import write_scenario

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
from _bad_http import BadReceiver  # noqa: E402   (shared with the engine's health-check tests)


class Receiver:
    """A webhook receiver on 127.0.0.1; ``fail_first`` requests answer 500."""

    def __init__(self, fail_first: int = 0):
        self.bodies: list = []
        self.paths: list[str] = []
        self.fail_left = fail_first
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.fail_left > 0:
                    outer.fail_left -= 1
                    self.send_response(500)
                else:
                    outer.bodies.append(json.loads(body))
                    outer.paths.append(self.path)
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *a) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _alert() -> Alert:
    return Alert(status="firing", kind="incident", id="INC-001", kb_id="cuda_oom", title="CUDA out of memory",
                 severity="critical", start=datetime(2026, 3, 1, tzinfo=timezone.utc), count=3,
                 evidence=[{"file": "/l/inference.log", "line": 7, "text": "CUDA out of memory"}], fix="lower batch")


def test_alertmanager_payload_shapes() -> None:
    body = alertmanager_payload(_alert())
    assert body["version"] == "4" and body["status"] == "firing"
    a = body["alerts"][0]
    assert a["labels"]["alertname"] == "TTSOpsIncident" and a["labels"]["kb_id"] == "cuda_oom"
    assert a["labels"]["severity"] == "critical" and a["annotations"]["fix"] == "lower batch"
    assert a["startsAt"].startswith("2026-03-01T00:00:00") and a["endsAt"].startswith("0001-")
    api = alertmanager_payload(_alert(), "api")
    assert isinstance(api, list) and set(api[0]) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}


def test_webhook_retries_then_delivers_and_never_raises(capsys: pytest.CaptureFixture[str]) -> None:
    with Receiver(fail_first=2) as rx:
        sink = WebhookSink(rx.url, timeout=2, retries=3, backoff=0.01)
        sink.send(_alert())
        assert sink.flush(10) and sink.sent == 1 and len(rx.bodies) == 1
        sink.close()
    dead = WebhookSink("http://127.0.0.1:9/", timeout=0.5, retries=1, backoff=0.01)  # nothing listens on port 9
    dead.send(_alert())
    assert dead.flush(10) and dead.failed == 1 and "dropped" in capsys.readouterr().err
    dead.close()


def test_alertmanager_sink_posts_to_the_api_and_repeats_open_alerts() -> None:
    import dataclasses
    import time as _time

    from analyzer.alerts import AlertmanagerSink

    with Receiver() as rx:
        base = rx.url.rsplit("/", 1)[0]  # http://127.0.0.1:PORT, an Alertmanager's address
        sink = AlertmanagerSink(base, timeout=2, retries=0, repeat=0.2)
        sink.send(_alert())
        _time.sleep(0.9)
        assert sink.flush(5)
        posts = len(rx.bodies)
        assert posts >= 3 and set(rx.paths) == {"/api/v2/alerts"}  # re-posted while open
        assert isinstance(rx.bodies[0], list) and rx.bodies[0][0]["labels"]["incident"] == "INC-001"
        resolved = dataclasses.replace(_alert(), status="resolved", end=datetime(2026, 3, 1, 0, 5, tzinfo=timezone.utc))
        sink.send(resolved)
        assert sink.flush(5)
        n = len(rx.bodies)
        assert not rx.bodies[-1][0]["endsAt"].startswith("0001-")
        _time.sleep(0.6)
        assert len(rx.bodies) == n  # resolved: not posted again
        sink.close()


def test_cli_alertmanager_needs_follow(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from analyzer.commands.analyze import analyze as cmd

    (tmp_path / "a.log").write_text("2024-06-15 10:00:00 INFO ok\n", encoding="utf-8")
    r = CliRunner().invoke(cmd, [str(tmp_path / "a.log"), "--alertmanager", "http://127.0.0.1:9093"])
    assert r.exit_code == 2 and "need --follow" in r.output


def test_follow_survives_rotation(tmp_path: Path) -> None:
    """Rotation by rename mid-incident: the alerts still come, nothing is read twice."""
    src = tmp_path / "src"
    write_scenario(src, minutes=3)
    live = tmp_path / "live"
    live.mkdir()
    lines = (src / "inference.log").read_text(encoding="utf-8").splitlines(keepends=True)
    half = len(lines) // 2
    log = live / "inference.log"
    log.write_text("".join(lines[:half]), encoding="utf-8")

    def rotate() -> None:
        time.sleep(0.5)
        os.replace(log, live / "inference.log.1")
        log.write_text("".join(lines[half:]), encoding="utf-8")

    jsonl = tmp_path / "a.jsonl"
    th = threading.Thread(target=rotate)
    th.start()
    cfg = AnalyzeConfig(alerts=AlertConfig(poll_interval=0.1, resolve_after=30))
    follow_logs([str(live)], cfg, sinks=[JsonlSink(jsonl)], max_seconds=2.5)
    th.join()
    alerts = [json.loads(x) for x in jsonl.read_text(encoding="utf-8").splitlines()]
    firing = [a["kb_id"] for a in alerts if a["kind"] == "incident" and a["status"] == "firing"]
    assert firing == ["missing_shared_library", "invalid_text"], alerts


def test_follow_alerts_to_jsonl_and_webhook(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_scenario(src)
    live = tmp_path / "live"
    live.mkdir()
    lines = (src / "inference.log").read_text(encoding="utf-8").splitlines(keepends=True)
    (live / "inference.log").write_text("".join(lines[:400]), encoding="utf-8")

    def writer() -> None:
        time.sleep(0.6)
        with (live / "inference.log").open("a", encoding="utf-8") as fh:
            fh.write("".join(lines[400:]))

    jsonl = tmp_path / "alerts.jsonl"
    cfg = AnalyzeConfig(alerts=AlertConfig(poll_interval=0.1, resolve_after=1.0, webhook_retries=1))
    with Receiver() as rx:
        th = threading.Thread(target=writer)
        th.start()
        sinks = [JsonlSink(jsonl), WebhookSink(rx.url, timeout=2, retries=1)]
        code = follow_logs([str(live)], cfg, sinks=sinks, max_seconds=3.0)
        th.join()
        bodies = list(rx.bodies)
    assert code == 1
    alerts = [json.loads(x) for x in jsonl.read_text(encoding="utf-8").splitlines()]
    firing = [a for a in alerts if a["status"] == "firing" and a["kind"] == "incident"]
    resolved = [a for a in alerts if a["status"] == "resolved"]
    assert [a["kb_id"] for a in firing] == ["cuda_oom", "missing_shared_library", "invalid_text"]
    assert {a["kb_id"] for a in resolved} >= {"cuda_oom", "missing_shared_library", "invalid_text"}
    oom = next(a for a in resolved if a["kb_id"] == "cuda_oom")
    assert oom["symptoms"].get("request_timeout") == 20 and oom["evidence"][0]["line"] > 400
    assert len(bodies) == len(alerts)
    assert {b["alerts"][0]["labels"]["kb_id"] for b in bodies} >= {"cuda_oom", "invalid_text"}


def test_cli_follow_stops_at_max_seconds(tmp_path: Path) -> None:
    write_scenario(tmp_path / "logs", minutes=3)
    out = tmp_path / "a.jsonl"
    exe = Path(sys.executable).with_name("tts-analyze")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "analyzer.cli"]
    t0 = time.monotonic()
    p = subprocess.run(cmd + ["--follow", str(tmp_path / "logs"), "--max-seconds", "1.5", "--alerts-jsonl", str(out)],
                       capture_output=True, timeout=60)
    assert time.monotonic() - t0 < 30
    assert p.returncode == 1, p.stderr  # the lone library / text errors fire
    kinds = [json.loads(x)["kb_id"] for x in out.read_text(encoding="utf-8").splitlines()]
    assert "missing_shared_library" in kinds and b"FIRING" in p.stdout


# ---------------------------------------------------------------------------------------------------
# a slow, silent or trickling receiver never stops the other sinks (issue 14, severe defect 3)
@pytest.mark.parametrize("mode", ["silent", "trickle", "slow"])
def test_send_never_waits_and_each_post_has_a_deadline(mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    with BadReceiver(mode, delay=5.0) as rx:
        sink = WebhookSink(rx.url, timeout=0.3, retries=0, close_timeout=0.2)
        t0 = time.monotonic()
        for i in range(5):
            sink.send(_alert())
        assert time.monotonic() - t0 < 0.2                    # five sends, no network wait
        assert sink.flush(10)
        elapsed = time.monotonic() - t0
        assert sink.failed == 5 and sink.sent == 0
        assert 5 * 0.3 <= elapsed < 5 * 0.3 + 3               # each POST cut at its 0.3 s deadline, none hung
        sink.close()
    err = capsys.readouterr().err
    assert err.count("failed after 1 tries") == 5 and ("DeadlineExceeded" in err or "Timeout" in err)


def test_full_queue_drops_the_oldest_and_counts(capsys: pytest.CaptureFixture[str]) -> None:
    with BadReceiver("silent") as rx:
        sink = WebhookSink(rx.url, timeout=3, retries=0, queue_size=2, close_timeout=0.1)
        sink.send(_alert())
        deadline = time.monotonic() + 5
        while not sink._busy and time.monotonic() < deadline:   # the worker holds the first one
            time.sleep(0.01)
        for i in range(2, 7):
            a = _alert()
            a.id = f"INC-{i:03d}"
            sink.send(a)
        assert sink.dropped == 3 and [i for i, _ in sink._queue] == ["INC-005", "INC-006"]
        t0 = time.monotonic()
        sink.close()
        assert time.monotonic() - t0 < 1.0                   # close is bounded by close_timeout
    err = capsys.readouterr().err
    assert "queue full (2), oldest alert INC-002 dropped" in err
    assert "3 alert(s) not delivered" in err and "dropped 3" in err


def test_follow_alerts_on_time_with_a_bad_webhook(tmp_path: Path) -> None:
    """The same live scenario without a webhook, with a silent one and with a trickling one: the
    JSON-lines sink gets the same alerts, and follow stops at --max-seconds (plus the webhook's
    bounded close)."""
    src = tmp_path / "src"
    write_scenario(src, minutes=3)
    cfg = AnalyzeConfig(alerts=AlertConfig(poll_interval=0.1, resolve_after=1.0))
    got = {}
    for run in ("plain", "silent", "trickle"):
        jsonl = tmp_path / f"{run}.jsonl"
        sinks: list = [JsonlSink(jsonl)]
        with BadReceiver(run) as rx:
            if run != "plain":
                sinks.append(WebhookSink(rx.url, timeout=5, retries=3, close_timeout=0.5))
            t0 = time.monotonic()
            follow_logs([str(src)], cfg, sinks=sinks, max_seconds=2.5)
            elapsed = time.monotonic() - t0
        got[run] = [(a["status"], a["kb_id"]) for a in map(json.loads, jsonl.read_text(encoding="utf-8").splitlines())]
        assert elapsed < 2.5 + 0.5 + 1.5, (run, elapsed)
        if run != "plain":
            assert rx.connections >= 1            # the webhook was tried
    assert len(got["plain"]) >= 4 and got["silent"] == got["plain"] == got["trickle"]
