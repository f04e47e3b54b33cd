"""analyzer.read on real formats: loguru JSON written by loguru, plain text + tracebacks, gz rotations,
stdin, time-ordered merge, load_logs."""
from __future__ import annotations

import gzip
import io
import json
import sys
from datetime import datetime, timezone

import pytest

from analyzer.read import LineParser, ReadStats, expand_paths, load_logs, read_records

TB_LOG = """2024-06-15 14:22:03,102 [ERROR] synthesis failed for request r-1
Traceback (most recent call last):
  File "/app/engine/synth.py", line 42, in synthesize
    audio = backend.run(text)
RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB
2024-06-15 14:22:04,000 [INFO] next request ok
    continuation without a header
2024-06-15 14:22:05,500 [WARNING] slow: 3.2s
"""


def test_loguru_serialize_written_by_loguru(tmp_path):
    from loguru import logger

    path = tmp_path / "inference.log"
    sink = logger.add(path, serialize=True, level="DEBUG")
    try:
        logger.bind(request_id="req-1", event="synthesis_success", rtf=0.12).info("synthesized {n} chars", n=5)
        try:
            1 / 0
        except ZeroDivisionError:
            logger.bind(request_id="req-2", event="synthesis_error").exception("synthesis failed")
    finally:
        logger.remove(sink)
    stats = ReadStats()
    recs = list(read_records([path], stats=stats))
    assert [r.message for r in recs] == ["synthesized 5 chars", "synthesis failed"]
    assert recs[0].level == "INFO" and recs[1].level == "ERROR"
    assert recs[0].fields["request_id"] == "req-1" and recs[0].fields["rtf"] == 0.12
    assert recs[0].time is not None and recs[0].time.tzinfo is not None
    assert recs[1].fields["exception_type"] == "ZeroDivisionError"
    assert recs[1].traceback and "ZeroDivisionError" in recs[1].traceback
    assert [r.line for r in recs] == [1, 2]
    assert stats.bad_line_count == 0 and stats.records == 2


def test_plain_text_traceback_joins_its_record(tmp_path):
    p = tmp_path / "console.log"
    p.write_text(TB_LOG)
    recs = list(read_records([p]))
    assert len(recs) == 3
    first = recs[0]
    assert first.level == "ERROR" and first.message == "synthesis failed for request r-1"
    assert first.traceback.startswith("Traceback (most recent call last):")
    assert "CUDA out of memory" in first.traceback and first.line == 1
    assert "continuation without a header" in recs[1].raw and recs[1].line == 6
    assert recs[2].level == "WARNING" and recs[2].line == 8
    assert recs[0].time == datetime(2024, 6, 15, 14, 22, 3, 102000, tzinfo=timezone.utc)


@pytest.mark.parametrize("line,level,message", [
    ("2024-06-15 14:22:03,102 [ERROR] boom", "ERROR", "boom"),
    ("2024-06-15 14:22:03.102 | WARNING  | engine.synth:run:42 - slow", "WARNING", "slow"),
    ("2024-06-15T14:22:03Z INFO started", "INFO", "started"),
    ("2024-06-15 14:22:03,1 - app.x - CRITICAL - down", "CRITICAL", "down"),
    ("Jun 15 14:22:03 host prog[123]: syslog says hi", None, "syslog says hi"),
    ('{"event": "structlog", "level": "warning", "timestamp": "2024-06-15T14:22:03Z"}', "WARNING", "structlog"),
    ('{"@timestamp": "2024-06-15T14:22:03Z", "message": "logstash", "level": "ERROR"}', "ERROR", "logstash"),
    ('{"msg": "common", "severity": "info", "ts": 1718461323.5}', "INFO", "common"),
    ("[Sun Dec 04 04:47:44 2005] [error] mod_jk child in error state 6", "ERROR", "mod_jk child in error state 6"),
])
def test_prefix_formats(line, level, message):
    kind, rec = LineParser().parse(line, "f", 1)
    assert kind == "rec"
    assert rec.level == level and rec.message == message
    assert rec.time is not None


def test_logparser_format():
    p = LineParser("<Date> <Time> <Pid> <Level> <Component>: <Content>")
    kind, rec = p.parse("081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating", "f", 1)
    assert kind == "rec" and rec.message == "PacketResponder 1 terminating" and rec.level == "INFO"
    assert rec.fields["Component"] == "dfs.DataNode$PacketResponder"
    assert rec.time == datetime(2008, 11, 9, 20, 36, 15, tzinfo=timezone.utc)


def test_gz_rotations_merge_in_time_order(tmp_path):
    (tmp_path / "app.log").write_text("2024-06-15 10:00:02 INFO c\n2024-06-15 10:00:04 INFO e\n")
    with gzip.open(tmp_path / "app.log.1.gz", "wt") as f:
        f.write("2024-06-15 10:00:01 INFO b\n2024-06-15 10:00:03 INFO d\n")
    (tmp_path / "app.log.2").write_text("2024-06-15 10:00:00 INFO a\n")
    (tmp_path / "notes.bin").write_bytes(b"\x00\x01")  # not a log name: not picked from a folder
    stats = ReadStats()
    msgs = [r.message for r in read_records([tmp_path], stats=stats)]
    assert msgs == ["a", "b", "c", "d", "e"]
    assert len(stats.files) == 3


