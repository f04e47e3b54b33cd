"""Synthetic test signals: tones, chirps, noise and a speech-like harmonic signal."""
from __future__ import annotations

import numpy as np


def tone(f0: float = 200.0, *, sr: int = 16000, dur: float = 2.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(sr * dur)) / sr
    return amp * np.sin(2 * np.pi * f0 * t)


def chirp(f_lo: float = 100.0, f_hi: float = 300.0, *, sr: int = 16000, dur: float = 2.0) -> np.ndarray:
    t = np.arange(int(sr * dur)) / sr
    f = f_lo + (f_hi - f_lo) * t / dur
    return 0.3 * np.sin(2 * np.pi * np.cumsum(f) / sr)


def speechlike(*, sr: int = 16000, dur: float = 3.0, f0: float = 140.0, shift: float = 1.0,
               seed: int = 0) -> np.ndarray:
    """Harmonic source with vibrato, moving formant-ish amplitudes and syllable-like gaps."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * dur)) / sr
    f = f0 * shift * (1 + 0.08 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)))
    ph = 2 * np.pi * np.cumsum(f) / sr
    y = np.zeros_like(t)
    for k in range(1, 30):
        amp = (1 + 0.5 * np.sin(2 * np.pi * (1.3 + 0.2 * k) * t)) / k
        y += amp * np.sin(k * ph) * (k * f < sr / 2)
    env = (np.sin(2 * np.pi * 2 * t) > -0.3).astype(float)
    env = np.convolve(env, np.hanning(int(0.025 * sr)) / (0.0125 * sr), "same")
    return 0.1 * y * env


def noise(*, sr: int = 16000, dur: float = 2.0, seed: int = 0) -> np.ndarray:
    return 0.1 * np.random.default_rng(seed).normal(size=int(sr * dur))
