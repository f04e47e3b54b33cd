"""Batch runner: isolation of bad lines, failed.jsonl, manifest, resume, exit codes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.batch import iter_tasks, run_batch
from engine.config import EngineConfig
from ttsops.errors import InputError

GOOD = [{"input_text": "你好,世界。", "name": "zh1", "speaker": "zh_female_1"},
        {"input_text": "Hello, world.", "name": "en1", "speaker": "en_male_1", "emotion": "happy"},
        {"input_text": "今天25°C。It is warm.", "speaker": "zh_male_2", "duration_ratio": 1.1}]
BAD_JSON = '{"input_text": "oops", "name": "broken"'
MISSING_PROMPT = '{"input_text": "需要参考音频", "name": "needs-ref", "prompt_audio": "refs/missing.wav"}'


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parents[2])})


def test_one_bad_json_and_one_missing_prompt_fail_alone(tmp_path: Path) -> None:
    lines = [json.dumps(GOOD[0], ensure_ascii=False), BAD_JSON, json.dumps(GOOD[1]), MISSING_PROMPT,
             json.dumps(GOOD[2], ensure_ascii=False)]
    tasks = _write(tmp_path / "tasks.jsonl", lines)
    run = _cli("batch", str(tasks), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    out = run.stdout
    assert "[✓] Task 1 succeeded: zh1" in out and "[✓] Task 5 succeeded: task-5" in out
    assert "[✗] Task 2 failed: line 2: invalid JSON" in out
    assert "[✗] Task 4 failed: line 4: prompt audio not found: refs/missing.wav" in out
    assert out.strip().splitlines()[-1] == "Batch completed: 3/5 tasks succeeded"
    assert "Traceback" not in run.stderr
    failed = (tmp_path / "out" / "failed.jsonl").read_text(encoding="utf-8").splitlines()
    assert failed == [BAD_JSON, MISSING_PROMPT]
    manifest = [json.loads(x) for x in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert [m["name"] for m in manifest] == ["zh1", "en1", "task-5"]
    for m in manifest:
        y, sr = sf.read(tmp_path / "out" / m["path"])
        assert sr == m["sample_rate"] == 22050 and abs(len(y) / sr - m["duration"]) < 1e-3
        assert np.abs(y).max() > 0.05
    assert manifest[1]["params"]["emotion"] == "happy"
    logs = [json.loads(x)["record"] for x in (tmp_path / "out" / "logs" / "inference.log").read_text().splitlines()]
    assert any(r["message"] == "Batch completed: 3/5 tasks succeeded" for r in logs)
    from engine.logs import INFERENCE_KEYS
    assert all(set(INFERENCE_KEYS) <= set(r["extra"]) for r in logs)


def test_resume_skips_finished_and_retry_file_is_a_batch(tmp_path: Path) -> None:
    lines = [json.dumps(g, ensure_ascii=False) for g in GOOD] + ['{"input_text": "x", "speaker": "ghost"}']
    tasks = _write(tmp_path / "tasks.jsonl", lines)
    cfg = EngineConfig(log_dir=tmp_path / "logs")
    first = run_batch(tasks, tmp_path / "out", config=cfg)
    assert (first.total, first.succeeded, first.failed, first.exit_code) == (4, 3, 1, 1)
    stamp = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("*.wav")}
    again = run_batch(tasks, tmp_path / "out", config=cfg)
    assert (again.resumed, again.succeeded) == (3, 3)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("*.wav")} == stamp
    # a tampered output is made again; --no-resume redoes everything
    (tmp_path / "out" / "zh1.wav").write_bytes(b"RIFF")
    third = run_batch(tasks, tmp_path / "out", config=cfg)
    assert third.resumed == 2 and sf.info(tmp_path / "out" / "zh1.wav").frames > 0
    fresh = run_batch(tasks, tmp_path / "out", config=cfg, resume=False)
    assert fresh.resumed == 0 and fresh.succeeded == 3
    retry = run_batch(tmp_path / "out" / "failed.jsonl", tmp_path / "retry", config=cfg)
    assert (retry.total, retry.failed) == (1, 1) and "unknown speaker 'ghost'" in retry.failures[0][1]


def test_iter_tasks_reports_each_line(tmp_path: Path) -> None:
    tasks = _write(tmp_path / "t.jsonl", ['{"input_text": "a"}', "", "[1, 2]", '{"input_text": "b", "name": "../x"}'])
    items = list(iter_tasks(tasks))
    assert [n for n, _ in items] == [1, 3, 4]
    assert items[0][1].name == "task-1"
    assert isinstance(items[1][1], InputError) and "expected a JSON object" in str(items[1][1])
    assert isinstance(items[2][1], InputError) and "invalid name" in str(items[2][1])
    with pytest.raises(InputError, match="not found"):
        list(iter_tasks(tmp_path / "nope.jsonl"))


def test_failed_file_retries_with_the_original_prompt_root(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "refs").mkdir(parents=True)
    tasks = _write(src / "tasks.jsonl", [MISSING_PROMPT])
    cfg = EngineConfig(log_dir=None)
    assert run_batch(tasks, tmp_path / "out", config=cfg).failed == 1
    ref = np.sin(2 * np.pi * 150 * np.arange(16000 * 6) / 16000).astype(np.float32) * 0.3
    sf.write(src / "refs" / "missing.wav", ref, 16000)  # the operator restores the file
    retry = run_batch(tmp_path / "out" / "failed.jsonl", tmp_path / "out", config=cfg, prompt_root=src)
    assert (retry.succeeded, retry.failed) == (1, 0) and (tmp_path / "out" / "needs-ref.wav").is_file()
