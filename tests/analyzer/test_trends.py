"""Trend detectors: a rising RSS series alarms, a flat noisy one does not; latency and error drift."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analyzer.trends import TrendConfig, detect_trends, error_rate_increase, latency_drift, memory_growth
from ttsops.errors import ConfigError

IDX = pd.date_range("2026-03-01", periods=120, freq="60s", tz="UTC")


def test_rising_rss_is_found_with_its_slope_and_span():
    rng = np.random.default_rng(0)
    rss = 2000 + rng.normal(0, 15, len(IDX))
    rss[60:] += 8.0 * np.arange(60)  # a leak from minute 60: +8 MB/min = 480 MB/h
    found = memory_growth(pd.Series(rss, index=IDX, name="memory_mb"))
    assert len(found) == 1
    f = found[0]
    assert f.kind == "memory_growth" and f.unit == "MB/h"
    assert f.slope == pytest.approx(480, rel=0.15)
    assert IDX[55] <= f.start <= IDX[65] and f.end == IDX[-1]
    assert f.evidence["slope_low"] > 100 and f.to_dict()["start"].startswith("2026-03-01T")


@pytest.mark.parametrize("seed", range(8))
def test_flat_noisy_rss_raises_no_alarm(seed):
    rng = np.random.default_rng(seed)
    rss = pd.Series(2000 + rng.normal(0, 40, len(IDX)) + 30 * np.sin(np.arange(len(IDX)) / 5), index=IDX)
    rss.iloc[::7] = np.nan  # gaps (windows without a memory reading) are skipped
    assert memory_growth(rss) == []


def test_slow_growth_below_the_configured_slope_is_quiet():
    rss = pd.Series(1000 + 0.5 * np.arange(len(IDX)), index=IDX)  # 30 MB/h
    assert memory_growth(rss) == []
    assert len(memory_growth(rss, TrendConfig(memory_slope_mb_per_hour=20))) == 1


def test_latency_drift_and_error_rate():
    rng = np.random.default_rng(1)
    lat = 0.8 + rng.normal(0, 0.03, len(IDX))
    lat[90:] *= 2.0
    err = np.clip(rng.normal(0.01, 0.005, len(IDX)), 0, 1)
    err[100:] = 0.3
    frame = pd.DataFrame({"latency_p95": lat, "failure_ratio": err,
                          "memory_mb": 500 + rng.normal(0, 5, len(IDX))}, index=IDX)
    found = detect_trends(frame)
    kinds = [f.kind for f in found]
    assert kinds == ["latency_drift", "error_rate"]
    drift, rate = found
    assert IDX[86] <= drift.start <= IDX[92] and drift.recent / drift.baseline == pytest.approx(2.0, rel=0.1)
    assert IDX[96] <= rate.start <= IDX[101] and rate.recent == pytest.approx(0.3)
    quiet = frame.iloc[:80]
    assert latency_drift(quiet["latency_p95"]) == [] and error_rate_increase(quiet["failure_ratio"]) == []
    # an explicit baseline instead of the run's first windows
    assert latency_drift(frame["latency_p95"].iloc[95:], baseline=frame["latency_p95"].iloc[:50])


def test_config_validation_and_missing_columns():
    with pytest.raises(ConfigError):
        TrendConfig(memory_period="-5min")
    with pytest.raises(ConfigError):
        TrendConfig(latency_ratio=0.5)
    assert detect_trends(pd.DataFrame(index=IDX[:3])) == []
    assert memory_growth(pd.Series([1.0, 2.0], index=IDX[:2])) == []
