"""Controlled degradations of a clean signal, for sensitivity benchmarks, tests and the demo.

Each function takes mono float audio and returns a new array (same sample rate). ``degrade_dir``
applies one named degradation to every WAV of a directory (``python -m quality.degrade``).
"""
from __future__ import annotations

import io

import argparse
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["add_noise", "clip", "dropouts", "pitch_shift", "time_stretch", "lead_silence", "reverb", "DEGRADATIONS",
           "degrade_dir"]


def _active_rms(y: np.ndarray, sr: int) -> float:
    from quality.metrics.signal import frame_rms  # noqa: PLC0415

    r = frame_rms(y, sr=sr)
    act = r[20 * np.log10(np.maximum(r, 1e-10)) > 20 * np.log10(max(r.max(), 1e-10)) - 40]
    return float(np.sqrt(np.mean(act ** 2))) if len(act) else 0.0


def add_noise(y: np.ndarray, sr: int, *, snr_db: float, seed: int = 0) -> np.ndarray:
    """White Gaussian noise at ``snr_db`` relative to the RMS of the active (non-silent) speech."""
    rng = np.random.default_rng(seed)
    sigma = _active_rms(y, sr) * 10 ** (-snr_db / 20.0)
    return (y + rng.normal(0.0, sigma, len(y))).astype(np.float64)


def clip(y: np.ndarray, sr: int, *, level: float = 0.5) -> np.ndarray:
    """Hard clipping at ``level`` times the signal's own peak."""
    p = float(np.max(np.abs(y))) * level
    return np.clip(y, -p, p)


