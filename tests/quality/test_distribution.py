"""Distribution mode on sampled engine audio, end to end through the CLI: two sampled builds pass, a
pitch-shifted build is a regression with the reason in words, the contract fields, auto mode,
missing / extra texts, too few renders, the HTML report and the history."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.xdist_group("quality-distribution")

TEXTS = [
    {"name": "en_a", "input_text": "Please join the meeting at three o'clock.", "speaker": "en_male_1"},
    {"name": "en_b", "input_text": "The weather today is mild, with a light breeze.", "speaker": "en_female_1"},
    {"name": "zh_c", "input_text": "今天天气晴朗,最高气温二十五度。", "speaker": "zh_female_1"},
]
FAST = ("--metrics", "speaker_similarity")   # DNSMOS is covered in test_neural_metrics (it costs ~2 s a render)


def _cli(*args):
    exe = Path(sys.executable).with_name("tts-quality")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    d = tmp_path_factory.mktemp("dist")
    texts = d / "texts.jsonl"
    texts.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in TEXTS), encoding="utf-8")
    for out, seed in (("A", 0), ("B", 100)):
        r = _cli("reference", "build", str(texts), "--out", str(d / out), "--sampling", "--renders", "6",
                 "--seed", str(seed))
        assert r.returncode == 0, r.stderr
    return d


def test_manifest_says_how_it_was_made(sets):
    man = json.loads((sets / "A" / "manifest.json").read_text())
    assert man["sampling"] == {"temperature": 1.0, "renders": 6, "seeds": [0, 1, 2, 3, 4, 5]}
    assert len(man["utterances"]) == 18 and {u["seed"] for u in man["utterances"]} == set(range(6))
    files = sorted(p.name for p in (sets / "A").glob("*.wav"))
    assert files[:6] == [f"en_a.s{s}.wav" for s in range(6)]
    blobs = {(sets / "A" / f).read_bytes() for f in files[:6]}      # renders of one text differ (sampling)
    assert len(blobs) == 6


def test_two_sampled_builds_pass_and_auto_picks_distribution(sets):
    r = _cli("regress", "--baseline", str(sets / "A"), "--candidate", str(sets / "B"), "--format", "json", *FAST)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "pass" and doc["mode"] == "distribution" and "6 renders" in doc["mode_reason"]
    assert [t["verdict"] for t in doc["texts"]] == ["pass"] * 3
    assert {t["baseline_renders"] for t in doc["texts"]} == {6}
    m = doc["metrics"]
    assert {"speaker_similarity", "mcd_to_baseline", "pitch", "duration"} <= set(m)
    assert not any(v["fired"] for v in m.values())
    assert m["speaker_similarity"]["p"] > 0.0 and abs(m["pitch"]["effect"]) < 0.5   # semitones


def test_pitch_shifted_build_is_a_regression_with_reasons(sets, tmp_path):
    shifted = tmp_path / "B_pitch"
    r = _cli("degrade", str(sets / "B"), str(shifted), "--kind", "pitch_up_1st")
    assert r.returncode == 0, r.stderr
    html, hist = tmp_path / "r.html", tmp_path / "hist.jsonl"
    r = _cli("regress", "--baseline", str(sets / "A"), "--candidate", str(shifted), "--mode", "distribution",
             "--format", "json", "--html", str(html), "--history", str(hist), *FAST)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "regression"
    assert doc["metrics"]["pitch"]["fired"] and 0.8 < doc["metrics"]["pitch"]["effect"] < 1.2   # +1 semitone
    assert any(x.startswith("pitch ") and "cents higher" in x and "of 3 texts" for x in doc["reasons"]), doc["reasons"]
    bad = [t for t in doc["texts"] if t["verdict"] == "regression"]
    assert bad and all(any("cents higher" in why for why in t["reasons"]) for t in bad if "pitch" in t["fired"])
    page = html.read_text(encoding="utf-8")
    assert page.count("<audio controls") == 2 * min(4, len(bad)) and "data:audio/wav;base64," in page
    assert page.count("data:image/png") == 2 + min(4, len(bad))   # histograms, trend, one spectrogram pair a text
    # a second run: the history has two lines and the HTML draws the trend
    r = _cli("regress", "--baseline", str(sets / "A"), "--candidate", str(sets / "B"), "--history", str(hist),
             "--html", str(html), *FAST)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in hist.read_text().splitlines()]
    assert [x["verdict"] for x in lines] == ["regression", "pass"] and lines[0]["mode"] == "distribution"
    page = html.read_text(encoding="utf-8")
    assert "Trend over past runs" in page and "2 run(s)" in page and "<audio" not in page   # nothing failed


def test_missing_and_extra_texts_are_reported(sets, tmp_path):
    cand = tmp_path / "cand"
    cand.mkdir()
    for p in (sets / "B").glob("*.wav"):
        if not p.name.startswith("zh_c"):
            shutil.copy(p, cand / p.name)
    for k in range(6):   # a text the baseline does not have, in the <text>.s<seed>.wav naming
        shutil.copy(sets / "B" / f"en_a.s{100 + k}.wav", cand / f"extra.s{k}.wav")
    r = _cli("regress", "--baseline", str(sets / "A"), "--candidate", str(cand), "--format", "json", *FAST)
    doc = json.loads(r.stdout)
    verdicts = {t["name"]: t["verdict"] for t in doc["texts"]}
    assert verdicts == {"en_a": "pass", "en_b": "pass", "zh_c": "missing", "extra": "unmatched"}
    assert r.returncode == 1 and doc["verdict"] == "regression"       # a text that could not be compared
    assert doc["summary"]["missing"] == 1 and doc["summary"]["unmatched"] == 1 and doc["summary"]["pass"] == 2


def test_too_few_renders_and_corrupt_manifest_are_usage_errors(sets, tmp_path):
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(sets / "A" / "en_a.s0.wav", one / "en_a.wav")
    r = _cli("regress", "--baseline", str(one), "--candidate", str(sets / "B"), "--mode", "distribution")
    assert r.returncode == 2 and "at least 3 renders" in r.stderr and "--sampling --renders" in r.stderr
    bad = tmp_path / "bad"
    shutil.copytree(sets / "A", bad)
    (bad / "manifest.json").write_text("{not json", encoding="utf-8")
    r = _cli("regress", "--baseline", str(bad), "--candidate", str(sets / "B"))
    assert r.returncode == 2 and "manifest.json" in r.stderr and "not valid JSON" in r.stderr
    assert "Traceback" not in r.stderr


def test_stats_on_known_shifts():
    from quality.stats import either_way, energy_test, rank_test, shift_ci, van_elteren

    rng = np.random.default_rng(0)
    same = [(rng.normal(0, 1, 8), rng.normal(0, 1, 8)) for _ in range(12)]
    moved = [(b, c + 1.0) for b, c in same]
    assert van_elteren(same, alternative="two-sided")[1] > 0.01
    z, p = van_elteren(moved, alternative="greater")
    assert z > 3 and p < 1e-3 and van_elteren(moved, alternative="less")[1] > 0.99
    # half the texts up, half down: cancels in the signed pool, adds up either way
    opposite = [(b, c + (3.0 if k % 2 else -3.0)) for k, (b, c) in enumerate(same)]
    assert van_elteren(opposite, alternative="two-sided")[1] > 0.01
    assert either_way(opposite)[1] < 1e-6 and either_way(same)[1] > 0.01
    est, lo, hi = shift_ci(moved, n_boot=500)
    assert lo < est < hi and lo < 1.0 + 0.2 and hi > 1.0 - 0.6
    p1, delta = rank_test(np.arange(8.0), np.arange(8.0) + 10, alternative="greater")
    assert p1 < 1e-3 and delta == 1.0
    assert rank_test(np.ones(5), np.ones(5), alternative="less") == (1.0, 0.0)
    # distance matrices: two clusters apart vs one cluster
    x = np.r_[rng.normal(0, 1, 6), rng.normal(5, 1, 6)]
    D = np.abs(x[:, None] - x[None, :])
    eff, p, per = energy_test([(D, 6)], n_perm=999)
    assert eff > 3 and p < 0.01
    y = rng.normal(0, 1, 12)
    eff0, p0, _ = energy_test([(np.abs(y[:, None] - y[None, :]), 6)], n_perm=999)
    assert p0 > 0.05


def test_spectrograms_share_one_scale_and_histograms_draw_thresholds(sets):
    from quality.report.plots import SPEC_RANGE_DB, histogram_figure, load16, spectrogram_figure

    a, b = load16(str(sets / "A" / "en_a.s0.wav")), load16(str(sets / "B" / "en_a.s100.wav"))
    from matplotlib.collections import QuadMesh

    fig = spectrogram_figure(a, 0.1 * b, title="en_a")
    meshes = [c for ax in fig.axes[:-1] for c in ax.collections if isinstance(c, QuadMesh)]   # [-1]: colour bar
    assert len(meshes) == 2 and meshes[0].get_clim() == meshes[1].get_clim()
    lo, hi = meshes[0].get_clim()
    assert hi - lo == pytest.approx(SPEC_RANGE_DB)
    assert len(fig.axes) == 3 and "one scale" in fig.axes[-1].get_ylabel()          # the colour bar
    fig = histogram_figure([("pesq_wb", [np.array([3.0, 3.5, 4.1])], ["candidates"], [(3.2, "floor")])])
    xs = [ln.get_xdata()[0] for ln in fig.axes[0].lines]
    assert xs == [3.2]


def test_metric_sizes_in_the_worse_direction():
    import math

    from quality.distribution import METRIC_SPECS

    assert METRIC_SPECS["pitch"].size(-1.0) == 1.0 == METRIC_SPECS["pitch"].size(1.0)   # two-sided
    assert METRIC_SPECS["duration"].size(math.log(0.95)) == pytest.approx(0.05)          # 5 % shorter
    assert METRIC_SPECS["speaker_similarity"].size(-0.08) == pytest.approx(0.08)          # down is worse
    assert METRIC_SPECS["speaker_similarity"].size(0.08) < 0                             # up is better
    assert METRIC_SPECS["mcd_to_baseline"].size(1.5) == 1.5
    assert METRIC_SPECS["pitch"].say(-0.5) == "pitch 50 cents lower"
    assert METRIC_SPECS["duration"].say(math.log(1.05)) == "5.0% longer"
