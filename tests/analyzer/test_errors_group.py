"""Exception grouping: same error from different requests -> one group; different stack -> another;
no message text or user content stored."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from analyzer.errors_group import ErrorGrouper, module_of, normalise_traceback
from analyzer.read import read_records
from analyzer.records import Record

T0 = datetime(2024, 6, 15, 10, 0, tzinfo=timezone.utc)


def tb(site: str, line: int, func: str = "forward", value: str = "CUDA out of memory") -> str:
    return ("Traceback (most recent call last):\n"
            f'  File "{site}/engine/synth.py", line {line}, in synthesize\n'
            "    audio = self.backend.run(text)\n"
            f'  File "{site}/lib/python3.11/site-packages/torch/nn/modules/module.py", line {line + 7}, in {func}\n'
            "    return self._call_impl(*args)\n"
            f"torch.cuda.OutOfMemoryError: {value}")


def rec(traceback: str, rid: str, minutes: int, text: str = "secret user sentence") -> Record:
    return Record(T0 + timedelta(minutes=minutes), "ERROR", f"synthesis failed for '{text}'", "inference.log", minutes + 1,
                  {"request_id": rid, "backend": "kokoro", "speaker": "zh_female_1", "text": text}, "", traceback)


def test_same_error_different_requests_one_group():
    g = ErrorGrouper()
    a = g.add(rec(tb("/srv/a", 42, value="Tried to allocate 2.00 GiB"), "r1", 0))
    b = g.add(rec(tb("/home/x/venv", 57, value="Tried to allocate 3.50 GiB"), "r2", 5))
    assert a is b and a.count == 2
    assert a.error_type == "torch.cuda.OutOfMemoryError"
    assert a.frames == ["engine.synth:synthesize", "torch.nn.modules.module:forward"]
    assert a.request_ids == ["r1", "r2"]
    assert a.first_seen == T0 and a.last_seen == T0 + timedelta(minutes=5)
    assert a.context["backend"] == {"kokoro": 2}


def test_different_stack_or_type_different_group():
    g = ErrorGrouper()
    a = g.add(rec(tb("/srv", 1), "r1", 0))
    b = g.add(rec(tb("/srv", 1, func="backward"), "r2", 1))
    c = g.add(rec(tb("/srv", 1).replace("torch.cuda.OutOfMemoryError", "RuntimeError"), "r3", 2))
    assert len({a.fingerprint, b.fingerprint, c.fingerprint}) == 3
    assert [x.count for x in g.top()] == [1, 1, 1]


def test_no_user_content_stored():
    g = ErrorGrouper()
    for i in range(3):
        g.add(rec(tb("/srv", 10, value="input 'my private words' was bad"), f"r{i}", i, text="my private words"))
    dumped = json.dumps(g.to_dicts())
    assert "private" not in dumped and "secret" not in dumped and "Tried" not in dumped
    assert "text" not in g.top()[0].context


def test_error_type_field_without_traceback_and_non_errors():
    g = ErrorGrouper()
    r = Record(T0, "ERROR", "bad ratio", "f", 1, {"error_type": "InputError", "request_id": "q"})
    assert g.add(r).error_type == "InputError"
    assert g.add(Record(T0, "INFO", "fine", "f", 2, {})) is None
    assert ErrorGrouper(include_error_level=True).add(Record(T0, "ERROR", "x", "f", 3, {}), template_id=7) is not None


def test_chained_exception_uses_the_root_and_bounded():
    chained = tb("/srv", 3).replace("torch.cuda.OutOfMemoryError", "KeyError") + \
        "\n\nDuring handling of the above exception, another exception occurred:\n\n" + tb("/srv", 9)
    etype, frames = normalise_traceback(chained)
    assert etype == "KeyError" and len(frames) == 2
    g = ErrorGrouper(max_groups=2)
    for i in range(5):
        g.add(Record(T0, "ERROR", "m", "f", i, {"error_type": f"E{i}Error"}))
    assert len(g.groups) == 2 and g.overflow == 3


def test_module_of():
    assert module_of("/x/lib/python3.11/site-packages/torch/nn/functional.py") == "torch.nn.functional"
    assert module_of("C:\\app\\engine\\synth.py") == "engine.synth"
    assert module_of("<frozen runpy>") == "<frozen runpy>"


def test_from_plain_text_log(tmp_path):
    p = tmp_path / "console.log"
    p.write_text("2024-06-15 10:00:00,000 [ERROR] failed request r-1\n" + tb("/srv", 4) + "\n"
                 "2024-06-15 10:00:05,000 [ERROR] failed request r-2\n" + tb("/opt", 8) + "\n")
    g = ErrorGrouper()
    for r in read_records([p]):
        g.add(r)
    (only,) = g.top()
    assert only.count == 2 and only.first_location == f"{p}:1"
