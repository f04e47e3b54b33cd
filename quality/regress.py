"""Regression verdicts: score a candidate set against the baseline and say, per utterance, what got worse.

Detectors (each fault has the one that sees it; see docs/quality.md for the measurements):

* runbook floors: PESQ-WB < 3.2, STOI < 0.85, envelope fluctuation < 0.15 (kept so the seeds'
  alarms still fire; a floor is relaxed for an utterance whose own baseline re-synthesis already
  scores below it, which is how the floors false-alarm);
* absolute limits: |F0 bias| (cents), duration ratio, leading/trailing silence delta, internal silence
  increase and extra digital-zero blocks (dropouts), MCD-DTW, clipped samples, VDE, silent output;
* baseline distribution: a metric worse than the baseline's own re-synthesis score for that utterance
  by more than ``max(k_sigma * sigma, min_margin)`` fires even above the floors.

A ``cross_engine`` run (candidate from another back-end) keeps only the non-intrusive detectors and a
wide duration tolerance: PESQ between two different voices says nothing about regressions.

With ``--metrics dnsmos,speaker_similarity`` two more detectors apply: speaker similarity to the
reference (or prompt) voice below ``speaker_similarity_min``, and DNSMOS OVRL more than
``dnsmos_ovrl_drop_max`` below the reference's own. Engines that sample get distribution mode
instead (:mod:`quality.distribution`); :func:`choose_mode` picks it from the baseline's manifest.
"""
from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from quality.renders import read_manifest

#: version of the ``regress --format json`` contract (quality/schemas/regress_report.schema.json)
REPORT_SCHEMA = 1
from quality.thresholds import DEFAULT_THRESHOLDS_FILE, Thresholds, load_thresholds

__all__ = ["Thresholds", "Verdict", "evaluate_row", "regress", "RegressResult", "load_thresholds",
           "DEFAULT_THRESHOLDS_FILE", "choose_mode", "read_manifest", "MODES"]

_HIGHER_BETTER = ("pesq_wb", "pesq_nb", "stoi", "estoi")
_LOWER_BETTER = ("mcd_dtw", "f0_rmse_cents", "vde")
_LABEL = {"pesq_wb": "PESQ-WB", "pesq_nb": "PESQ-NB", "stoi": "STOI", "estoi": "ESTOI", "mcd_dtw": "MCD dB",
          "f0_rmse_cents": "F0 RMSE cents", "vde": "VDE"}
MODES = ("auto", "pairs", "distribution")


@dataclass
class Verdict:
    """One utterance: ``verdict`` pass | regression | error | unmatched (a candidate with no baseline
    file: reported, not compared), ``fired`` metrics, plain-words ``reasons``."""

    name: str
    verdict: str
    fired: list[str]
    reasons: list[str]
    metrics: dict[str, Any]


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


def _ms(s: float) -> str:
    return f"{abs(s) * 1000:.0f} ms"