def test_truncated_gz_keeps_what_was_read(tmp_path):
    data = "".join(f"2024-06-15 10:00:{i % 60:02d} INFO line {i}\n" for i in range(5000)).encode()
    blob = gzip.compress(data)
    p = tmp_path / "app.log.1.gz"
    p.write_bytes(blob[: len(blob) // 2])
    stats = ReadStats()
    recs = list(read_records([p], stats=stats))
    assert 0 < len(recs) < 5000
    assert recs[0].message == "line 0"
    assert any("truncated" in w for w in stats.warnings)


def test_stdin(monkeypatch):
    fake = io.TextIOWrapper(io.BytesIO(b"2024-06-15 10:00:00 ERROR from stdin\n"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", fake)
    recs = list(read_records(["-"]))
    assert recs[0].message == "from stdin" and recs[0].file == "<stdin>"


def test_globs_and_dedup(tmp_path):
    (tmp_path / "a.log").write_text("x\n")
    (tmp_path / "b.jsonl").write_text('{"message": "y"}\n')
    files = expand_paths([str(tmp_path / "*.log"), str(tmp_path), str(tmp_path / "a.log")])
    assert sorted(map(lambda s: s.rsplit("/", 1)[-1], files)) == ["a.log", "b.jsonl"]


def test_time_inherited_and_streaming(tmp_path):
    p = tmp_path / "x.log"
    p.write_text("2024-06-15 10:00:00 INFO a\nplain line\n")
    recs = list(read_records([p]))
    assert recs[-1].time == recs[0].time


def test_load_logs_dataframe(tmp_path):
    p = tmp_path / "inference.jsonl"
    rows = [{"message": f"request {i} done in {i * 10} ms", "level": "INFO", "time": f"2024-06-15T10:00:0{i}Z",
             "request_id": f"r{i}"} for i in range(5)]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    df = load_logs([p])
    assert len(df) == 5
    assert {"time", "level", "message", "file", "line", "request_id", "template_id", "template"} <= set(df.columns)
    assert df["template_id"].nunique() == 1
    assert "<*>" in df["template"].iloc[0]
    assert str(df["time"].dtype).startswith("datetime64")


def test_traceback_logged_line_by_line_with_headers(tmp_path):
    h = "2026-11-20 09:23:24.039 | ERROR    | console   | engine.synth:_log_error:370 - "
    p = tmp_path / "console.log"
    p.write_text(
        "2026-11-20 09:23:20.000 | INFO     | console   | engine.synth:_banner:182 - started\n"
        + h + "synthesis failed for request r-7\n"
        + h + "Traceback (most recent call last):\n"
        + h + '  File "/app/engine/synth.py", line 246, in synthesize\n'
        + h + "    audio = backend.synthesize(seg.text, voice)\n"
        + h + "OSError: libttsfrd.so: cannot open shared object file\n"
        + h + "synthesis failed for request r-8\n")
    recs = list(read_records([p]))
    assert [r.message for r in recs] == ["started", "synthesis failed for request r-7",
                                         "synthesis failed for request r-8"]
    assert recs[1].traceback.startswith("Traceback") and recs[1].traceback.endswith("shared object file")
    assert recs[0].fields == {} and recs[1].level == "ERROR"


def test_traceback_only_record_takes_the_exception_line(tmp_path):
    h = "2026-11-20 09:23:24.009 | ERROR    | engine.faults:_console:159 - "
    p = tmp_path / "c.log"
    p.write_text("2026-11-20 09:23:24.000 | INFO     | x:y:1 - before\n" + h + "Traceback (most recent call last):\n"
                 + h + '  File "m.py", line 3, in load\n' + h + "ImportError: libttsfrd.so: cannot open\n")
    recs = list(read_records([p]))
    assert len(recs) == 2
    assert recs[1].message == "ImportError: libttsfrd.so: cannot open"
    assert recs[1].traceback.startswith("Traceback (most recent call last):")


def test_folder_walk_skips_ground_truth_and_batch_outputs(tmp_path):
    """labels.jsonl / manifest.jsonl / failed.jsonl describe a run; a folder walk must not read them
    as log records (naming one explicitly still reads it)."""
    from analyzer.read import ReadStats, expand_paths, read_records

    (tmp_path / "app.log").write_text("2024-06-15 14:22:03,102 [ERROR] boom\n", encoding="utf-8")
    for name in ("labels.jsonl", "manifest.jsonl", "failed.jsonl"):
        (tmp_path / name).write_text('{"fault": "cuda_oom", "start": "2024-06-15T14:22:00+00:00"}\n',
                                     encoding="utf-8")
    assert [p.rsplit("/", 1)[-1] for p in expand_paths([tmp_path])] == ["app.log"]
    stats = ReadStats()
    assert [r.message for r in read_records([tmp_path], stats=stats)] == ["boom"]
    assert len(list(read_records([tmp_path / "labels.jsonl"]))) == 1
