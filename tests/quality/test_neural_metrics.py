"""DNSMOS and speaker similarity on short real engine audio: what moves them, their ranges, their
failure rows, the `score --metrics` contract, and that nothing is fetched from the network."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.xdist_group("quality-neural")

A = "The weather today is mild, with a light breeze from the west."
B = "Please join the meeting at three o'clock in room twelve."


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    from engine.config import EngineConfig
    from engine.synth import Engine, SynthRequest
    from quality.degrade import add_noise

    d = tmp_path_factory.mktemp("neural")
    with Engine(EngineConfig(log_dir=None)) as eng:
        for name, text, spk in (("f1_a", A, "en_female_1"), ("f1_b", B, "en_female_1"), ("m1_a", A, "en_male_1")):
            eng.synthesize(SynthRequest(text=text, speaker=spk)).write(d / f"{name}.wav")
    y, sr = sf.read(str(d / "f1_a.wav"))
    sf.write(str(d / "f1_a_noisy.wav"), np.clip(add_noise(y, sr, snr_db=10), -1, 1), sr, subtype="PCM_16")
    return d


def test_dnsmos_scores_clean_above_noisy(clips):
    from quality.audio import load
    from quality.metrics.dnsmos import DNSMOS_KEYS, dnsmos_scores

    clean, err = dnsmos_scores(load(clips / "f1_a.wav").y, sr=22050)
    noisy, err2 = dnsmos_scores(load(clips / "f1_a_noisy.wav").y, sr=22050)
    assert err is None and err2 is None and set(clean) == set(DNSMOS_KEYS)
    assert all(1.0 <= v <= 5.0 for v in (*clean.values(), *noisy.values()))
    assert clean["dnsmos_bak"] - noisy["dnsmos_bak"] > 0.5      # the background score sees the noise
    assert clean["dnsmos_ovrl"] > noisy["dnsmos_ovrl"]
    silent, why = dnsmos_scores(np.zeros(32000), sr=16000)
    assert np.isnan(silent["dnsmos_ovrl"]) and "silent" in why
    short, why = dnsmos_scores(load(clips / "f1_a.wav").y[:4000], sr=22050)
    assert np.isnan(short["dnsmos_sig"]) and "shorter" in why


def test_speaker_similarity_separates_speakers(clips):
    from quality.audio import load
    from quality.metrics.speaker import speaker_embedding, speaker_similarity

    f1a, f1b, m1a = (load(clips / f"{n}.wav") for n in ("f1_a", "f1_b", "m1_a"))
    same, err = speaker_similarity(f1a.y, f1b.y, sr=22050)
    other, _ = speaker_similarity(f1a.y, m1a.y, sr=22050)
    itself, _ = speaker_similarity(f1a.y, f1a.y, sr=22050)
    assert err is None and -1.0 <= other < same < itself <= 1.0 + 1e-9
    assert itself == pytest.approx(1.0, abs=1e-6)
    assert same - other > 0.1                                   # same text, other voice: clearly lower
    emb, _ = speaker_embedding(f1a.y, sr=22050)
    assert emb.shape == (256,) and np.linalg.norm(emb) == pytest.approx(1.0, abs=1e-5)
    none, why = speaker_embedding(np.zeros(16000), sr=16000)
    assert none is None and "silent" in why


def _cli(*args, env=None):
    exe = Path(sys.executable).with_name("tts-quality")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_COLOR": "1", **(env or {})})


def test_score_cli_contract_and_prompt(clips):
    r = _cli("score", str(clips / "f1_a.wav"), str(clips / "f1_a_noisy.wav"), "--metrics", "dnsmos,speaker_similarity",
             "--format", "json")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)[0]
    for k in ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808", "speaker_similarity", "dnsmos_ovrl_delta"):
        assert isinstance(row[k], float), k
    assert row["pesq_wb"] is None and row["mcd_dtw"] is None      # not asked for: not computed
    assert 0.5 < row["speaker_similarity"] <= 1.0 and row["dnsmos_ovrl_delta"] < 0
    # --prompt: the speaker reference is the prompt, not REF
    r = _cli("score", str(clips / "f1_a.wav"), str(clips / "m1_a.wav"), "--metrics", "speaker_similarity",
             "--prompt", str(clips / "m1_a.wav"), "--format", "csv")
    assert r.returncode == 0, r.stderr
    header, line = r.stdout.strip().splitlines()[:2]
    sim = float(line.split(",")[header.split(",").index("speaker_similarity")])
    assert sim == pytest.approx(1.0, abs=1e-6)
    bad = _cli("score", str(clips / "f1_a.wav"), str(clips / "m1_a.wav"), "--metrics", "dnsmos,utmos")
    assert bad.returncode == 2 and "utmos" in bad.stderr and "Traceback" not in bad.stderr


def test_models_load_without_network(clips):
    """Both models come from the wheels: with every socket connect refused, they still score."""
    code = (
        "import socket\n"
        "def _no(*a, **k): raise OSError('network disabled by the test')\n"
        "socket.socket.connect = _no; socket.create_connection = _no; socket.getaddrinfo = _no\n"
        "from quality.audio import load\n"
        "from quality.metrics.dnsmos import dnsmos_scores\n"
        "from quality.metrics.speaker import speaker_embedding\n"
        f"a = load({str(clips / 'f1_a.wav')!r})\n"
        "d, e1 = dnsmos_scores(a.y, sr=a.sr); s, e2 = speaker_embedding(a.y, sr=a.sr)\n"
        "assert e1 is None and e2 is None and 1 <= d['dnsmos_ovrl'] <= 5 and s.shape == (256,)\n"
        "print('offline ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0 and "offline ok" in r.stdout, r.stderr[-2000:]
    assert r.stderr.strip() == ""        # no raw warnings from the old libraries either


def test_mel_cepstra_match_sptk_sp2mc(clips):
    from quality._deps import legacy_import
    from quality.audio import load
    from quality.features import analyse
    from quality.metrics.mcd import mel_cepstrum, stft_power

    pysptk = legacy_import("pysptk")
    a = load(clips / "f1_a.wav")
    f = analyse(a)
    sp = stft_power(a.at(16000), len(f.f0), hop=160)
    ours = mel_cepstrum(sp, sr=16000, order=24)
    ref = np.apply_along_axis(lambda s: pysptk.sp2mc(s, 24, 0.42), 1, sp)
    assert np.abs(ours[:, 1:] - ref[:, 1:]).max() < 0.03
    assert np.abs(ours[:, 1:] - ref[:, 1:]).mean() < 0.005
