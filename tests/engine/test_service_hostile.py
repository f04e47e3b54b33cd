"""The service under hostile clients (issue 14): slow and vanishing clients, a drain that runs out,
keys, hosts, content types, wrong JSON types, costly requests, paths in errors, back-end choice.
One test per case; each checks the status, the body and what the logs say."""
from __future__ import annotations

import json
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _service_helpers import FakeEngine, FakeRequest, ThreadServer, free_port, server_output, spawn_serve, wait_healthy  # noqa: E402,E501

from engine.service import ServiceSettings, ServiceState  # noqa: E402
from ttsops.errors import BackendError  # noqa: E402

pytestmark = pytest.mark.xdist_group("service")


def fake_state(tmp_path: Path, engine: FakeEngine | None = None, **kw) -> tuple[ServiceState, FakeEngine]:
    eng = engine or FakeEngine()
    return ServiceState(ServiceSettings(log_dir=tmp_path / "logs", **kw), engine_factory=lambda: eng,
                        request_factory=FakeRequest), eng


def service_events(tmp_path: Path) -> list[dict]:
    p = tmp_path / "logs" / "service.log"
    return [json.loads(x)["record"] for x in p.read_text().splitlines()] if p.exists() else []


def raw(port: int, data: bytes, *, wait: float = 10.0) -> tuple[bytes, float]:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(wait)
    t0 = time.monotonic()
    s.sendall(data)
    got = b""
    try:
        while chunk := s.recv(65536):
            got += chunk
    except socket.timeout:
        pass
    finally:
        s.close()
    return got, time.monotonic() - t0


JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """One default service (fake engine) shared by the cases that only send requests."""
    state, eng = fake_state(tmp_path_factory.mktemp("plain"))
    with ThreadServer(state) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        yield c, eng


# -- slow and vanishing clients ---------------------------------------------------------------------
def test_slow_headers_get_408_and_the_connection_closes(tmp_path: Path) -> None:
    state, _ = fake_state(tmp_path, header_timeout_s=0.5)
    with ThreadServer(state) as srv:
        got, took = raw(srv.port, b"POST /api/tts HTTP/1.1\r\nHost: 127.0.0.1\r\n")   # headers never finish
    assert got.startswith(b"HTTP/1.1 408 ") and b'"error_type": "header_timeout"' in got
    assert 0.4 < took < 3


def test_silent_connection_is_closed_by_the_header_timeout(tmp_path: Path) -> None:
    state, _ = fake_state(tmp_path, header_timeout_s=0.5)
    with ThreadServer(state) as srv:
        got, took = raw(srv.port, b"")
    assert got.startswith(b"HTTP/1.1 408 ") and took < 3
    assert any(r["extra"].get("event") == "request_header_timeout" for r in service_events(tmp_path))


def test_slow_body_gets_408(tmp_path: Path) -> None:
    state, eng = fake_state(tmp_path, body_timeout_s=0.5)
    with ThreadServer(state) as srv:
        got, took = raw(srv.port, b"POST /api/tts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 100\r\n\r\n{\"text\": ", wait=5)
    assert b" 408 " in got.split(b"\r\n")[0] and b'"body_timeout"' in got and took < 3
    assert eng.calls == 1                                   # only the warm-up: nothing was synthesized


def test_client_hanging_up_mid_body_is_one_event_and_no_traceback(tmp_path: Path) -> None:
    port = free_port()
    proc = spawn_serve(port, tmp_path / "logs")
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"POST /api/tts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 500\r\n\r\n{\"text\": \"hel")
            time.sleep(0.2)
            s.close()
        time.sleep(0.5)
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    out = server_output(proc)
    assert "Traceback" not in out and "Exception in ASGI application" not in out
    hung = [r for r in service_events(tmp_path) if r["extra"].get("event") == "client_disconnected"]
    assert len(hung) == 3 and all(r["extra"]["phase"] == "sending its body" for r in hung)
    assert out.count("Client hung up") == 3                 # once each, as one plain line


