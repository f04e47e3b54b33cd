"""Fuzz: POST /api/tts bodies and headers against the real engine (eSpeak). Every answer is a WAV or
a JSON error with a 4xx status; nothing a client sends produces a 500, a hang or a server path."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.service import ServiceSettings, ServiceState, create_app

pytestmark = [pytest.mark.xdist_group("service"),
              pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")]
FUZZ = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

texts = st.one_of(st.text(max_size=40), st.sampled_from(["你好。", "Hello.", "9" * 60, "a\u0007b", "\ufffd", "。。。", ""]))
field_values = {
    "text": texts,
    "speaker": st.one_of(st.none(), st.sampled_from(["zh_female_1", "en_male_2", "ghost"]), st.integers()),
    "emotion": st.one_of(st.sampled_from(["neutral", "happy", "serious", "bored"]), st.booleans()),
    "duration_ratio": st.one_of(st.floats(0.5, 1.5), st.sampled_from(["1.0", None, 1e308]), st.integers(-3, 3)),
    "seed": st.one_of(st.integers(-2, 2 ** 33), st.sampled_from(["1", 1.5, True])),
    "backend": st.one_of(st.none(), st.sampled_from(["espeak", "kokoro", "festival", ""])),
    "extra_key": st.integers(),
}
bodies = st.one_of(
    st.fixed_dictionaries({"text": texts}, optional={k: v for k, v in field_values.items() if k != "text"}),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=3),
    st.lists(st.integers(), max_size=3), st.text(max_size=10), st.none(),
)
content_types = st.sampled_from(["application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
                                 "text/plain", "application/x-www-form-urlencoded", None, "application/json;;;"])
encodings = st.sampled_from(["json", "utf16", "garbage", "truncated"])


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from starlette.testclient import TestClient
    log_dir = tmp_path_factory.mktemp("svc") / "logs"
    state = ServiceState(ServiceSettings(log_dir=log_dir, max_text_length=200, timeout_s=20, max_audio_seconds=20))
    with TestClient(create_app(state), base_url="http://127.0.0.1") as c:
        yield c


def _encode(body: object, how: str) -> bytes:
    raw = json.dumps(body).encode()
    return {"json": raw, "utf16": raw.decode().encode("utf-16"), "garbage": b"\xff\xfe\x00" + raw,
            "truncated": raw[: max(1, len(raw) // 2)]}[how]


@FUZZ
@given(body=bodies, ctype=content_types, how=encodings)
def test_any_request_gets_a_wav_or_a_4xx(client, body: object, ctype: str | None, how: str) -> None:
    headers = {"content-type": ctype} if ctype else {}
    r = client.post("/api/tts", content=_encode(body, how), headers=headers)
    assert r.status_code in (200, 400, 403, 413, 415, 422), (r.status_code, r.text[:300])
    if r.status_code == 200:
        y, sr = sf.read(io.BytesIO(r.content))
        assert sr == 22050 and len(y) > 0
        return
    err = r.json()
    assert set(err) == {"error_type", "detail", "request_id"} and err["error_type"]
    assert "/work/" not in err["detail"] and "site-packages" not in err["detail"] and str(Path.home()) + "/" not in err["detail"]
    if ctype is None or not ctype.lower().startswith("application/json"):
        assert r.status_code == 415


@FUZZ
@given(rid=st.text(max_size=100), key=st.text(max_size=20))
def test_headers_are_harmless(client, rid: str, key: str) -> None:
    headers: dict[str, bytes] = {"content-type": b"application/json"}
    for name, v in (("x-request-id", rid), ("x-api-key", key)):
        raw = v.encode("utf-8").replace(b"\r", b"").replace(b"\n", b"").replace(b"\x00", b"").strip()
        if raw:
            headers[name] = raw
    r = client.post("/api/tts", content=b'{"text": "hi"}', headers=headers)
    assert r.status_code == 200
    echoed = r.headers["x-request-id"]
    assert 0 < len(echoed) <= 64 and all(ch.isascii() and (ch.isalnum() or ch in "-_.") for ch in echoed)
