"""Bad-input corpus for `tts-engine batch` (and `synth`): each gets one clear line, the documented
exit code (0 all good, 1 some task failed, 2 unusable input), the good tasks are still processed, and
nothing prints a traceback."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.cli import cli
from ttsops.cli import run_main

GOOD = json.dumps({"input_text": "你好,世界。", "name": "good"}, ensure_ascii=False).encode()


def J(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


# (id, file content or special marker, exit code, text expected in the output, good tasks succeeded)
CASES: list[tuple[str, object, int, str, int]] = [
    ("path_traversal", [GOOD, J({"input_text": "x", "prompt_audio": "../../etc/passwd"})], 1,
     "path traversal rejected", 1),
    ("absolute_path_outside", [GOOD, J({"input_text": "x", "prompt_audio": "/etc/passwd"})], 1,
     "path traversal rejected", 1),
    ("huge_text", [GOOD, J({"input_text": "长" * 100_000})], 1, "the limit is 2000", 1),
    ("control_chars", [GOOD, J({"input_text": "bell\u0007here"})], 1,
     "Text preprocessing failed: invalid unicode sequence at pos 4", 1),
    ("lone_surrogate", [GOOD, b'{"input_text": "bad \\ud800 half"}'], 1, "invalid unicode sequence at pos 4", 1),
    ("invalid_json", [GOOD, b'{"input_text": "unterminated'], 1, "invalid JSON", 1),
    ("binary_garbage", [GOOD, bytes(b for b in range(256) if b != 10) * 4], 1, "not valid UTF-8", 1),
    ("non_utf8_latin1", [GOOD, '{"input_text": "café crème"}'.encode("latin-1")], 1, "not valid UTF-8", 1),
    ("empty_file", [], 2, "no tasks", 0),
    ("blank_lines_only", [b"", b"   ", b""], 2, "no tasks", 0),
    ("ratio_wrong_type", [GOOD, J({"input_text": "x", "duration_ratio": "fast"})], 1,
     "duration_ratio must be a number", 1),
    ("ratio_out_of_range", [GOOD, J({"input_text": "x", "duration_ratio": 3})], 1, "outside [0.75, 1.25]", 1),
    ("ratio_nan", [GOOD, b'{"input_text": "x", "duration_ratio": NaN}'], 1, "outside [0.75, 1.25]", 1),
    ("unknown_emotion", [GOOD, J({"input_text": "x", "emotion": "ecstatic"})], 1, "unknown emotion 'ecstatic'", 1),
    ("unknown_speaker", [GOOD, J({"input_text": "x", "speaker": "darth"})], 1, "unknown speaker 'darth'", 1),
    ("unknown_backend", [GOOD, J({"input_text": "x", "backend": "festival"})], 1, "unknown backend", 1),
    ("missing_input_text", [GOOD, J({"name": "lonely"})], 1, "missing input_text", 1),
    ("input_text_not_string", [GOOD, J({"input_text": 42})], 1, "input_text must be a non-empty string", 1),
    ("json_array_line", [GOOD, b"[1, 2, 3]"], 1, "expected a JSON object, got list", 1),
    ("duplicate_names", [GOOD, GOOD], 1, "duplicate task name 'good'", 1),
    ("name_with_slash", [GOOD, J({"input_text": "x", "name": "../evil"})], 1, "invalid name", 1),
    ("seed_bool", [GOOD, J({"input_text": "x", "seed": True})], 1, "seed must be an integer", 1),
    ("prompt_is_directory", [GOOD, J({"input_text": "x", "prompt_audio": "adir"})], 1, "prompt audio not found", 1),
    ("prompt_not_audio", [GOOD, J({"input_text": "x", "prompt_audio": "notes.wav"})], 1, "cannot be decoded", 1),
    ("prompt_silent", [GOOD, J({"input_text": "x", "prompt_audio": "silent.wav"})], 1, "Reference audio is silent", 1),
    ("very_long_line", [GOOD, b'{"input_text": "' + b"a" * 2_000_000 + b'"}'], 1, "line longer than", 1),
    ("bom_and_crlf", [b"\xef\xbb\xbf" + GOOD + b"\r", J({"input_text": "Hi.", "name": "two"}) + b"\r"], 0,
     "Batch completed: 2/2 tasks succeeded", 2),
    ("tasks_is_directory", "DIR", 2, "tasks file is a directory", 0),
    ("tasks_missing", "MISSING", 2, "tasks file not found", 0),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_batch_input(case: tuple, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name, content, code, expected, good = case
    (tmp_path / "adir").mkdir()
    (tmp_path / "notes.wav").write_text("not audio")
    sf.write(tmp_path / "silent.wav", np.zeros(16000 * 6, dtype=np.float32), 16000)
    tasks = tmp_path / "tasks.jsonl"
    if content == "DIR":
        tasks.mkdir()
    elif content != "MISSING":
        tasks.write_bytes(b"\n".join(content) + (b"\n" if content else b""))  # type: ignore[arg-type]
    with pytest.raises(SystemExit) as exc:
        run_main(cli, ["batch", str(tasks), "--out", str(tmp_path / "out")])
    out = capsys.readouterr()
    text = out.out + out.err
    assert exc.value.code == code, text
    assert expected in text, text
    assert "Traceback" not in text
    wavs = sorted(p.stem for p in (tmp_path / "out").glob("*.wav")) if (tmp_path / "out").exists() else []
    assert len(wavs) == good
    if code == 1:
        failed = [ln for ln in (tmp_path / "out" / "failed.jsonl").read_bytes().split(b"\n") if ln]
        assert len(failed) == (0 if name == "very_long_line" else 1)  # a 2 MB line is not copied back
        err_lines = [ln for ln in out.out.splitlines() if ln.startswith("[✗]")]
        assert len(err_lines) == 1 and len(err_lines[0]) < 400  # one clear line
    if code == 2:
        assert out.err.startswith("error: ") and len(out.err.strip().splitlines()) == 1


@pytest.mark.parametrize("args,expected", [
    (["synth", "a\x00b", "-o", "{tmp}/x.wav"], "invalid unicode sequence at pos 1"),
    (["synth", "hello", "-o", "{tmp}/x.wav", "--duration-ratio", "9"], "outside [0.75, 1.25]"),
    (["synth", "hello", "-o", "{tmp}/x.wav", "--emotion", "bored"], "unknown emotion"),
    (["synth", "hello", "-o", "{tmp}/x.wav", "--ref-audio", "{tmp}/none.wav"], "Reference audio not found"),
    (["synth", "hello", "-o", "{tmp}/x.wav", "--inject", "gremlins"], "unknown fault"),
])
def test_bad_synth_input(args: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.format(tmp=tmp_path) for a in args] + ["--log-dir", str(tmp_path / "logs")]
    with pytest.raises(SystemExit) as exc:
        run_main(cli, argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and expected in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.wav").exists()


CONFIG_CASES = [  # (command the file is given to, file content, the key the error must name)
    ("synth", "[engine]\nsim_rate = nan\n", "engine.sim_rate"),
    ("synth", "[engine]\nmax_text_length = \"2000\"\n", "engine.max_text_length"),
    ("synth", "[engine]\nmax_text_length = 2000.0\n", "engine.max_text_length"),
    ("synth", "[engine]\nlog_stderr = 1\n", "engine.log_stderr"),
    ("synth", "[engine]\nreference_min_seconds = inf\n", "engine.reference_min_seconds"),
    ("synth", "[engine]\nmax_audio_seconds = -1.0\n", "engine.max_audio_seconds"),
    ("synth", "[engine]\nseed = -1\n", "engine.seed"),
    ("synth", "[engine]\ndefault_backend = \"festival\"\n", "engine.default_backend"),
    ("synth", "[engine]\nsim_start = \"yesterday\"\n", "engine.sim_start"),
    ("synth", "[engine]\nextra = 3\n", "engine.extra"),
    ("synth", "[engine]\nbogus = 1\n", "engine"),
    ("synth", "engine = 5\n", "engine"),
    ("synth", "[engine.inject]\nrate = nan\n", "inject.rate"),
    ("synth", "[engine.inject]\nrate = \"0.5\"\n", "inject.rate"),
    ("synth", "[engine.inject]\naftermath = [1]\n", "inject.aftermath"),
    ("synth", "[engine.inject]\nfaults = \"cuda_oom\"\n", "inject.faults"),
    ("synth", "[engine.inject]\nbogus = 1\n", "engine.inject"),
    ("supervise", "[supervisor]\nl1_interval_s = nan\n", "supervisor.l1_interval_s"),
    ("supervise", "[supervisor]\nport = \"8000\"\n", "supervisor.port"),
    ("supervise", "[supervisor]\nport = 70000\n", "supervisor.port"),
    ("supervise", "[supervisor]\nrestart_budget = 2.5\n", "supervisor.restart_budget"),
    ("supervise", "[supervisor]\ncache_dirs = \"/tmp\"\n", "supervisor.cache_dirs"),
    ("supervise", "[supervisor]\nbusy_window = 9\n", "supervisor.busy_window"),
    ("supervise", "[supervisor]\nbogus = 1\n", "[supervisor]"),
    ("supervise", "supervisor = []\n", "[supervisor]"),
]


@pytest.mark.parametrize("command,toml,key", CONFIG_CASES, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CONFIG_CASES)])
def test_bad_config(command: str, toml: str, key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(toml)
    args = {"synth": ["synth", "hi", "-o", str(tmp_path / "x.wav"), "--log-dir", str(tmp_path / "logs")],
            "supervise": ["supervise", "--max-runtime", "0.1"]}[command]
    with pytest.raises(SystemExit) as exc:
        run_main(cli, [*args, "--config", str(cfg)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith(f"error: {cfg}: {key}") and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and "unexpected" not in err and not (tmp_path / "x.wav").exists()


def test_library_warnings_are_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A warning raised inside an engine command (here by a back-end probe) is one `warning:` line,
    shown once, without Python's source path and line."""
    import warnings

    import engine.backends
    real = engine.backends.backend_statuses

    def noisy():  # noqa: ANN202
        for _ in range(2):
            warnings.warn("pkg_resources is deprecated as an API", UserWarning)
        return real()
    monkeypatch.setattr(engine.backends, "backend_statuses", noisy)
    with pytest.raises(SystemExit):
        run_main(cli, ["backends"])
    err = capsys.readouterr().err
    assert err.count("warning: pkg_resources is deprecated as an API (UserWarning)") == 1
    assert ".py:" not in err and "warnings.warn" not in err
