"""Batch task identity: a retry of failed.jsonl keeps each task's name, resume redoes what changed,
GLM-TTS field names are read as they are, unknown keys are refused (issue 14 severe defect 1, issue 15)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.batch import FIELD_MAP, iter_tasks, run_batch
from engine.cli import cli
from engine.config import EngineConfig
from ttsops.cli import run_main
from ttsops.errors import InputError


def _lines(path: Path, objs: list[object]) -> Path:
    path.write_text("".join((o if isinstance(o, str) else json.dumps(o, ensure_ascii=False)) + "\n" for o in objs),
                    encoding="utf-8")
    return path


def _manifest(out: Path) -> dict[str, dict]:
    return {e["name"]: e for e in map(json.loads, (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines())}


def _tone(path: Path, seconds: float = 6.0, sr: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.3 * np.sin(2 * np.pi * 150 * np.arange(int(sr * seconds)) / sr)).astype(np.float32), sr)


CFG = EngineConfig(log_dir=None)


def test_retry_of_unnamed_failed_task_keeps_its_identity(tmp_path: Path) -> None:
    """The issue's case: task 2 (no name) fails; its retry is line 1 of failed.jsonl and must not
    become task-1 (which the first run finished), nor count as resumed, nor empty failed.jsonl."""
    src = tmp_path / "src"
    src.mkdir()
    tasks = _lines(src / "tasks.jsonl", [
        {"input_text": "你好。"}, {"input_text": "需要参考音频。", "prompt_audio": "refs/a.wav"}, {"input_text": "Hello."}])
    out = tmp_path / "out"
    first = run_batch(tasks, out, config=CFG)
    assert (first.succeeded, first.failed) == (2, 1)
    task1 = (out / "task-1.wav").read_bytes()
    failed = (out / "failed.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(failed[0]) == {"name": "task-2", "input_text": "需要参考音频。", "prompt_audio": "refs/a.wav"}
    _tone(src / "refs" / "a.wav")                    # the operator restores the prompt
    retry = run_batch(out / "failed.jsonl", out, config=CFG, prompt_root=src)
    assert (retry.total, retry.succeeded, retry.resumed, retry.failed) == (1, 1, 0, 0)
    assert (out / "task-2.wav").is_file() and (out / "task-1.wav").read_bytes() == task1
    assert sorted(_manifest(out)) == ["task-1", "task-2", "task-3"]
    assert (out / "failed.jsonl").read_text() == ""


def test_hand_fixed_line_cannot_overwrite_another_files_task(tmp_path: Path) -> None:
    """A line that was not JSON keeps no name in failed.jsonl; fixed by hand, its default name
    (task-1 of failed.jsonl) belongs to the first run's task 1: it fails, nothing is overwritten."""
    tasks = _lines(tmp_path / "tasks.jsonl", [{"input_text": "你好。"}, '{"input_text": "broken'])
    out = tmp_path / "out"
    assert run_batch(tasks, out, config=CFG).failed == 1
    before = (out / "task-1.wav").read_bytes()
    assert (out / "failed.jsonl").read_text().strip() == '{"input_text": "broken'
    fixed = _lines(tmp_path / "fixed.jsonl", [{"input_text": "Fixed by hand."}])
    res = run_batch(fixed, out, config=CFG)
    assert (res.succeeded, res.failed, res.resumed) == (0, 1, 0)
    assert "default name 'task-1' already holds a different finished task" in res.failures[0][1]
    assert (out / "task-1.wav").read_bytes() == before
    # failed.jsonl keeps the line without the taken name; naming it makes it succeed
    assert json.loads((out / "failed.jsonl").read_text()) == {"input_text": "Fixed by hand."}
    named = _lines(tmp_path / "named.jsonl", [{"input_text": "Fixed by hand.", "name": "fixed"}])
    assert run_batch(named, out, config=CFG).succeeded == 1 and (out / "task-1.wav").read_bytes() == before


