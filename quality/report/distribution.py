"""HTML report of a distribution-mode run: the pooled test per metric, the per-text verdicts, the
per-text shifts drawn against the minimum effect that matters, and for each failing text a baseline
and a candidate render to listen to, with their spectrograms on one colour scale."""
from __future__ import annotations

from ttsops.output import write_output

import html
import math
from pathlib import Path
from typing import Any

import numpy as np

from quality.report.plots import audio_player, histograms, load16, page, spectrogram_pair, trend

__all__ = ["write_distribution_html"]


def _f(v: Any, d: int = 3) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{float(v):.{d}f}"


def _pick(rows: list[dict[str, Any]], text: str, metric: str, *, worst: str | None) -> dict[str, Any] | None:
    """The render of ``text`` at the median of ``metric`` (``worst=None``) or at its worst end."""
    mine = [r for r in rows if r["text"] == text and r.get(metric) is not None and math.isfinite(r.get(metric, math.nan))]
    if not mine:
        mine = [r for r in rows if r["text"] == text]
        return mine[0] if mine else None
    mine.sort(key=lambda r: r[metric])
    if worst == "lower":
        return mine[0]
    if worst in ("higher", "both"):
        return mine[-1]
    return mine[len(mine) // 2]


def write_distribution_html(result: Any, path: str | Path, *, worst: int = 4,
                            history: list[dict[str, Any]] | None = None, skipped: int = 0) -> Path:
    """Write the report; only failing texts (the first ``worst``) get players and spectrograms."""
    b = result.baseline
    parts = [f"<h1>Quality regression (distribution): <span class='{result.verdict}'>{result.verdict.upper()}</span></h1>",
             f"<p>baseline <code>{html.escape(str(b.get('dir')))}</code> ({b.get('renders')} renders of "
             f"{b.get('texts')} texts), candidate <code>{html.escape(str(b.get('candidate_dir')))}</code> "
             f"({b.get('candidate_renders')} renders); mode chosen because {html.escape(result.mode_reason or '-')}</p>"]
    parts += [f"<p><b>{html.escape(r)}</b></p>" for r in result.reasons]
    parts += [f"<p class='error'>warning: {html.escape(w)}</p>" for w in result.warnings]
    parts.append("<h2>Metrics (pooled over texts)</h2><table><tr><th>metric</th><th>shift</th><th>95% interval</th>"
                 "<th>p</th><th>level</th><th>min effect</th><th>texts named</th><th>verdict</th></tr>")
    for m in result.metrics.values():
        parts.append(f"<tr class='{'regression' if m['fired'] else 'pass'}'><td>{html.escape(m['label'])}</td>"
                     f"<td>{_f(m['effect'])}</td><td>{_f(m['ci_low'])} .. {_f(m['ci_high'])}</td><td>{m['p']:.2g}</td>"
                     f"<td>{m['alpha']:.2g}</td><td>{_f(m['min_effect'])}</td><td>{m['texts_fired']} of {m['texts']}</td>"
                     f"<td>{'regression' if m['fired'] else 'ok'}</td></tr>")
    parts.append("</table><h2>Texts</h2><table><tr><th>text</th><th>verdict</th><th>renders b/c</th><th>why</th></tr>")
    for u in result.utterances:
        parts.append(f"<tr class='{u.verdict}'><td>{html.escape(u.name)}</td><td>{u.verdict}</td>"
                     f"<td>{u.baseline_renders}/{u.candidate_renders}</td><td>{html.escape('; '.join(u.reasons))}</td></tr>")
    parts.append("</table>")
    panels = []
    for name, m in result.metrics.items():
        shifts = np.array([u.metrics.get(name, {}).get("shift", np.nan) for u in result.utterances
                           if isinstance(u.metrics.get(name), dict)], dtype=float)
        e = m["min_effect"]
        lines = {"lower": [(-e, "min effect")], "higher": [(e, "min effect")]}.get(m["worse"], [(-e, "min"), (e, "min")])
        if name == "duration":  # shifts are in log duration; the threshold is relative
            lines = [(math.log(1 - e), "min"), (math.log(1 + e), "min")]
        panels.append((f"{m['label']}: shift per text", [shifts], ["texts"], lines))
    parts.append("<h2>Shift of each text's median (candidate − baseline)</h2><p>dashed: the minimum effect that "
                 "matters; a metric regresses when the pooled test is significant and the pooled shift passes it</p>"
                 + histograms(panels))
    if history is not None:
        parts.append("<h2>Trend over past runs</h2>" + trend(history, skipped))
    failing = [u for u in result.utterances if u.verdict == "regression"][:worst]
    parts.append("<h2>Worst texts</h2>" + ("" if failing else "<p>none: no text regressed</p>"))
    for u in failing:
        metric = u.fired[0]
        spec_worse = result.metrics.get(metric, {}).get("worse")
        br = _pick(result.baseline_rows, u.name, metric, worst=None)
        cr = _pick(result.rows, u.name, metric, worst=spec_worse)
        ref, deg = load16(br["path"] if br else None), load16(cr["path"] if cr else None)
        labels = (f"baseline {Path(br['path']).name if br else '-'}", f"candidate {Path(cr['path']).name if cr else '-'}")
        parts.append(f"<h3>{html.escape(u.name)}: {html.escape('; '.join(u.reasons))}</h3>"
                     + audio_player(ref, labels[0] + " (median render)") + audio_player(deg, labels[1] + f" (worst {metric})")
                     + spectrogram_pair(ref, deg, title=u.name, labels=labels))
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    write_output(p, page("tts-quality regress (distribution)", parts), what="the HTML report")
    return p