def dropouts(y: np.ndarray, sr: int, *, fraction: float = 0.05, ms: float = 20.0, seed: int = 0) -> np.ndarray:
    """Zero ``ms``-long segments at random positions in the speech span, ``fraction`` of its length."""
    from quality.metrics.signal import signal_metrics  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    s = signal_metrics(y, sr=sr)
    a = int(s["leading_silence_s"] * sr)
    b = len(y) - int(s["trailing_silence_s"] * sr)
    seg = int(ms / 1000 * sr)
    n = max(1, int(round(fraction * (b - a) / seg)))
    out = np.array(y, dtype=np.float64, copy=True)
    starts = rng.choice(np.arange(a, max(a + 1, b - seg), seg), size=min(n, max(1, (b - a) // seg)), replace=False)
    for st in starts:
        out[st:st + seg] = 0.0
    return out


def _world(y: np.ndarray, sr: int):
    from quality._deps import pyworld  # noqa: PLC0415

    pw = pyworld()
    x = np.ascontiguousarray(y, dtype=np.float64)
    f, t = pw.dio(x, sr, f0_floor=50.0, f0_ceil=800.0, frame_period=5.0)  # dio's 71 Hz default misses low voices
    f = pw.stonemask(x, f, t, sr)
    return pw, f, pw.cheaptrick(x, f, t, sr), pw.d4c(x, f, t, sr)


def pitch_shift(y: np.ndarray, sr: int, *, semitones: float = 1.0) -> np.ndarray:
    """Shift F0 by ``semitones`` with WORLD analysis/resynthesis (duration and envelope kept)."""
    pw, f, sp, ap = _world(y, sr)
    out = pw.synthesize(np.ascontiguousarray(f * 2 ** (semitones / 12.0)), sp, ap, sr, 5.0)
    return _fit(out, len(y))


def time_stretch(y: np.ndarray, sr: int, *, rate: float = 1.05) -> np.ndarray:
    """Make the signal ``rate`` times longer, pitch kept (WORLD parameters interpolated in time)."""
    pw, f, sp, ap = _world(y, sr)
    n = len(f)
    m = int(round(n * rate))
    src = np.linspace(0, n - 1, m)
    idx = np.clip(np.round(src).astype(int), 0, n - 1)
    out = pw.synthesize(np.ascontiguousarray(f[idx]), np.ascontiguousarray(sp[idx]),
                        np.ascontiguousarray(ap[idx]), sr, 5.0)
    return _fit(out, int(round(len(y) * rate)))


def lead_silence(y: np.ndarray, sr: int, *, ms: float = 150.0) -> np.ndarray:
    """Prepend ``ms`` of digital silence."""
    return np.concatenate((np.zeros(int(ms / 1000 * sr)), y))


def reverb(y: np.ndarray, sr: int, *, rt60: float = 0.5, seed: int = 0) -> np.ndarray:
    """Room reverberation: convolution with a synthetic impulse response (direct path, then
    exponentially decaying noise reaching -60 dB after ``rt60`` seconds); RMS kept, length kept."""
    from scipy.signal import fftconvolve  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    ir = rng.normal(0.0, 1.0, n) * 10 ** (-3.0 * t / rt60) * 0.1
    ir[0] = 1.0
    out = fftconvolve(np.asarray(y, dtype=np.float64), ir)[: len(y)]
    rms_in, rms_out = float(np.sqrt(np.mean(y ** 2))), float(np.sqrt(np.mean(out ** 2)))
    out = out * (rms_in / rms_out) if rms_out > 0 else out
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    return out / peak * 0.98 if peak > 0.98 else out


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    return np.pad(x, (0, max(0, n - len(x))))[:n]


#: name -> function(y, sr) used by the benchmark and `python -m quality.degrade`
DEGRADATIONS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "noise_30db": lambda y, sr: add_noise(y, sr, snr_db=30),
    "noise_20db": lambda y, sr: add_noise(y, sr, snr_db=20),
    "noise_10db": lambda y, sr: add_noise(y, sr, snr_db=10),
    "clip_50pct": lambda y, sr: clip(y, sr, level=0.5),
    "dropouts_5pct": lambda y, sr: dropouts(y, sr, fraction=0.05, ms=20),
    "pitch_up_1st": lambda y, sr: pitch_shift(y, sr, semitones=1.0),
    "pitch_down_1st": lambda y, sr: pitch_shift(y, sr, semitones=-1.0),
    "stretch_5pct": lambda y, sr: time_stretch(y, sr, rate=1.05),
    "lead_silence_150ms": lambda y, sr: lead_silence(y, sr, ms=150),
    "reverb_500ms": lambda y, sr: reverb(y, sr, rt60=0.5),
    "identical": lambda y, sr: y,
}


def degrade_dir(src: Path, out: Path, kind: str, *, only: list[str] | None = None) -> list[Path]:
    """Write a degraded copy of every WAV in ``src`` to ``out`` (same names, same format)."""
    import soundfile as sf  # noqa: PLC0415

    if kind not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {kind!r}; choose from {', '.join(DEGRADATIONS)}")
    from ttsops.output import OutputError, output_error, write_output  # noqa: PLC0415

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError("is not a folder", where=str(out), fix="give a folder for the degraded copies")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(exc, out, "the output folder") from None
    written = []
    for p in sorted(Path(src).glob("*.wav")):
        y, sr = sf.read(str(p), dtype="float64")
        if only and p.stem not in only:
            z = y
        else:
            z = DEGRADATIONS[kind](y if y.ndim == 1 else y.mean(axis=1), sr)
        buf = io.BytesIO()
        sf.write(buf, np.clip(z, -1.0, 1.0), sr, format="WAV", subtype="PCM_16")
        written.append(write_output(out / p.name, buf.getvalue(), special_ok=False, what="the WAV",
                                    tmp_suffix=".wav.tmp"))
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m quality.degrade",
                                 description="Write degraded copies of a directory of WAVs.")
    ap.add_argument("src", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--kind", default="noise_20db", choices=sorted(DEGRADATIONS))
    ap.add_argument("--only", nargs="*", help="degrade only these names (the others are copied)")
    a = ap.parse_args(argv)
    files = degrade_dir(a.src, a.out, a.kind, only=a.only)
    print(f"wrote {len(files)} file(s) to {a.out} ({a.kind})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
