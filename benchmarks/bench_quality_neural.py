"""Quality checks for sampling engines, measured on sampled engine audio (temperature 1.0).

    python benchmarks/bench_quality_neural.py [--renders 6] [--pool 24] [--pairs 20] [-j 2]
                                              [--out benchmarks/results/quality_neural.json]

1. Distribution mode: a baseline build (seeds 0..N-1) against a clean build with other seeds (must
   pass) and against the same build degraded (white noise 20 dB SNR, pitch +1 semitone, 5 % slower,
   500 ms reverberation, another speaker's voice of the same and of the other gender): each must be a
   regression, with the metric meant for it among the reasons.
2. False alarms: ``--pairs`` pairs of disjoint seed sets drawn from a pool of ``--pool`` seeds per
   text, compared as baseline and candidate: how many read as a regression.
3. Speaker similarity: cosine of GE2E embeddings between every two clean renders, same speaker vs
   another speaker: medians and ROC AUC.
4. DNSMOS on clean, noisy and reverberant renders.
5. Cost per audio-second (CPU seconds on one core) of DNSMOS, the speaker embedding and the analysis.
6. MCD: our mel-cepstra against SPTK's ``sp2mc`` on the same spectra, and our ``mcd_dtw`` against the
   VERSA/ESPnet convention (WORLD envelope, order 39, alpha 0.466, c0 included, -20 dB power VAD).
7. DNSMOS window handling: speechmos's doubling of short clips vs tiling to one window.

Rendered audio and its features are kept under ``--work`` (default benchmarks/results/quality_neural_work/),
so a second run only redoes the statistics.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# another speaker of the same language: same gender / other gender
SAME_GENDER = {"zh_female_1": "zh_female_2", "zh_female_2": "zh_female_1", "zh_male_1": "zh_male_2",
               "zh_male_2": "zh_male_1", "en_female_1": "en_female_2", "en_female_2": "en_female_1",
               "en_male_1": "en_male_2", "en_male_2": "en_male_1"}
OTHER_GENDER = {"zh_female_1": "zh_male_1", "zh_female_2": "zh_male_2", "zh_male_1": "zh_female_1",
                "zh_male_2": "zh_female_2", "en_female_1": "en_male_1", "en_female_2": "en_male_2",
                "en_male_1": "en_female_1", "en_male_2": "en_female_2"}
#: the metric each degradation is meant to move (it must be among the reasons)
EXPECT = {"noise_20db": "dnsmos_bak", "pitch_up_1st": "pitch", "stretch_5pct": "duration", "reverb_500ms": "dnsmos_ovrl",
          "other_speaker_same_gender": "speaker_similarity", "other_speaker_other_gender": "speaker_similarity"}


def _texts(work: Path, mapping: dict[str, str] | None = None, label: str = "") -> Path:
    from quality.reference import DEFAULT_TEXTS

    if mapping is None:
        return DEFAULT_TEXTS
    out = work / f"texts_{label}.jsonl"
    lines = []
    for line in DEFAULT_TEXTS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            t = json.loads(line)
            t["speaker"] = mapping.get(t.get("speaker"), t.get("speaker"))
            lines.append(json.dumps(t, ensure_ascii=False))
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def _build(texts: Path, out: Path, seeds: int, first: int = 0) -> Path:
    from quality.reference import build_reference

    man = out / "manifest.json"
    if man.is_file() and json.loads(man.read_text()).get("sampling", {}).get("seeds") == list(range(first, first + seeds)):
        return out
    build_reference(texts, out, sampling=True, renders=seeds, seed=first)
    return out


def _subset(rs, seeds):
    from quality.renders import RenderSet

    texts = {t: [r for r in v if r.seed in seeds] for t, v in rs.texts.items()}
    return RenderSet(rs.dir, texts, rs.manifest, [])


def _degraded(rs, kind: str, work: Path):
    """The renders of ``rs`` degraded with ``kind`` (files written once under work/kind)."""
    import soundfile as sf

    from quality.degrade import DEGRADATIONS
    from quality.renders import Render, RenderSet

    d = work / kind
    d.mkdir(parents=True, exist_ok=True)
    texts = {}
    for t, renders in rs.texts.items():
        out = []
        for r in renders:
            p = d / r.path.name
            if not p.is_file():
                y, sr = sf.read(str(r.path), dtype="float64")
                sf.write(str(p), np.clip(DEGRADATIONS[kind](y, sr), -1, 1), sr, subtype="PCM_16")
            out.append(Render(t, p, r.seed, r.speaker, r.prompt))
        texts[t] = out
    return RenderSet(d, texts, {}, [])


def _summary(res) -> dict:
    fired = {m: v for m, v in res.metrics.items() if v["fired"]}
    return {"verdict": res.verdict, "texts_flagged": sum(u.verdict == "regression" for u in res.utterances),
            "texts": len(res.utterances), "fired": sorted(fired), "reasons": res.reasons,
            "metrics": {m: {"effect": round(v["effect"], 4), "p": float(f"{v['p']:.3g}"), "fired": v["fired"],
                            "texts_fired": v["texts_fired"]} for m, v in res.metrics.items()}}


def distribution(work: Path, n: int, pool: int, pairs: int, jobs: int) -> dict:
    from quality.distribution import compare_sets
    from quality.features import ScoreConfig
    from quality.renders import load_render_set
    from quality.thresholds import load_thresholds

    t = load_thresholds(None)
    cfg = ScoreConfig(metrics=frozenset({"dnsmos", "speaker_similarity"}))
    cache = work / "cache"
    t0 = time.perf_counter()
    pool_rs = load_render_set(_build(_texts(work), work / "pool", pool))
    synth_s = time.perf_counter() - t0
    base = _subset(pool_rs, set(range(n)))
    clean = _subset(pool_rs, set(range(n, 2 * n)))

    def run(b, c):
        t1 = time.perf_counter()
        res = compare_sets(b, c, thresholds=t, jobs=jobs, config=cfg, cache_dir=cache, candidate_cache_dir=cache)
        out = _summary(res)
        out["seconds"] = round(time.perf_counter() - t1, 1)
        return out, res

    cases: dict[str, dict] = {}
    cases["clean, other seeds"], _ = run(base, clean)
    for kind in ("noise_20db", "pitch_up_1st", "stretch_5pct", "reverb_500ms"):
        cases[kind], _ = run(base, _degraded(clean, kind, work))
    for label, mapping in (("other_speaker_same_gender", SAME_GENDER), ("other_speaker_other_gender", OTHER_GENDER)):
        rs = load_render_set(_build(_texts(work, mapping, label), work / label, n, first=n))
        cases[label], _ = run(base, rs)
    for k, v in cases.items():
        v["expected_metric"] = EXPECT.get(k)
        v["ok"] = (v["verdict"] == "pass") if k.startswith("clean") else (
            v["verdict"] == "regression" and EXPECT[k] in v["fired"])
    # false alarms over seed pairs drawn from the pool
    rng = np.random.default_rng(7)
    fa = []
    for i in range(pairs):
        perm = rng.permutation(pool)
        s, _ = run(_subset(pool_rs, set(perm[:n].tolist())), _subset(pool_rs, set(perm[n:2 * n].tolist())))
        fa.append({"pair": i, "baseline_seeds": sorted(perm[:n].tolist()), "candidate_seeds": sorted(perm[n:2 * n].tolist()),
                   "verdict": s["verdict"], "fired": s["fired"], "reasons": s["reasons"],
                   "texts_flagged": s["texts_flagged"]})
    false_alarms = sum(r["verdict"] != "pass" for r in fa)
    return {"renders": n, "pool": pool, "texts": len(base.texts), "pool_synthesis_s": round(synth_s, 1),
            "cases": cases, "false_alarm_runs": fa, "false_alarms": false_alarms, "pairs": pairs,
            "false_alarm_rate": false_alarms / max(1, pairs)}


def speaker_separation(work: Path, n: int, jobs: int) -> dict:
    from sklearn.metrics import roc_auc_score

    from quality.features import ScoreConfig
    from quality.metrics.speaker import cosine
    from quality.renders import load_render_set
    from quality.score import analyse_files

    rs = _subset(load_render_set(work / "pool"), set(range(n)))
    items = [(t, r) for t, v in rs.texts.items() for r in v]
    feats = analyse_files([r.path for _, r in items], config=ScoreConfig(metrics=frozenset({"speaker_similarity"})),
                          jobs=jobs, progress=False, cache_dir=work / "cache")
    emb = [(t, r.speaker, f.embedding) for (t, r), f in zip(items, feats) if not isinstance(f, str) and f.embedding is not None]
    same, diff, same_text = [], [], []
    for i in range(len(emb)):
        for j in range(i + 1, len(emb)):
            c = cosine(emb[i][2], emb[j][2])
            if emb[i][1] == emb[j][1]:
                (same_text if emb[i][0] == emb[j][0] else same).append(c)
            else:
                diff.append(c)
    y = np.r_[np.ones(len(same) + len(same_text)), np.zeros(len(diff))]
    s = np.r_[same, same_text, diff]
    q = lambda v: [round(float(x), 3) for x in np.percentile(v, [5, 50, 95])]  # noqa: E731
    return {"pairs_same_speaker_other_text": len(same), "pairs_same_text_other_seed": len(same_text),
            "pairs_other_speaker": len(diff), "same_speaker_other_text_p5_p50_p95": q(same),
            "same_text_other_seed_p5_p50_p95": q(same_text), "other_speaker_p5_p50_p95": q(diff),
            "roc_auc": round(float(roc_auc_score(y, s)), 4),
            "roc_auc_other_text_only": round(float(roc_auc_score(np.r_[np.ones(len(same)), np.zeros(len(diff))],
                                                                 np.r_[same, diff])), 4)}


def dnsmos_table(work: Path, jobs: int) -> dict:
    from quality.features import ScoreConfig
    from quality.renders import load_render_set
    from quality.score import analyse_files

    clean = _subset(load_render_set(work / "pool"), {0})
    sets = {"clean": clean, **{k: _degraded(clean, k, work / "dnsmos") for k in
                               ("noise_30db", "noise_20db", "noise_10db", "reverb_500ms")}}
    out = {}
    for label, rs in sets.items():
        paths = [r.path for v in rs.texts.values() for r in v]
        feats = analyse_files(paths, config=ScoreConfig(metrics=frozenset({"dnsmos"})), jobs=jobs, progress=False,
                              cache_dir=work / "cache")
        vals = {k: [f.dnsmos[k] for f in feats if not isinstance(f, str) and f.dnsmos] for k in
                ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808")}
        out[label] = {k: round(float(np.median(v)), 3) for k, v in vals.items()}
    return out


def cost(work: Path) -> dict:
    from quality.audio import load
    from quality.features import ScoreConfig, analyse
    from quality.metrics.dnsmos import dnsmos_scores, warm_up
    from quality.metrics.speaker import speaker_embedding
    from quality.renders import load_render_set
    from quality.score import single_thread_blas

    import torch

    torch.set_num_threads(1)
    rs = _subset(load_render_set(work / "pool"), {0})
    audios = [load(r.path) for v in rs.texts.values() for r in v]
    secs = sum(a.duration for a in audios)
    warm_up()
    speaker_embedding(audios[0].at(16000), sr=16000)
    out = {}
    with single_thread_blas():
        for label, fn in (("dnsmos", lambda a: dnsmos_scores(a.at(16000), sr=16000)),
                          ("speaker_embedding", lambda a: speaker_embedding(a.at(16000), sr=16000)),
                          ("analysis (F0, mel-cepstra, signal)", lambda a: analyse(a, ScoreConfig()))):
            best = float("inf")
            for _ in range(2):
                t = time.process_time()
                for a in audios:
                    fn(a)
                best = min(best, time.process_time() - t)
            out[label] = round(best / secs, 4)
    out["audio_seconds"] = round(secs, 2)
    out["clips"] = len(audios)
    return out


def _versa_mcep(y: np.ndarray, sr: int, pysptk, pw) -> tuple[np.ndarray, np.ndarray]:
    """VERSA mcd_f0's features: int16 scale, 70 Hz low cut, harvest, CheapTrick (1024), sp2mc(39, 0.466)."""
    from scipy.signal import firwin, lfilter

    x = lfilter(firwin(255, 70 / (sr // 2), pass_zero=False), 1, y * 32767.0)
    f0, t = pw.harvest(x, sr, f0_floor=40, f0_ceil=800, frame_period=5)
    sp = pw.cheaptrick(x, f0, t, sr, fft_size=1024)
    mc = pysptk.sp2mc(sp, 39, 0.466)
    fftl = 2 * (sp.shape[1] - 1)
    powr = (sp[:, 0] + sp[:, -1] + 2 * sp[:, 1:-1].sum(1)) / fftl
    return mc, 10 * np.log10(powr / powr.mean())


def mcd_check(work: Path) -> dict:
    from quality._deps import legacy_import, pyworld
    from quality.align import cost_matrix, dtw
    from quality.audio import load
    from quality.features import ScoreConfig, analyse
    from quality.metrics.mcd import mcd, mel_cepstrum, stft_power
    from quality.renders import load_render_set
    from quality.score import score_pair

    pysptk = legacy_import("pysptk")
    pw = pyworld()
    pool = load_render_set(work / "pool")
    base = _subset(pool, {0})
    # 1. mel-cepstra of the same spectra: ours vs sp2mc
    a = load(next(iter(base.texts.values()))[0].path)
    fa = analyse(a, ScoreConfig())
    sp = stft_power(a.at(16000), len(fa.f0), hop=160)
    ours = mel_cepstrum(sp, sr=16000, order=24)
    ref = np.apply_along_axis(lambda s: pysptk.sp2mc(s, 24, 0.42), 1, sp)
    cep = {"max_abs_diff_c1_c24": float(np.abs(ours[:, 1:] - ref[:, 1:]).max()),
           "mean_abs_diff_c1_c24": float(np.abs(ours[:, 1:] - ref[:, 1:]).mean())}
    # 2. MCD of pairs, ours vs the VERSA convention
    sets = {"other seed": _subset(pool, {1}), **{k: _degraded(_subset(pool, {1}), k, work / "mcd") for k in
                                                 ("noise_20db", "pitch_up_1st", "stretch_5pct")}}
    rows = {}
    for label, rs in sets.items():
        vals = []
        for t, rb in base.texts.items():
            b, c = rb[0].path, rs.texts[t][0].path
            ours_mcd = score_pair(b, c, config=ScoreConfig(metrics=frozenset({"mcd"})))["mcd_dtw"]
            yb, yc = load(b), load(c)
            mb, pb = _versa_mcep(yb.at(16000), 16000, pysptk, pw)
            mcc, pc = _versa_mcep(yc.at(16000), 16000, pysptk, pw)
            mb, mcc = mb[pb > -20], mcc[pc > -20]
            _, path = dtw(cost_matrix(mcc, mb))
            d = mcc[path[:, 0]] - mb[path[:, 1]]
            versa = float(np.mean(10 / np.log(10) * np.sqrt(2 * (d ** 2).sum(1))))
            versa_no_c0 = float(np.mean(10 / np.log(10) * np.sqrt(2 * (d[:, 1:] ** 2).sum(1))))
            vals.append((ours_mcd, versa, versa_no_c0))
        v = np.array(vals)
        rows[label] = {"ours_median": round(float(np.median(v[:, 0])), 2), "versa_median": round(float(np.median(v[:, 1])), 2),
                       "versa_without_c0_median": round(float(np.median(v[:, 2])), 2),
                       "offset_median": round(float(np.median(v[:, 1] - v[:, 0])), 2),
                       "ratio_median": round(float(np.median(v[:, 1] / v[:, 0])), 2)}
    return {"mel_cepstra_vs_sp2mc": cep, "mcd_pairs": rows}


def dnsmos_windows(work: Path) -> dict:
    from quality.audio import load
    from quality.metrics.dnsmos import WINDOW_S, _model, dnsmos_scores
    from quality.renders import load_render_set

    rs = _subset(load_render_set(work / "pool"), {0})
    diffs, t_full, t_tile = [], 0.0, 0.0
    for v in rs.texts.values():
        y = load(v[0].path).at(16000)
        t = time.process_time()
        full, _ = dnsmos_scores(y, sr=16000)
        t_full += time.process_time() - t
        t = time.process_time()
        tiled = _model()(np.resize(np.clip(y, -1, 1), int(WINDOW_S * 16000)).astype(np.float32), 16000, False)
        t_tile += time.process_time() - t
        diffs.append(abs(full["dnsmos_ovrl"] - float(tiled["ovrl_mos"])))
    return {"ovrl_abs_diff_median": round(float(np.median(diffs)), 3), "ovrl_abs_diff_max": round(float(np.max(diffs)), 3),
            "cost_ratio_tiled_vs_speechmos": round(t_tile / t_full, 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--renders", type=int, default=6)
    ap.add_argument("--pool", type=int, default=24)
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "results" / "quality_neural_work")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quality_neural.json")
    a = ap.parse_args(argv)
    a.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    res = {"machine": platform.platform(), "python": platform.python_version()}
    res["distribution"] = distribution(a.work, a.renders, a.pool, a.pairs, a.jobs)
    res["speaker_similarity"] = speaker_separation(a.work, a.renders, a.jobs)
    res["dnsmos"] = dnsmos_table(a.work, a.jobs)
    res["cost_cpu_s_per_audio_s"] = cost(a.work)
    res["mcd"] = mcd_check(a.work)
    res["dnsmos_windows"] = dnsmos_windows(a.work)
    res["total_s"] = round(time.perf_counter() - t0, 1)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _print(res)
    return 0


def _print(res: dict) -> None:
    d = res["distribution"]
    print(f"\nDistribution mode: {d['texts']} texts x {d['renders']} renders a build (temperature 1.0)")
    print(f"{'candidate':<30} {'verdict':<11} {'texts':>6}  {'expected':<19} fired (reasons)")
    for k, v in d["cases"].items():
        print(f"{k:<30} {v['verdict']:<11} {v['texts_flagged']:>2}/{v['texts']:<3}  {str(v['expected_metric']):<19} "
              f"{', '.join(v['fired']) or '-'}  {'ok' if v['ok'] else 'MISSED'}")
        for r in v["reasons"][:4]:
            print(f"{'':<32}- {r}")
    print(f"false alarms: {d['false_alarms']} of {d['pairs']} seed pairs ({d['false_alarm_rate']:.0%}), pairs of disjoint "
          f"{d['renders']}-seed sets from a pool of {d['pool']} seeds")
    for r in d["false_alarm_runs"]:
        if r["verdict"] != "pass":
            print(f"  pair {r['pair']}: {'; '.join(r['reasons'])}")
    s = res["speaker_similarity"]
    print(f"\nSpeaker similarity (cosine, p5/p50/p95): same speaker other text {s['same_speaker_other_text_p5_p50_p95']}, "
          f"same text other seed {s['same_text_other_seed_p5_p50_p95']}, other speaker {s['other_speaker_p5_p50_p95']}; "
          f"ROC AUC {s['roc_auc']} (other texts only {s['roc_auc_other_text_only']})")
    print("\nDNSMOS medians (12 clean renders and degraded copies):")
    print(f"{'set':<14} {'SIG':>6} {'BAK':>6} {'OVRL':>6} {'P.808':>6}")
    for k, v in res["dnsmos"].items():
        print(f"{k:<14} {v['dnsmos_sig']:>6.2f} {v['dnsmos_bak']:>6.2f} {v['dnsmos_ovrl']:>6.2f} {v['dnsmos_p808']:>6.2f}")
    c = res["cost_cpu_s_per_audio_s"]
    print(f"\nCost, CPU s per audio-second on one core ({c['clips']} clips, {c['audio_seconds']} s): "
          + ", ".join(f"{k} {v}" for k, v in c.items() if k not in ("clips", "audio_seconds")))
    m = res["mcd"]
    print(f"\nMel-cepstra vs SPTK sp2mc on the same spectra: max |diff| c1..c24 {m['mel_cepstra_vs_sp2mc']['max_abs_diff_c1_c24']:.4f}")
    print(f"{'MCD pairs':<14} {'ours':>6} {'VERSA':>6} {'VERSA-c0':>9} {'offset':>7} {'ratio':>6}")
    for k, v in m["mcd_pairs"].items():
        print(f"{k:<14} {v['ours_median']:>6.2f} {v['versa_median']:>6.2f} {v['versa_without_c0_median']:>9.2f} "
              f"{v['offset_median']:>7.2f} {v['ratio_median']:>6.2f}")
    w = res["dnsmos_windows"]
    print(f"\nDNSMOS OVRL, tiling short clips to one window vs speechmos's doubling: |diff| median "
          f"{w['ovrl_abs_diff_median']}, max {w['ovrl_abs_diff_max']}, cost ratio {w['cost_ratio_tiled_vs_speechmos']}")
    print(f"\ntotal {res['total_s']} s")


if __name__ == "__main__":
    raise SystemExit(main())
