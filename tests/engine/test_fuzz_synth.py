"""Fuzz: what `tts-engine synth` and the Engine accept. Any text, speaker, emotion, ratio or seed gives
audio or a TtsopsError (exit 2 with one `error:` line), never an unexpected exception (exit 3), a
traceback, a raw Python warning, or a NaN sample."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine.cli import cli
from engine.config import EngineConfig
from engine.synth import Engine, SynthRequest
from ttsops.cli import run_main
from ttsops.errors import TtsopsError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

hostile_text = st.one_of(
    st.text(max_size=60),
    st.text(st.characters(codec="utf-8"), max_size=30),
    st.sampled_from(["", " ", "\n\n", "。。。", "1" * 300, "3.14159265358979323846", "-0.0", "1e309", "%%%", "°C°C",
                     "\u200b\u200b", "\ud800", "\U0001f600" * 5, "A" * 2001, "中" * 2001, "5万亿", "Ω≈ç√∫"]),
)
ratios = st.one_of(st.floats(), st.integers(-5, 5), st.sampled_from([0.75, 1.25, 1.0]), st.text(max_size=3), st.none())
anything = st.one_of(st.none(), st.text(max_size=12), st.integers(), st.floats(), st.booleans())


@pytest.fixture(scope="module")
def engine():
    with Engine(EngineConfig(log_dir=None, max_audio_seconds=30)) as eng:
        yield eng


good_text = st.one_of(st.sampled_from(["你好。", "Hello.", "今天25°C,湿度80%。", "A1 B2 C3.", "第3次,OK!"]),
                      st.text(st.characters(categories=["L", "N", "P", "Zs"]), min_size=1, max_size=20))


@FUZZ
@given(data=st.data(), hostile=st.sampled_from(["none", "text", "speaker", "emotion", "ratio", "seed"]))
def test_engine_gives_audio_or_a_toolkit_error(engine, data, hostile: str) -> None:
    """One field at a time is hostile (or none), so that most draws reach the back-end."""
    pick = {"text": (hostile_text, good_text),
            "speaker": (anything, st.sampled_from([None, "zh_female_1", "en_male_1", "zh_male_2"])),
            "emotion": (anything, st.sampled_from(["neutral", "happy", "sad", "angry", "calm", "serious"])),
            "ratio": (ratios, st.floats(0.75, 1.25)),
            "seed": (st.one_of(st.integers(-3, 2 ** 40), st.floats()), st.integers(0, 2 ** 32 - 1))}
    kw = {k: data.draw(bad if k == hostile else good, label=k) for k, (bad, good) in pick.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")                      # a warning is a defect here: it would reach stderr
        try:
            res = engine.synthesize(SynthRequest(text=kw["text"], speaker=kw["speaker"], emotion=kw["emotion"],
                                                 duration_ratio=kw["ratio"], seed=kw["seed"]))
        except TtsopsError as exc:
            assert exc.one_line() and "\n" not in exc.one_line()
            event(f"refused: {type(exc).__name__}")
            return
    event("spoken")
    assert res.audio.dtype == np.float32 and np.all(np.isfinite(res.audio)) and np.abs(res.audio).max() <= 1.0
    assert res.sample_rate == 22050 and res.duration_s <= 30 * 1.25 + 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(good_text, hostile_text),
       ratio=st.one_of(st.floats(0.75, 1.25), st.floats(), st.sampled_from(["nan", "inf", "1,0", "0x1"])),
       emotion=st.one_of(st.sampled_from(["happy", "neutral", "calm"]), st.text(max_size=6)),
       extra=st.sampled_from([[], [], [], ["--seed", "-1"], ["--seed", "99999999999999999999"],
                              ["--backend", "festival"], ["--speaker", ""], ["--inject", "rate=nan"],
                              ["--inject", "faults=+"], ["--inject", "silent_output"]]))
def test_synth_cli_exits_0_or_2(tmp_path_factory, capsys, text: str, ratio, emotion: str, extra: list[str]) -> None:
    d = tmp_path_factory.mktemp("s")
    if "\x00" in text or text.startswith("-"):
        text = "x" + text.replace("\x00", "")                 # argv cannot carry NUL; a leading '-' is an option
    argv = ["synth", text, "-o", str(d / "x.wav"), "--log-dir", str(d / "logs"), "--duration-ratio", str(ratio),
            "--emotion", emotion, *extra]
    with pytest.raises(SystemExit) as exc:
        run_main(cli, argv)
    out = capsys.readouterr()
    assert exc.value.code in (0, 2), out.err
    assert "Traceback" not in out.err and "Warning:" not in out.err and "unexpected" not in out.err
    event(f"exit {exc.value.code}")
    if exc.value.code == 0:
        assert Path(d / "x.wav").stat().st_size > 44
    else:
        assert out.err.strip() and not (d / "x.wav").exists()
