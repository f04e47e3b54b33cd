"""Emotions, duration_ratio and reference audio, measured on real output with a pitch tracker."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.config import EngineConfig
from engine.prosody import f0_stats
from engine.synth import Engine, SynthRequest
from ttsops.errors import InputError

TEXTS = {"zh": "今天天气很好,我们一起去公园散步吧。", "en": "The weather is lovely today, let us walk in the park."}


@pytest.fixture(scope="module")
def eng():
    e = Engine(EngineConfig(log_dir=None))
    yield e
    e.close()


@pytest.mark.parametrize("speaker", ["zh_female_1", "en_male_1"])
def test_pitch_tracker_tells_happy_from_sad(eng: Engine, speaker: str) -> None:
    text = TEXTS[speaker[:2]]
    st = {}
    for emo in ("neutral", "happy", "sad"):
        r = eng.synthesize(SynthRequest(text=text, speaker=speaker, emotion=emo))
        st[emo] = (f0_stats(r.audio, r.sample_rate), r.duration_s, float(np.sqrt(np.mean(r.audio ** 2))))
    (hap, hap_d, hap_e), (neu, neu_d, _), (sad, sad_d, sad_e) = st["happy"], st["neutral"], st["sad"]
    # F0 mean: happy above neutral above sad, by at least 2 semitones each way
    assert (hap.log_mean - neu.log_mean) * 12 > 2 and (neu.log_mean - sad.log_mean) * 12 > 2
    # F0 range: happy wider than sad by a clear margin
    assert hap.log_std > 2 * sad.log_std
    # rate and energy
    assert hap_d < neu_d < sad_d and hap_e > sad_e


@pytest.mark.parametrize("ratio", [0.75, 0.9, 1.1, 1.25])
def test_duration_ratio_changes_duration_by_that_ratio(eng: Engine, ratio: float) -> None:
    base = eng.synthesize(SynthRequest(text=TEXTS["en"], speaker="en_female_1")).duration_s
    got = eng.synthesize(SynthRequest(text=TEXTS["en"], speaker="en_female_1", duration_ratio=ratio)).duration_s
    assert abs(got / base - ratio) / ratio < 0.05


@pytest.mark.parametrize("bad", [0.5, 1.3, 2, -1, float("nan"), "fast", None, True])
def test_duration_ratio_out_of_range_is_an_input_error(tmp_path: Path, bad: object) -> None:
    with Engine(EngineConfig(log_dir=tmp_path)) as e:
        with pytest.raises(InputError, match="duration_ratio"):
            e.synthesize(SynthRequest(text="hello", duration_ratio=bad))  # type: ignore[arg-type]
    rec = json.loads((tmp_path / "inference.log").read_text().splitlines()[-1])["record"]
    assert rec["extra"]["event"] == "synthesis_error" and "duration_ratio" in rec["extra"]["error_message"]


def _reference(eng: Engine, path: Path, speaker: str, seconds: float, emotion: str = "neutral") -> Path:
    parts = []
    while sum(len(p) for p in parts) < seconds * 22050:
        parts.append(eng.synthesize(SynthRequest(text=TEXTS[speaker[:2]], speaker=speaker, emotion=emotion)).audio)
    y = np.concatenate(parts)[: int(seconds * 22050)]
    sf.write(path, y, 22050)
    return path


def test_prosody_matching_moves_f0_to_the_reference(eng: Engine, tmp_path: Path) -> None:
    ref = _reference(eng, tmp_path / "ref.wav", "en_female_2", 6.0, emotion="happy")  # high and wide
    ref_st = f0_stats(*sf.read(ref, dtype="float32"))
    plain = eng.synthesize(SynthRequest(text=TEXTS["zh"], speaker="zh_male_1"))  # low and narrow
    matched = eng.synthesize(SynthRequest(text=TEXTS["zh"], speaker="zh_male_1", ref_audio=ref))
    p, m = f0_stats(plain.audio, 22050), f0_stats(matched.audio, 22050)
    assert abs(m.log_mean - ref_st.log_mean) * 12 < 1.5 < abs(p.log_mean - ref_st.log_mean) * 12
    assert abs(m.log_std - ref_st.log_std) < 0.5 * abs(p.log_std - ref_st.log_std)


def test_reference_checks(tmp_path: Path, eng: Engine) -> None:
    short = _reference(eng, tmp_path / "short.wav", "zh_male_1", 2.0)
    with Engine(EngineConfig(log_dir=tmp_path / "logs")) as e:
        e.synthesize(SynthRequest(text="你好", ref_audio=short))
        for bad, msg in [(tmp_path / "missing.wav", "not found"), (tmp_path / "junk.wav", "cannot be decoded"),
                         (tmp_path / "silent.wav", "silent"), (tmp_path / "hi.wav", "sample rate")]:
            if bad.name == "junk.wav":
                bad.write_bytes(b"not a wav at all")
            elif bad.name == "silent.wav":
                sf.write(bad, np.zeros(16000 * 6, dtype=np.float32), 16000)
            elif bad.name == "hi.wav":
                sf.write(bad, np.random.default_rng(0).normal(0, 0.1, 96000 * 6).astype(np.float32), 96000)
            with pytest.raises(InputError, match=msg):
                e.synthesize(SynthRequest(text="你好", ref_audio=bad))
    recs = [json.loads(x)["record"] for x in (tmp_path / "logs" / "inference.log").read_text().splitlines()]
    warn = [r for r in recs if r["level"]["name"] == "WARNING"]
    assert warn and warn[0]["message"].startswith("Reference audio too short for reliable voice cloning: 2.00 s")
