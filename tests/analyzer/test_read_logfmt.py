"""logfmt and klog's structured lines (Go's loggers: the Docker daemon, containerd, Prometheus,
Grafana, every Kubernetes component) read as records: the message is the event, ``level=`` and
``time=`` the record's, the other pairs its fields; a line of pairs without a message stays text."""
from __future__ import annotations

import subprocess
from collections import Counter
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from analyzer.kb import load_kb
from analyzer.read import ReadStats, read_records
from analyzer.read.logfmt import klog_message, logfmt_object

# as the programs write them (the Docker daemon's lines under ``journalctl -u docker``)
DOCKERD = [
    'Jun 15 14:22:03 gpu1 dockerd[812]: time="2024-06-15T14:22:03.518265419Z" level=info msg="Loading containers: start."',
    'Jun 15 14:22:04 gpu1 dockerd[812]: time="2024-06-15T14:22:04.019231774Z" level=info msg="Loading containers: done."',
    'Jun 15 14:23:10 gpu1 dockerd[812]: time="2024-06-15T14:23:10.771032412Z" level=error msg="Handler for POST '
    '/v1.43/containers/3f2a9c/start returned error: could not select device driver \\"\\" with capabilities: [[gpu]]"',
]
CONTAINERD = ('time="2024-06-15T14:22:02.100812331Z" level=info msg="loading plugin '
              '\\"io.containerd.snapshotter.v1.overlayfs\\"..." type=io.containerd.snapshotter.v1')
PROMETHEUS = ('ts=2024-06-15T14:22:03.412Z caller=main.go:585 level=info msg="Starting Prometheus Server" '
              'mode=server version="(version=2.45.0, branch=HEAD, revision=8ef767e)"')
GRAFANA = 'logger=sqlstore t=2024-06-15T14:22:03.41+00:00 lvl=eror msg="Connecting to DB" dbtype=sqlite3'
KLOG = [
    'I0615 14:22:03.412345       1 controller.go:231] "Successfully synced" key="default/tts-0"',
    'E0615 14:22:05.001234       1 pod_workers.go:1298] "Error syncing pod, skipping" err="failed to '
    '\\"StartContainer\\" for \\"tts\\" with CrashLoopBackOff: \\"back-off 5m0s restarting failed container\\"" '
    'pod="default/tts-0"',
]


def _read(tmp_path: Path, lines: list[str]) -> list:
    p = tmp_path / "service.log"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    stats = ReadStats()
    recs = list(read_records([str(p)], stats=stats, merge=False))
    assert stats.bad_line_count == 0
    return recs


def test_go_loggers_lines_are_records(tmp_path):
    recs = _read(tmp_path, [CONTAINERD, PROMETHEUS, GRAFANA])
    assert [r.message for r in recs] == [
        'loading plugin "io.containerd.snapshotter.v1.overlayfs"...', "Starting Prometheus Server",
        "Connecting to DB"]
    assert [r.level for r in recs] == ["INFO", "INFO", "ERROR"]          # log15 / Grafana's ``eror``
    assert recs[0].time == datetime(2024, 6, 15, 14, 22, 2, 100812, tzinfo=timezone.utc)
    assert recs[2].time == datetime(2024, 6, 15, 14, 22, 3, 410000, tzinfo=timezone.utc)
    assert recs[0].fields == {"type": "io.containerd.snapshotter.v1"}
    assert recs[1].fields == {"caller": "main.go:585", "mode": "server",
                              "version": "(version=2.45.0, branch=HEAD, revision=8ef767e)"}


def test_under_a_syslog_header_the_pairs_give_level_time_and_message(tmp_path):
    recs = _read(tmp_path, DOCKERD)
    assert [r.level for r in recs] == ["INFO", "INFO", "ERROR"]
    assert recs[0].message == "Loading containers: start."
    assert recs[0].time == datetime(2024, 6, 15, 14, 22, 3, 518265, tzinfo=timezone.utc)   # the year of the pairs
    assert recs[2].fields["host"] == "gpu1" and recs[2].fields["program"] == "dockerd" and recs[2].fields["pid"] == 812
    # the unquoted message names the root cause the knowledge base knows
    entry = load_kb().match_record(recs[2])
    assert entry is not None and entry.id == "gpu_unavailable"


def test_klog_structured_messages(tmp_path):
    recs = _read(tmp_path, KLOG)
    assert [(r.level, r.message) for r in recs] == [("INFO", "Successfully synced"),
                                                    ("ERROR", "Error syncing pod, skipping")]
    assert recs[0].fields == {"source": "controller.go:231", "key": "default/tts-0"}
    assert recs[1].fields["err"].startswith('failed to "StartContainer" for "tts" with CrashLoopBackOff')
    assert klog_message("plain text after the header") is None


@pytest.mark.parametrize("line", [
    "step=10 loss=0.5 lr=0.001",                 # a training log's pairs: no message key
    "msg=hello world",                           # not all pairs
    'level=info msg="unterminated',              # a broken quote
    "msg=x",                                     # one pair
    "Loading model from /models/kokoro",
])
def test_what_is_not_logfmt_stays_text(line, tmp_path):
    assert logfmt_object(line) is None
    (rec,) = _read(tmp_path, [line])
    assert rec.message == line


def test_events_are_templates_of_their_own(tmp_path):
    """Before, the quoted ``msg`` was one variable among the fields: every event of one set of keys was
    one template (``level=<*> ts=<*> ... msg="<*>"``)."""
    events = ("Starting server", "TSDB started", "Server is ready to receive web requests.")
    lines = [f'level=info ts=2024-06-15T14:{i % 60:02d}:03.412Z caller=main.go:{100 + i} msg="{m}" n={i}'
             for i in range(60) for m in events]
    p = tmp_path / "prom.log"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "analyzer.cli", "templates", str(p), "--format", "csv"],
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2], check=True).stdout
    rows = [r.split(",", 2) for r in out.strip().splitlines()[1:]]      # LineId,EventId,EventTemplate
    assert len(rows) == 180
    assert Counter(r[2] for r in rows) == {e: 60 for e in events}
    assert len({r[1] for r in rows}) == 3


@pytest.mark.parametrize("line", ['a="' + "\\x" * (1 << 18), "k=v " * (1 << 18) + 'k="', "a=" + "=" * (1 << 20)])
def test_a_one_mib_line_of_pairs_is_read_in_linear_time(line):
    import time
    t0 = time.perf_counter()
    assert logfmt_object(line) is None
    assert time.perf_counter() - t0 < 60  # milliseconds here; a backtracking pattern takes minutes


def test_a_log_format_whose_content_is_logfmt(tmp_path):
    """``--log-format '<Month> <Day> <Time> <Host> <Proc>: <Content>'`` on the Docker daemon's journal:
    the content's pairs are read as on the plain path, so its events are templates of their own."""
    p = tmp_path / "docker.log"
    p.write_text("\n".join(DOCKERD) + "\n", encoding="utf-8")
    recs = list(read_records([str(p)], log_format="<Month> <Day> <Time> <Host> <Proc>: <Content>", merge=False))
    assert [r.message for r in recs][:2] == ["Loading containers: start.", "Loading containers: done."]
    assert [r.level for r in recs] == ["INFO", "INFO", "ERROR"]
    assert recs[0].fields["Host"] == "gpu1"
