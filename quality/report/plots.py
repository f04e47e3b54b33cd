"""Pieces of the HTML reports: inline PNGs (matplotlib Agg), audio players, spectrogram pairs on one
colour scale, histograms with threshold lines, the trend over past runs."""
from __future__ import annotations

import base64
import html
import io
from typing import Any, Sequence

import numpy as np

__all__ = ["png", "audio_player", "spectrogram_pair", "spectrogram_figure", "histograms", "histogram_figure", "trend",
           "page", "load16"]

#: dynamic range of the spectrogram colour scale (dB below the louder of the two)
SPEC_RANGE_DB = 80.0


def _plt() -> Any:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def png(fig: Any) -> str:
    """An ``<img>`` with the figure inlined as base64 PNG (the figure is closed)."""
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return "<img src='data:image/png;base64," + base64.b64encode(buf.getvalue()).decode() + "'/>"


def load16(path: str | None) -> np.ndarray | None:
    """A file's samples at 16 kHz, or None when it cannot be read."""
    from quality.audio import ANALYSIS_SR, AudioError, load  # noqa: PLC0415

    if not path:
        return None
    try:
        return load(path).at(ANALYSIS_SR)
    except AudioError:
        return None


def audio_player(y: np.ndarray | None, label: str) -> str:
    """An ``<audio controls>`` element with the signal inlined as a 16 kHz 16-bit WAV."""
    import soundfile as sf  # noqa: PLC0415

    if y is None or not len(y):
        return f"<div class='player'>{html.escape(label)}: (unreadable)</div>"
    buf = io.BytesIO()
    sf.write(buf, np.clip(y, -1.0, 1.0), 16000, format="WAV", subtype="PCM_16")
    src = "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode()
    return (f"<div class='player'>{html.escape(label)}<br><audio controls preload='none' src='{src}'></audio></div>")


