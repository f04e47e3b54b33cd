"""Container and collector envelopes, recognised with no flag: the shipped console log wrapped the
way Docker (json-file), Kubernetes (CRI, with partial lines), journald (json, export), OpenTelemetry,
ECS and ``docker compose`` store it reads as the plain file does, down to the root causes."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from analyzer.pipeline import analyze
from analyzer.read import ReadStats, read_records

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "data" / "samples" / "logs" / "console.log"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def _lines() -> list[str]:
    return CONSOLE.read_text(encoding="utf-8").splitlines()


def _ts(i: int) -> str:
    return (T0 + timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def _causes(path: Path) -> list[str]:
    return sorted(i.root_cause.kb_id for i in analyze([str(path)]).incidents)


@pytest.fixture(scope="module")
def plain_causes() -> list[str]:
    causes = _causes(CONSOLE)
    assert len(causes) >= 8  # the shipped console log holds the engine's injected faults
    return causes


def test_docker_json_file(tmp_path: Path, plain_causes: list[str]) -> None:
    p = tmp_path / "abc-json.log"
    with p.open("w", encoding="utf-8") as f:
        for i, line in enumerate(_lines()):
            if len(line) > 150:  # docker splits long lines into pieces without a newline
                f.write(json.dumps({"log": line[:100], "stream": "stderr", "time": _ts(i)}) + "\n")
                line = line[100:]
            f.write(json.dumps({"log": line + "\n", "stream": "stderr", "time": _ts(i)}) + "\n")
    assert _causes(p) == plain_causes
    stats = ReadStats()
    recs = list(read_records([p], stats=stats))
    assert stats.facts[str(p)].envelope == "docker" and recs[0].fields["stream"] == "stderr"
    assert len(recs) == len(list(read_records([CONSOLE])))


def test_kubernetes_cri_with_partial_lines(tmp_path: Path, plain_causes: list[str]) -> None:
    p = tmp_path / "tts_default_engine-0.log"
    with p.open("w", encoding="utf-8") as f:
        for i, line in enumerate(_lines()):
            while len(line) > 60:
                f.write(f"{_ts(i)} stdout P {line[:60]}\n")
                line = line[60:]
            f.write(f"{_ts(i)} stdout F {line}\n")
    assert _causes(p) == plain_causes
    plain = [r.message for r in read_records([CONSOLE])]
    assert [r.message for r in read_records([p])] == plain


def test_compose_prefix_and_quoted_paste(tmp_path: Path, plain_causes: list[str]) -> None:
    comp = tmp_path / "compose.log"
    comp.write_text("".join(f"tts-engine-1  | {x}\n" for x in _lines()), encoding="utf-8")
    assert _causes(comp) == plain_causes
    quoted = tmp_path / "issue.md.txt"
    quoted.write_text("".join(f"> {x}\n" for x in _lines()), encoding="utf-8")
    assert _causes(quoted) == plain_causes


TRACEBACK = ["Traceback (most recent call last):", '  File "/app/tts.py", line 12, in synth',
             "    wav = model(text)", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"]


def test_journald_json_and_export(tmp_path: Path) -> None:
    base = 1795165200_000000
    j = tmp_path / "journal.json"
    rows = [{"__REALTIME_TIMESTAMP": str(base), "PRIORITY": "6", "_SYSTEMD_UNIT": "tts.service",
             "MESSAGE": "Loading model"}]
    rows += [{"__REALTIME_TIMESTAMP": str(base + 1000 * (k + 1)), "PRIORITY": "6", "_SYSTEMD_UNIT": "tts.service",
              "MESSAGE": line} for k, line in enumerate(TRACEBACK)]
    rows.append({"__REALTIME_TIMESTAMP": str(base + 9000), "PRIORITY": "3", "MESSAGE": list(b"bytes \xff message")})
    j.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    recs = list(read_records([j]))
    assert [r.level for r in recs] == [None, "ERROR", "ERROR"]
    assert recs[1].message.startswith("torch.OutOfMemoryError") and recs[1].fields["unit"] == "tts.service"
    assert recs[1].time == datetime.fromtimestamp((base + 1000) / 1e6, timezone.utc)
    assert recs[2].message.startswith("bytes ")
    # -o export: the traceback as one binary-safe MESSAGE field (length-prefixed, newlines inside)
    msg = "\n".join(TRACEBACK).encode()
    e = tmp_path / "journal.export"
    e.write_bytes(b"__CURSOR=s=1\n__REALTIME_TIMESTAMP=%d\nPRIORITY=3\n_TRANSPORT=journal\nSYSLOG_IDENTIFIER=tts\n"
                  b"MESSAGE\n" % base + struct.pack("<Q", len(msg)) + msg + b"\n\n"
                  + b"__CURSOR=s=2\n__REALTIME_TIMESTAMP=%d\n_TRANSPORT=journal\nMESSAGE=after\n\n" % (base + 5))
    stats = ReadStats()
    recs = list(read_records([e], stats=stats))
    assert stats.facts[str(e)].envelope == "journald-export"
    assert [r.message for r in recs] == [TRACEBACK[-1], "after"]
    assert recs[0].level == "ERROR" and recs[0].traceback.endswith("2.00 GiB") and recs[0].fields["identifier"] == "tts"
    assert [i.root_cause.kb_id for i in analyze([str(e)]).incidents] == ["cuda_oom"]


def test_opentelemetry_and_ecs(tmp_path: Path) -> None:
    otlp = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "tts"}}]},
                              "scopeLogs": [{"logRecords": [
        {"timeUnixNano": "1795165200000000000", "severityText": "INFO", "body": {"stringValue": "ready"}},
        {"timeUnixNano": "1795165201000000000", "severityNumber": 17, "body": {"stringValue": "synthesis failed"},
         "attributes": [{"key": "exception.type", "value": {"stringValue": "OSError"}},
                        {"key": "exception.stacktrace",
                         "value": {"stringValue": "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
                                                  "OSError: [Errno 28] No space left on device"}}]}]}]}]}
    flat = {"timeUnixNano": 1795165202000000000, "severityText": "WARN", "body": "disk almost full"}
    ecs = {"@timestamp": "2026-11-20T09:00:03.000Z", "log.level": "error", "message": "request failed",
           "ecs.version": "1.6.0", "service": {"name": "tts"},
           "error": {"type": "PermissionError", "stack_trace": "Traceback (most recent call last):\n"
                     "  File \"a.py\", line 2\nPermissionError: [Errno 13] Permission denied: '/models'"}}
    p = tmp_path / "otel.jsonl"
    p.write_text("\n".join(json.dumps(x) for x in (otlp, flat, ecs)) + "\n", encoding="utf-8")
    recs = list(read_records([p]))
    assert [(r.message, r.level) for r in recs] == [("ready", "INFO"), ("synthesis failed", "ERROR"),
                                                    ("disk almost full", "WARNING"), ("request failed", "ERROR")]
    assert recs[1].fields["service.name"] == "tts" and recs[1].fields["error_type"] == "OSError"
    assert recs[1].traceback.endswith("No space left on device")
    assert recs[3].fields["error_type"] == "PermissionError" and "Permission denied" in recs[3].traceback
    assert [i.root_cause.kb_id for i in analyze([str(p)]).incidents] == ["disk_full", "permission_denied"]


def test_docker_logs_piped_into_stdin(tmp_path: Path) -> None:
    """`docker logs c | tts-analyze -`: the inner text, ANSI colours and all, reads as the file does."""
    exe = Path(sys.executable).with_name("tts-analyze")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "analyzer.cli"]
    colored = "\n".join(["\x1b[32mINFO\x1b[0m:     Started server process [7]"] +
                        [f"\x1b[31m{x}\x1b[0m" if x.startswith("torch") else x for x in TRACEBACK]) + "\n"
    p = subprocess.run(cmd + ["-", "--format", "json"], input=colored.encode(), capture_output=True, timeout=120)
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    assert [i["root_cause"]["kb_id"] for i in doc["incidents"]] == ["cuda_oom"]
    assert doc["bad_lines"] == []
