"""`tts-engine serve` as a real process: port in use, SIGTERM drain, SIGUSR1 reload while serving."""
from __future__ import annotations

import concurrent.futures as cf
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _service_helpers import ROOT, free_port, spawn_serve, wait_healthy  # noqa: E402

pytestmark = pytest.mark.xdist_group("service")
SLOW_TEXT = "今天的天气真不错,我们一起去公园散步吧。" * 4     # ~2 s of work as "happy" (pyworld)


def events(log: Path) -> list[dict]:
    return [json.loads(x)["record"]["extra"] for x in log.read_text().splitlines()] if log.exists() else []


def test_port_in_use_is_one_line_exit_2(tmp_path: Path) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        p = subprocess.run([sys.executable, "-m", "engine.cli", "serve", "--port", str(port),
                            "--log-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    finally:
        s.close()
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and f"port {port} is already in use" in lines[0] and "Traceback" not in p.stderr
    rec = [e for e in events(tmp_path / "service.log") if e.get("event") == "service_start_failed"]
    assert rec and rec[0]["error_type"] == "port_in_use"


def test_sigterm_drains_in_flight_then_exits_0(tmp_path: Path) -> None:
    port = free_port()
    proc = spawn_serve(port, tmp_path / "logs", "--timeout", "30")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        result: dict = {}

        def slow() -> None:
            t0 = time.perf_counter()
            r = httpx.post(url + "/api/tts", json={"text": SLOW_TEXT, "emotion": "happy"}, timeout=60)
            result.update(status=r.status_code, seconds=time.perf_counter() - t0, size=len(r.content))
        th = threading.Thread(target=slow)
        th.start()
        time.sleep(0.5)                                   # the request is being synthesized now
        assert httpx.get(url + "/health", timeout=5).json()["in_flight"] == 1
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(httpx.ConnectError):           # the listener is closed: no new work
            httpx.get(url + "/health", timeout=2)
        th.join(timeout=60)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert result["status"] == 200 and result["size"] > 100_000   # the in-flight request completed
    ev = [e.get("event") for e in events(tmp_path / "logs" / "service.log")]
    assert ev.index("service_signal") < ev.index("service_draining") < ev.index("service_stopped")
    sig = [e for e in events(tmp_path / "logs" / "service.log") if e.get("event") == "service_signal"][0]
    assert sig["signal"] == "SIGTERM" and sig["in_flight"] == 1


def test_sigusr1_reloads_backend_and_keeps_serving(tmp_path: Path) -> None:
    port = free_port()
    proc = spawn_serve(port, tmp_path / "logs", "--max-concurrency", "4")
    url = f"http://127.0.0.1:{port}"
    try:
        h0 = wait_healthy(url, proc)
        assert h0["generation"] == 0
        stop = threading.Event()
        codes: list[int] = []

        def hammer() -> None:
            with httpx.Client(base_url=url, timeout=20) as c:
                while not stop.is_set():
                    codes.append(c.post("/api/tts", json={"text": "你好。Hello."}).status_code)
        with cf.ThreadPoolExecutor(2) as ex:
            futs = [ex.submit(hammer) for _ in range(2)]
            time.sleep(0.5)
            proc.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                h = httpx.get(url + "/health", timeout=5).json()
                if h["generation"] == 1:
                    break
                time.sleep(0.1)
            time.sleep(0.5)
            stop.set()
            for f in futs:
                f.result()
        assert h["generation"] == 1 and h["last_reload"]["ok"] and h["pid"] == h0["pid"]
        assert codes and set(codes) == {200}, set(codes)              # nothing dropped or refused
        assert proc.poll() is None
        from engine.health import check
        for level in (1, 2, 3):                                        # the health levels over HTTP
            r = check(level, url=url)
            assert r.ok, (level, r.reason)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    ev = [e.get("event") for e in events(tmp_path / "logs" / "service.log")]
    assert "backend_reload_start" in ev and "backend_reloaded" in ev