def evaluate_row(row: dict[str, Any], t: Thresholds, *, baseline: dict[str, Any] | None = None,
                 sigma: dict[str, float] | None = None, cross_engine: bool = False) -> Verdict:
    """Apply every detector to one score row.

    Parameters
    ----------
    row : dict
        A Score row (:func:`quality.score.score_pair`).
    baseline : dict, optional
        This utterance's baseline re-synthesis scores (same keys), for the relative detectors.
    sigma : dict, optional
        Set-wide standard deviation of each baseline metric.
    """
    fired: list[str] = []
    reasons: list[str] = []

    def fire(metric: str, why: str) -> None:
        if metric not in fired:
            fired.append(metric)
        reasons.append(why)

    g = {k: _num(row.get(k)) for k in row}
    if math.isnan(g.get("duration_s", math.nan)):
        return Verdict(row["name"], "error", ["error"], [row.get("error") or "could not be scored"], row)
    # non-intrusive and absolute detectors (also for cross-engine runs)
    if g["peak_dbfs"] < -60:
        fire("peak_dbfs", f"silent output (peak {g['peak_dbfs']:.0f} dBFS)")
    elif g["envelope_fluctuation"] < t.envelope_fluctuation_min:
        fire("envelope_fluctuation", f"flat envelope (fluctuation {g['envelope_fluctuation']:.2f} "
                                     f"< {t.envelope_fluctuation_min}): silent or buzzing output")
    if g.get("clipped_samples_delta", 0) > t.clipped_samples_delta_max:
        fire("clipped_samples", f"{int(g['clipped_samples'])} clipped samples "
                                f"({int(g['clipped_samples_delta']):+d} vs reference)")
    d = g.get("leading_silence_delta_s", math.nan)
    if abs(d) > t.leading_silence_delta_max_s:
        fire("leading_silence_delta_s", f"{_ms(d)} {'more' if d > 0 else 'less'} leading silence")
    d = g.get("trailing_silence_delta_s", math.nan)
    if abs(d) > t.trailing_silence_delta_max_s:
        fire("trailing_silence_delta_s", f"{_ms(d)} {'more' if d > 0 else 'less'} trailing silence")
    r = g.get("duration_ratio", math.nan)
    tol = t.cross_engine_duration_ratio_tol if cross_engine else t.duration_ratio_tol
    if abs(r - 1.0) > tol:
        fire("duration_ratio", f"{abs(r - 1) * 100:.1f}% {'longer' if r > 1 else 'shorter'}")
    if not cross_engine:
        d = g.get("internal_silence_ratio_delta", math.nan)
        if d > t.internal_silence_ratio_delta_max:
            fire("internal_silence_ratio_delta", f"{d * 100:.1f}% more of the speech span is silent (dropouts?)")
        d = g.get("zero_frames_delta", math.nan)
        if d > t.zero_frames_delta_max:
            fire("zero_frames_delta", f"{int(d)} more 10 ms blocks of digital silence inside speech (dropouts)")
        b = g.get("f0_bias_cents", math.nan)
        if abs(b) > t.f0_bias_cents_max:
            fire("f0_bias_cents", f"pitch {abs(b):.0f} cents {'sharp' if b > 0 else 'flat'}")
        if g.get("mcd_dtw", math.nan) > t.mcd_dtw_max:
            fire("mcd_dtw", f"spectral distortion {g['mcd_dtw']:.1f} dB MCD (limit {t.mcd_dtw_max})")
        if g.get("vde", math.nan) > t.vde_max:
            fire("vde", f"voicing decisions differ on {g['vde'] * 100:.0f}% of frames")
        if g.get("speaker_similarity", math.nan) < t.speaker_similarity_min:
            fire("speaker_similarity", f"speaker similarity {g['speaker_similarity']:.2f} to the reference voice "
                                       f"(limit {t.speaker_similarity_min})")
        d = g.get("dnsmos_ovrl_delta", math.nan)
        if d < -t.dnsmos_ovrl_drop_max:
            fire("dnsmos_ovrl", f"DNSMOS OVRL {g['dnsmos_ovrl']:.2f}, {abs(d):.2f} below the reference's "
                                f"(allowed {t.dnsmos_ovrl_drop_max})")
        # floors (relaxed to the baseline's own value when that is already below the floor)
        for m, floor, label in (("pesq_wb", t.pesq_wb_min, "PESQ-WB"), ("stoi", t.stoi_min, "STOI")):
            v = g.get(m, math.nan)
            bv = _num((baseline or {}).get(m))
            eff = floor
            if not math.isnan(bv) and bv < floor:
                eff = bv - max(t.k_sigma * (sigma or {}).get(m, 0.0), t.min_margin.get(m, 0.0))
            if v < eff:
                fire(m, f"{label} {v:.2f} below the {eff:.2f} floor")
        # baseline distribution
        if baseline:
            for m in _HIGHER_BETTER + _LOWER_BETTER:
                v, bv = g.get(m, math.nan), _num(baseline.get(m))
                if math.isnan(v) or math.isnan(bv):
                    continue
                margin = max(t.k_sigma * (sigma or {}).get(m, 0.0), t.min_margin.get(m, 0.0))
                worse = (bv - v) if m in _HIGHER_BETTER else (v - bv)
                if worse > margin and m not in fired:
                    fire(m, f"{_LABEL.get(m, m)} {v:.2f} vs baseline {bv:.2f} (allowed {margin:.2f})")
    verdict = "regression" if fired else "pass"
    return Verdict(row["name"], verdict, fired, reasons, row)


