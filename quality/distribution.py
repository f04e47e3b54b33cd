"""Distribution mode: verdicts for engines that sample (two renders of one text by one build differ).

A golden pair score reads sampling as a regression. Here each build renders every text several times
(seeds), every render is scored on its own (DNSMOS, speaker similarity to the speaker's prompt or to
the baseline's voice, duration, pitch, level, silences, clipping) and the spectral distance between
renders (MCD-DTW), and the *distributions* of baseline and candidate are compared:

* per metric, pooled over texts: the stratified rank test (van Elteren; for two-sided metrics such
  as pitch also the per-text z-scores squared and summed, so texts moving in opposite directions add
  up, the smaller p of the two doubled)
  -- or, for MCD, a permutation energy test -- at ``alpha`` split over the metrics (Bonferroni),
  *and* a shift at least ``min_effect`` in the worse direction (a significant but negligible change
  passes). The shift is the mean over texts of the median difference, with a stratified bootstrap
  interval (two-sided metrics: the median over texts of each text's own move);
* per text: a text is named when the metric regressed overall and that text moved by at least the
  minimum effect with a per-text rank test below ``text_alpha``; a text whose own change is strong
  enough on its own (``alpha`` split over the texts: with 8 renders a side that takes at most three
  out-of-order pairs of 64) is named even when the pool is not -- one broken voice among twelve.

Reasons are plain words: "speaker similarity down 0.08, 9 of 12 texts".
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from quality.features import Features, ScoreConfig
from quality.renders import Render, RenderSet
from quality.thresholds import Thresholds

__all__ = ["MetricSpec", "METRIC_SPECS", "DistributionResult", "compare_sets", "render_values"]


def _pct(e: float) -> str:
    r = math.exp(e) - 1.0
    return f"{abs(r) * 100:.1f}% {'longer' if r > 0 else 'shorter'}"


@dataclass(frozen=True)
class MetricSpec:
    """One distribution-mode metric: ``worse`` is ``"lower"``, ``"higher"`` or ``"both"``;
    ``say(shift)`` turns a candidate-minus-baseline shift into words."""

    name: str
    label: str
    worse: str
    say: Callable[[float], str]
    #: the size of a two-sided metric's shift, in the unit its minimum effect is given in
    scale: Callable[[float], float] = staticmethod(abs)  # type: ignore[assignment]

    def size(self, shift: float) -> float:
        """How far ``shift`` goes in the worse direction (negative = better), comparable with the
        metric's minimum effect."""
        if self.worse == "lower":
            return -shift
        if self.worse == "higher":
            return shift
        return self.scale(shift)

    def alternative(self) -> str:
        return {"lower": "less", "higher": "greater", "both": "two-sided"}[self.worse]


def _updown(label: str, fmt: str, unit: str = "") -> Callable[[float], str]:
    return lambda e: f"{label} {'down' if e < 0 else 'up'} {abs(e):{fmt}}{unit}"


METRIC_SPECS: dict[str, MetricSpec] = {s.name: s for s in (
    MetricSpec("dnsmos_ovrl", "DNSMOS OVRL", "lower", _updown("DNSMOS OVRL", ".2f")),
    MetricSpec("dnsmos_sig", "DNSMOS SIG", "lower", _updown("DNSMOS SIG", ".2f")),
    MetricSpec("dnsmos_bak", "DNSMOS BAK", "lower", _updown("DNSMOS BAK", ".2f")),
    MetricSpec("dnsmos_p808", "DNSMOS P.808", "lower", _updown("DNSMOS P.808", ".2f")),
    MetricSpec("speaker_similarity", "speaker similarity", "lower", _updown("speaker similarity", ".2f")),
    MetricSpec("mcd_to_baseline", "MCD to baseline", "higher",
               lambda e: f"spectrum {abs(e):.2f} dB MCD {'further from' if e > 0 else 'closer to'} the baseline renders "
                         f"than they are from each other"),
    MetricSpec("duration", "duration", "both", _pct, scale=lambda e: abs(math.exp(e) - 1.0)),
    MetricSpec("pitch", "pitch", "both", lambda e: f"pitch {abs(e) * 100:.0f} cents {'higher' if e > 0 else 'lower'}"),
    MetricSpec("level", "level", "both", lambda e: f"level {abs(e):.1f} dB {'higher' if e > 0 else 'lower'}"),
    MetricSpec("internal_silence_ratio", "internal silence", "higher",
               lambda e: f"silence inside speech {'up' if e > 0 else 'down'} {abs(e) * 100:.1f}% of the span"),
    MetricSpec("leading_silence_s", "leading silence", "both",
               lambda e: f"leading silence {abs(e) * 1000:.0f} ms {'longer' if e > 0 else 'shorter'}"),
    MetricSpec("trailing_silence_s", "trailing silence", "both",
               lambda e: f"trailing silence {abs(e) * 1000:.0f} ms {'longer' if e > 0 else 'shorter'}"),
    MetricSpec("clipping_ratio", "clipping", "higher",
               lambda e: f"clipped samples {'up' if e > 0 else 'down'} {abs(e) * 100:.2f}% of the audio"),
)}


