"""HTML report of a pair-mode run: verdict table, score histograms with the thresholds drawn in, and
for each failing utterance (the worst first) audio players, F0 overlay and spectrograms on one scale."""
from __future__ import annotations

from ttsops.output import write_output

import html
import math
from pathlib import Path
from typing import Any

import numpy as np

from quality.report.plots import audio_player, histograms, load16, page, spectrogram_pair, trend

__all__ = ["write_pairs_html"]

_TABLE = ("pesq_wb", "stoi", "mcd_dtw", "f0_bias_cents", "duration_ratio", "speaker_similarity", "dnsmos_ovrl")


def _severity(u: Any) -> float:
    p = u.metrics.get("pesq_wb")
    p = 4.6 if p is None or (isinstance(p, float) and math.isnan(p)) else p
    return (10 if u.verdict not in ("pass", "unmatched") else 0) + len(u.fired) + (4.6 - float(p))


def _lines(t: Any) -> dict[str, list[tuple[float, str]]]:
    """Threshold lines for the histograms, from the run's thresholds."""
    return {
        "pesq_wb": [(t.pesq_wb_min, "floor")], "stoi": [(t.stoi_min, "floor")],
        "mcd_dtw": [(t.mcd_dtw_max, "limit")],
        "f0_bias_cents": [(-t.f0_bias_cents_max, "limit"), (t.f0_bias_cents_max, "limit")],
        "duration_ratio": [(1 - t.duration_ratio_tol, "tol"), (1 + t.duration_ratio_tol, "tol")],
        "leading_silence_delta_s": [(-t.leading_silence_delta_max_s, "limit"), (t.leading_silence_delta_max_s, "limit")],
        "speaker_similarity": [(t.speaker_similarity_min, "limit")],
        "dnsmos_ovrl_delta": [(-t.dnsmos_ovrl_drop_max, "limit")],
    }


def write_pairs_html(result: Any, path: str | Path, *, worst: int = 4, history: list[dict[str, Any]] | None = None,
                     skipped: int = 0) -> Path:
    """Write the report; the ``worst`` failing utterances get players and plots (passing ones never do)."""
    from quality.metrics.pitch import f0  # noqa: PLC0415

    utts = sorted(result.utterances, key=_severity, reverse=True)
    parts = [f"<h1>Quality regression: <span class='{result.verdict}'>{result.verdict.upper()}</span></h1>",
             f"<p>baseline <code>{html.escape(str(result.baseline.get('dir')))}</code>, engine "
             f"{html.escape(str(result.baseline.get('engine_version')))}, back-end "
             f"{html.escape(str(result.baseline.get('backend')))}"
             + (" — <b>cross-engine comparison</b>: intrusive scores informational" if result.cross_engine else "")
             + "</p>"]
    parts += [f"<p class='error'>warning: {html.escape(w)}</p>" for w in result.warnings]
    parts.append("<table><tr><th>utterance</th><th>verdict</th><th>fired</th><th>why</th>"
                 + "".join(f"<th>{k}</th>" for k in _TABLE) + "</tr>")
    for u in utts:
        m = u.metrics

        def f(k: str) -> str:
            v = m.get(k)
            return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v):.2f}"

        parts.append(f"<tr class='{u.verdict}'><td>{html.escape(u.name)}</td><td>{u.verdict}</td>"
                     f"<td>{html.escape(', '.join(u.fired))}</td><td>{html.escape('; '.join(u.reasons))}</td>"
                     + "".join(f"<td>{f(k)}</td>" for k in _TABLE) + "</tr>")
    parts.append("</table>")
    lines = _lines(result.thresholds)
    panels = []
    for k in ("pesq_wb", "stoi", "mcd_dtw", "f0_bias_cents", "duration_ratio", "leading_silence_delta_s",
              "speaker_similarity", "dnsmos_ovrl_delta"):
        vals = np.array([float(r[k]) if r.get(k) is not None else np.nan for r in result.rows], dtype=float)
        panels.append((k, [vals], ["candidates"], lines.get(k, [])))
    parts.append("<h2>Score distributions</h2><p>dashed: the thresholds of this run</p>" + histograms(panels))
    if history is not None:
        parts.append("<h2>Trend over past runs</h2>" + trend(history, skipped))
    failing = [u for u in utts if u.verdict not in ("pass", "unmatched")][:worst]
    parts.append("<h2>Worst utterances</h2>" + ("" if failing else "<p>none: every utterance passed</p>"))
    for u in failing:
        ref, deg = load16(u.metrics.get("ref_path")), load16(u.metrics.get("deg_path"))
        if ref is None and deg is None:
            continue
        contours = tuple(f0(y, sr=16000)[:2] if y is not None and len(y) > 800 else (None, None) for y in (ref, deg))
        parts.append(f"<h3>{html.escape(u.name)}: {html.escape('; '.join(u.reasons) or u.verdict)}</h3>"
                     + audio_player(ref, "reference") + audio_player(deg, "candidate")
                     + spectrogram_pair(ref, deg, title=u.name, f0=contours))  # type: ignore[arg-type]
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    write_output(p, page("tts-quality regress", parts), what="the HTML report")
    return p
