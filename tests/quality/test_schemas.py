"""The published JSON Schemas of tts-quality's outputs hold for what the commands print."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WAV = ROOT / "data" / "samples" / "wav"


def _q(args: list[str]) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("tts-quality")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "quality.cli"]
    return subprocess.run(cmd + args, capture_output=True, text=True, timeout=600)


def test_score_rows_match_their_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from quality.schemas import load_schema, validator

    jsonschema.Draft202012Validator.check_schema(load_schema("score_row"))
    r = _q(["score", str(WAV / "zh_happy.wav"), str(WAV / "zh_happy.wav"), "--format", "json"])
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    v = validator("score_row")
    for row in rows:
        v.validate(row)
    with pytest.raises(jsonschema.ValidationError):
        v.validate(dict(rows[0], speaker_similarity=3.0))


def test_pair_mode_report_matches_its_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from quality.schemas import load_schema, validator

    jsonschema.Draft202012Validator.check_schema(load_schema("regress_report"))
    texts = tmp_path / "t.jsonl"
    texts.write_text("".join(json.dumps({"input_text": t, "name": f"u{i}"}, ensure_ascii=False) + "\n"
                             for i, t in enumerate(["你好。", "Good morning."])), encoding="utf-8")
    assert _q(["reference", "build", str(texts), "--out", str(tmp_path / "refs"), "--no-variability", "-q"]).returncode == 0
    assert _q(["degrade", str(tmp_path / "refs"), str(tmp_path / "deg"), "--kind", "pitch_up_1st", "-q"]).returncode == 0
    r = _q(["regress", "--baseline", str(tmp_path / "refs"), "--candidate", str(tmp_path / "deg"), "--format", "json",
            "--mode", "pairs"])
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    v = validator("regress_report")
    v.validate(doc)
    assert doc["schema"] == 1 and doc["verdict"] == "regression"
    bad = dict(doc)
    bad.pop("utterances")
    with pytest.raises(jsonschema.ValidationError):
        v.validate(bad)  # a pairs report without its utterances breaks the contract


def test_distribution_report_matches_its_schema(tmp_path: Path) -> None:
    pytest.importorskip("jsonschema")
    from quality.schemas import validator

    texts = tmp_path / "t.jsonl"
    texts.write_text("".join(json.dumps({"input_text": t, "name": f"u{i}"}, ensure_ascii=False) + "\n"
                             for i, t in enumerate(["你好。", "Good morning."])), encoding="utf-8")
    for out, seed in (("base", "0"), ("cand", "10")):
        r = _q(["reference", "build", str(texts), "--out", str(tmp_path / out), "--sampling", "--renders", "3",
                "--seed", seed, "-q"])
        assert r.returncode == 0, r.stderr
    r = _q(["regress", "--baseline", str(tmp_path / "base"), "--candidate", str(tmp_path / "cand"),
            "--mode", "distribution", "--format", "json"])
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    validator("regress_report").validate(doc)
    assert doc["mode"] == "distribution" and doc["schema"] == 1 and len(doc["texts"]) == 2
