"""Metric values on known signals, and every measured pitfall returns NaN + a reason (never 0, never a crash)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from signals import chirp, noise, speechlike, tone

from quality.align import cost_matrix, dtw
from quality.degrade import add_noise, clip, dropouts, lead_silence, time_stretch
from quality.metrics.intrusive import pesq_score, stoi_scores
from quality.metrics.pitch import f0
from quality.metrics.signal import signal_metrics
from quality.score import SCORE_COLUMNS, score_pair

SR = 16000


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return speechlike(sr=SR)


@pytest.mark.parametrize("hz", [110.0, 220.0, 330.0])
def test_tone_f0_within_one_percent(hz):
    f, _ = f0(tone(hz), sr=SR)
    assert abs(np.median(f[f > 0]) / hz - 1) < 0.01


def test_chirp_f0_rises():
    f, t = f0(chirp(), sr=SR)
    v = f > 0
    assert np.corrcoef(t[v], f[v])[0, 1] > 0.98


def test_identical_pair_is_perfect(x):
    r = score_pair((x, SR), (x, SR))
    assert r["error"] is None
    assert r["pesq_wb"] > 4.4 and r["pesq_nb"] > 4.3
    assert r["stoi"] > 0.999 and r["estoi"] > 0.999
    assert r["mcd_dtw"] == pytest.approx(0.0, abs=1e-6)
    assert r["f0_bias_cents"] == 0 and r["vde"] == 0 and r["duration_ratio"] == 1.0
    assert set(SCORE_COLUMNS) == set(r)


def test_semitone_up_reads_about_plus_100_cents(x):
    up = speechlike(sr=SR, shift=2 ** (1 / 12))
    r = score_pair((x, SR), (up, SR))
    assert 80 < r["f0_bias_cents"] < 120
    assert r["pesq_wb"] < 3.2


def test_noise_lowers_pesq_and_raises_mcd(x):
    clean = score_pair((x, SR), (x, SR))
    noisy = score_pair((x, SR), (add_noise(x, SR, snr_db=20), SR))
    assert noisy["pesq_wb"] < clean["pesq_wb"] - 1.0
    assert noisy["mcd_dtw"] > 2.0


def test_stretch_reads_duration_ratio_and_aligns(x):
    r = score_pair((x, SR), (time_stretch(x, SR, rate=1.05), SR))
    assert r["duration_ratio"] == pytest.approx(1.05, abs=0.002)
    assert r["alignment"] == "dtw" and abs(r["f0_bias_cents"]) < 15
    assert not math.isnan(r["pesq_wb"]) and not math.isnan(r["stoi"])


def test_leading_silence_clipping_dropouts(x):
    r = score_pair((x, SR), (lead_silence(x, SR, ms=150), SR))
    assert r["leading_silence_delta_s"] == pytest.approx(0.15, abs=0.011)
    assert score_pair((x, SR), (clip(x, SR, level=0.5), SR))["clipped_samples_delta"] > 100
    dx = np.where(np.abs(x) > 0, x, 1e-4)  # no digital zeros in the reference
    assert score_pair((dx, SR), (dropouts(dx, SR), SR))["zero_frames_delta"] >= 3


def test_signal_metrics_on_noise_and_silence():
    s = signal_metrics(noise(), sr=SR)
    assert s["envelope_fluctuation"] < 0.15 and s["leading_silence_s"] == 0
    z = signal_metrics(np.zeros(SR), sr=SR)
    assert z["peak_dbfs"] < -150 and z["envelope_fluctuation"] == 0.0


def test_dtw_matches_brute_force():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 3)), rng.normal(size=(17, 3))
    C = cost_matrix(a, b)
    D = np.full((21, 18), np.inf)
    D[0, 0] = 0
    for i in range(1, 21):
        for j in range(1, 18):
            D[i, j] = C[i - 1, j - 1] + min(D[i - 1, j - 1], D[i - 1, j], D[i, j - 1])
    total, path = dtw(C)
    assert total == pytest.approx(D[-1, -1]) and C[tuple(path.T)].sum() == pytest.approx(total)


# ---- pitfalls: NaN + reason, never 0, never an exception --------------------------------------

def _nan_with(v, err, word):
    assert math.isnan(v) and err and word in err, (v, err)


def test_pesq_22k_input_is_resampled_not_refused(x):
    from quality.audio import resample

    y = resample(x, SR, 22050)
    assert score_pair((y, 22050), (y, 22050))["pesq_wb"] > 4.4


def test_pesq_zero_reference(x):
    _nan_with(*pesq_score(np.zeros_like(x), x, sr=SR, mode="wb"), "silent")


def test_pesq_zero_degraded(x):
    _nan_with(*pesq_score(x, np.zeros_like(x), sr=SR, mode="wb"), "silent")


def test_pesq_too_short(x):
    _nan_with(*pesq_score(x[:3000], x[:3000], sr=SR, mode="nb"), "0.25")


def test_stoi_short_speech_is_nan_not_sentinel(x):
    s, es, errs = stoi_scores(x[:5000], x[:5000], sr=SR)
    assert math.isnan(s) and math.isnan(es) and "0.41" in errs[0]


def test_stoi_length_mismatch_handled_by_alignment(x):
    r = score_pair((x, SR), (x[:-400], SR))
    assert r["stoi"] > 0.99 and r["alignment"] in ("trim", "dtw")


def test_score_pair_silent_candidate_has_reason(x):
    r = score_pair((x, SR), (np.zeros_like(x), SR))
    assert math.isnan(r["pesq_wb"]) and "silent" in r["error"]
    assert r["duration_ratio"] == 1.0  # what can be measured still is


def test_not_comparable_durations(x):
    r = score_pair((x, SR), (np.concatenate([x, x, x]), SR))
    assert math.isnan(r["pesq_wb"]) and "not comparable" in r["error"]
