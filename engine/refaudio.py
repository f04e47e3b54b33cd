"""Reference (prompt) audio: validation and the prosody statistics used to match it.

Checks, in order: the path exists and is a file; soundfile can read it; the sample rate is in
[8 kHz, 48 kHz]; it is not empty or silent; its duration is at most 60 s. Under 5 s it is still used,
with the warning ``Reference audio too short for reliable voice cloning`` and the actual duration.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ttsops.errors import InputError

__all__ = ["Reference", "load_reference", "SHORT_REFERENCE_MESSAGE", "MIN_RATE", "MAX_RATE", "MAX_SECONDS"]

SHORT_REFERENCE_MESSAGE = "Reference audio too short for reliable voice cloning"
MIN_RATE, MAX_RATE = 8000, 48000
MAX_SECONDS = 60.0


@dataclass
class Reference:
    path: Path
    audio: np.ndarray
    sample_rate: int
    duration_s: float
    warnings: list[str]


def load_reference(path: str | Path, *, min_seconds: float = 5.0) -> Reference:
    """Read and validate a reference recording; raise :class:`InputError` naming what is wrong."""
    import soundfile as sf

    p = Path(path)
    if not p.exists():
        raise InputError(f"Reference audio not found: {p}", where="ref_audio",
                         fix="give the path of an existing WAV/FLAC file")
    if not p.is_file():
        raise InputError(f"Reference audio is not a file: {p}", where="ref_audio")
    try:
        info = sf.info(str(p))
        y, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError, OSError, ValueError) as exc:
        raise InputError(f"Reference audio cannot be decoded ({p.name}): {exc}".splitlines()[0], where="ref_audio",
                         fix="use a PCM WAV or FLAC file") from None
    if not MIN_RATE <= sr <= MAX_RATE:
        raise InputError(f"Reference audio sample rate {sr} Hz is outside [{MIN_RATE}, {MAX_RATE}] Hz ({p.name})",
                         where="ref_audio", fix="resample it to 16, 22.05 or 24 kHz")
    mono = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
    duration = len(mono) / sr if sr else 0.0
    if len(mono) == 0:
        raise InputError(f"Reference audio is empty ({p.name})", where="ref_audio")
    if not np.isfinite(mono).all() or float(np.max(np.abs(mono))) < 1e-4:
        raise InputError(f"Reference audio is silent ({p.name}, {duration:.2f} s)", where="ref_audio")
    if duration > MAX_SECONDS:
        raise InputError(f"Reference audio is {duration:.1f} s, the limit is {MAX_SECONDS:.0f} s ({p.name})",
                         where="ref_audio", fix="cut a 5-20 s excerpt")
    warns: list[str] = []
    if duration < min_seconds:
        warns.append(f"{SHORT_REFERENCE_MESSAGE}: {duration:.2f} s < {min_seconds:.1f} s ({p.name})")
    del info
    return Reference(p, mono.astype(np.float32), int(sr), float(duration), warns)
