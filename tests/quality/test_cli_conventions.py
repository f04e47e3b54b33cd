"""tts-quality speaks the tools' one flag vocabulary and never ends in a traceback or an "exit 3" on
a bad output path: --format, -o/--output (- is stdout, devices written through), -q, --color with
NO_COLOR, --no-progress, TTSOPS_QUALITY_* environment variables, bounded -j."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WAV = ROOT / "data" / "samples" / "wav" / "zh_happy.wav"


def _q(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("tts-quality")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "quality.cli"]
    return subprocess.run(cmd + args, capture_output=True, text=True, timeout=600, env=env)


def test_outputs_to_devices_stdout_and_full_disks(tmp_path: Path) -> None:
    full = _q(["score", str(WAV), str(WAV), "--format", "json", "-o", "/dev/full"])
    assert full.returncode == 2 and "No space left" in full.stderr and full.stderr.count("\n") == 1
    dash = _q(["score", str(WAV), str(WAV), "--format", "csv", "-o", "-"])
    assert dash.returncode == 0 and dash.stdout.startswith("name,")
    assert _q(["score", str(WAV), str(WAV), "--format", "json", "-o", "/dev/null"]).returncode == 0
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.wav").write_bytes(WAV.read_bytes())
    dev = _q(["degrade", str(src), "/dev/full"])
    assert dev.returncode == 2 and "not a folder" in dev.stderr and "Traceback" not in dev.stderr
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert _q(["degrade", str(src), str(afile)]).returncode == 2 and afile.read_text() == "x"  # never replaced


def test_bounded_jobs_and_quiet_and_env(tmp_path: Path) -> None:
    bad = _q(["score", str(WAV), str(WAV), "-j", "-3"])
    assert bad.returncode == 2 and "-j" in bad.stderr
    env = {**os.environ, "TTSOPS_QUALITY_FORMAT": "json"}
    r = _q(["score", str(WAV), str(WAV)], env=env)
    assert r.returncode == 0 and json.loads(r.stdout)[0]["name"] == "zh_happy"
    out = tmp_path / "rows.csv"
    q = _q(["score", str(WAV), str(WAV), "--format", "csv", "-o", str(out), "-q"])
    assert q.returncode == 0 and q.stdout == "" and q.stderr == "" and out.read_text().startswith("name,")


def test_color_flags() -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    always = _q(["score", str(WAV), str(WAV), "--color", "always"], env=env)
    never = _q(["score", str(WAV), str(WAV), "--color", "never"], env=env)
    assert always.returncode == never.returncode == 0
    assert "\x1b[" in always.stdout and "\x1b[" not in never.stdout
