"""Mel-cepstral distortion with DTW (MCD-DTW), the TTS field's standard spectral distance.

Mel-cepstra come from a power spectrum per 10 ms frame -- a 25 ms Hann STFT by default, or WORLD's
CheapTrick envelope (``ScoreConfig(envelope="world")``; same MCD medians on the sensitivity benchmark,
8x the cost) -- converted the way SPTK's ``sp2mc`` does (log power spectrum -> cepstrum on an all-pass warped frequency axis, alpha
0.42 at 16 kHz), with the warping and inverse transform precomputed as one matrix. MCD uses
coefficients 1..order (c0, the energy, is excluded)::

    MCD = 10 / ln 10 * sqrt(2 * sum_d (c_d - c'_d)^2)     [dB], averaged over aligned frames
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["spectral_envelope", "stft_power", "mel_cepstrum", "mcd", "ALPHA"]

#: all-pass constants that approximate the mel scale (SPTK's table)
ALPHA = {8000: 0.31, 16000: 0.42, 22050: 0.455, 24000: 0.466, 44100: 0.544, 48000: 0.554}
_K = 10.0 / np.log(10.0) * np.sqrt(2.0)


def spectral_envelope(y: np.ndarray, f0: np.ndarray, t: np.ndarray, *, sr: int) -> np.ndarray:
    """WORLD CheapTrick power spectral envelope, shape ``(frames, fft_size // 2 + 1)``."""
    from quality._deps import pyworld  # noqa: PLC0415

    pw = pyworld()
    return pw.cheaptrick(np.ascontiguousarray(y, dtype=np.float64), np.ascontiguousarray(f0),
                         np.ascontiguousarray(t), sr)


def stft_power(y: np.ndarray, n_frames: int, *, hop: int, win: int = 400, n_fft: int = 512) -> np.ndarray:
    """Hann-windowed power spectra centred on ``hop``-spaced frames, shape ``(n_frames, n_fft // 2 + 1)``.

    ~10x cheaper than CheapTrick; the cepstral truncation (order 24) smooths the harmonics away.
    """
    x = np.pad(np.asarray(y, dtype=np.float64), (win // 2, win // 2 + hop * 2))
    idx = np.arange(win)[None, :] + hop * np.arange(n_frames)[:, None]
    idx = np.minimum(idx, len(x) - 1)
    spec = np.fft.rfft(x[idx] * np.hanning(win)[None, :], n=n_fft, axis=1)
    return (spec.real ** 2 + spec.imag ** 2) + 1e-10


@lru_cache(maxsize=16)
def _warp_matrix(n_bins: int, order: int, alpha: float, n_warp: int = 1024) -> np.ndarray:
    """Matrix M with ``mc = log_power_spectrum @ M`` (interpolation onto warped axis + inverse DFT)."""
    w_warp = np.linspace(0.0, np.pi, n_warp // 2 + 1)
    # inverse all-pass warping: the linear frequency seen at each warped frequency
    w_lin = w_warp + 2.0 * np.arctan(-alpha * np.sin(w_warp) / (1.0 + alpha * np.cos(w_warp)))
    src = w_lin / np.pi * (n_bins - 1)
    lo = np.clip(np.floor(src).astype(int), 0, n_bins - 2)
    frac = src - lo
    interp = np.zeros((n_bins, len(w_warp)))
    interp[lo, np.arange(len(w_warp))] += 1.0 - frac
    interp[lo + 1, np.arange(len(w_warp))] += frac
    # real cepstrum of a half spectrum: irfft along the warped axis, keep 0..order
    eye = np.eye(len(w_warp))
    cep = np.fft.irfft(eye, n=n_warp, axis=1)[:, : order + 1]
    cep[:, 0] /= 2.0
    return interp @ cep


def mel_cepstrum(sp: np.ndarray, *, sr: int, order: int = 24, alpha: float | None = None) -> np.ndarray:
    """Mel-cepstrum ``(frames, order + 1)`` of a power spectral envelope (c0 first)."""
    a = ALPHA.get(sr, 0.42) if alpha is None else alpha
    M = _warp_matrix(sp.shape[1], order, float(a))
    return np.log(np.maximum(sp, 1e-16)) @ M


def mcd(mc_ref: np.ndarray, mc_deg: np.ndarray, path: np.ndarray, *, frames: np.ndarray | None = None) -> float:
    """Mean MCD (dB) over the DTW path, c0 excluded.

    ``frames`` (bool, per reference frame) restricts the mean to those reference frames (speech).
    """
    i, j = path[:, 0], path[:, 1]
    if frames is not None:
        keep = frames[i]
        if keep.sum() >= 1:
            i, j = i[keep], j[keep]
    diff = mc_ref[i, 1:] - mc_deg[j, 1:]
    return float(_K * np.mean(np.sqrt(np.sum(diff ** 2, axis=1))))