@dataclass
class RegressResult:
    """Outcome of :func:`regress`; ``to_json()`` is the stable machine-readable contract."""

    verdict: str
    utterances: list[Verdict]
    thresholds: Thresholds
    baseline: dict[str, Any]
    rows: list[dict[str, Any]]
    cross_engine: bool = False
    warnings: list[str] = field(default_factory=list)
    mode: str = "pairs"
    mode_reason: str = ""

    @property
    def exit_code(self) -> int:
        return 0 if self.verdict == "pass" else 1

    def summary(self) -> dict[str, int]:
        return {v: sum(1 for u in self.utterances if u.verdict == v) for v in ("pass", "regression", "error", "unmatched")}

    def to_json(self) -> dict[str, Any]:
        from quality.score import clean_row  # noqa: PLC0415

        return {
            "schema": REPORT_SCHEMA,
            "verdict": self.verdict,
            "mode": self.mode,
            "mode_reason": self.mode_reason,
            "cross_engine": self.cross_engine,
            "warnings": self.warnings,
            "summary": self.summary(),
            "utterances": [{"name": u.name, "verdict": u.verdict, "fired": u.fired, "reasons": u.reasons,
                            "metrics": clean_row(u.metrics)} for u in self.utterances],
            "thresholds": asdict(self.thresholds),
            "baseline": self.baseline,
        }


def baseline_distribution(manifest: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """Per-utterance baseline re-synthesis scores and set-wide sigma per metric, from the manifest."""
    import numpy as np  # noqa: PLC0415

    rows = manifest.get("variability", {}).get("rows", [])
    per = {r["name"]: r for r in rows if r.get("name")}
    sigma = {}
    for m in _HIGHER_BETTER + _LOWER_BETTER:
        vals = np.array([_num(r.get(m)) for r in rows], dtype=float)
        vals = vals[np.isfinite(vals)]
        sigma[m] = float(vals.std()) if len(vals) > 1 else 0.0
    return per, sigma


def choose_mode(baseline_dir: str | Path, candidate_dir: str | Path | None = None) -> tuple[str, str]:
    """``("distribution" | "pairs", why)`` for ``--mode auto``.

    Distribution mode when the baseline (or candidate) manifest says it holds several renders a text,
    when the baseline's own re-synthesis was not byte-identical (the engine samples), or when a
    directory holds several renders of one text; pair mode otherwise.
    """
    from quality.renders import load_render_set, renders_per_text  # noqa: PLC0415

    man = read_manifest(baseline_dir)
    n = renders_per_text(man)
    if n > 1:
        return "distribution", f"the baseline holds {n} renders of each text"
    if candidate_dir is not None and renders_per_text(read_manifest(candidate_dir)) > 1:
        return "distribution", "the candidate holds several renders of each text"
    var = man.get("variability") or {}
    ident, total = var.get("identical_files") or {}, len(man.get("utterances") or [])
    if total and any(isinstance(v, int) and v < total for v in ident.values()):
        return "distribution", (f"a re-synthesis of the baseline was not identical ({', '.join(f'{k}: {v} of {total}' for k, v in ident.items())}"
                                " files the same): the engine samples")
    for d in (baseline_dir, candidate_dir):
        if d is not None and not read_manifest(d) and any(len(v) > 1 for v in load_render_set(d).texts.values()):
            return "distribution", f"{d} holds several renders of a text"
    return "pairs", "one render of each text: golden pairs"


def regress(baseline_dir: str | Path, candidate_dir: str | Path, *, thresholds: Thresholds | None = None,
            jobs: int | None = None, progress: bool = True, cross_engine: bool | None = None,
            config: Any = None, mode: str = "auto") -> Any:
    """Score ``candidate_dir`` against ``baseline_dir`` and give verdicts.

    ``mode`` is ``pairs`` (golden pairs matched by name: :class:`RegressResult`), ``distribution``
    (several renders a text: :class:`quality.distribution.DistributionResult`) or ``auto``
    (:func:`choose_mode`). ``cross_engine`` (pairs) defaults to True when the candidate directory's
    manifest names another back-end than the baseline's.

    Raises
    ------
    InputError
        A corrupt manifest; distribution mode on a baseline with fewer renders a text than
        ``thresholds.distribution.min_renders``.
    """
    from ttsops.errors import InputError  # noqa: PLC0415

    t = thresholds or load_thresholds(None)
    bdir, cdir = Path(baseline_dir), Path(candidate_dir)
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}", where="--mode", fix=f"use one of {', '.join(MODES)}")
    why = f"--mode {mode}"
    if mode == "auto":
        mode, why = choose_mode(bdir, cdir)
    manifest = read_manifest(bdir)
    cmanifest = read_manifest(cdir)
    warnings: list[str] = []
    cache = bdir / ".quality-cache" if _writable(bdir) else None
    if mode == "distribution":
        return _regress_distribution(bdir, cdir, t, manifest, cmanifest, jobs=jobs, progress=progress,
                                     cache=cache, config=config, why=why)
    if not manifest:
        warnings.append(f"{bdir} has no manifest.json: the baseline-distribution detector is off "
                        "(absolute limits only); build the baseline with `tts-quality reference build`")
    from quality.renders import renders_per_text  # noqa: PLC0415

    if renders_per_text(manifest) > 1:
        raise InputError(f"the baseline holds {renders_per_text(manifest)} renders of each text; pair mode "
                         "compares one file with one file", where=str(bdir), fix="use --mode distribution (or auto)")
    from quality.score import match_dirs, score_pairs  # noqa: PLC0415

    if cross_engine is None:
        bb, cb = manifest.get("backend"), cmanifest.get("backend")
        cross_engine = bool(bb and cb and bb != cb)
    per, sigma = baseline_distribution(manifest)
    rows = score_pairs(match_dirs(bdir, cdir), config=config, jobs=jobs, progress=progress, cache_dir=cache)
    utts = []
    for row in rows:
        if row.get("ref_path") is None and row.get("deg_path") is not None:
            utts.append(Verdict(row["name"], "unmatched", [], ["not in the baseline: nothing to compare with"], row))
            continue
        utts.append(evaluate_row(row, t, baseline=per.get(row["name"]), sigma=sigma, cross_engine=cross_engine))
    compared = [u for u in utts if u.verdict != "unmatched"]
    verdict = "regression" if not compared or any(u.verdict != "pass" for u in compared) else "pass"
    base = {"dir": str(bdir), "engine_version": manifest.get("engine_version"),
            "backend": manifest.get("backend"), "candidate_backend": cmanifest.get("backend"),
            "utterances": len([r for r in rows if r.get("ref_path")]),
            "variability": {m: {"sigma": sigma.get(m)} for m in sigma} if per else None}
    return RegressResult(verdict, utts, t, base, rows, cross_engine=cross_engine, warnings=warnings,
                         mode="pairs", mode_reason=why)