def render_values(feats: Features) -> dict[str, float]:
    """The per-render values of :data:`METRIC_SPECS` that need no other render (NaN when absent)."""
    sig, nan = feats.signal, math.nan
    f0m = feats.f0_stats.get("f0_median_hz", nan)
    out = {k: float(feats.dnsmos.get(k, nan)) for k in ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808")}
    out.update(duration=math.log(sig["duration_s"]) if sig.get("duration_s", 0) > 0 else nan,
               pitch=12.0 * math.log2(f0m) if f0m and np.isfinite(f0m) and f0m > 0 else nan,
               level=float(sig.get("rms_dbfs", nan)),
               internal_silence_ratio=float(sig.get("internal_silence_ratio", nan)),
               leading_silence_s=float(sig.get("leading_silence_s", nan)),
               trailing_silence_s=float(sig.get("trailing_silence_s", nan)),
               clipping_ratio=float(sig.get("clipping_ratio", nan)))
    return out


@dataclass
class TextVerdict:
    """One text: ``verdict`` pass | regression | error | missing | unmatched (same fields as
    :class:`quality.regress.Verdict`, so the log and Prometheus writers serve both modes)."""

    name: str
    verdict: str
    fired: list[str]
    reasons: list[str]
    metrics: dict[str, Any]
    baseline_renders: int = 0
    candidate_renders: int = 0


@dataclass
class DistributionResult:
    """Outcome of :func:`compare_sets`; ``to_json()`` is the machine-readable contract."""

    verdict: str
    utterances: list[TextVerdict]
    metrics: dict[str, dict[str, Any]]
    reasons: list[str]
    thresholds: Thresholds
    baseline: dict[str, Any]
    rows: list[dict[str, Any]]
    baseline_rows: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cross_engine: bool = False
    mode: str = "distribution"
    mode_reason: str = ""

    @property
    def exit_code(self) -> int:
        return 0 if self.verdict == "pass" else 1

    @property
    def texts(self) -> list[TextVerdict]:
        return self.utterances

    def summary(self) -> dict[str, int]:
        return {v: sum(1 for u in self.utterances if u.verdict == v)
                for v in ("pass", "regression", "error", "missing", "unmatched")}

    def to_json(self) -> dict[str, Any]:
        from quality.regress import REPORT_SCHEMA  # noqa: PLC0415

        return {
            "schema": REPORT_SCHEMA, "verdict": self.verdict, "mode": self.mode, "mode_reason": self.mode_reason, "cross_engine": False,
            "reasons": self.reasons, "summary": self.summary(), "metrics": _clean(self.metrics),
            "texts": [{"name": u.name, "verdict": u.verdict, "fired": u.fired, "reasons": u.reasons,
                       "baseline_renders": u.baseline_renders, "candidate_renders": u.candidate_renders,
                       "metrics": _clean(u.metrics)} for u in self.utterances],
            "warnings": self.warnings, "thresholds": asdict(self.thresholds), "baseline": self.baseline,
        }


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return None if not np.isfinite(x) else round(float(x), 6)
    if isinstance(x, np.integer):
        return int(x)
    return x


# ----------------------------------------------------------------------------------------- analysis

def _speaker_values(texts: list[str], base: dict[str, list[tuple[Render, Features]]],
                    cand: dict[str, list[tuple[Render, Features]]],
                    prompts: dict[str, Features]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per text, the cosine of each render's speaker embedding with the speaker's reference voice.

    The reference is the prompt audio where the manifest names one; otherwise the centroid of the
    baseline's renders of that speaker (all its texts), leaving out the render being scored (and, for
    a candidate render, one baseline render, so both sides average the same number of embeddings).
    """
    from quality.metrics.speaker import cosine  # noqa: PLC0415

    def emb(f: Features) -> np.ndarray | None:
        return f.embedding

    groups: dict[str, list[np.ndarray]] = {}
    for t in texts:
        for r, f in base[t]:
            if emb(f) is not None:
                groups.setdefault(r.speaker or t, []).append(emb(f))  # type: ignore[arg-type]
    sums = {g: np.sum(v, axis=0) for g, v in groups.items()}
    out = {}
    for t in texts:
        vals: list[list[float]] = [[], []]
        for side, items in ((0, base[t]), (1, cand[t])):
            for k, (r, f) in enumerate(items):
                e = emb(f)
                key = base[t][0][0].speaker or t if base[t] else t
                if e is None:
                    vals[side].append(math.nan)
                elif t in prompts and prompts[t].embedding is not None:
                    vals[side].append(cosine(e, prompts[t].embedding))
                elif key in groups and len(groups[key]) >= 2:
                    drop = e if side == 0 else groups[key][k % len(groups[key])]
                    vals[side].append(cosine(e, sums[key] - drop))
                else:
                    vals[side].append(math.nan)
        out[t] = (np.array(vals[0]), np.array(vals[1]))
    return out


def _mcd_matrix(feats: list[Features]) -> np.ndarray:
    """Symmetric MCD-DTW (dB) between every two renders of one text."""
    from quality.align import cost_matrix, dtw  # noqa: PLC0415
    from quality.metrics.mcd import mcd  # noqa: PLC0415

    n = len(feats)
    D = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            a, b = feats[i], feats[j]
            _, path = dtw(cost_matrix(a.mc[:, 1:], b.mc[:, 1:]))
            D[i, j] = D[j, i] = mcd(a.mc, b.mc, path, frames=a.speech)
    return D


def _analyse(sets: list[tuple[RenderSet, Path | None]], texts: list[str], prompts: dict[str, Path], cfg: ScoreConfig,
             *, jobs: int | None, progress: bool) -> tuple[list[dict[str, list[tuple[Render, Features]]]],
                                                          dict[str, Features], list[str]]:
    """Analyse every render of ``texts`` in each set and the prompts, in one worker pool (the workers
    load the models once); per set its features cache (None: not cached)."""
    from quality.score import analyse_files  # noqa: PLC0415

    jobs_list: list[tuple[int, Any, Path, Path | None]] = []
    for i, (rs, cache) in enumerate(sets):
        jobs_list += [(i, r, r.path, cache) for t in texts for r in rs.texts[t]]
    jobs_list += [(-1, t, p, sets[0][1]) for t, p in prompts.items()]
    res = analyse_files([j[2] for j in jobs_list], config=cfg, jobs=jobs, progress=progress,
                        cache_dir=[j[3] for j in jobs_list])
    out: list[dict[str, list[tuple[Render, Features]]]] = [{t: [] for t in texts} for _ in sets]
    pf: dict[str, Features] = {}
    errors = []
    for (i, item, path, _), f in zip(jobs_list, res):
        if isinstance(f, str):
            errors.append(f if i >= 0 else f"prompt of {item}: {f}")
            continue
        errors += [f"{path}: {e}" for e in f.errors]
        if i < 0:
            pf[item] = f
        else:
            out[i][item.text].append((item, f))
    return out, pf, errors


# ------------------------------------------------------------------------------------------ verdicts

def compare_sets(baseline: RenderSet, candidate: RenderSet, *, thresholds: Thresholds, jobs: int | None = None,
                 progress: bool = False, cache_dir: Path | None = None, config: ScoreConfig | None = None,
                 mode_reason: str = "", candidate_cache_dir: Path | None = None) -> DistributionResult:
    """Compare the renders of two builds text by text; see the module docstring for the rules.

    ``cache_dir`` keeps the baseline's features (``<baseline>/.quality-cache``); the candidate's are
    cached only in ``candidate_cache_dir`` (a nightly candidate is scored once).
    """
    from quality.stats import either_way, energy_test, rank_test, shift_ci, van_elteren  # noqa: PLC0415

    dt = thresholds.distribution
    cfg = config or ScoreConfig(metrics=frozenset({"dnsmos", "speaker_similarity"}))
    common = [t for t in baseline.texts if t in candidate.texts]
    missing = [t for t in baseline.texts if t not in candidate.texts]
    unmatched = [t for t in candidate.texts if t not in baseline.texts]
    warnings = list(baseline.warnings) + list(candidate.warnings)
    prompt_paths = {t: baseline.texts[t][0].prompt for t in common
                    if baseline.texts[t][0].prompt is not None and "speaker_similarity" in cfg.metrics}
    (base, cand), prompts, errs = _analyse([(baseline, cache_dir), (candidate, candidate_cache_dir)], common, prompt_paths, cfg,
                                           jobs=jobs, progress=progress)
    warnings += errs
    ok = [t for t in common if len(base[t]) >= dt.min_renders and len(cand[t]) >= dt.min_renders]
    # per-render values
    vals: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {t: {} for t in ok}
    for t in ok:
        rb = [render_values(f) for _, f in base[t]]
        rc = [render_values(f) for _, f in cand[t]]
        for m in rb[0] if rb else ():
            vals[t][m] = (np.array([r[m] for r in rb]), np.array([r[m] for r in rc]))
    if "speaker_similarity" in cfg.metrics:
        for t, v in _speaker_values(ok, base, cand, prompts).items():
            vals[t]["speaker_similarity"] = v
    mats = {t: (_mcd_matrix([f for _, f in base[t]] + [f for _, f in cand[t]]), len(base[t])) for t in ok}
    # which metrics were measured at all
    specs = [s for s in METRIC_SPECS.values()
             if s.name == "mcd_to_baseline" or any(np.isfinite(vals[t].get(s.name, (np.zeros(0),) * 2)[0]).any()
                                                    for t in ok)]
    n_m = max(1, len(specs))
    n_t = max(1, len(ok))
    metrics: dict[str, dict[str, Any]] = {}
    per_text: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in ok}
    flagged: dict[str, list[tuple[str, str]]] = {t: [] for t in ok}
    overall_reasons: list[str] = []
    for spec in specs:
        min_eff = dt.min_effect.get(spec.name, 0.0)
        if spec.name == "mcd_to_baseline":
            effect, p, pt = energy_test([mats[t] for t in ok], n_perm=dt.n_perm, seed=0)
            lo = hi = math.nan
            text_stats = {t: {"shift": s, "p": q} for t, (s, q) in zip(ok, pt)}
            for t in ok:
                D, nb = mats[t]
                text_stats[t].update(baseline_median=float(np.median(D[:nb, :nb][np.triu_indices(nb, 1)])),
                                     candidate_median=float(np.median(D[:nb, nb:])))
        else:
            groups = [vals[t][spec.name] for t in ok]
            _, p = van_elteren(groups, alternative=spec.alternative())
            if spec.worse == "both":  # one shift for all texts, or each its own way: the better of the two, x2
                p = min(1.0, 2.0 * min(p, either_way(groups)[1]))
            effect, lo, hi = shift_ci(groups, n_boot=dt.n_boot, seed=0)
            text_stats = {}
            for t, (b, c) in zip(ok, groups):
                bf, cf = b[np.isfinite(b)], c[np.isfinite(c)]
                q, delta = rank_test(b, c, alternative=spec.alternative())
                text_stats[t] = {"baseline_median": float(np.median(bf)) if len(bf) else math.nan,
                                 "candidate_median": float(np.median(cf)) if len(cf) else math.nan,
                                 "shift": float(np.median(cf) - np.median(bf)) if len(bf) and len(cf) else math.nan,
                                 "p": q, "cliffs_delta": delta}
        shifts = np.array([text_stats[t]["shift"] for t in ok], dtype=float)
        shifts = shifts[np.isfinite(shifts)]
        # two-sided: the typical size of each text's own move (texts may move in opposite directions)
        size = (float(np.median([spec.size(x) for x in shifts])) if spec.worse == "both" and len(shifts)
                else spec.size(effect))
        fired = bool(np.isfinite(effect) and p < dt.alpha / n_m and size >= min_eff)
        named = []
        for t in ok:
            st = text_stats[t]
            s = st["shift"]
            if not np.isfinite(s):
                continue
            big = spec.size(s) >= min_eff
            # named: behind a pooled regression, or strong on its own (alpha split over the texts)
            st["fired"] = bool(big and ((fired and st["p"] < dt.text_alpha) or st["p"] < dt.alpha / n_t))
            if st["fired"]:
                named.append(t)
                flagged[t].append((spec.name, f"{spec.say(s)} (p={st['p']:.2g})"))
            per_text[t][spec.name] = st
        metrics[spec.name] = {"label": spec.label, "worse": spec.worse, "effect": effect, "ci_low": lo, "ci_high": hi,
                              "size": size, "p": p, "alpha": dt.alpha / n_m, "min_effect": min_eff, "fired": fired,
                              "texts_fired": len(named), "texts": len(ok)}
        if fired:
            overall_reasons.append(_say_pooled(spec, effect, [text_stats[t]["shift"] for t in named], len(ok)))
        elif named:
            overall_reasons.append(f"{spec.say(text_stats[named[0]]['shift'])} in {', '.join(named)}")
    # text verdicts
    utts: list[TextVerdict] = []
    for t in common:
        nb, nc = len(base[t]), len(cand[t])
        if t not in ok:
            utts.append(TextVerdict(t, "error", ["renders"], [f"{nb} baseline / {nc} candidate renders usable "
                                                            f"(need {dt.min_renders} each)"], {}, nb, nc))
            continue
        f = flagged[t]
        utts.append(TextVerdict(t, "regression" if f else "pass", [m for m, _ in f], [r for _, r in f],
                                per_text[t], nb, nc))
    for t in missing:
        utts.append(TextVerdict(t, "missing", ["missing"], ["no candidate render of this text"], {},
                                len(baseline.texts[t]), 0))
    for t in unmatched:
        utts.append(TextVerdict(t, "unmatched", [], ["not in the baseline: nothing to compare with"], {},
                                0, len(candidate.texts[t])))
    if not common:
        overall_reasons.append("no text of the baseline has a candidate render")
    bad = [u for u in utts if u.verdict in ("error", "missing")]
    if bad:
        overall_reasons.append(f"{len(bad)} text(s) could not be compared ({', '.join(u.name for u in bad[:5])})")
    regressed = any(m["fired"] for m in metrics.values()) or any(u.verdict == "regression" for u in utts)
    verdict = "regression" if regressed or bad or not common else "pass"
    rows = _rows(cand, ok, vals, 1)
    brows = _rows(base, ok, vals, 0)
    binfo = {"dir": str(baseline.dir), "candidate_dir": str(candidate.dir),
             "engine_version": baseline.manifest.get("engine_version"), "backend": baseline.manifest.get("backend"),
             "candidate_backend": candidate.manifest.get("backend"), "sampling": baseline.manifest.get("sampling"),
             "candidate_sampling": candidate.manifest.get("sampling"), "texts": len(baseline.texts),
             "renders": baseline.n_renders, "candidate_renders": candidate.n_renders}
    return DistributionResult(verdict, utts, metrics, overall_reasons, thresholds, binfo, rows, brows, warnings,
                              mode_reason=mode_reason)


def _say_pooled(spec: MetricSpec, effect: float, named: list[float], n: int) -> str:
    """"speaker similarity down 0.08, 9 of 12 texts"; a two-sided metric whose texts moved both ways
    gets each direction's median: "pitch 1020 cents higher in 6 texts, pitch 990 cents lower in 6 of 12"."""
    up, down = [x for x in named if x > 0], [x for x in named if x < 0]
    if spec.worse == "both" and up and down:
        return (f"{spec.say(float(np.median(up)))} in {len(up)} texts, {spec.say(float(np.median(down)))} in "
                f"{len(down)}; {len(named)} of {n} texts")
    return f"{spec.say(effect)}, {len(named)} of {n} texts"


def _rows(items: dict[str, list[tuple[Render, Features]]], texts: list[str],
          vals: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], side: int) -> list[dict[str, Any]]:
    """One plain row per render (for the HTML histograms and the Prometheus means)."""
    rows = []
    for t in texts:
        for k, (r, _) in enumerate(items[t]):
            row: dict[str, Any] = {"name": r.path.stem, "text": t, "seed": r.seed, "path": str(r.path)}
            for m, (b, c) in vals[t].items():
                v = (b, c)[side]
                row[m] = float(v[k]) if k < len(v) else math.nan
            rows.append(row)
    return rows
