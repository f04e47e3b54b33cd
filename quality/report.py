"""HTML report of a regression run: verdict table, F0 contours overlaid, spectrograms of the worst
utterances, score distributions (matplotlib Agg, PNGs inlined as base64)."""
from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_html"]


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt  # noqa: PLC0415

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return "<img src='data:image/png;base64," + base64.b64encode(buf.getvalue()).decode() + "'/>"


def _severity(u: Any) -> float:
    m = u.metrics
    p = m.get("pesq_wb")
    p = 4.6 if p is None or (isinstance(p, float) and math.isnan(p)) else p
    return (10 if u.verdict != "pass" else 0) + len(u.fired) + (4.6 - float(p))


def _load16(path: str | None) -> np.ndarray | None:
    from quality.audio import ANALYSIS_SR, AudioError, load  # noqa: PLC0415

    if not path:
        return None
    try:
        return load(path).at(ANALYSIS_SR)
    except AudioError:
        return None


def write_html(result: Any, path: str | Path, *, worst: int = 4) -> Path:
    """Write the report; plots for the ``worst`` utterances (by verdict, detectors fired, PESQ)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from quality.metrics.pitch import f0  # noqa: PLC0415

    utts = sorted(result.utterances, key=_severity, reverse=True)
    parts = [f"<h1>Quality regression: <span class='{result.verdict}'>{result.verdict.upper()}</span></h1>",
             f"<p>baseline <code>{html.escape(str(result.baseline.get('dir')))}</code>, engine "
             f"{html.escape(str(result.baseline.get('engine_version')))}, back-end "
             f"{html.escape(str(result.baseline.get('backend')))}"
             + (" — <b>cross-engine comparison</b>: intrusive scores informational" if result.cross_engine else "")
             + "</p>", "<table><tr><th>utterance</th><th>verdict</th><th>fired</th><th>why</th><th>PESQ-WB</th>"
             "<th>STOI</th><th>MCD dB</th><th>F0 bias ¢</th><th>dur ×</th></tr>"]
    for u in utts:
        m = u.metrics

        def f(k: str) -> str:
            v = m.get(k)
            return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v):.2f}"

        parts.append(f"<tr class='{u.verdict}'><td>{html.escape(u.name)}</td><td>{u.verdict}</td>"
                     f"<td>{html.escape(', '.join(u.fired))}</td><td>{html.escape('; '.join(u.reasons))}</td>"
                     + "".join(f"<td>{f(k)}</td>" for k in ("pesq_wb", "stoi", "mcd_dtw", "f0_bias_cents",
                                                            "duration_ratio")) + "</tr>")
    parts.append("</table>")
    # score distributions
    metrics = [k for k in ("pesq_wb", "stoi", "mcd_dtw", "f0_bias_cents", "duration_ratio", "leading_silence_delta_s")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3 * len(metrics), 2.6))
    for ax, k in zip(axes, metrics):
        vals = np.array([float(r.get(k)) if r.get(k) is not None else np.nan for r in result.rows], dtype=float)
        vals = vals[np.isfinite(vals)]
        if len(vals):
            span = float(vals.max() - vals.min())
            bins = min(20, max(3, len(vals))) if span > 1e-6 * max(1.0, abs(float(vals.max()))) else 1
            ax.hist(vals, bins=bins, range=None if bins > 1 else (vals[0] - 0.5, vals[0] + 0.5), color="#4a7")
        ax.set_title(k, fontsize=9)
    parts.append("<h2>Score distributions</h2>" + _png(fig))
    # worst utterances: F0 overlay + spectrograms
    parts.append("<h2>Worst utterances</h2>")
    for u in utts[:worst]:
        ref, deg = _load16(u.metrics.get("ref_path")), _load16(u.metrics.get("deg_path"))
        if ref is None and deg is None:
            continue
        fig, axes = plt.subplots(1, 3, figsize=(13, 2.8))
        for y, lab, col in ((ref, "reference", "#36c"), (deg, "candidate", "#c33")):
            if y is not None and len(y) > 800:
                fz, tz = f0(y, sr=16000)
                fz = np.where(fz > 0, fz, np.nan)
                axes[0].plot(tz, fz, ".", ms=2, label=lab, color=col)
        axes[0].set_title(f"F0 (Hz) — {u.name}", fontsize=9)
        axes[0].legend(fontsize=7)
        for ax, y, lab in ((axes[1], ref, "reference"), (axes[2], deg, "candidate")):
            if y is not None and len(y) > 512:
                with np.errstate(divide="ignore"):
                    ax.specgram(y + 1e-7, NFFT=512, Fs=16000, noverlap=384, cmap="magma")
            ax.set_title(lab, fontsize=9)
        parts.append(f"<h3>{html.escape(u.name)}: {html.escape('; '.join(u.reasons) or u.verdict)}</h3>" + _png(fig))
    css = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
           "padding:2px 6px;font-size:13px}.regression{background:#fdd}.error{background:#ffd}.pass span,"
           "span.pass{color:green}span.regression{color:#c00}")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>tts-quality regress</title>"
                 f"<style>{css}</style></head><body>{''.join(parts)}</body></html>", encoding="utf-8")
    return p
