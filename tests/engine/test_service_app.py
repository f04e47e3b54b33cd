"""The HTTP service with a fake engine: limits, overload, timeout, errors, metrics, WebUI (fast)."""
from __future__ import annotations

import concurrent.futures as cf
import io
import json
import sys
import time
from pathlib import Path

import httpx
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).parent))
from _service_helpers import FakeEngine, FakeRequest, ThreadServer  # noqa: E402

from engine.metrics import ServiceMetrics  # noqa: E402
from engine.service import ServiceSettings, ServiceState  # noqa: E402

pytestmark = pytest.mark.xdist_group("service")


def make_state(tmp_path: Path, **kw) -> tuple[ServiceState, FakeEngine]:
    eng = FakeEngine()
    settings = ServiceSettings(log_dir=tmp_path / "logs", **kw)
    return ServiceState(settings, engine_factory=lambda: eng, request_factory=FakeRequest), eng


def read_log(tmp_path: Path, name: str = "service.log") -> list[dict]:
    p = tmp_path / "logs" / name
    return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


def test_tts_health_metrics_webui(tmp_path: Path) -> None:
    state, eng = make_state(tmp_path)
    with ThreadServer(state) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        h = c.get("/health")
        assert h.status_code == 200 and h.json()["status"] == "ok" and h.json()["backend_loaded"]
        assert h.json()["sample_rate"] == 16000
        r = c.post("/api/tts", json={"text": "hello", "emotion": "happy"}, headers={"X-Request-Id": "abc-1"})
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
        assert r.headers["x-request-id"] == "abc-1"
        y, sr = sf.read(io.BytesIO(r.content))
        assert sr == 16000 and abs(len(y) / sr - 1.5) < 0.01
        assert "rid" not in r.headers and r.headers["x-audio-seconds"] == "1.500"
        page = c.get("/")
        assert page.status_code == 200 and "/api/tts" in page.text and "<audio" in page.text
        assert "happy" in c.get("/api/voices").json()["emotions"]
        m = c.get("/metrics").text
        assert 'tts_requests_total{endpoint="/api/tts",status="200"} 1.0' in m
        assert "tts_audio_seconds_total 1.5" in m and "tts_requests_in_flight 0.0" in m
        assert "tts_request_latency_seconds_bucket" in m and "tts_real_time_factor_ratio_bucket" in m
        assert 'tts_build_info{backend="fake",version=' in m and "tts_backend_ready 1.0" in m
        assert 'tts_syntheses_total{backend="fake",outcome="ok"} 1.0' in m
        assert 'tts_syntheses_total{backend="kokoro",outcome="error"} 0.0' in m     # created at 0
        assert 'tts_requests_total{endpoint="/tts",status="504"} 0.0' in m
        assert 'tts_errors_total{error_type="request_timeout"} 0.0' in m
        assert 'tts_rejected_total{reason="draining"} 0.0' in m
        wav_bytes = len(r.content)
        assert f"tts_response_bytes_total {float(wav_bytes)}" in m
        assert "process_resident_memory_bytes" in m and "python_info{" in m
        assert "tts_rtf" not in m and "tts_in_flight" not in m and 'backend="default"' not in m
    assert eng.closed
    events = [rec["record"]["extra"].get("event") for rec in read_log(tmp_path)]
    assert {"backend_loaded", "service_started", "request_done", "service_draining", "service_stopped"} <= set(events)


