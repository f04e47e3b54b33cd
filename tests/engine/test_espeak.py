"""eSpeak NG back-end: speaks zh and en, survives a bad data path, and is byte-deterministic."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.backends.base import Voice
from engine.backends.espeak import EspeakBackend, check_data_path, library, phonemize
from engine.speakers import SPEAKERS
from ttsops.errors import BackendError

ZH = Voice("zh", "cmn", "f4", 58, 55, 165)
EN = Voice("en", "en-us", "f1", 58, 55, 170)
CASES = [("你好,世界。", ZH), ("Hello, world.", EN), ("今天天气很好。", SPEAKERS["zh_male_1"].voice("zh")),
         ("The quick brown fox.", SPEAKERS["en_male_2"].voice("en")),
         ("Robot.", Voice("en", "en-us", "robosoft")), ("Klatt.", Voice("en", "en-us", "klatt3"))]


def _digest(a: np.ndarray) -> str:
    return hashlib.sha1(a.tobytes()).hexdigest()


def test_speaks_mandarin_and_english() -> None:
    b = EspeakBackend()
    b.load()
    for text, voice in CASES[:2]:
        y = b.synthesize(text, voice)
        assert y.dtype == np.float32 and len(y) / b.sample_rate > 0.5
        assert np.abs(y).max() > 0.05
    assert b.sample_rate == 22050


def test_same_request_after_others_is_byte_identical() -> None:
    lib = library()
    first = {i: _digest(lib.synth(t, v)) for i, (t, v) in enumerate(CASES)}
    rng = np.random.default_rng(0)
    for i in rng.integers(0, len(CASES), 30):
        t, v = CASES[int(i)]
        lib.synth(t, v, pitch=int(rng.integers(20, 80)))  # other settings in between
        assert _digest(lib.synth(t, v)) == first[int(i)], f"case {i} changed after other requests"


_ALL_SPEAKERS = ("import hashlib,json,sys; {pre}; from engine.backends.espeak import library; "
                 "from engine.speakers import SPEAKERS; lib = library(); "
                 "print(json.dumps({{f'{{n}}/{{lg}}': hashlib.sha1(lib.synth('你好,世界。Hello, world.', s.voice(lg))"
                 ".tobytes()).hexdigest() for n, s in SPEAKERS.items() for lg in ('zh', 'en')}}))")


def test_every_speaker_is_identical_across_processes_and_in_process() -> None:
    import json
    outs = []
    for pre in ("import numpy, loguru, soundfile", "import click"):  # different heap layouts
        run = subprocess.run([sys.executable, "-c", _ALL_SPEAKERS.format(pre=pre)], capture_output=True,
                             text=True, check=True, cwd=Path(__file__).parents[2])
        outs.append(json.loads(run.stdout))
    assert outs[0] == outs[1]
    lib = library()
    lib.synth(*CASES[5])  # disturb this process's state first
    for key, digest in outs[0].items():
        name, lang = key.split("/")
        assert _digest(lib.synth("你好,世界。Hello, world.", SPEAKERS[name].voice(lang))) == digest, key


def test_registry_avoids_nondeterministic_variants() -> None:
    from engine.backends.espeak import NONDETERMINISTIC_VARIANTS
    used = {v.variant for s in SPEAKERS.values() for v in s.voices.values()}
    assert not used & NONDETERMINISTIC_VARIANTS


def test_bad_data_path_is_an_error_not_exit(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="not found"):
        check_data_path(tmp_path / "nope")
    (tmp_path / "phontab").write_bytes(b"")
    with pytest.raises(BackendError, match="lacks"):
        check_data_path(tmp_path)
    # the status of a broken install says why instead of killing the process
    env = dict(os.environ, TTSOPS_ESPEAK_DATA=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", "from engine.backends.espeak import EspeakBackend as B; "
                          "s=B.status(); print(s.available, s.detail)"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.startswith("False")


def test_phonemize_gives_ipa() -> None:
    assert "həlˈoʊ" in phonemize("Hello", "en-us")
    zh = phonemize("你好", "cmn")
    assert zh and any(ch in zh for ch in "ɕχn")