def _regress_distribution(bdir: Path, cdir: Path, t: Thresholds, manifest: dict[str, Any], cmanifest: dict[str, Any],
                          *, jobs: int | None, progress: bool, cache: Path | None, config: Any, why: str) -> Any:
    from quality.distribution import compare_sets  # noqa: PLC0415
    from quality.renders import load_render_set  # noqa: PLC0415
    from ttsops.errors import InputError  # noqa: PLC0415

    warnings = []
    if not manifest:
        warnings.append(f"{bdir} has no manifest.json: renders grouped by file name (<text>.s<seed>.wav or "
                        "<text>/*.wav); speakers and prompts unknown, so speaker similarity uses each text's own renders")
    base = load_render_set(bdir, manifest=manifest)
    cand = load_render_set(cdir, manifest=cmanifest)
    most = max((len(v) for v in base.texts.values()), default=0)
    need = t.distribution.min_renders
    if most < need:
        raise InputError(f"distribution mode needs at least {need} renders of each text; the baseline holds {most} "
                         f"({why})", where=str(bdir),
                         fix="build it with `tts-quality reference build TEXTS --out DIR --sampling --renders 8`")
    res = compare_sets(base, cand, thresholds=t, jobs=jobs, progress=progress, cache_dir=cache, config=config,
                       mode_reason=why)
    res.warnings[:0] = warnings
    return res


def _writable(d: Path) -> bool:
    import os  # noqa: PLC0415

    return os.access(d, os.W_OK)


# ------------------------------------------------------------------ side outputs

