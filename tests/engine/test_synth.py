"""Engine contract: audio, structured log records, errors, isolation, determinism."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.config import EngineConfig
from engine.synth import Engine, SynthRequest
from ttsops.errors import BackendError, InputError

REQUIRED = {"request_id", "event", "backend", "speaker", "emotion", "text_length", "duration_ratio"}
SUCCESS = REQUIRED | {"audio_seconds", "rtf", "elapsed", "languages", "peak_rss_mb", "sample_rate"}


def _records(log_dir: Path, name: str = "inference.log") -> list[dict]:
    lines = (log_dir / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture()
def engine(tmp_path: Path):
    eng = Engine(EngineConfig(log_dir=tmp_path / "logs"))
    yield eng
    eng.close()


def test_mixed_text_speaks_and_logs(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "x.wav"
    res = engine.synthesize(SynthRequest(text="你好,世界。Hello, world.", output=out))
    assert res.sample_rate == 22050 and res.audio.dtype == np.float32
    assert res.duration_s > 1.2 and np.abs(res.audio).max() > 0.1
    y, sr = sf.read(out)
    assert sr == 22050 and len(y) == len(res.audio) and sf.info(out).subtype == "PCM_16"
    recs = _records(tmp_path / "logs")
    assert [r["record"]["extra"]["event"] for r in recs] == ["synthesis_start", "synthesis_success"]
    extra = recs[-1]["record"]["extra"]
    assert SUCCESS <= set(extra)
    assert extra["languages"] == ["zh", "en"] and extra["request_id"] == res.request_id
    assert set(extra["elapsed"]) == {"frontend", "acoustic", "resynthesis", "write"} and extra["elapsed"]["write"] > 0
    assert extra["rtf"] < 0.5
    assert res.record["event"] == "synthesis_success"


def test_errors_are_logged_with_context_then_raised(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="duration_ratio"):
        engine.synthesize(SynthRequest(text="hello", duration_ratio=1.5))
    with pytest.raises(InputError, match="unknown speaker"):
        engine.synthesize(SynthRequest(text="hello", speaker="nobody"))
    with pytest.raises(InputError, match="invalid unicode sequence at pos 1"):
        engine.synthesize(SynthRequest(text="a\x00b"))
    with pytest.raises(InputError, match="unknown backend"):
        engine.synthesize(SynthRequest(text="hello", backend="nope"))
    errors = [r["record"] for r in _records(tmp_path / "logs") if r["record"]["extra"]["event"] == "synthesis_error"]
    assert len(errors) == 4
    for rec in errors:
        assert rec["level"]["name"] == "ERROR" and REQUIRED <= set(rec["extra"])
        assert rec["extra"]["error_type"] == "InputError" and "Traceback" in rec["extra"]["traceback"]
    assert errors[0]["extra"]["duration_ratio"] == 1.5
    msgs = [r["record"]["message"] for r in _records(tmp_path / "logs")]
    assert "Text preprocessing failed: invalid unicode sequence at pos 1" in msgs


def test_every_inference_line_is_json(engine: Engine, tmp_path: Path) -> None:
    for emo in ("neutral", "happy"):
        engine.synthesize(SynthRequest(text="Hello there.", speaker="en_male_1", emotion=emo))
    for line in (tmp_path / "logs" / "inference.log").read_text().splitlines():
        rec = json.loads(line)["record"]
        assert REQUIRED <= set(rec["extra"])
    console = (tmp_path / "logs" / "console.log").read_text()
    assert "ttsops engine" in console and "starting" in console


def test_engines_do_not_share_log_files(tmp_path: Path) -> None:
    a = Engine(EngineConfig(log_dir=tmp_path / "a"))
    b = Engine(EngineConfig(log_dir=tmp_path / "b"))
    try:
        ra = a.synthesize(SynthRequest(text="one"))
        rb = b.synthesize(SynthRequest(text="two"))
    finally:
        a.close()
        b.close()
    ids_a = {r["record"]["extra"]["request_id"] for r in _records(tmp_path / "a")}
    ids_b = {r["record"]["extra"]["request_id"] for r in _records(tmp_path / "b")}
    assert ids_a == {ra.request_id} and ids_b == {rb.request_id}


def test_deterministic_whatever_came_before(tmp_path: Path) -> None:
    req = dict(text="你好,世界。Hello, world.", speaker="zh_male_2", emotion="happy", duration_ratio=1.1, seed=3)
    with Engine(EngineConfig(log_dir=None)) as eng:
        first = eng.synthesize(SynthRequest(**req)).to_wav_bytes()
        for sp in ("en_female_1", "zh_female_2", "en_male_2"):
            eng.synthesize(SynthRequest(text="Something else entirely, 42.", speaker=sp, emotion="sad"))
        again = eng.synthesize(SynthRequest(**req)).to_wav_bytes()
    with Engine(EngineConfig(log_dir=None)) as other:
        third = other.synthesize(SynthRequest(**req)).to_wav_bytes()
    assert first == again == third


def test_missing_backend_weights_fail_fast(engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TTSOPS_SAMBERT_DIR", str(tmp_path / "no-weights"))
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "no-cache"))
    with pytest.raises(BackendError, match="no-weights"):
        engine.synthesize(SynthRequest(text="你好", backend="modelscope"))
