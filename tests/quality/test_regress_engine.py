"""regress on real engine audio: identical and fresh re-synthesis pass, degraded sets are flagged with
the metric that fired; CLI exit codes and the JSON contract via subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.xdist_group("quality-engine")

TEXTS = [
    {"name": "en_a", "input_text": "Please join the meeting at three o'clock.", "speaker": "en_male_1"},
    {"name": "zh_b", "input_text": "今天天气晴朗,最高气温二十五度。", "speaker": "zh_female_1", "emotion": "happy"},
    {"name": "mix_c", "input_text": "你好,世界。Hello, world.", "speaker": "zh_female_2", "emotion": "serious"},
]


@pytest.fixture(scope="session")
def refs(tmp_path_factory):
    from quality.reference import build_reference

    d = tmp_path_factory.mktemp("quality-engine")
    texts = d / "texts.jsonl"
    texts.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in TEXTS) + "{not json\n",
                     encoding="utf-8")
    man = build_reference(texts, d / "refs", jobs=2)
    return d, man


def test_manifest(refs):
    d, man = refs
    assert [u["name"] for u in man["utterances"]] == ["en_a", "zh_b", "mix_c"]
    u = man["utterances"][0]
    assert len(u["sha256"]) == 64 and u["backend"] == "espeak" and u["seed"] == 0
    assert man["engine_version"].startswith("ttsops") and man["errors"][0]["line"] == 4
    assert len(man["variability"]["rows"]) == 3


def test_identical_and_resynthesis_pass(refs, tmp_path):
    from quality.reference import resynthesize_set
    from quality.regress import regress

    d, _ = refs
    res = regress(d / "refs", d / "refs", jobs=1, progress=False)
    assert res.verdict == "pass" and res.exit_code == 0
    info = resynthesize_set(d / "refs", tmp_path / "fresh")
    assert info["cross_engine"] is False
    assert regress(d / "refs", tmp_path / "fresh", jobs=1, progress=False).verdict == "pass"


@pytest.mark.parametrize("kind,metric", [("pitch_up_1st", "f0_bias_cents"), ("noise_30db", "mcd_dtw"),
                                         ("lead_silence_150ms", "leading_silence_delta_s"),
                                         ("clip_50pct", "clipped_samples"), ("stretch_5pct", "duration_ratio")])
def test_degradations_flagged(refs, tmp_path, kind, metric):
    from quality.degrade import degrade_dir
    from quality.regress import regress

    d, _ = refs
    degrade_dir(d / "refs", tmp_path / kind, kind)
    res = regress(d / "refs", tmp_path / kind, jobs=1, progress=False)
    assert res.verdict == "regression"
    for u in res.utterances:
        assert u.verdict == "regression" and metric in u.fired, (u.name, u.fired, u.reasons)


def test_emotion_check_on_engine_audio():
    from engine.config import EngineConfig
    from engine.synth import Engine, SynthRequest
    from quality.emotion import DEFAULT_THRESHOLD, check_emotion_semantics

    with Engine(EngineConfig(log_dir=None)) as eng:
        s = {e: eng.synthesize(SynthRequest(text="The train leaves at nine tonight.", speaker="en_female_1",
                                            emotion=e)) for e in ("happy", "serious", "neutral")}
    samples = {e: (r.audio, r.sample_rate) for e, r in s.items()}
    ok = check_emotion_semantics(samples)
    assert ok.ok, ok.reason
    assert ok.distances["happy~serious"] > DEFAULT_THRESHOLD
    broken = check_emotion_semantics({"happy": samples["neutral"], "serious": samples["neutral"]})
    assert not broken.ok and "alike" in broken.reason


def _cli(*args):
    exe = Path(sys.executable).with_name("tts-quality")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "quality.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NO_COLOR": "1"})


def _inproc(capsys, *args):
    from quality.cli import cli
    from ttsops.cli import run_main

    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        run_main(cli, list(args), prog_name="tts-quality")
    return e.value.code, capsys.readouterr().out


def test_cli_exit_codes_and_json(refs, tmp_path, capsys):
    from quality.degrade import degrade_dir

    d, _ = refs
    degrade_dir(d / "refs", tmp_path / "bad", "pitch_up_1st", only=["en_a"])
    r = _cli("regress", "--baseline", str(d / "refs"), "--candidate", str(tmp_path / "bad"), "--format", "json",
             "--log-dir", str(tmp_path / "logs"), "--prom", str(tmp_path / "q.prom"), "--html", str(tmp_path / "r.html"))
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert {"verdict", "utterances", "thresholds", "baseline"} <= set(doc) and doc["verdict"] == "regression"
    bad = {u["name"]: u for u in doc["utterances"]}
    assert bad["en_a"]["verdict"] == "regression" and "f0_bias_cents" in bad["en_a"]["fired"]
    assert bad["zh_b"]["verdict"] == "pass" and {"name", "verdict", "fired", "metrics"} <= set(bad["zh_b"])
    line = json.loads((tmp_path / "logs" / "quality.log").read_text().splitlines()[0])
    assert line["record"]["extra"]["event"] == "quality_regression" and "sharp" in line["record"]["extra"]["reason"]
    assert "tts_quality_regression 1.0" in (tmp_path / "q.prom").read_text()
    assert "data:image/png;base64" in (tmp_path / "r.html").read_text()
    assert _inproc(capsys, "regress", "--baseline", str(d / "refs"), "--candidate", str(d / "refs"))[0] == 0
    code, out = _inproc(capsys, "score", str(d / "refs"), str(tmp_path / "bad"), "--format", "json", "-j", "1")
    assert code == 0
    rows = json.loads(out)
    keys = {"name", "pesq_wb", "pesq_nb", "stoi", "estoi", "f0_rmse_cents", "vde", "f0_corr", "mcd_dtw",
            "duration_ratio", "leading_silence_s", "clipping_ratio", "envelope_fluctuation", "error"}
    assert len(rows) == 3 and all(keys <= set(r) for r in rows)
    assert _cli("regress", "--baseline", str(tmp_path / "nope"), "--candidate", str(d / "refs")).returncode == 2
    assert _cli("score", str(d / "refs"), str(d / "refs" / "en_a.wav")).returncode == 2
