"""Fuzz: batch task files. Any line gives a Task or an InputError naming its line; a run over any file
accounts for every task (succeeded + failed = total, the manifest holds the successes, failed.jsonl
the failures) and a rerun resumes exactly the successes."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.batch import run_batch
from engine.tasks import FIELD_MAP, Task, iter_tasks, retry_line, task_fingerprint
from engine.config import EngineConfig
from ttsops.errors import InputError, TtsopsError

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CFG = EngineConfig(log_dir=None)

leaf = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(),
                 st.text(max_size=20), st.sampled_from(["你好。", "zh_female_1", "happy", "espeak", "a.wav", "../x",
                                                        "utt_1.wav", "/etc/passwd", "", " ", "\ud800"]))
value = st.recursive(leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                      max_size=2), max_leaves=5)
keys = st.one_of(st.sampled_from(list(FIELD_MAP)), st.text(max_size=8))
task_obj = st.dictionaries(keys, value, max_size=6).map(
    lambda d: {"input_text": "你好。", **d} if len(d) % 2 else d)        # about half keep a valid text


def _dump(obj: object) -> bytes:
    try:
        return json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj).encode("ascii")


# near-valid tasks: known keys only, values drawn from good and hostile ones
near_valid = st.fixed_dictionaries(
    {"input_text": st.one_of(st.sampled_from(["你好。", "Hello, world.", "今天25°C。", "123456789012345678901234567890",
                                              "a\u0007b", "\ud800", " ", "😀 ok"]), st.text(min_size=1, max_size=30))},
    optional={"name": st.one_of(st.sampled_from(["a", "b.wav", "../x", "x/y", ".hidden", "长名字"]), st.text(max_size=8)),
              "output_name": st.sampled_from(["a", "utt_1.wav", "C:\\x", ""]),
              "speaker": st.sampled_from(["zh_female_1", "en_male_1", "ghost", ""]),
              "emotion": st.one_of(st.sampled_from(["happy", "sad", "ecstatic"]), st.none(), st.integers()),
              "duration_ratio": st.one_of(st.floats(), st.integers(-10, 10), st.just(10 ** 400)),
              "seed": st.one_of(st.integers(-5, 2 ** 33), st.booleans(), st.floats()),
              "sample_rate": st.one_of(st.sampled_from([8000, 16000, 24000, 44100, 96000, 7999, 10 ** 9]), st.floats()),
              "prompt_text": st.one_of(st.text(max_size=10), st.integers()),
              "prompt_audio": st.sampled_from(["missing.wav", "../../etc/passwd", "/etc/passwd", "", "\x00"]),
              "backend": st.sampled_from(["espeak", "festival", ""])})
line = st.one_of(task_obj.map(_dump), near_valid.map(_dump), near_valid.map(_dump), st.binary(max_size=60),
                 st.sampled_from([b"[]", b"null", b"{", b'{"input_text": NaN}', b'{"a": ' * 50, b"\xef\xbb\xbf{}",
                                  b'{"duration_ratio": 1' + b"0" * 400 + b', "input_text": "x"}']))


class QuickEngine:
    """Stands in for the engine (the runner's bookkeeping is under test, not eSpeak): a short tone,
    or the InputError the engine would raise for text it refuses."""

    def __init__(self) -> None:
        from engine.logs import EngineLogs
        self.logs = EngineLogs(None)

    def synthesize(self, req, cancel=None):  # noqa: ANN001, ANN201
        from engine.synth import SynthResult
        from engine.text import prepare
        prepare(req.text, max_length=2000)                    # the engine's own text rules
        y = (0.2 * np.sin(np.arange(2205) / 5)).astype(np.float32)
        return SynthResult(y, 22050, "req-x", len(y) / 22050)

    def close(self) -> None:
        self.logs.close()


@FUZZ
@given(lines=st.lists(line, min_size=1, max_size=8))
def test_every_line_is_a_task_or_an_error_naming_it(tmp_path_factory, lines: list[bytes]) -> None:
    path = tmp_path_factory.mktemp("t") / "tasks.jsonl"
    path.write_bytes(b"\n".join(x.replace(b"\n", b" ") for x in lines) + b"\n")
    for n, item in iter_tasks(path):
        if isinstance(item, InputError):
            assert item.one_line().startswith(f"line {n}: ")
            raw = getattr(item, "raw", b"")
            if raw:
                retry_line(raw.rstrip(b"\r\n"), n)                  # never raises
        else:
            assert isinstance(item, Task) and item.input_text.strip() and math.isfinite(item.duration_ratio)
            assert len(task_fingerprint(item, CFG)) == 64
            again = json.loads(retry_line(item.raw, n).decode("utf-8"))
            assert again.get("name", again.get("output_name")) is not None


@FUZZ
@given(lines=st.lists(line, min_size=1, max_size=6))
def test_run_accounts_for_every_task_and_resumes_the_successes(tmp_path_factory, lines: list[bytes]) -> None:
    d = tmp_path_factory.mktemp("b")
    path = d / "tasks.jsonl"
    path.write_bytes(b"\n".join(x.replace(b"\n", b" ") for x in lines) + b"\n")
    eng = QuickEngine()
    try:
        try:
            first = run_batch(path, d / "out", config=CFG, engine=eng)
        except TtsopsError as exc:                           # only an empty file may refuse the whole run
            assert "no tasks" in exc.one_line()
            return
        assert first.succeeded + first.failed == first.total
        manifest = [json.loads(x) for x in (d / "out" / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
        assert len(manifest) == first.succeeded and len({m["name"] for m in manifest}) == first.succeeded
        assert all((d / "out" / m["path"]).is_file() for m in manifest)
        failed = [x for x in (d / "out" / "failed.jsonl").read_bytes().split(b"\n") if x]
        assert len(failed) <= first.failed
        again = run_batch(path, d / "out", config=CFG, engine=eng)
        assert (again.resumed, again.succeeded, again.failed) == (first.succeeded, first.succeeded, first.failed)
    finally:
        eng.close()