def test_client_hanging_up_during_synthesis_cancels_it(tmp_path: Path) -> None:
    state, eng = fake_state(tmp_path, max_concurrency=1, timeout_s=30)
    with ThreadServer(state) as srv:
        body = b'{"text": "sleep:20"}'
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"POST /api/tts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        time.sleep(0.4)
        s.close()
        deadline = time.monotonic() + 5
        while eng.cancelled == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert eng.cancelled == 1 and state.in_flight == 0
        with httpx.Client(base_url=srv.url, timeout=10) as c:   # the only slot serves the next client at once
            assert c.post("/api/tts", json={"text": "hi"}).status_code == 200
    hung = [r for r in service_events(tmp_path) if r["extra"].get("event") == "client_disconnected"]
    assert [r["extra"]["phase"] for r in hung] == ["waiting for its synthesis"]


def test_drain_timeout_answers_503_not_a_bare_500(tmp_path: Path) -> None:
    port = free_port()
    proc = spawn_serve(port, tmp_path / "logs", "--drain-timeout", "1", "--timeout", "60")
    url = f"http://127.0.0.1:{port}"
    result: dict = {}
    try:
        wait_healthy(url, proc)

        def slow() -> None:
            r = httpx.post(url + "/api/tts", json={"text": "今天的天气真不错,我们一起去公园散步吧。" * 8,
                                                   "emotion": "happy"}, timeout=60)
            result.update(status=r.status_code, body=r.json(), retry=r.headers.get("retry-after"))
        th = threading.Thread(target=slow)
        th.start()
        time.sleep(0.4)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        th.join(timeout=30)
        answered = time.monotonic() - t0
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert result["status"] == 503 and result["body"]["error_type"] == "draining" and result["retry"] == "1"
    assert "drain timeout 1s" in result["body"]["detail"] and answered < 2.5
    assert rc == 0 and "Traceback" not in server_output(proc)
    assert any(r["extra"].get("event") == "request_drain_timeout" for r in service_events(tmp_path))


