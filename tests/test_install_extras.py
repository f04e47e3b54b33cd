"""`pip install 'ttsops[analyze]'` alone, in a fresh venv: tts-analyze works on the samples with no
torch, no audio stack and no engine; the other tools say which extra they need, in one line."""
from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_analyze_extra_alone(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    # the package itself from this checkout, its [analyze] dependencies from the registry (pip's cache
    # after `make install`); a non-editable install, so nothing from the checkout leaks in but the wheel
    p = subprocess.run([str(py), "-m", "pip", "install", "-q", f"{ROOT}[analyze]"], capture_output=True, text=True,
                       timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    listed = subprocess.run([str(py), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True)
    names = {d["name"].lower() for d in json.loads(listed.stdout)}
    for heavy in ("torch", "soundfile", "pyworld", "loguru", "fastapi", "onnxruntime", "resemblyzer", "modelscope"):
        assert heavy not in names, heavy
    exe = env_dir / "bin"
    r = subprocess.run([str(exe / "tts-analyze"), str(ROOT / "data" / "samples" / "logs"), "--format", "json"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["incidents"]) == 9 and r.stderr == ""
    wav = ROOT / "data" / "samples" / "wav" / "zh_happy.wav"
    q = subprocess.run([str(exe / "tts-quality"), "score", str(wav), str(wav)], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path)
    assert q.returncode == 2 and "pip install 'ttsops[" in q.stderr and q.stderr.count("\n") == 1, q.stderr
    e = subprocess.run([str(exe / "tts-engine"), "synth", "hi", "-o", "x.wav"], capture_output=True, text=True,
                       timeout=120, cwd=tmp_path)
    assert e.returncode == 2 and "ttsops[engine]" in e.stderr and "Traceback" not in e.stderr, e.stderr