def _spec_db(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from scipy.signal import spectrogram  # noqa: PLC0415

    f, t, S = spectrogram(y, fs=16000, window="hann", nperseg=512, noverlap=384, mode="psd")
    return f, t, 10.0 * np.log10(S + 1e-12)


def spectrogram_pair(ref: np.ndarray | None, deg: np.ndarray | None, *, title: str,
                     f0: tuple[Any, Any] | None = None, labels: tuple[str, str] = ("reference", "candidate")) -> str:
    """F0 overlay (optional) and the two spectrograms on one dB scale with a colour bar, as an ``<img>``."""
    return png(spectrogram_figure(ref, deg, title=title, f0=f0, labels=labels))


def spectrogram_figure(ref: np.ndarray | None, deg: np.ndarray | None, *, title: str,
                       f0: tuple[Any, Any] | None = None, labels: tuple[str, str] = ("reference", "candidate")) -> Any:
    """The figure of :func:`spectrogram_pair`: both spectrograms share ``vmin``/``vmax`` (the louder
    one's peak and :data:`SPEC_RANGE_DB` below it), so a colour means the same level in both."""
    plt = _plt()
    panels = 3 if f0 is not None else 2
    fig, axes = plt.subplots(1, panels, figsize=(4.4 * panels, 2.8))
    axes = np.atleast_1d(axes)
    if f0 is not None:
        for (fz, tz), lab, col in zip(f0, labels, ("#36c", "#c33")):
            if fz is not None:
                axes[0].plot(tz, np.where(fz > 0, fz, np.nan), ".", ms=2, label=lab, color=col)
        axes[0].set_title(f"F0 (Hz) — {title}", fontsize=9)
        axes[0].legend(fontsize=7)
    specs = [(_spec_db(y) if y is not None and len(y) > 512 else None) for y in (ref, deg)]
    top = max((float(s[2].max()) for s in specs if s is not None), default=0.0)
    im = None
    for ax, s, lab in zip(axes[panels - 2:], specs, labels):
        if s is not None:
            im = ax.pcolormesh(s[1], s[0] / 1000.0, s[2], vmin=top - SPEC_RANGE_DB, vmax=top, cmap="magma",
                               shading="auto")
        ax.set_title(lab, fontsize=9)
        ax.set_xlabel("s", fontsize=8)
        ax.set_ylabel("kHz", fontsize=8)
    if im is not None:
        fig.colorbar(im, ax=list(axes[panels - 2:]), label="dB (one scale for both)", fraction=0.04)
    return fig


Panel = tuple[str, Sequence[np.ndarray], Sequence[str], Sequence[tuple[float, str]]]


def histograms(panels: Sequence[Panel]) -> str:
    """The figure of :func:`histogram_figure` as an ``<img>``."""
    fig = histogram_figure(panels)
    return "<p>no values to plot</p>" if fig is None else png(fig)


def histogram_figure(panels: Sequence[Panel]) -> Any:
    """One histogram per panel: ``(title, [values...], [labels...], [(threshold, label)...])``,
    several value sets overlaid, threshold lines dashed; None when there is nothing to plot."""
    plt = _plt()
    panels = [p for p in panels if any(len(v[np.isfinite(v)]) for v in p[1])]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(3.1 * len(panels), 2.6))
    axes = np.atleast_1d(axes)
    colours = ("#4a7", "#c33", "#36c")
    for ax, (title, sets, labels, lines) in zip(axes, panels):
        finite = [v[np.isfinite(v)] for v in sets]
        allv = np.concatenate([v for v in finite if len(v)] + [np.array([x for x, _ in lines], dtype=float)])
        lo, hi = float(allv.min()), float(allv.max())
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        for v, lab, col in zip(finite, labels, colours):
            if len(v):
                ax.hist(v, bins=min(20, max(3, len(v))), range=(lo, hi), color=col, alpha=0.6, label=lab)
        for x, lab in lines:
            ax.axvline(x, color="#333", ls="--", lw=1)
            ax.text(x, ax.get_ylim()[1] * 0.95, f" {lab}", fontsize=7, va="top", rotation=90)
        ax.set_title(title, fontsize=9)
        if len(labels) > 1:
            ax.legend(fontsize=7)
    return fig


def trend(runs: list[dict[str, Any]], skipped: int = 0) -> str:
    """Medians of the headline metrics over past runs, failed runs marked red."""
    if not runs:
        return "<p>no history yet</p>"
    plt = _plt()
    keys = sorted({k for r in runs for k in r.get("medians", {})})
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(3.1 * max(1, len(keys)), 2.4), squeeze=False)
    x = np.arange(len(runs))
    for ax, k in zip(axes[0], keys):
        y = np.array([r["medians"].get(k, np.nan) if r["medians"].get(k) is not None else np.nan for r in runs], float)
        ax.plot(x, y, "-", color="#888", lw=1)
        bad = np.array([r.get("verdict") != "pass" for r in runs])
        ax.plot(x[~bad], y[~bad], "o", color="#4a7", ms=4)
        ax.plot(x[bad], y[bad], "o", color="#c33", ms=4)
        ax.set_title(f"{k} (median)", fontsize=9)
        ax.set_xticks(x[:: max(1, len(x) // 6)])
        ax.set_xticklabels([str(r.get("time", ""))[5:10] for r in runs][:: max(1, len(x) // 6)], fontsize=7)
    note = f"<p>{skipped} unreadable history line(s) skipped</p>" if skipped else ""
    return png(fig) + f"<p>{len(runs)} run(s): green pass, red regression</p>" + note


CSS = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
       "padding:2px 6px;font-size:13px}.regression{background:#fdd}.error,.missing{background:#ffd}"
       ".unmatched{background:#def}span.pass{color:green}span.regression{color:#c00}"
       ".player{display:inline-block;margin:4px 12px 4px 0;font-size:12px}")


def page(title: str, parts: list[str]) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>")
