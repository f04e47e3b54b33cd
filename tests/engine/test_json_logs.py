"""`--log-format json`: the engine writes one flat JSON object a line to stdout (what Docker and
Kubernetes collect), and `tts-analyze` finds in it the same incidents as in the log files of the
same run: as captured, and wrapped as Docker json-file lines."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from engine.logs import EngineLogs, configure_process_logging, json_line, process_logging

EXE = str(Path(sys.executable).with_name("tts-engine"))
TEXTS = ["你好,世界。Hello, world.", "今天天气很好。", "The quick brown fox jumps over the lazy dog."]

pytestmark = pytest.mark.xdist_group("json-logs")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A fault-injected batch on a simulated clock, logging to files and to stdout as JSON."""
    d = tmp_path_factory.mktemp("jsonlogs")
    (d / "tasks.jsonl").write_text("".join(json.dumps({"input_text": TEXTS[i % 3], "name": f"t{i:03d}"},
                                                      ensure_ascii=False) + "\n" for i in range(160)), encoding="utf-8")
    with open(d / "stdout.jsonl", "wb") as out, open(d / "stderr.txt", "wb") as err:
        p = subprocess.run([EXE, "batch", str(d / "tasks.jsonl"), "-o", str(d / "out"), "--inject", "rate=0.25,seed=7",
                            "--simulate-clock", "-q", "--no-progress"], stdout=out, stderr=err, timeout=300,
                           env={**os.environ, "TTSOPS_LOG_FORMAT": "json"})
    assert p.returncode == 1, (d / "stderr.txt").read_text()
    return d


def incidents(path: Path) -> list[tuple]:
    """(severity, cause, start, end) to the millisecond (console.log's plain lines carry milliseconds)."""
    from analyzer.pipeline import analyze

    def ms(t: datetime) -> datetime:
        return t.replace(microsecond=t.microsecond // 1000 * 1000)
    return [(i.severity, i.root_cause.kb_id, ms(i.start), ms(i.end)) for i in analyze([path]).incidents]


def test_stdout_is_flat_json_and_the_human_lines_moved_to_stderr(run: Path) -> None:
    lines = (run / "stdout.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(x) for x in lines]                    # every line is one object
    assert len(records) > 300 and all("record" not in r and {"time", "level", "message"} <= set(r) for r in records)
    done = [r for r in records if r.get("event") == "synthesis_success"]
    assert done and all(r["channel"] == "inference" and r["request_id"].startswith("req-") and
                        isinstance(r["elapsed"], dict) for r in done)
    assert datetime.fromisoformat(records[0]["time"]).year == 2026                     # the simulated clock
    blocks = [r for r in records if r["channel"] == "console" and r["message"].startswith("Traceback")]
    assert blocks and all("\n" in r["message"] and "raw_index" not in r for r in blocks)   # one object a traceback
    assert "Batch completed:" in (run / "stderr.txt").read_text(encoding="utf-8")
    # the files of the same run have every JSON record too (console.log adds the plain copies)
    files = sum(1 for name in ("inference.log", "service.log", "health.log")
                for _ in (run / "out" / "logs" / name).open(encoding="utf-8"))
    assert files == sum(1 for r in records if r["channel"] in ("inference", "service", "health"))


def test_the_analyzer_finds_the_same_incidents_on_stdout_as_in_the_files(run: Path, tmp_path: Path) -> None:
    from_files = incidents(run / "out" / "logs")
    labels = [json.loads(x) for x in (run / "out" / "logs" / "labels.jsonl").read_text().splitlines()]
    assert len(from_files) >= 4 and {i[1] for i in from_files} <= {lab["fault"] for lab in labels}
    assert incidents(run / "stdout.jsonl") == from_files
    # as Docker's json-file driver stores it: the collector's own (real) time around each line
    t0 = datetime.now(timezone.utc)
    wrapped = tmp_path / "container-json.log"
    with open(run / "stdout.jsonl", encoding="utf-8") as src, open(wrapped, "w", encoding="utf-8") as dst:
        for n, line in enumerate(src):
            stamp = (t0 + timedelta(milliseconds=3 * n)).isoformat().replace("+00:00", "Z")
            dst.write(json.dumps({"log": line, "stream": "stdout", "time": stamp}) + "\n")
    assert incidents(wrapped) == from_files


def test_text_format_keeps_stdout_for_the_summary(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text('{"input_text": "Hello.", "name": "a"}\n', encoding="utf-8")
    p = subprocess.run([EXE, "batch", str(tmp_path / "t.jsonl"), "--out", str(tmp_path / "out"), "--format", "json"],
                       capture_output=True, text=True, timeout=120, env={**os.environ, "TTSOPS_LOG_FORMAT": "text"})
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)                                   # stdout is the summary alone
    assert doc["total"] == doc["succeeded"] == 1 and doc["failed"] == 0
    assert (tmp_path / "out" / "logs" / "inference.log").stat().st_size > 0


def test_json_line_flattens_and_keeps_what_would_collide(tmp_path: Path) -> None:
    import io
    buf = io.StringIO()
    previous = configure_process_logging(log_format="json", stream=buf)
    try:
        with EngineLogs(None) as logs:
            logs.inference.bind(event="x", request_id="r1", message="mine", level=3, elapsed={"a": 1.5}).info("hello")
            try:
                raise ValueError("boom")
            except ValueError:
                logs.service.opt(exception=True).error("failed")
            logs.raw_console("Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom", "ERROR")
    finally:
        configure_process_logging(log_format=previous.log_format, stream=previous.stream, sentry=previous.sentry)
    assert process_logging().log_format == previous.log_format
    a, b, c = (json.loads(x) for x in buf.getvalue().splitlines())
    assert a["message"] == "hello" and a["extra_message"] == "mine" and a["level"] == "INFO" and a["extra_level"] == 3
    assert a["elapsed"] == {"a": 1.5} and a["request_id"] == "r1" and a["channel"] == "inference"
    assert b["level"] == "ERROR" and "ValueError: boom" in b["traceback"]
    assert c["message"].count("\n") == 2 and c["level"] == "ERROR"
    with pytest.raises(ValueError):
        configure_process_logging(log_format="xml")
    assert json_line.__doc__