def test_resume_redoes_a_task_changed_under_the_same_name(tmp_path: Path) -> None:
    out = tmp_path / "out"
    tasks = _lines(tmp_path / "tasks.jsonl", [{"input_text": "你好。", "name": "a"}, {"input_text": "早上好。", "name": "b"},
                                              {"input_text": "谢谢。"}])
    run_batch(tasks, out, config=CFG)
    m1 = _manifest(out)
    wav_a, wav_b = (out / "a.wav").read_bytes(), (out / "b.wav").read_bytes()
    _lines(tasks, [{"input_text": "再见。", "name": "a"}, {"input_text": "早上好。", "name": "b", "emotion": "happy"},
                   {"input_text": "谢谢。"}])
    again = run_batch(tasks, out, config=CFG)
    assert (again.resumed, again.redone, again.succeeded) == (1, 2, 3)
    m2 = _manifest(out)
    assert m2["a"]["fingerprint"] != m1["a"]["fingerprint"] and (out / "a.wav").read_bytes() != wav_a
    assert m2["b"]["params"]["emotion"] == "happy" and (out / "b.wav").read_bytes() != wav_b
    assert m2["task-3"] == m1["task-3"]
    # a new default seed changes every task that gives none
    reseeded = run_batch(tasks, out, config=CFG.with_(seed=7))
    assert (reseeded.resumed, reseeded.redone) == (0, 3)
    # a prompt audio replaced under the same path is a change too
    _tone(tmp_path / "p.wav")
    _lines(tasks, [{"input_text": "你好。", "name": "p", "prompt_audio": "p.wav"}])
    run_batch(tasks, out, config=CFG)
    _tone(tmp_path / "p.wav", seconds=7.0)
    assert run_batch(tasks, out, config=CFG).redone == 1


def test_glm_tts_field_names(tmp_path: Path) -> None:
    _tone(tmp_path / "prompt" / "spk.wav")
    tasks = _lines(tmp_path / "glm.jsonl", [
        {"prompt_audio": "prompt/spk.wav", "prompt_text": "参考音频的文本。", "input_text": "你好,世界。",
         "output_name": "utt_001", "sample_rate": 24000, "seed": 3},
        {"input_text": "Hello.", "output_name": "utt_002.wav"},
        {"input_text": "x", "output_name": "../escape"},
        {"input_text": "x", "output_name": "sub/dir"},
        {"input_text": "x", "output_name": "/abs"},
        {"input_text": "x", "output_name": "a", "name": "b"},
        {"input_text": "x", "sample_rate": 7},
    ])
    out = tmp_path / "out"
    res = run_batch(tasks, out, config=CFG)
    assert (res.succeeded, res.failed) == (2, 5)
    m = _manifest(out)
    assert sorted(m) == ["utt_001", "utt_002"]
    y, sr = sf.read(out / "utt_001.wav")
    assert sr == 24000 == m["utt_001"]["sample_rate"] and abs(len(y) / sr - m["utt_001"]["duration"]) < 1e-3
    assert m["utt_001"]["params"]["prompt_text"] == "参考音频的文本。" and m["utt_001"]["params"]["seed"] == 3
    assert sf.info(out / "utt_002.wav").samplerate == 22050
    reasons = [r for _, r in res.failures]
    assert [("invalid name" in r) for r in reasons[:3]] == [True, True, True]
    assert "'name' and 'output_name' both given" in reasons[3] or "'output_name' and 'name'" in reasons[3]
    assert "sample_rate must be an integer in [8000, 96000]" in reasons[4]
    assert not list(tmp_path.glob("escape*")) and not (out / "sub").exists()
    # the same audio at the native rate, resampled: same length in seconds
    plain = _lines(tmp_path / "plain.jsonl", [{"input_text": "你好,世界。", "name": "n", "seed": 3,
                                                "prompt_audio": "prompt/spk.wav"}])
    run_batch(plain, tmp_path / "out2", config=CFG)
    assert abs(sf.info(tmp_path / "out2" / "n.wav").duration - m["utt_001"]["duration"]) < 2e-3


@pytest.mark.parametrize("key", ["text", "uttid", "Input_Text", "temperatur"])
def test_unknown_key_is_named(key: str, tmp_path: Path) -> None:
    tasks = _lines(tmp_path / "t.jsonl", [{"input_text": "x", key: 1}])
    (_, item), = list(iter_tasks(tasks))
    assert isinstance(item, InputError) and f"unknown key {key!r}" in item.one_line()
    assert "input_text" in item.one_line() and "output_name" in item.one_line()   # the fix lists the known keys


def test_field_map_is_documented() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "engine.md").read_text(encoding="utf-8")
    for key in FIELD_MAP:
        assert f"`{key}`" in doc, key


def test_cli_prints_redone_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = _lines(tmp_path / "t.jsonl", [{"input_text": "你好。", "name": "a"}])
    out = tmp_path / "out"
    for text in ("你好。", "再见。"):
        _lines(tasks, [{"input_text": text, "name": "a"}])
        with pytest.raises(SystemExit) as exc:
            run_main(cli, ["batch", str(tasks), "--out", str(out)])
        assert exc.value.code == 0
    cap = capsys.readouterr()
    assert "1 task(s) changed since the last run were made again" in cap.err
    assert "[✓] Task 1 succeeded: a (changed since the last run: made again)" in cap.out