def write_log_lines(result: RegressResult, log_dir: str | Path, *, run_id: str) -> Path:
    """Append one JSON log line a regressed/error utterance plus a run summary, in the engine's
    loguru ``serialize=True`` format, to ``log_dir/quality.log``."""
    from loguru import logger  # noqa: PLC0415

    d = Path(log_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / "quality.log"
    sink = logger.add(str(path), serialize=True, level="INFO", enqueue=False,
                      filter=lambda r: r["extra"].get("quality_run") == run_id)
    log = logger.bind(quality_run=run_id, request_id=run_id, backend=result.baseline.get("candidate_backend")
                      or result.baseline.get("backend"), speaker=None, emotion=None, text_length=None,
                      audio_seconds=None, rtf=None, elapsed=None)
    try:
        for u in result.utterances:
            if u.verdict == "pass":
                continue
            m = u.metrics
            log.bind(event="quality_regression", utterance=u.name, verdict=u.verdict,
                     fired=u.fired, reason="; ".join(u.reasons), pesq_wb=_j(m.get("pesq_wb")), stoi=_j(m.get("stoi")),
                     f0_bias_cents=_j(m.get("f0_bias_cents")), mcd_dtw=_j(m.get("mcd_dtw")),
                     duration_ratio=_j(m.get("duration_ratio")), audio_seconds=_j(m.get("duration_s"))
                     ).warning(f"quality regression in {u.name}: {'; '.join(u.reasons)}")
        summ = result.summary()
        lvl = "INFO" if result.verdict == "pass" else "ERROR"
        log.bind(event="quality_run", verdict=result.verdict, cross_engine=result.cross_engine, **summ).log(
            lvl, f"quality run {result.verdict}: {summ['regression']} regression(s), {summ['error']} error(s) "
                 f"in {len(result.utterances)} utterance(s)")
    finally:
        logger.remove(sink)
    return path


def _j(v: Any) -> Any:
    f = _num(v)
    return None if math.isnan(f) else round(f, 4)


#: score column -> (metric name with its unit, label, label value, help): one name per unit
_PROM_MEANS = {
    "pesq_wb": ("tts_quality_pesq_mean_mos", "band", "wb", "PESQ MOS-LQO (1..4.64)"),
    "pesq_nb": ("tts_quality_pesq_mean_mos", "band", "nb", "PESQ MOS-LQO (1..4.64)"),
    "dnsmos_sig": ("tts_quality_dnsmos_mean_mos", "dimension", "sig", "DNSMOS MOS estimate (1..5)"),
    "dnsmos_bak": ("tts_quality_dnsmos_mean_mos", "dimension", "bak", "DNSMOS MOS estimate (1..5)"),
    "dnsmos_ovrl": ("tts_quality_dnsmos_mean_mos", "dimension", "ovrl", "DNSMOS MOS estimate (1..5)"),
    "dnsmos_p808": ("tts_quality_dnsmos_mean_mos", "dimension", "p808", "DNSMOS MOS estimate (1..5)"),
    "stoi": ("tts_quality_stoi_mean_ratio", "variant", "stoi", "STOI intelligibility (0..1)"),
    "estoi": ("tts_quality_stoi_mean_ratio", "variant", "estoi", "STOI intelligibility (0..1)"),
    "mcd_dtw": ("tts_quality_mcd_mean_decibels", None, None, "mel-cepstral distance after DTW, dB"),
    "f0_rmse_cents": ("tts_quality_f0_mean_cents", "statistic", "rmse", "F0 error, cents"),
    "f0_bias_cents": ("tts_quality_f0_mean_cents", "statistic", "bias", "F0 error, cents"),
    "vde": ("tts_quality_vde_mean_ratio", None, None, "voicing decision error (0..1)"),
    "duration_ratio": ("tts_quality_duration_mean_ratio", None, None, "candidate / reference duration"),
    "speaker_similarity": ("tts_quality_speaker_similarity_mean_cosine", None, None,
                           "speaker embedding cosine (-1..1)"),
}


def write_prom(result: RegressResult, path: str | Path) -> Path:
    """Prometheus textfile (node_exporter textfile collector) with the run's verdict and figures."""
    import numpy as np  # noqa: PLC0415
    from prometheus_client import CollectorRegistry, Gauge  # noqa: PLC0415

    reg = CollectorRegistry()
    Gauge("tts_quality_regression", "1 when the last quality run found a regression", registry=reg).set(
        0 if result.verdict == "pass" else 1)
    g = Gauge("tts_quality_utterances", "Utterances by verdict in the last run", ["verdict"], registry=reg)
    for v, n in result.summary().items():
        g.labels(v).set(n)
    f = Gauge("tts_quality_detector_fired_utterances", "Utterances on which each detector fired in the last run",
              ["metric"], registry=reg)
    counts: dict[str, int] = {}
    for u in result.utterances:
        for m in u.fired:
            counts[m] = counts.get(m, 0) + 1
    for m, n in counts.items():
        f.labels(m).set(n)
    # means over the scored utterances, one metric name per unit (Prometheus' naming rule), the variant
    # in a label: tts_quality_pesq_mean_mos{band="wb"}, tts_quality_mcd_mean_decibels, ...
    # every family and label value is always written (NaN when this run did not score it), so the
    # dashboard's queries and alert rules always find their series
    families: dict[str, tuple[Any, str | None]] = {}
    for column, (name, label, value, unit_help) in _PROM_MEANS.items():
        vals = np.array([_num(r.get(column)) for r in result.rows], dtype=float)
        vals = vals[np.isfinite(vals)]
        if name not in families:
            families[name] = Gauge(name, f"Mean over the last run's scored utterances: {unit_help}",
                                   [label] if label else [], registry=reg), label
        g, lab = families[name]
        (g.labels(value) if lab else g).set(float(vals.mean()) if len(vals) else math.nan)
    import time  # noqa: PLC0415

    Gauge("tts_quality_last_run_timestamp_seconds", "When the last quality run finished", registry=reg).set(time.time())
    from prometheus_client import generate_latest  # noqa: PLC0415

    from ttsops.output import write_output  # noqa: PLC0415

    # atomic, like write_to_textfile (the collector never reads half a file), and a device or a full disk
    # is one error line
    return write_output(path, generate_latest(reg), what="the Prometheus textfile")


def print_terminal(result: Any, *, file: Any = None, color: bool | None = None) -> None:
    """Rich summary: one line an utterance (a text, in distribution mode), then the overall verdict
    (``color``: force colours on/off; None: the terminal decides)."""
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    out = file or sys.stdout
    con = Console(file=out, width=None if out.isatty() else 160, force_terminal=color, no_color=color is False)
    if result.mode == "distribution":
        _print_distribution(result, con)
        return
    t = Table(title=f"quality regression: {result.baseline.get('dir')}"
                    + (" (cross-engine)" if result.cross_engine else ""))
    for c in ("utterance", "verdict", "fired", "why", "PESQ-WB", "STOI", "MCD"):
        t.add_column(c, overflow="fold")
    for u in result.utterances:
        m = u.metrics
        style = {"pass": "green", "regression": "red", "error": "yellow", "unmatched": "cyan"}[u.verdict]
        why = "; ".join(u.reasons[:2]) + (f" (+{len(u.reasons) - 2} more)" if len(u.reasons) > 2 else "")
        t.add_row(u.name, f"[{style}]{u.verdict}[/]", ", ".join(u.fired), why,
                  *(f"{_num(m.get(k)):.2f}" for k in ("pesq_wb", "stoi", "mcd_dtw")))
    con.print(t)
    s = result.summary()
    colour = "green" if result.verdict == "pass" else "red"
    con.print(f"[bold {colour}]{result.verdict.upper()}[/]: {s['pass']} pass, {s['regression']} regression, "
              f"{s['error']} error" + (f", {s['unmatched']} not in the baseline" if s["unmatched"] else ""))


def _print_distribution(result: Any, con: Any) -> None:
    from rich.table import Table  # noqa: PLC0415

    styles = {"pass": "green", "regression": "red", "error": "yellow", "missing": "yellow", "unmatched": "cyan"}
    t = Table(title=f"quality regression (distribution): {result.baseline.get('dir')} -> "
                    f"{result.baseline.get('candidate_dir')}")
    for c in ("metric", "shift", "95% interval", "p", "texts", "verdict"):
        t.add_column(c)
    for m in result.metrics.values():
        t.add_row(m["label"], f"{m['effect']:+.3f}", f"{m['ci_low']:+.3f} .. {m['ci_high']:+.3f}"
                  if math.isfinite(m["ci_low"]) else "-", f"{m['p']:.2g}", f"{m['texts_fired']}/{m['texts']}",
                  "[red]regression[/]" if m["fired"] else "[green]ok[/]")
    con.print(t)
    t = Table(title="texts")
    for c in ("text", "verdict", "renders b/c", "why"):
        t.add_column(c, overflow="fold")
    for u in result.utterances:
        t.add_row(u.name, f"[{styles[u.verdict]}]{u.verdict}[/]", f"{u.baseline_renders}/{u.candidate_renders}",
                  "; ".join(u.reasons))
    con.print(t)
    colour = "green" if result.verdict == "pass" else "red"
    con.print(f"[bold {colour}]{result.verdict.upper()}[/]" + (": " + "; ".join(result.reasons) if result.reasons else ""))
