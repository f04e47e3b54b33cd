"""Window and session features on real logs: loguru JSON written here, and Loghub-2k files."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from analyzer.features import FeatureConfig, SessionFeatures, WindowFeatures, template_columns
from analyzer.read import ReadStats, read_records
from analyzer.records import Record
from analyzer.templates import TemplateConfig, TemplateMiner
from ttsops.errors import ConfigError

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def _features(paths, config=None, log_format=None):
    miner = TemplateMiner(TemplateConfig())
    wf = WindowFeatures(config or FeatureConfig())
    stats = ReadStats()
    for rec in read_records(paths, log_format=log_format, stats=stats):
        m = miner.add(rec.message)
        wf.add(rec, m.template_id, m.is_new)
    return wf.frame(), miner, stats


@pytest.fixture()
def loguru_log(tmp_path):
    """A loguru serialize=True file with hand-placed times: minute 0 and 1 busy, 2–3 silent, 4 errors."""
    from loguru import logger

    path = tmp_path / "inference.log"
    sink = logger.add(path, serialize=True, level="DEBUG", enqueue=False)
    plan = []  # (seconds after T0, level, message, extra)
    for i in range(6):  # minute 0: 3 requests, start + success each
        rid = f"req-{i // 2}"
        ev = "synthesis_start" if i % 2 == 0 else "synthesis_success"
        extra = {"request_id": rid, "event": ev}
        if ev == "synthesis_success":
            extra.update(rtf=0.1 * (i + 1), audio_seconds=2.0, elapsed={"frontend": 0.1, "acoustic": 0.2 * i},
                         peak_rss_mb=500.0 + i)
        plan.append((5 * i, "INFO", f"{ev} for {rid} in 0.{i}s", extra))
    plan.append((70, "WARNING", "slow request req-9 took 3.2s", {"request_id": "req-9", "event": "slow"}))
    plan.append((75, "INFO", "synthesis_start for req-9", {"request_id": "req-9", "event": "synthesis_start"}))
    for j in range(3):  # minute 4: errors
        plan.append((240 + j, "ERROR", f"CUDA out of memory. Tried to allocate {j + 2}.00 GiB",
                     {"request_id": f"req-e{j}", "event": "synthesis_error", "error_type": "OutOfMemoryError"}))
    for sec, level, msg, extra in plan:
        t = T0 + timedelta(seconds=sec)
        logger.patch(lambda r, t=t: r.update(time=t)).bind(**extra).log(level, msg)
    logger.remove(sink)
    return path, plan


def test_loguru_windows_match_hand_count(loguru_log):
    path, plan = loguru_log
    frame, miner, stats = _features([path])
    assert stats.bad_line_count == 0
    assert len(frame) == 5  # minutes 0..4, the silent ones included
    assert frame.index[0] == pd.Timestamp(T0) and str(frame.index.tz) == "UTC"
    for minute in range(5):
        rows = [p for p in plan if p[0] // 60 == minute]
        w = frame.iloc[minute]
        assert w["records"] == len(rows)
        assert w["errors"] == sum(p[1] == "ERROR" for p in rows)
        assert w["warnings"] == sum(p[1] == "WARNING" for p in rows)
        assert w["requests"] == len({p[3]["request_id"] for p in rows})
    assert frame.iloc[2:4][["records", "errors", "requests"]].to_numpy().sum() == 0  # gaps show as zeros
    m0 = frame.iloc[0]
    assert m0["starts"] == 3 and m0["failure_ratio"] == 0
    assert m0["memory_mb"] == 505.0
    assert m0["audio_seconds"] == pytest.approx(6.0)
    rtfs = [p[3]["rtf"] for p in plan if "rtf" in p[3]]
    assert m0["rtf_p50"] == pytest.approx(np.quantile(rtfs, 0.5))
    lats = [sum(p[3]["elapsed"].values()) for p in plan if "elapsed" in p[3]]
    assert m0["latency_p95"] == pytest.approx(np.quantile(lats, 0.95))
    assert np.isnan(frame.iloc[1]["latency_p50"])  # no structured latency that minute
    m4 = frame.iloc[4]
    assert m4["error_events"] == 3 and m4["failed_requests"] == 3 and m4["failure_ratio"] == 1.0
    # the three OOM lines (different sizes) are one template, seen at error level
    oom = [c for c in template_columns(frame) if frame[c].iloc[4] == 3]
    assert len(oom) == 1 and int(oom[0][4:]) in frame.attrs["error_templates"]
    assert frame["new_templates"].sum() == len(miner.templates())


def _hand_count(csv_path, time_fmt, time_cols):
    df = pd.read_csv(csv_path, dtype=str)
    t = pd.to_datetime(df[time_cols].agg(" ".join, axis=1), format=time_fmt, utc=True)
    return df.assign(minute=t.dt.floor("60s"))


def test_loghub_apache_windows(shared_data):
    d = shared_data / "loghub2k" / "Apache"
    fmt = json.loads((shared_data / "loghub2k" / "formats.json").read_text())["Apache"]["log_format"]
    frame, _, stats = _features([d / "Apache_2k.log"], log_format=fmt)
    hand = _hand_count(d / "Apache_2k.log_structured_corrected.csv", "%a %b %d %H:%M:%S %Y", ["Time"])
    per_min = hand.groupby("minute").size()
    errs = hand[hand["Level"] == "error"].groupby("minute").size()
    assert stats.records == 2000 and frame["records"].sum() == 2000
    assert len(frame) == int((per_min.index[-1] - per_min.index[0]) / pd.Timedelta("60s")) + 1
    assert frame.loc[per_min.index, "records"].to_numpy().tolist() == per_min.to_numpy().tolist()
    assert frame.loc[errs.index, "errors"].to_numpy().tolist() == errs.to_numpy().tolist()
    assert frame["errors"].sum() == (hand["Level"] == "error").sum()


def test_loghub_hdfs_windows_and_sessions(shared_data):
    d = shared_data / "loghub2k" / "HDFS"
    fmt = json.loads((shared_data / "loghub2k" / "formats.json").read_text())["HDFS"]["log_format"]
    frame, _, _ = _features([d / "HDFS_2k.log"], FeatureConfig(window="10min"), log_format=fmt)
    hand = pd.read_csv(d / "HDFS_2k.log_structured_corrected.csv", dtype=str)  # Date lost its leading 0
    t = pd.to_datetime(hand["Date"].str.zfill(6) + " " + hand["Time"].str.zfill(6), format="%y%m%d %H%M%S", utc=True)
    per = t.dt.floor("10min").value_counts().sort_index()
    assert frame.loc[per.index, "records"].to_numpy().tolist() == per.to_numpy().tolist()
    assert frame["records"].sum() == 2000
    # sessions by block id: every block of the CSV, each with as many events as lines naming it
    miner = TemplateMiner(TemplateConfig())
    sf = SessionFeatures(r"blk_-?\d+")
    for rec in read_records([d / "HDFS_2k.log"], log_format=fmt):
        sf.add(rec, miner.add(rec.message).template_id)
    blocks = hand["Content"].str.findall(r"blk_-?\d+").explode().dropna()
    per_block = hand.assign(b=hand["Content"].str.findall(r"blk_-?\d+")).explode("b").dropna(subset=["b"])
    per_block = per_block.drop_duplicates(subset=["LineId", "b"]).groupby("b").size()
    ids, X = sf.matrix()
    assert set(ids) == set(blocks)
    assert dict(zip(ids, X.sum(axis=1).astype(int))) == per_block.to_dict()
    assert [len(sf.sequences()[i]) for i in ids] == X.sum(axis=1).astype(int).tolist()
    cols = sorted(sf.frame().columns)
    _, X2 = sf.matrix(columns=cols[:2])
    assert X2.shape == (len(ids), 2)


def test_session_id_from_fields_and_untimed_records():
    sf = SessionFeatures(id_field="request_id")
    wf = WindowFeatures(FeatureConfig(window="1min"))
    recs = [Record(time=None, level="INFO", message="boot", file="f", line=1),
            Record(time=T0, level="INFO", message="a", file="f", line=2, fields={"request_id": "r1"}),
            Record(time=None, level="ERROR", message="tb", file="f", line=3, fields={"request_id": "r1"}),
            Record(time=T0 + timedelta(minutes=2), level="INFO", message="b", file="f", line=4,
                   fields={"request_id": "r2"})]
    for i, r in enumerate(recs):
        sf.add(r, i % 2)
        wf.add(r, i % 2)
    ids, X = sf.matrix()
    assert ids == ["r1", "r2"] and X.tolist() == [[1, 1], [0, 1]]
    f = wf.frame()
    assert f["records"].tolist() == [3, 0, 1] and f["errors"].tolist() == [1, 0, 0]
    assert f.loc[f.index[0], "failure_ratio"] == 1.0


def test_empty_and_config_validation():
    f = WindowFeatures().frame()
    assert len(f) == 0 and "records" in f.columns
    for bad in ({"window": "soon"}, {"window": "0s"}, {"quantiles": (0.5, 1.5)}, {"error_event_pattern": "("}):
        with pytest.raises(ConfigError):
            FeatureConfig(**bad)
    assert FeatureConfig(window="5min").window_seconds == 300
    with pytest.raises(ConfigError):
        SessionFeatures()


def test_long_sparse_span_is_bounded():
    wf = WindowFeatures(FeatureConfig(window="1s", max_windows=1000))
    for day in range(3):
        for sec in (0, 1, 5):
            wf.add(Record(time=T0 + timedelta(days=day, seconds=sec), level="INFO", message="m", file="f", line=1), 1)
    with pytest.warns(RuntimeWarning, match="max_windows"):
        f = wf.frame()
    assert f["records"].sum() == 9 and len(f) == 3 * 5 - 1  # 3 active + 2 gap markers a day, none after the last
    assert f.index.is_monotonic_increasing


def test_canonical_folds_streamed_template_ids():
    fold = {2: 1, 3: 3, 1: 1}.get
    wf = WindowFeatures(canonical=fold)
    sf = SessionFeatures(r"req-\d+")
    for i, tid in enumerate([1, 2, 3, 2]):
        rec = Record(time=T0 + timedelta(seconds=i), level="ERROR" if tid == 2 else "INFO",
                     message=f"req-{i % 2} step", file="f", line=i)
        wf.add(rec, tid)
        sf.add(rec, tid)
    f = wf.frame()
    assert template_columns(f) == ["tpl_1", "tpl_3"] and f["tpl_1"].iloc[0] == 3
    assert f.attrs["error_templates"] == [1]
    assert sf.sequences(canonical=fold) == {"req-0": [1, 3], "req-1": [1, 1]}
    assert sf.frame(canonical=fold).to_numpy().tolist() == [[1, 1], [2, 0]]
    assert sf.sequences() == {"req-0": [1, 3], "req-1": [2, 2]}  # raw ids without folding
