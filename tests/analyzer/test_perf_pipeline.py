"""The streaming pipeline's fast paths and the window detector's calibration, on real logs.

* ``Analyzer.run`` (the batch loop) accounts exactly what ``Analyzer.feed`` per record does;
* closing old windows (compact form) changes no feature of time-ordered input;
* the ``max_windows`` warning of ``WindowFeatures.frame`` reaches the report's ``warnings``;
* data/samples/logs (9 injected faults, ~5 requests a minute): the anomalous windows are the
  faults' windows, not half the run (the latency signal used to fire on every slow request).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

import analyzer.features as features
from analyzer.config import AnalyzeConfig
from analyzer.read import ReadStats, read_records
from analyzer.pipeline import Analyzer, analyze

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples" / "logs"
pytestmark = pytest.mark.skipif(not (SAMPLES / "labels.jsonl").exists(), reason="data/samples/logs missing")


def _records():
    return list(read_records([str(SAMPLES)], stats=ReadStats()))


def test_run_equals_feed():
    recs = _records()
    a, b = Analyzer(AnalyzeConfig(progress=False)), Analyzer(AnalyzeConfig(progress=False))
    a.run(iter(recs))
    for r in recs:
        b.feed(r)
    ra, rb = a.result().to_dict(), b.result().to_dict()
    assert ra == rb
    assert ra["summary"]["records"] == len(recs) and ra["summary"]["errors"] > 0
    times = [r.time for r in recs if r.time is not None]
    assert (a.first_time, a.last_time) == (min(times), max(times))


def test_closing_windows_changes_nothing_on_ordered_input(monkeypatch):
    recs = _records()

    def frame(lag: int) -> pd.DataFrame:
        monkeypatch.setattr(features, "CLOSE_LAG", lag)
        wf = features.WindowFeatures()
        for i, r in enumerate(recs):
            wf.add(r, i % 5)
        return wf.frame()

    closed, kept = frame(2), frame(10 ** 9)
    pd.testing.assert_frame_equal(closed, kept)
    assert closed["requests"].sum() > 100 and closed["latency_p99"].notna().sum() > 50
    # a late record reopens its closed window
    monkeypatch.setattr(features, "CLOSE_LAG", 2)
    wf = features.WindowFeatures()
    for r in recs:
        wf.add(r, 1)
    late = next(r for r in recs if r.time is not None)
    start = pd.Timestamp(late.time).floor("60s")
    key = int(start.timestamp() // 60)
    assert wf.windows_by_key()[key].requests is features._EMPTY       # closed
    wf.add(late, 1)
    assert wf.frame().loc[start, "records"] == closed.loc[start, "records"] + 1


def test_max_windows_warning_reaches_the_report(tmp_path):
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    lines = [f"{(t0 + timedelta(days=d)).isoformat()} ERROR worker crashed with code {d}" for d in (0, 1, 30)]
    p = tmp_path / "sparse.log"
    p.write_text("\n".join(lines) + "\n")
    cfg = AnalyzeConfig(progress=False, features={"max_windows": 1000})
    res = analyze([str(p)], cfg)
    assert any("max_windows=1000" in w for w in res.warnings), res.warnings
    assert res.summary.windows < 10


def test_samples_anomalous_windows_are_the_faults():
    res = analyze([str(SAMPLES)], AnalyzeConfig(progress=False))
    labels = [json.loads(x) for x in (SAMPLES / "labels.jsonl").read_text().splitlines() if x.strip()]
    spans = [(pd.Timestamp(lb["start"]), pd.Timestamp(lb["end"])) for lb in labels]
    win = pd.Timedelta(res.window)
    flagged = [pd.Timestamp(w["start"]) for w in res.timeline if w["anomalous"]]
    assert res.summary.anomalous_windows == len(flagged)
    # about the faults' own windows (~20 of ~110), not half the run
    assert 9 <= len(flagged) <= 30, len(flagged)
    outside = [t for t in flagged if not any(t < e + win and t + win > s - win for s, e in spans)]
    assert not outside, outside
    hit = [any(s - win < t + win and t < e + win for t in flagged) for s, e in spans]
    assert sum(hit) >= 7, hit
