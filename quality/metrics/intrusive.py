"""PESQ (ITU-T P.862 wide-band at 16 kHz, narrow-band at 8 kHz) and STOI / extended STOI.

Both libraries have failure modes that look like scores; every function here returns
``(value, error)`` where a failure is ``(nan, "one-line reason")`` and never a fake 0:

* ``pesq`` accepts only 8 or 16 kHz (a ``ValueError`` for 22.05 kHz), raises ``NoUtterancesError``
  on an all-zero reference, a NaN ``ValueError`` on an all-zero degraded signal and
  ``BufferTooShortError`` under 0.25 s; it also prints its usage text to stdout on some errors.
* ``pystoi`` raises on any length mismatch and silently returns ``1e-5`` when fewer than 30 frames
  (~0.41 s at 10 kHz) of non-silent reference remain after its silence removal.

Signals are resampled here (``resample_poly``); callers pass equal-length, time-aligned signals.
"""
from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np

from quality.audio import resample

__all__ = ["pesq_score", "stoi_scores", "stoi_speech_seconds"]

NAN = float("nan")
_STOI_FS = 10000


def _silent(y: np.ndarray, dbfs: float = -60.0) -> bool:
    return not len(y) or float(np.max(np.abs(y))) < 10 ** (dbfs / 20.0)


def pesq_score(ref: np.ndarray, deg: np.ndarray, *, sr: int, mode: str) -> tuple[float, str | None]:
    """PESQ MOS-LQO of ``deg`` against ``ref`` (both at ``sr``), ``mode`` "wb" (16 kHz) or "nb" (8 kHz)."""
    from pesq import pesq  # noqa: PLC0415
    from pesq import PesqError  # noqa: PLC0415

    fs = 16000 if mode == "wb" else 8000
    name = f"pesq_{mode}"
    r, d = resample(ref, sr, fs), resample(deg, sr, fs)
    n = min(len(r), len(d))
    r, d = r[:n], d[:n]
    if n < 0.25 * fs:
        return NAN, f"{name}: {n / fs:.2f} s is shorter than PESQ's 0.25 s minimum"
    if _silent(r):
        return NAN, f"{name}: reference is silent (PESQ finds no utterances)"
    if _silent(d):
        return NAN, f"{name}: degraded signal is silent"
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            v = float(pesq(fs, r, d, mode))
    except PesqError as exc:
        return NAN, f"{name}: {type(exc).__name__}: {exc!s}".replace("b'", "'")
    except ValueError as exc:
        return NAN, f"{name}: {exc}"
    if not np.isfinite(v):
        return NAN, f"{name}: PESQ returned {v}"
    return v, None


def stoi_speech_seconds(ref10k: np.ndarray, dyn_range: float = 40.0) -> float:
    """Seconds of reference that survive pystoi's silent-frame removal (frames within 40 dB of the max)."""
    N, hop = 256, 128
    if len(ref10k) < N:
        return 0.0
    w = np.hanning(N + 2)[1:-1]
    n = 1 + (len(ref10k) - N) // hop
    idx = np.arange(N)[None, :] + hop * np.arange(n)[:, None]
    e = 20 * np.log10(np.linalg.norm(ref10k[idx] * w, axis=1) + np.finfo(float).eps)
    keep = int(np.sum((np.max(e) - dyn_range - e) < 0))
    return keep * hop / _STOI_FS


def stoi_scores(ref: np.ndarray, deg: np.ndarray, *, sr: int) -> tuple[float, float, list[str]]:
    """STOI and extended STOI; ``(stoi, estoi, errors)``.

    pystoi needs 30 frames of 384 ms of non-silent reference; below that it would return 1e-5, so we
    check first and return NaN with the reason instead.
    """
    from pystoi import stoi  # noqa: PLC0415

    r, d = resample(ref, sr, _STOI_FS), resample(deg, sr, _STOI_FS)
    n = min(len(r), len(d))
    r, d = r[:n], d[:n]
    if _silent(r):
        return NAN, NAN, ["stoi: reference is silent"]
    speech = stoi_speech_seconds(r)
    # pystoi: 30 one-third-octave frames of 256 samples with 50% overlap after silence removal
    if speech < (30 * 128 + 128) / _STOI_FS:
        msg = f"stoi: only {speech:.2f} s of non-silent reference (pystoi needs ~0.41 s; it would return 1e-5)"
        return NAN, NAN, [msg]
    errs: list[str] = []
    vals = []
    for ext in (False, True):
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("error", message="Not enough STFT frames", category=RuntimeWarning)
                v = float(stoi(r, d, _STOI_FS, extended=ext))
        except (RuntimeWarning, Exception) as exc:  # pystoi raises bare Exception on length mismatch
            errs.append(f"{'estoi' if ext else 'stoi'}: {str(exc).splitlines()[0]}")
            v = NAN
        if v == 1e-5:
            errs.append(f"{'estoi' if ext else 'stoi'}: pystoi returned its 1e-5 sentinel")
            v = NAN
        vals.append(v)
    return vals[0], vals[1], errs
