"""tts-analyze under hostile input (issue 14, the analyzer's part): no line costs more than linear
time, impossible timestamps never abort the run, configuration values of the wrong type or NaN are
exit 2 naming the key, and stderr carries no raw Python warnings."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cli(args: list[str], **kw) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("tts-analyze")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "analyzer.cli"]
    return subprocess.run(cmd + args, capture_output=True, timeout=300, **kw)


@pytest.mark.parametrize("line", ["1." * (1 << 19), "2024-06-15 10:00:00 ERROR " + "1." * (1 << 19),
                                  "Traceback (most recent call last):\n" + "a." * (1 << 19)])
def test_a_one_mib_line_finishes_in_seconds(tmp_path: Path, line: str) -> None:
    p = tmp_path / "big.log"
    p.write_text(line + "\n", encoding="utf-8")
    t0 = time.perf_counter()
    r = _cli([str(p), "--format", "json"])
    assert r.returncode in (0, 1), r.stderr
    assert time.perf_counter() - t0 < 60  # a few seconds here; quadratic matching took minutes
    json.loads(r.stdout)


def test_timestamps_far_in_the_past_or_future_never_abort(tmp_path: Path) -> None:
    p = tmp_path / "times.log"
    p.write_text("0001-01-01 00:00:00 ERROR ancient\n9999-12-31 23:59:59 ERROR future\n"
                 '{"message": "epoch", "level": "error", "time": 1e20}\n'
                 '{"message": "negative", "level": "error", "time": -1e18}\n'
                 "2024-06-15 10:00:00 INFO normal\n2024-02-30 10:00:00 ERROR no such day\n", encoding="utf-8")
    r = _cli([str(p), "--format", "json"])
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["summary"]["records"] == 6
    starts = [i["start"] for i in doc["incidents"]]
    assert all(s is None or s.startswith("2024-") for s in starts)  # a bad stamp is no time, never year 1


@pytest.mark.parametrize("toml,key", [
    ("[detect]\nbogus = 1\n", "[detect]"), ("[detect]\nburst_z = nan\n", "detect.burst_z"),
    ("[detect]\nmin_errors = 'x'\n", "detect.min_errors"), ("[incidents]\nepisode_gap = nan\n", "incidents.episode_gap"),
    ("[incidents]\nmax_evidence = 2.5\n", "incidents.max_evidence"), ("[alerts]\npoll_interval = inf\n", "alerts.poll_interval"),
    ("[analyze]\nwindow = 5\n", "analyze.window"), ("[analyze]\nmax_bad_lines = 'x'\n", "analyze.max_bad_lines"),
    ("[analyze]\nsessions = 3\n", "analyze.sessions"), ("[features]\nquantiles = 'a'\n", "features.quantiles"),
    ("[features]\nbogus = 1\n", "[features]"), ("[templates]\nsim_th = nan\n", "templates.sim_th"),
    ("[nope]\nx = 1\n", "unknown section"),
])
def test_bad_config_values_are_exit_2_naming_the_key(tmp_path: Path, toml: str, key: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml, encoding="utf-8")
    log = tmp_path / "a.log"
    log.write_text("2024-06-15 10:00:00 INFO ok\n", encoding="utf-8")
    r = _cli([str(log), "--config", str(cfg)])
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert key in err and err.count("\n") == 1 and "Traceback" not in err


def test_no_raw_python_warnings_on_stderr(tmp_path: Path) -> None:
    """Sparse, constant and one-window inputs are where numpy/sklearn/pandas warn: none reaches stderr."""
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    cases = {
        "one.log": "2024-06-15 10:00:00 ERROR boom\n",
        "flat.log": "".join(f"2024-06-15 10:{m:02d}:00 INFO same line\n" for m in range(30)),
        "sparse.log": "2024-01-01 00:00:00 INFO a\n2024-06-15 10:00:00 ERROR b\n",
    }
    for name, text in cases.items():
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        r = _cli([str(p), "--format", "json"], env=env)
        assert r.returncode in (0, 1)
        assert b"Warning" not in r.stderr and b"warn(" not in r.stderr, (name, r.stderr[-500:])
    r = _cli([str(ROOT / "data" / "samples" / "logs"), "--format", "json"], env=env)
    assert r.returncode == 1 and r.stderr == b""


def test_report_output_to_devices_and_full_disks(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("torch.OutOfMemoryError: CUDA out of memory.\n", encoding="utf-8")
    full = _cli([str(log), "--format", "json", "-o", "/dev/full"])
    assert full.returncode == 2 and b"No space left" in full.stderr and full.stderr.count(b"\n") == 1
    assert _cli([str(log), "--format", "json", "-o", "/dev/null"]).returncode == 1
    assert Path("/dev/null").exists() and not Path("/dev/null").is_file()  # written through, never replaced
    dash = _cli([str(log), "--format", "json", "-o", "-"])
    assert dash.returncode == 1 and json.loads(dash.stdout)["incidents"]
