"""Non-intrusive figures: no reference needed.

Frames are 20 ms long with a 10 ms hop. A frame is *silent* when its RMS is more than
``rel_db`` (40 dB) below the loudest frame or under ``abs_db`` (-60 dBFS). For leading/trailing
silence the threshold is also raised to 6 dB above the signal's noise floor (its 5th-percentile frame
level, used only up to 20 dB below the loudest frame), so background noise before the first word
(down to ~20 dB SNR) still reads as silence and "less leading silence" means speech starts earlier.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["frame_rms", "signal_metrics", "clipped_samples", "SIGNAL_KEYS"]

SIGNAL_KEYS = ("duration_s", "leading_silence_s", "trailing_silence_s", "silence_ratio",
               "internal_silence_ratio", "clipped_samples", "clipping_ratio", "zero_frames",
               "peak_dbfs", "rms_dbfs", "envelope_fluctuation")


def frame_rms(y: np.ndarray, *, sr: int, frame_s: float = 0.020, hop_s: float = 0.010) -> np.ndarray:
    """RMS of each frame, shape ``(n_frames,)``; a short signal gives one frame."""
    frame, hop = max(1, int(round(frame_s * sr))), max(1, int(round(hop_s * sr)))
    y = np.asarray(y, dtype=np.float64)
    if len(y) < frame:
        y = np.pad(y, (0, frame - len(y)))
    n = 1 + (len(y) - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    return np.sqrt(np.mean(y[idx] ** 2, axis=1))


def _db(x: np.ndarray | float) -> np.ndarray | float:
    return 20.0 * np.log10(np.maximum(x, 1e-10))


def clipped_samples(y: np.ndarray, *, min_run: int = 3, rel: float = 0.995) -> int:
    """Samples in runs of >= ``min_run`` consecutive samples at the signal's own peak (±0.5%).

    Catches hard clipping at any level (a limiter at 50% of the peak, or full scale), while speech's
    natural isolated peaks do not count.
    """
    a = np.abs(np.asarray(y, dtype=np.float64))
    peak = float(a.max()) if a.size else 0.0
    if peak <= 0:
        return 0
    hit = a >= rel * peak
    if hit.sum() < min_run:
        return 0
    d = np.diff(np.concatenate(([0], hit.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    runs = ends - starts
    return int(runs[runs >= min_run].sum())


def signal_metrics(y: np.ndarray, *, sr: int, rel_db: float = 40.0, abs_db: float = -60.0) -> dict[str, Any]:
    """Duration, silences, clipping, zero frames, levels and envelope fluctuation of one signal.

    Returns
    -------
    dict
        ``duration_s``; ``leading_silence_s`` / ``trailing_silence_s`` (s before the first / after
        the last non-silent frame; the whole duration when all is silent); ``silence_ratio`` (share of
        silent frames); ``internal_silence_ratio`` (the same, between first and last non-silent
        frame: dropouts raise it); ``clipped_samples`` and ``clipping_ratio``; ``zero_frames``
        (10 ms frames of exact digital zero inside the speech span); ``peak_dbfs``; ``rms_dbfs``;
        ``envelope_fluctuation`` (std/mean of the frame-RMS envelope; a flat buzz or silence reads
        near 0, speech 0.6-1.5; the runbook alarms below 0.15).
    """
    y = np.asarray(y, dtype=np.float64)
    dur = len(y) / float(sr)
    hop = max(1, int(round(0.010 * sr)))
    rms = frame_rms(y, sr=sr)
    rdb = _db(rms)
    top = float(rdb.max())
    thr = max(top - rel_db, abs_db)
    voiced = rdb > thr
    edge = rdb > max(thr, min(float(np.percentile(rdb, 5)) + 6.0, top - 20.0))
    nf = len(rms)
    if voiced.any():
        first = int(np.argmax(edge))
        last = nf - 1 - int(np.argmax(edge[::-1]))
        lead = min(first * hop / sr, dur)
        trail = max(0.0, dur - ((last * hop) / sr + 0.020))
        span = voiced[first:last + 1]
        internal = float(1.0 - span.mean())
        seg = y[first * hop:min(len(y), last * hop + int(0.020 * sr))]
    else:
        lead, trail, internal, seg = dur, dur, 0.0, y[:0]
    # exact zeros in 10 ms blocks inside the speech span
    if len(seg) >= hop:
        blocks = seg[: (len(seg) // hop) * hop].reshape(-1, hop)
        zero_frames = int(np.count_nonzero(np.all(blocks == 0.0, axis=1)))
    else:
        zero_frames = 0
    clipped = clipped_samples(y)
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    mean_env = float(rms.mean())
    fluct = float(rms.std() / mean_env) if mean_env > 1e-8 else 0.0
    return {
        "duration_s": dur,
        "leading_silence_s": float(lead),
        "trailing_silence_s": float(trail),
        "silence_ratio": float(1.0 - voiced.mean()),
        "internal_silence_ratio": internal,
        "clipped_samples": clipped,
        "clipping_ratio": clipped / max(1, len(y)),
        "zero_frames": zero_frames,
        "peak_dbfs": float(_db(peak)),
        "rms_dbfs": float(_db(np.sqrt(np.mean(y ** 2)) if len(y) else 0.0)),
        "envelope_fluctuation": fluct,
    }
