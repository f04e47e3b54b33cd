"""tts-analyze on a Dask LocalCluster(n_workers=2): the same report as one process, whatever the
partitioning; byte-range cuts never split a record (tracebacks straddling the naive cut points)."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from analyzer.config import AnalyzeConfig
from analyzer.dist import analyze_on_cluster
from analyzer.dist.partition import find_cut, plan_pieces
from analyzer.pipeline import analyze
from analyzer.read.parser import LineParser
from analyzer.report import render
from ttsops.cluster import ClusterSpec, connect

pytestmark = pytest.mark.xdist_group("dask")

ROOT = Path(__file__).resolve().parents[2]

T0 = datetime(2026, 5, 4, 8, 0, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def client():
    with connect(ClusterSpec(workers=2)) as c:
        yield c


def _report(result) -> dict:
    return json.loads(render(result, "json"))


def _tracebacks_log(path: Path, *, records: int = 400, seed: int = 7) -> list[int]:
    """Python-logging lines with multi-line records of every kind the Assembler joins: bare
    tracebacks after an ERROR line, chained ones with blank lines, a traceback logged line by line
    under one header, indented continuations. Returns the byte offsets inside multi-line records."""
    rng = random.Random(seed)
    out: list[str] = []
    inside: list[int] = []
    size = 0

    def put(text: str, cont: bool) -> None:
        nonlocal size
        if cont:
            inside.append(size)
        out.append(text)
        size += len(text.encode()) + 1

    t = T0
    for i in range(records):
        t += timedelta(seconds=rng.choice([1, 2, 5, 30]))
        ts = t.strftime("%Y-%m-%d %H:%M:%S,") + f"{i % 1000:03d}"
        kind = rng.random()
        if kind < 0.55:
            put(f"{ts} INFO engine.synth: request req-{i:05d} done in {rng.random():.3f}s", False)
        elif kind < 0.7:
            put(f"{ts} ERROR engine.synth: synthesis failed for req-{i:05d}", False)
            put("Traceback (most recent call last):", True)
            for d in range(rng.randint(1, 4)):
                put(f'  File "/srv/engine/mod{d}.py", line {10 + d}, in run', True)
                put(f"    out = step{d}(x)", True)
            put("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.20 GiB", True)
        elif kind < 0.8:
            put(f"{ts} ERROR engine.backend: load failed", False)
            put("Traceback (most recent call last):", True)
            put('  File "/srv/engine/backends/modelscope.py", line 30, in load', True)
            put("    import ttsfrd", True)
            put("ModuleNotFoundError: No module named 'ttsfrd'", True)
            put("", True)
            put("During handling of the above exception, another exception occurred:", True)
            put("", True)
            put("Traceback (most recent call last):", True)
            put('  File "/srv/engine/service.py", line 99, in start', True)
            put("    backend.load()", True)
            put("RuntimeError: back-end modelscope cannot load", True)
        elif kind < 0.9:
            head = f"{t.strftime('%Y-%m-%d %H:%M:%S')}.{i % 1000:03d} | ERROR    | engine.worker:loop:12 - "
            put(f"{head}Traceback (most recent call last):", False)
            put(f'{head}  File "/srv/engine/worker.py", line 12, in loop', True)
            put(f"{head}    task()", True)
            put(f"{head}ValueError: bad sample rate 0", True)
        else:
            put(f"{ts} WARNING engine.text: long input split", False)
            for k in range(rng.randint(1, 3)):
                put(f"    part {k}: {rng.randint(10, 99)} characters", True)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return inside


def _record_offsets(log: Path) -> tuple[set[int], set[int]]:
    """Byte offsets of the lines that start a record and of those that one process joins to the
    record before them."""
    from analyzer.read import read_records

    starts, pos = [], 0
    for raw in log.read_bytes().split(b"\n"):
        starts.append(pos)
        pos += len(raw) + 1
    first, joined = set(), set()
    for rec in read_records([log]):
        span = len(rec.raw.split("\n"))
        first.add(starts[rec.line - 1])
        joined.update(starts[rec.line - 1 + k] for k in range(1, span))
    return first, joined


def test_cut_lands_on_a_record_start_not_inside_a_traceback(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    inside = _tracebacks_log(log)
    first, joined = _record_offsets(log)
    assert set(inside) <= joined  # the file holds what the reader joins: tracebacks, chains, same-header lines
    data = log.read_bytes()
    parser = LineParser(None)
    assert len(inside) > 200
    for off in inside[::3]:
        cut = find_cut(str(log), off, parser)
        if cut is None:  # no record after it can start a piece
            assert off > len(data) * 0.95
            continue
        assert cut >= off and data[cut - 1:cut] == b"\n"
        assert cut not in joined, f"cut at {cut} inside a multi-line record"
        assert cut in first


@pytest.mark.parametrize("piece_bytes", [700, 2500, 9000])
def test_same_report_whatever_the_partitioning(tmp_path: Path, client, piece_bytes: int) -> None:
    log = tmp_path / "svc.log"
    _tracebacks_log(log)
    pieces = plan_pieces([str(log)], piece_bytes=piece_bytes)
    assert len(pieces) >= 4
    one = _report(analyze([log], AnalyzeConfig(progress=False)))
    many = _report(analyze_on_cluster([log], AnalyzeConfig(progress=False), client, piece_bytes=piece_bytes))
    assert one["incidents"] and one["exception_groups"]
    assert many == one


def test_many_files_real_logs_and_pastes_without_times(tmp_path: Path, client, shared_data: Path,
                                                       samples_dir: Path) -> None:
    """Loghub logs of several systems (Android's have no time recognised: ordered by line), the
    engine sample run and two console pastes: files merged in time order, untimed records placed by
    their position in the run, across pieces."""
    paste = tmp_path / "paste"
    paste.mkdir()
    for k in range(2):
        lines = []
        for i in range(60):
            lines.append(f"step {i} loss {0.5 / (i + 1):.4f}")
            if i % 17 == 5:
                lines += ["Traceback (most recent call last):", '  File "train.py", line 3, in <module>',
                          "    main()", "RuntimeError: CUDA error: device-side assert triggered"]
        (paste / f"run{k}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    paths = [shared_data / "loghub2k" / name / f"{name}_2k.log" for name in ("Android", "HDFS")] + \
        [samples_dir / "logs", paste]
    one = _report(analyze(paths, AnalyzeConfig(progress=False)))
    many = _report(analyze_on_cluster(paths, AnalyzeConfig(progress=False), client, piece_bytes=40_000))
    assert any(i["time_known"] is False for i in one["incidents"])
    assert one["summary"]["files"] >= 8 and one["summary"]["files"] == many["summary"]["files"]
    assert many == one


def test_hdfs_with_log_format_sessions_and_state(tmp_path: Path, client, shared_data: Path) -> None:
    fmt = "<Date> <Time> <Pid> <Level> <Component>: <Content>"
    log = shared_data / "loghub2k" / "HDFS" / "HDFS_2k.log"
    a, b = tmp_path / "a", tmp_path / "b"
    kw = dict(log_format=fmt, sessions=r"blk_-?\d+", progress=False)
    one = _report(analyze([log], AnalyzeConfig(state_dir=str(a), **kw)))
    many = _report(analyze_on_cluster([log], AnalyzeConfig(state_dir=str(b), **kw), client, piece_bytes=20_000))
    assert len(one["sessions"]) > 100
    assert many == one
    assert (a / "templates.state").read_bytes() == (b / "templates.state").read_bytes()


def test_pieces_read_again_with_template_ids_give_the_same_windows(tmp_path: Path, client, samples_dir: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The exact path for a masked message whose ids fold apart (rare), forced for every piece."""
    from analyzer.dist.merge import RunMerger

    real = RunMerger.redo
    monkeypatch.setattr(RunMerger, "redo", lambda self: real(self, every_piece=True))
    paths = [samples_dir / "logs"]
    one = _report(analyze(paths, AnalyzeConfig(progress=False)))
    lines: list[str] = []
    many = _report(analyze_on_cluster(paths, AnalyzeConfig(progress=False), client, piece_bytes=30_000,
                                      log=lines.append))
    assert any("read again" in ln for ln in lines)
    assert many == one


def _tts_analyze(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analyzer.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=str(ROOT))


def test_cli_workers_same_json_and_worker_log(tmp_path: Path, samples_dir: Path) -> None:
    a, b = tmp_path / "one.json", tmp_path / "two.json"
    r1 = _tts_analyze(str(samples_dir / "logs"), "--format", "json", "-o", str(a))
    r2 = _tts_analyze(str(samples_dir / "logs"), "--format", "json", "-o", str(b), "--workers", "2")
    assert r1.returncode == r2.returncode == 1, r2.stderr
    assert a.read_bytes() == b.read_bytes()
    assert "dask: tcp://127.0.0.1:" in r2.stderr and " read " in r2.stderr


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from analyzer.cli import cli
    from ttsops.cli import run_main

    with pytest.raises(SystemExit) as exc:
        run_main(cli, args, prog_name="tts-analyze")
    return int(exc.value.code), capsys.readouterr().err


def test_without_dask_one_line_error(monkeypatch: pytest.MonkeyPatch, samples_dir: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    code, err = _run_cli([str(samples_dir / "logs"), "--workers", "2"], capsys)
    assert code == 2
    assert "pip install 'ttsops[dask]'" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_options_conflict_and_stdin(samples_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run_cli([str(samples_dir / "logs"), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], capsys)
    assert code == 2 and "--scheduler and --workers both given" in err
