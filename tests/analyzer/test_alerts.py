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


class Receiver:
    """A webhook receiver on 127.0.0.1; ``fail_first`` requests answer 500."""

    def __init__(self, fail_first: int = 0):
        self.bodies: list = []
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
        assert sink.sent == 1 and len(rx.bodies) == 1
        sink.close()
    dead = WebhookSink("http://127.0.0.1:9/", timeout=0.5, retries=1, backoff=0.01)  # nothing listens on port 9
    dead.send(_alert())
    assert dead.failed == 1 and "dropped" in capsys.readouterr().err


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
