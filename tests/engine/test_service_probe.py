"""``POST /tts``, the Qwen3-TTS-style probe beside ``/api/tts`` (issue 15): the real engine speaks
``{text, lang, speaker}``, and every guard of ``/api/tts`` holds there too; ``/docs`` and its assets
are served from the wheel (no CDN), with a favicon."""
from __future__ import annotations

import io
import json
import re
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).parent))
from _service_helpers import FakeEngine, FakeRequest, ThreadServer  # noqa: E402

from engine.service import ServiceSettings, ServiceState  # noqa: E402

pytestmark = pytest.mark.xdist_group("service")


def inference(tmp_path: Path) -> list[dict]:
    p = tmp_path / "logs" / "inference.log"
    return [json.loads(x)["record"]["extra"] for x in p.read_text().splitlines()]


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """The real engine (eSpeak) behind the service, with a 6 s audio cap and a 200 character limit."""
    d = tmp_path_factory.mktemp("probe")
    state = ServiceState(ServiceSettings(log_dir=d / "logs", max_audio_seconds=6, max_text_length=200))
    with ThreadServer(state) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        yield c, state, d


@pytest.mark.parametrize("body,speaker", [
    ({"text": "Hello, world.", "lang": "English"}, "en_female_1"),
    ({"text": "Hello, world.", "lang": "en-US"}, "en_female_1"),
    ({"text": "你好,世界。", "lang": "zh-CN"}, "zh_female_1"),
    ({"text": "你好,世界。", "lang": "Chinese", "speaker": "zh_male_1"}, "zh_male_1"),
    ({"text": "你好。Hello.", "lang": "Auto"}, "zh_female_1"),
    ({"text": "Hello."}, "zh_female_1"),
])
def test_probe_speaks_with_the_language_and_speaker_asked(body: dict, speaker: str, real) -> None:
    c, state, d = real
    r = c.post("/tts", json=body, headers={"X-Request-Id": f"probe-{uuid.uuid4().hex[:8]}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/wav"
    y, sr = sf.read(io.BytesIO(r.content))
    assert sr == state.sample_rate and len(y) / sr > 0.5 and abs(float(r.headers["x-audio-seconds"]) - len(y) / sr) < 0.01
    done = [e for e in inference(d) if e.get("request_id") == r.headers["x-request-id"]
            and e.get("event") == "synthesis_success"]
    assert len(done) == 1 and done[0]["speaker"] == speaker


@pytest.mark.parametrize("body,status,error_type,detail", [
    ({"text": "こんにちは", "lang": "Japanese"}, 400, "unsupported_language", "use zh (Chinese), en (English) or auto"),
    ({"text": "hi", "lang": "ko"}, 400, "unsupported_language", "'ko'"),
    ({"text": "hi", "speaker": "Vivian"}, 400, "invalid_input", "unknown speaker 'Vivian'"),
    ({"text": "hi", "lang": 5}, 422, "invalid_request", "lang: "),
    ({"text": 5}, 422, "invalid_request", "text: "),
    ({"text": "hi", "instruct": "warm"}, 422, "invalid_request", "instruct: "),
    ({"text": "hi", "speaker": ["a"]}, 422, "invalid_request", "speaker: "),
    ({"text": "x" * 201}, 413, "text_too_long", "201 characters, the limit is 200"),
    ({"text": "今天的天气真不错,我们一起去公园散步吧。" * 10}, 413, "audio_too_long", "more than 6s of audio"),
])
def test_probe_refusals(body: dict, status: int, error_type: str, detail: str, real) -> None:
    c, state, _ = real
    r = c.post("/tts", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error_type"] == error_type and detail in r.json()["detail"]
    assert state.in_flight == 0


def test_probe_counts_under_its_own_endpoint(real) -> None:
    c, state, _ = real
    before = state.metrics.value("tts_requests_total", {"endpoint": "/tts", "status": "200"})
    api_before = state.metrics.value("tts_requests_total", {"endpoint": "/api/tts", "status": "200"})
    assert c.post("/tts", json={"text": "Hello.", "lang": "en"}).status_code == 200
    assert state.metrics.value("tts_requests_total", {"endpoint": "/tts", "status": "200"}) == before + 1
    assert state.metrics.value("tts_requests_total", {"endpoint": "/api/tts", "status": "200"}) == api_before
    assert state.metrics.value("tts_syntheses_total", {"backend": "espeak", "outcome": "ok"}) >= 1
    assert 'tts_build_info{backend="espeak"' in c.get("/metrics").text


def fake(tmp_path: Path, **kw) -> tuple[ServiceState, FakeEngine]:
    eng = FakeEngine()
    return ServiceState(ServiceSettings(log_dir=tmp_path / "logs", **kw), engine_factory=lambda: eng,
                        request_factory=FakeRequest), eng


def test_probe_has_the_guards_of_the_api(tmp_path: Path) -> None:
    state, eng = fake(tmp_path, api_key="k-probe", allowed_hosts=["tts.internal"])
    key = {"X-API-Key": "k-probe", "Host": "tts.internal"}
    with ThreadServer(state) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        assert c.post("/tts", json={"text": "hi"}, headers={"Host": "tts.internal"}).status_code == 401
        assert c.post("/tts", json={"text": "hi"}, headers={"X-API-Key": "k-probe", "Host": "evil.example"}
                      ).status_code == 400
        r = c.post("/tts", content=b'{"text": "hi"}', headers={**key, "content-type": "text/plain"})
        assert r.status_code == 415 and r.json()["error_type"] == "unsupported_media_type"
        r = c.post("/tts", content=b'{"text": "hi", "lang": "en"', headers={**key, "content-type": "application/json"})
        assert r.status_code == 422
        big = json.dumps({"text": "a" * 70_000}).encode()
        r = c.post("/tts", content=big, headers={**key, "content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error_type"] == "body_too_large"
        assert eng.calls == 1                                  # only the warm-up
        assert c.post("/tts", json={"text": "hi", "lang": "en"}, headers=key).status_code == 200
    assert state.metrics.value("tts_requests_total", {"endpoint": "/tts", "status": "401"}) == 1
    assert state.metrics.value("tts_errors_total", {"error_type": "unauthorized"}) == 1


def test_docs_are_served_from_the_wheel_with_a_favicon(tmp_path: Path) -> None:
    state, _ = fake(tmp_path)
    with ThreadServer(state) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        for page in ("/docs", "/redoc"):
            html = c.get(page).text
            urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url:\s*["']([^"']+)["']""", html)
            urls = [a or b for a, b in urls]
            assert urls and all(u.startswith("/") for u in urls), (page, urls)   # nothing off this host
            for u in urls:
                r = c.get(u)
                assert r.status_code == 200 and len(r.content) > 100, u
        assert "https://" not in c.get("/docs").text and "fonts.googleapis" not in c.get("/redoc").text
        js = c.get("/static-offline-docs/swagger-ui-bundle.js")
        assert js.status_code == 200 and len(js.content) > 500_000 and b"SwaggerUIBundle" in js.content
        spec = c.get("/openapi.json").json()
        assert {"/tts", "/api/tts", "/health", "/metrics"} <= set(spec["paths"])
        icon = c.get("/favicon.ico")
        assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
        assert icon.content.startswith(b"<svg")