def test_limits_and_errors(tmp_path: Path) -> None:
    state, _ = make_state(tmp_path, max_text_length=20, max_body_bytes=1000)
    with ThreadServer(state) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        r = c.post("/api/tts", json={"text": "x" * 21})
        assert r.status_code == 413 and r.json()["error_type"] == "text_too_long"
        r = c.post("/api/tts", content=b'{"text": "' + b"y" * 2000 + b'"}', headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error_type"] == "body_too_large"
        r = c.post("/api/tts", content=b"not json", headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["error_type"] == "invalid_request"
        r = c.post("/api/tts", content=b'{"text": "hi"}')                       # no Content-Type
        assert r.status_code == 415 and r.json()["error_type"] == "unsupported_media_type"
        r = c.post("/api/tts", json={"text": "hi", "unknown": 1})
        assert r.status_code == 422
        r = c.post("/api/tts", json={"text": "bad"})
        assert r.status_code == 400 and r.json()["error_type"] == "invalid_input" and r.headers["x-request-id"]
        r = c.post("/api/tts", json={"text": "boom"})
        assert r.status_code == 500 and r.json()["error_type"] == "backend_error"
        m = state.metrics
        assert m.value("tts_requests_total", {"endpoint": "/api/tts", "status": "413"}) == 2
        assert m.value("tts_errors_total", {"error_type": "backend_error"}) == 1
    errs = [r["record"] for r in read_log(tmp_path) if r["record"]["extra"].get("event") == "request_error"]
    boom = [e for e in errs if e["extra"]["error_type"] == "backend_error"][0]
    assert boom["level"]["name"] == "ERROR" and "BackendError" in boom["extra"]["traceback"]


def test_overload_answers_429_at_once_and_never_hangs(tmp_path: Path) -> None:
    state, _ = make_state(tmp_path, max_concurrency=2, timeout_s=5)
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
    with ThreadServer(state) as srv, httpx.Client(base_url=srv.url, timeout=10, limits=limits) as c:
        def one(i: int) -> tuple[int, float, str | None]:
            t0 = time.perf_counter()
            r = c.post("/api/tts", json={"text": "sleep:0.3"})
            return r.status_code, time.perf_counter() - t0, r.headers.get("retry-after")
        with cf.ThreadPoolExecutor(12) as ex:
            res = list(ex.map(one, range(12)))
        codes = [c for c, _, _ in res]
        assert codes.count(200) >= 2 and codes.count(429) >= 6, codes
        assert all(ra == "1" for c, _, ra in res if c == 429)
        assert max(t for c, t, _ in res if c == 429) < 1.0   # refused at once (queued would take 1.8 s)
        assert max(t for _, t, _ in res) < 5
        m = state.metrics
        total = sum(m.value("tts_requests_total", {"endpoint": "/api/tts", "status": s}) for s in ("200", "429"))
        assert total == 12 and m.value("tts_rejected_total", {"reason": "overloaded"}) == codes.count(429)


def test_timeout_504_frees_its_slot_and_cancels_the_synthesis(tmp_path: Path) -> None:
    state, eng = make_state(tmp_path, max_concurrency=1, timeout_s=0.2)
    with ThreadServer(state) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        t0 = time.perf_counter()
        r = c.post("/api/tts", json={"text": "sleep:30"})
        assert r.status_code == 504 and r.json()["error_type"] == "request_timeout"
        assert time.perf_counter() - t0 < 0.6
        assert state.in_flight == 0                               # the slot is free at once
        r2 = c.post("/api/tts", json={"text": "hi"})             # and the only worker is free again
        assert r2.status_code == 200 and time.perf_counter() - t0 < 2
        assert eng.cancelled == 1 and c.get("/health").status_code == 200
    recs = [r["record"] for r in read_log(tmp_path) if r["record"]["extra"].get("event") == "request_timeout"]
    assert recs and recs[0]["extra"]["error_type"] == "request_timeout" and recs[0]["level"]["name"] == "ERROR"
    assert "synthesis cancelled, slot freed" in recs[0]["message"]


def test_reload_swaps_engine_and_keeps_serving(tmp_path: Path) -> None:
    engines: list[FakeEngine] = []

    def factory() -> FakeEngine:
        engines.append(FakeEngine())
        return engines[-1]
    state = ServiceState(ServiceSettings(log_dir=tmp_path / "logs"), engine_factory=factory,
                         request_factory=FakeRequest, metrics=ServiceMetrics())
    with ThreadServer(state) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        assert c.post("/api/tts", json={"text": "hi"}).status_code == 200
        assert state.reload("test") is True
        assert len(engines) == 2 and engines[0].closed and not engines[1].closed
        assert c.post("/api/tts", json={"text": "hi"}).status_code == 200
        assert engines[1].calls >= 2                         # warm-up + request
        h = c.get("/health").json()
        assert h["generation"] == 1 and h["last_reload"]["ok"]
        assert state.metrics.value("tts_backend_reloads_total") == 1


def test_load_failure_reports_503_with_reason(tmp_path: Path) -> None:
    def factory():
        raise OSError("/opt/models/libttsfrd.so: cannot open shared object file: No such file or directory")
    state = ServiceState(ServiceSettings(log_dir=tmp_path / "logs"), engine_factory=factory,
                         request_factory=FakeRequest)
    with ThreadServer(state) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        h = c.get("/health")
        assert h.status_code == 503 and "…/libttsfrd.so" in h.json()["reason"]
        assert "/opt/" not in h.json()["reason"]                 # no server paths in answers
        r = c.post("/api/tts", json={"text": "hi"})
        assert r.status_code == 503 and r.headers["retry-after"] == "1" and "/opt/" not in r.json()["detail"]


def test_temperature_reaches_the_engine_and_is_range_checked() -> None:
    import httpx

    from engine.service import ServiceSettings, ServiceState

    state = ServiceState(ServiceSettings(max_concurrency=1))
    with ThreadServer(state) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        a = c.post("/api/tts", json={"text": "你好。", "seed": 3, "temperature": 1.0})
        b = c.post("/api/tts", json={"text": "你好。", "seed": 4, "temperature": 1.0})
        d = c.post("/api/tts", json={"text": "你好。", "seed": 3})
        e = c.post("/api/tts", json={"text": "你好。", "seed": 4})
        assert a.status_code == b.status_code == d.status_code == 200, a.text
        assert a.content != b.content and d.content == e.content  # sampled varies with the seed; 0 does not
        assert c.post("/api/tts", json={"text": "x", "temperature": 5}).status_code == 422
        assert c.post("/api/tts", json={"text": "x", "temperature": "1"}).status_code == 422
