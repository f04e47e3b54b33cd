"""F0 with WORLD (``pyworld``) and F0 comparison after DTW alignment.

Units: Hz for contours (0 = unvoiced), cents for differences (100 cents = 1 semitone).
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["f0", "f0_stats", "compare_f0", "F0_KEYS"]

F0_KEYS = ("f0_rmse_cents", "f0_bias_cents", "vde", "f0_corr")


def f0(y: np.ndarray, *, sr: int, method: str = "dio", frame_period: float = 5.0,
       f0_floor: float = 50.0, f0_ceil: float = 800.0, speed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """F0 contour.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
        Mono signal (any float dtype; copied to C-contiguous float64 as pyworld needs).
    method : {"dio", "harvest"}
        ``dio`` + ``stonemask`` (default, ~0.01 s per audio-second) or ``harvest`` (more robust,
        ~7x slower).
    speed : int
        dio's internal decimation (1..12); 2 halves dio's cost with F0 within ~0.3 % here.

    Returns
    -------
    f0 : np.ndarray, shape (frames,)
        Hz, 0 where unvoiced.
    t : np.ndarray, shape (frames,)
        Frame times in seconds.
    """
    from quality._deps import pyworld  # noqa: PLC0415

    pw = pyworld()
    x = np.ascontiguousarray(y, dtype=np.float64)
    if method == "harvest":
        f, t = pw.harvest(x, sr, f0_floor=f0_floor, f0_ceil=f0_ceil, frame_period=frame_period)
    elif method == "dio":
        f, t = pw.dio(x, sr, f0_floor=f0_floor, f0_ceil=f0_ceil, frame_period=frame_period, speed=speed)
        f = pw.stonemask(x, f, t, sr)
    else:
        raise ValueError(f"unknown F0 method {method!r} (use 'dio' or 'harvest')")
    return np.ascontiguousarray(f), np.ascontiguousarray(t)


def f0_stats(f: np.ndarray) -> dict[str, Any]:
    """Voiced share, mean/median F0 (Hz) and F0 spread (semitones) of one contour."""
    v = f[f > 0]
    if len(v) < 2:
        return {"voiced_ratio": float(len(v) / max(1, len(f))), "f0_mean_hz": float("nan"),
                "f0_median_hz": float("nan"), "f0_std_semitones": float("nan")}
    st = 12.0 * np.log2(v / np.median(v))
    return {"voiced_ratio": float(len(v) / len(f)), "f0_mean_hz": float(v.mean()),
            "f0_median_hz": float(np.median(v)), "f0_std_semitones": float(st.std())}


def compare_f0(f_ref: np.ndarray, f_deg: np.ndarray, path: np.ndarray, *, min_frames: int = 10) -> dict[str, Any]:
    """Compare two F0 contours along a DTW path (from spectral features, so timing is factored out).

    Returns
    -------
    dict
        ``f0_rmse_cents`` (RMS of the cent difference on frames voiced in both), ``f0_bias_cents``
        (median signed difference: + means the candidate is sharp), ``vde`` (share of aligned frames
        whose voiced/unvoiced decision differs), ``f0_corr`` (Pearson correlation of log-F0 on frames
        voiced in both), ``voiced_both`` (frame count). NaN where fewer than ``min_frames`` frames
        are voiced in both, with ``error`` saying so.
    """
    i, j = path[:, 0], path[:, 1]
    a, b = f_ref[i], f_deg[j]
    va, vb = a > 0, b > 0
    both = va & vb
    out: dict[str, Any] = {"vde": float(np.mean(va != vb)) if len(a) else float("nan"),
                           "voiced_both": int(both.sum())}
    if both.sum() < min_frames:
        out.update(f0_rmse_cents=float("nan"), f0_bias_cents=float("nan"), f0_corr=float("nan"),
                   error=f"F0: only {int(both.sum())} frames voiced in both (need {min_frames})")
        return out
    cents = 1200.0 * np.log2(b[both] / a[both])
    la, lb = np.log(a[both]), np.log(b[both])
    corr = float(np.corrcoef(la, lb)[0, 1]) if la.std() > 0 and lb.std() > 0 else float("nan")
    out.update(f0_rmse_cents=float(np.sqrt(np.mean(cents ** 2))), f0_bias_cents=float(np.median(cents)),
               f0_corr=corr)
    return out