# -- who may call -----------------------------------------------------------------------------------
def test_api_key_is_required_on_the_api_only(tmp_path: Path) -> None:
    state, _ = fake_state(tmp_path, api_key="s3cret-key")
    with ThreadServer(state) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        r = c.post("/api/tts", json={"text": "hi"})
        assert r.status_code == 401 and r.json()["error_type"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
        assert c.post("/api/tts", json={"text": "hi"}, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/api/tts", json={"text": "hi"}, headers={"Authorization": "Basic s3cret-key"}).status_code == 401
        assert c.post("/api/tts", json={"text": "hi"}, headers={"Authorization": "Bearer s3cret-key"}).status_code == 200
        assert c.post("/api/tts", json={"text": "hi"}, headers={"X-API-Key": "s3cret-key"}).status_code == 200
        assert c.get("/api/voices").status_code == 401
        assert c.get("/health").status_code == 200 and c.get("/metrics").status_code == 200
    rejected = [r for r in service_events(tmp_path) if r["extra"].get("event") == "request_unauthorized"]
    assert len(rejected) == 4 and all("s3cret" not in json.dumps(r) for r in rejected)


def test_api_key_from_the_environment_and_health_sends_it(tmp_path: Path) -> None:
    from engine.health import check
    port = free_port()
    proc = spawn_serve(port, tmp_path / "logs", env={"TTSOPS_API_KEY": "k-123"})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        assert httpx.post(url + "/api/tts", json={"text": "hi"}, timeout=10).status_code == 401
        from engine.health import HealthConfig
        assert check(2, url=url, config=HealthConfig(api_key="k-123")).ok
        failed = check(2, url=url, config=HealthConfig(api_key="nope"))
        assert not failed.ok and "401" in failed.reason
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.mark.parametrize("host,allowed,status", [
    ("evil.example", None, 400),              # DNS rebinding onto a loopback service
    ("127.0.0.1:8000", None, 200),
    ("localhost", None, 200),
    ("tts.internal", ["tts.internal"], 200),
    ("127.0.0.1", ["tts.internal"], 400),
])
def test_host_allow_list(host: str, allowed: list | None, status: int, tmp_path: Path) -> None:
    state, _ = fake_state(tmp_path, allowed_hosts=allowed)
    with ThreadServer(state) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        assert c.get("/health", headers={"Host": host}).status_code == status


# -- what they may send -----------------------------------------------------------------------------
@pytest.mark.parametrize("ctype,status", [
    (None, 415), ("text/plain", 415), ("application/x-www-form-urlencoded", 415), ("multipart/form-data", 415),
    ("application/json", 200), ("application/json; charset=utf-8", 200), ("Application/JSON", 200),
])
def test_json_only(ctype: str | None, status: int, plain) -> None:
    c, _ = plain
    r = c.post("/api/tts", content=b'{"text": "hi"}', headers={"content-type": ctype} if ctype else {})
    assert r.status_code == status
    if status == 415:
        assert r.json()["error_type"] == "unsupported_media_type"


@pytest.mark.parametrize("body,field", [
    ({"text": 5}, "text"), ({"text": "hi", "seed": "1"}, "seed"), ({"text": "hi", "seed": True}, "seed"),
    ({"text": "hi", "seed": 1.5}, "seed"), ({"text": "hi", "duration_ratio": "1.0"}, "duration_ratio"),
    ({"text": "hi", "emotion": 5}, "emotion"), ({"text": "hi", "speaker": ["a"]}, "speaker"),
    ({"text": "hi", "seed": -1}, "seed"), ({"text": "hi", "seed": 2 ** 32}, "seed"),
])
def test_wrong_json_types_are_422_not_coerced(body: dict, field: str, plain) -> None:
    c, eng = plain
    calls = eng.calls
    r = c.post("/api/tts", json=body)
    assert r.status_code == 422 and r.json()["error_type"] == "invalid_request"
    assert r.json()["detail"].startswith(f"{field}: ") and eng.calls == calls      # nothing synthesized


def test_nan_ratio_is_422(plain) -> None:
    c, _ = plain
    r = c.post("/api/tts", content=b'{"text": "hi", "duration_ratio": NaN}', headers=JSON)
    assert r.status_code == 422 and "finite" in r.json()["detail"]


# -- what a request may cost, and what an error may show --------------------------------------------
def test_long_audio_is_cut_short_413_audio_too_long(tmp_path: Path) -> None:
    """2000 characters of Chinese would be ~8 minutes of audio; the cap stops it at 10 s of speech."""
    state = ServiceState(ServiceSettings(log_dir=tmp_path / "logs", max_audio_seconds=10, timeout_s=60))
    with ThreadServer(state) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        text = ("今天的天气真不错,我们一起去公园散步吧。" * 100)[:2000]
        t0 = time.monotonic()
        r = c.post("/api/tts", json={"text": text, "emotion": "happy"})
        took = time.monotonic() - t0
        assert r.status_code == 413 and r.json()["error_type"] == "audio_too_long"
        assert "more than 10s of audio (2000 characters)" in r.json()["detail"] and took < 10
        assert state.in_flight == 0 and c.post("/api/tts", json={"text": "你好。"}).status_code == 200


def test_500_body_shows_no_server_paths(tmp_path: Path) -> None:
    class Broken(FakeEngine):
        def synthesize(self, req, cancel=None):  # noqa: ANN001, ANN201
            if req.text == "boom":
                raise BackendError("/opt/ttsops/models/sambert/libttsfrd.so: cannot open shared object file",
                                   where="/srv/app/engine/backends/modelscope.py")
            return super().synthesize(req, cancel)
    state, _ = fake_state(tmp_path, engine=Broken())
    with ThreadServer(state) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        r = c.post("/api/tts", json={"text": "boom"})
    detail = r.json()["detail"]
    assert r.status_code == 500 and "libttsfrd.so" in detail and "modelscope.py" in detail
    assert "/opt/" not in detail and "/srv/" not in detail
    err = [e for e in service_events(tmp_path) if e["extra"].get("event") == "request_error"][0]
    assert "/opt/ttsops/models/sambert/libttsfrd.so" in err["message"]      # the log keeps the whole story


@pytest.mark.parametrize("allowed,backend,status", [
    (None, "kokoro", 403), (None, "fake", 200), (["fake", "kokoro"], "kokoro", 200), (["fake"], "festival", 403),
])
def test_which_backends_a_client_may_request(allowed: list | None, backend: str, status: int, tmp_path: Path) -> None:
    state, _ = fake_state(tmp_path, allowed_backends=allowed)
    with ThreadServer(state) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        r = c.post("/api/tts", json={"text": "hi", "backend": backend})
    assert r.status_code == status
    if status == 403:
        assert r.json()["error_type"] == "backend_not_allowed" and "allowed: " in r.json()["detail"]
