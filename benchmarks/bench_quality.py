"""Sensitivity, cost and parallel speed-up of tts-quality on real engine audio.

    python benchmarks/bench_quality.py [--out benchmarks/results/quality.json] [--pairs 120]

1. Sensitivity: build the reference set (data/samples texts) with the engine, make degraded copies
   (white noise at 30/20/10 dB SNR, clipping at 50% peak, 5% dropouts of 20 ms, pitch +-1 semitone,
   5% time stretch, 150 ms extra leading silence, a wrong emotion) plus an identical copy, a fresh
   re-synthesis and another seed; run `regress` on each: median of each metric and how many
   utterances were flagged (goal: every degradation flagged, identical / re-synthesis never).
2. Cost: seconds of single-threaded compute per second of audio, per metric and for a whole pair.
3. Parallel: wall time of `score_pairs` on >= 100 pairs with all cores vs a plain per-file loop.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METRICS = ("pesq_wb", "pesq_nb", "stoi", "estoi", "mcd_dtw", "f0_bias_cents", "f0_rmse_cents", "vde", "f0_corr",
           "duration_ratio", "leading_silence_delta_s", "internal_silence_ratio_delta", "zero_frames_delta",
           "clipped_samples_delta", "envelope_fluctuation")
WRONG_EMOTION = {"neutral": "happy", "happy": "serious", "serious": "happy", "sad": "happy", "calm": "angry",
                 "angry": "calm"}
MUST_PASS = ("identical", "resynthesis", "other_seed")


def _synth_variant(refs: Path, out: Path, *, seed_offset: int = 0, emotion_map: dict | None = None) -> None:
    from quality.reference import _engine, _synth

    man = json.loads((refs / "manifest.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    eng = _engine()
    try:
        for u in man["utterances"]:
            emo = emotion_map.get(u.get("emotion") or "neutral") if emotion_map else None
            _synth(eng, u, out, seed=(u.get("seed") or 0) + seed_offset, emotion=emo)
    finally:
        eng.close()


def sensitivity(work: Path, jobs: int) -> tuple[dict, Path]:
    from quality.degrade import degrade_dir, DEGRADATIONS
    from quality.reference import DEFAULT_TEXTS, build_reference, resynthesize_set
    from quality.regress import regress

    refs = work / "refs"
    t0 = time.perf_counter()
    man = build_reference(DEFAULT_TEXTS, refs, jobs=jobs)
    build_s = time.perf_counter() - t0
    sets: dict[str, Path] = {}
    for kind in DEGRADATIONS:
        sets[kind] = work / kind
        degrade_dir(refs, sets[kind], kind)
    resynthesize_set(refs, work / "resynthesis")
    sets["resynthesis"] = work / "resynthesis"
    _synth_variant(refs, work / "other_seed", seed_offset=1)
    sets["other_seed"] = work / "other_seed"
    _synth_variant(refs, work / "wrong_emotion", emotion_map=WRONG_EMOTION)
    sets["wrong_emotion"] = work / "wrong_emotion"
    table = {}
    for name, d in sets.items():
        res = regress(refs, d, jobs=jobs, progress=False)
        rows = [r for r in res.rows if r.get("ref_path")]
        med = {}
        for m in METRICS:
            v = np.array([r.get(m) for r in rows], dtype=float)
            v = v[np.isfinite(v)]
            med[m] = round(float(np.median(v)), 4) if len(v) else None
        fired: dict[str, int] = {}
        for u in res.utterances:
            for f in u.fired:
                fired[f] = fired.get(f, 0) + 1
        flagged = sum(u.verdict != "pass" for u in res.utterances)
        table[name] = {"median": med, "flagged": flagged, "utterances": len(res.utterances),
                       "verdict": res.verdict, "fired": dict(sorted(fired.items(), key=lambda kv: -kv[1])),
                       "example_reason": next(("; ".join(u.reasons) for u in res.utterances if u.reasons), None),
                       "goal_met": (flagged == 0) if name in MUST_PASS else (flagged == len(res.utterances))}
    audio_s = sum(u["duration_s"] for u in man["utterances"])
    return {"texts": str(DEFAULT_TEXTS), "utterances": len(man["utterances"]), "audio_seconds": round(audio_s, 2),
            "reference_build_s": round(build_s, 2), "identical_resynthesis_files": man["variability"]["identical_files"],
            "sets": table}, refs


def cost(refs: Path, noisy: Path, repeats: int = 3) -> dict:
    from quality.align import cost_matrix, dtw
    from quality.audio import ANALYSIS_SR, load
    from quality.features import ScoreConfig, analyse
    from quality.metrics.intrusive import pesq_score, stoi_scores
    from quality.metrics.mcd import mel_cepstrum, spectral_envelope, stft_power
    from quality.metrics.pitch import f0
    from quality.metrics.signal import signal_metrics
    from quality import score as S

    files = sorted(refs.glob("*.wav"))
    pairs = [(load(p), load(noisy / p.name)) for p in files]
    audio_s = sum(r.duration for r, _ in pairs)
    for r, d in pairs:  # warm the 16 kHz copies: resampling is timed separately
        r.at(ANALYSIS_SR), d.at(ANALYSIS_SR)
    out: dict[str, float] = {}

    wall: dict[str, float] = {}

    def timed(label, fn):
        # CPU seconds of this process (best of `repeats`): unaffected by other load on the machine
        best, best_wall = float("inf"), float("inf")
        for _ in range(repeats):
            t, tw = time.process_time(), time.perf_counter()
            for r, d in pairs:
                fn(r, d)
            best = min(best, time.process_time() - t)
            best_wall = min(best_wall, time.perf_counter() - tw)
        out[label] = round(best / audio_s, 5)
        wall[label] = round(best_wall / audio_s, 5)

    from quality.audio import resample
    timed("resample_to_16k", lambda r, d: resample(d.y, d.sr, ANALYSIS_SR))
    timed("pesq_wb", lambda r, d: pesq_score(r.at(16000), d.at(16000), sr=16000, mode="wb"))
    timed("pesq_nb", lambda r, d: pesq_score(r.at(16000), d.at(16000), sr=16000, mode="nb"))
    timed("stoi+estoi", lambda r, d: stoi_scores(r.at(16000), d.at(16000), sr=16000))
    timed("f0_dio_stonemask", lambda r, d: f0(d.at(16000), sr=16000, method="dio"))
    timed("f0_harvest", lambda r, d: f0(d.at(16000), sr=16000, method="harvest"))
    fz = {id(d): f0(d.at(16000), sr=16000) for _, d in pairs}
    timed("cheaptrick+mcep (envelope=world)",
          lambda r, d: mel_cepstrum(spectral_envelope(d.at(16000), *fz[id(d)], sr=16000), sr=16000))
    timed("stft+mcep (default)", lambda r, d: mel_cepstrum(stft_power(d.at(16000), len(fz[id(d)][0]), hop=160), sr=16000))
    cfg = ScoreConfig()
    feats = {id(a): analyse(a, cfg) for p in pairs for a in p}
    timed("dtw_mcep", lambda r, d: dtw(cost_matrix(feats[id(r)].mc[:, 1:], feats[id(d)].mc[:, 1:])))
    timed("signal_metrics", lambda r, d: signal_metrics(d.y, sr=d.sr))
    S._MEM_CACHE.clear()
    for r, d in pairs:  # cache reference features, as regress does
        S.reference_features(r, cfg)
    timed("whole_pair_ref_cached", lambda r, d: S.score_pair(r, load(d.path), config=cfg))
    timed("whole_pair_ref_cached_harvest",
          lambda r, d: S.score_pair(r, load(d.path), config=ScoreConfig(f0_method="harvest")))

    def uncached(r, d):
        S._MEM_CACHE.clear()
        S.score_pair(load(r.path), load(d.path), config=cfg)
    timed("whole_pair_uncached", uncached)
    out["audio_seconds"] = round(audio_s, 2)
    out["measure"] = "CPU seconds (time.process_time) per audio-second, best of 3, one thread"
    out["wall_clock_same_runs"] = wall
    return out


def parallel(refs: Path, noisy_kinds: list[Path], n_pairs: int, work: Path) -> dict:
    from quality import score as S

    rd, dd = work / "par_ref", work / "par_deg"
    rd.mkdir()
    dd.mkdir()
    files = sorted(refs.glob("*.wav"))
    i = 0
    while i < n_pairs:
        for src in noisy_kinds:
            for f in files:
                if i >= n_pairs:
                    break
                shutil.copy(f, rd / f"p{i:04d}.wav")
                shutil.copy(src / f.name, dd / f"p{i:04d}.wav")
                i += 1
    tasks = S.match_dirs(rd, dd)
    load_before = os.getloadavg()[0]
    S._MEM_CACHE.clear()
    t = time.perf_counter()
    rows1 = [S.score_pair(r, d, name=n) for n, r, d in tasks]  # plain per-file loop
    loop_s = time.perf_counter() - t
    S._MEM_CACHE.clear()
    jobs = os.cpu_count() or 1
    t = time.perf_counter()
    rows2 = S.score_pairs(tasks, jobs=jobs, progress=False)
    par_s = time.perf_counter() - t
    same = all((a["pesq_wb"] == b["pesq_wb"]) or (a["pesq_wb"] != a["pesq_wb"]) for a, b in zip(rows1, rows2))
    return {"pairs": len(tasks), "cores": jobs, "loop_s": round(loop_s, 2), "parallel_s": round(par_s, 2),
            "speedup": round(loop_s / par_s, 2), "efficiency": round(loop_s / par_s / jobs, 2),
            "identical_results": bool(same), "load_avg_1min_before_after": [round(load_before, 2),
                                                                             round(os.getloadavg()[0], 2)],
            "note": "wall-clock ratio; meaningful only when the machine is otherwise idle (load avg < cores)"}


def cost_only(refs: Path, noisy: Path) -> dict:
    return cost(refs, noisy)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quality.json")
    ap.add_argument("--pairs", type=int, default=120)
    ap.add_argument("--cost-only", nargs=2, type=Path, metavar=("REFDIR", "DEGDIR"),
                    help="only the cost figures, on existing directories")
    a = ap.parse_args(argv)
    from quality.score import single_thread_blas

    if a.cost_only:
        with single_thread_blas():
            print(json.dumps(cost(*a.cost_only), indent=2))
        return 0
    jobs = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as td:
        work = Path(td)
        sens, refs = sensitivity(work, jobs)
        with single_thread_blas():  # as score_pairs runs it
            c = cost(refs, work / "noise_20db")
        par = parallel(refs, [work / k for k in ("noise_30db", "noise_20db", "clip_50pct", "dropouts_5pct",
                                                 "pitch_up_1st", "stretch_5pct", "lead_silence_150ms",
                                                 "noise_10db", "pitch_down_1st", "wrong_emotion")], a.pairs, work)
    try:
        load1 = os.getloadavg()[0]
    except OSError:
        load1 = None
    doc = {"machine": {"cpus": jobs, "python": platform.python_version(), "platform": platform.platform(),
                       "load_avg_1min_at_end": load1},
           "sensitivity": sens, "cost_s_per_audio_s": c, "parallel": par,
           "goals": {"every_degradation_flagged_and_clean_sets_pass": all(v["goal_met"] for v in sens["sets"].values()),
                     "whole_pair_le_0.05_s_per_audio_s": c["whole_pair_ref_cached"] <= 0.05}}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2) + "\n")
    # markdown summary
    cols = ("pesq_wb", "stoi", "mcd_dtw", "f0_bias_cents", "duration_ratio", "leading_silence_delta_s",
            "zero_frames_delta", "clipped_samples_delta")
    print("| set | " + " | ".join(cols) + " | flagged | fired (count) |")
    print("|---" * (len(cols) + 3) + "|")
    for name, v in sens["sets"].items():
        med = v["median"]
        print(f"| {name} | " + " | ".join("-" if med[k] is None else f"{med[k]:.3g}" for k in cols)
              + f" | {v['flagged']}/{v['utterances']} | " + ", ".join(f"{k} {n}" for k, n in list(v["fired"].items())[:4]) + " |")
    print("\ncost (s per audio-second, single thread):", json.dumps(c))
    print("parallel:", json.dumps(par))
    print("goals:", json.dumps(doc["goals"]))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
