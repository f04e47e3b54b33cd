"""The sampling switch: off by default (byte-identical renders), seeded when on, and the variation it
draws is the kind a sampling TTS model shows (F0 level/contour, duration, energy), measured on output."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.config import EngineConfig
from engine.prosody import f0_stats
from engine.synth import Engine, SynthRequest
from ttsops.errors import InputError

TEXT = "The weather today is mild, with a light breeze from the west."


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(a).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def eng():
    e = Engine(EngineConfig(log_dir=None))
    yield e
    e.close()


def test_off_by_default_and_zero_is_off(eng: Engine) -> None:
    a = eng.synthesize(SynthRequest(text=TEXT, speaker="en_female_1", seed=1))
    b = eng.synthesize(SynthRequest(text=TEXT, speaker="en_female_1", seed=2, temperature=0.0))
    assert _sha(a.audio) == _sha(b.audio)  # eSpeak has no seed-dependent variation: sampling off = same bytes
    assert a.record["temperature"] == 0.0


def test_same_seed_same_bytes_other_seed_other_prosody(eng: Engine) -> None:
    renders = [eng.synthesize(SynthRequest(text=TEXT, speaker="en_female_1", seed=s, temperature=1.0))
               for s in (0, 0, 1, 2, 3, 4, 5)]
    assert _sha(renders[0].audio) == _sha(renders[1].audio)
    assert len({_sha(r.audio) for r in renders}) == 6
    durs = np.array([r.duration_s for r in renders[1:]])
    st = [f0_stats(r.audio, r.sample_rate) for r in renders[1:]]
    f0_st = 12 * np.array([s.log_mean for s in st])        # semitones
    level = np.array([20 * np.log10(np.sqrt(np.mean(r.audio ** 2))) for r in renders[1:]])
    # a sampling model's spread between renders: duration a few %, F0 level a fraction of a semitone to
    # a semitone, level about a dB; none of them zero, none absurd
    assert 0.01 < durs.std() / durs.mean() < 0.12, durs
    assert 0.15 < f0_st.std() < 1.5, f0_st
    assert 0.2 < level.std() < 3.0, level
    assert renders[2].record["temperature"] == 1.0


def test_temperature_scales_the_spread(eng: Engine) -> None:
    def spread(temp: float) -> float:
        st = [f0_stats(eng.synthesize(SynthRequest(text=TEXT, speaker="en_male_1", seed=s, temperature=temp)).audio,
                       22050) for s in range(5)]
        return float(np.std([12 * s.log_mean for s in st]))

    assert spread(0.3) < spread(1.5)


@pytest.mark.parametrize("bad", [-0.1, 2.5, float("nan"), "hot", True])
def test_bad_temperature_is_an_input_error(eng: Engine, bad: object) -> None:
    with pytest.raises(InputError, match="temperature"):
        eng.synthesize(SynthRequest(text=TEXT, temperature=bad))  # type: ignore[arg-type]


def test_cli_and_batch_pass_it_through(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("tts-engine")
    outs = []
    for args in (["--sampling", "--seed", "3"], ["--temperature", "1.0", "--seed", "3"], ["--seed", "3"]):
        out = tmp_path / f"{len(outs)}.wav"
        r = subprocess.run([str(exe), "synth", TEXT, "-o", str(out), "--log-dir", str(tmp_path / "logs"), *args],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] != outs[2]
    tasks = tmp_path / "t.jsonl"
    tasks.write_text(json.dumps({"input_text": TEXT, "name": "a", "seed": 3, "temperature": 1.0}) + "\n"
                     + json.dumps({"input_text": TEXT, "name": "b", "temperature": "hot"}) + "\n", encoding="utf-8")
    r = subprocess.run([str(exe), "batch", str(tasks), "--out", str(tmp_path / "b"), "--log-dir", str(tmp_path / "logs")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert (tmp_path / "b" / "a.wav").read_bytes() == outs[0]
    failed = (tmp_path / "b" / "failed.jsonl").read_text(encoding="utf-8")
    assert "temperature" in failed and '"b"' in failed
