"""Load, validate, down-mix and resample audio for scoring.

Every problem with a file becomes an :class:`AudioError` whose message names the file and says what is
wrong, so a scoring run can record it against that file and go on with the rest. Inputs that are odd but
usable (stereo, 8-bit, 96 kHz, clipped) load fine and carry a human-readable ``notes`` entry instead.

All analysis in :mod:`quality` runs at :data:`ANALYSIS_SR` (16 kHz: PESQ wide-band's rate, and enough
for F0 and mel-cepstra); PESQ narrow-band gets its own 8 kHz copy and STOI a 10 kHz one.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path

import numpy as np

from ttsops.errors import InputError

__all__ = ["AudioError", "Audio", "load", "load_array", "resample", "to_mono", "ANALYSIS_SR",
           "SILENCE_DBFS", "MIN_PESQ_SECONDS"]

ANALYSIS_SR = 16000
#: peak level under which a signal counts as silent
SILENCE_DBFS = -60.0
#: PESQ refuses anything shorter (BufferTooShortError)
MIN_PESQ_SECONDS = 0.25
_WAV_FORMATS = {"WAV", "WAVEX", "RF64", "W64"}


class AudioError(InputError):
    """A file or array that cannot be scored; the message says why."""


@dataclass
class Audio:
    """One loaded signal: mono float64 in [-1, 1] at ``sr``, plus what was noticed while loading.

    Attributes
    ----------
    y : np.ndarray, shape (n,)
        Mono samples (C-contiguous float64).
    sr : int
        Sample rate in Hz.
    name : str
        File stem (the key used to match reference and candidate files).
    path : str or None
        Where it came from.
    notes : list of str
        Non-fatal observations ("stereo, down-mixed to mono", "8-bit PCM").
    """

    y: np.ndarray
    sr: int
    name: str = ""
    path: str | None = None
    notes: list[str] = field(default_factory=list)
    subtype: str | None = None

    @property
    def duration(self) -> float:
        return len(self.y) / float(self.sr)

    def at(self, sr: int) -> np.ndarray:
        """Samples resampled to ``sr`` (cached per rate)."""
        cache = self.__dict__.setdefault("_cache", {})
        if sr not in cache:
            cache[sr] = resample(self.y, self.sr, sr)
        return cache[sr]


def to_mono(y: np.ndarray) -> np.ndarray:
    """Average channels: ``(n, channels)`` -> ``(n,)``."""
    y = np.asarray(y)
    if y.ndim == 2:
        y = y.mean(axis=1)
    return np.ascontiguousarray(y, dtype=np.float64)


def resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling (``scipy.signal.resample_poly``), returning C-contiguous float64."""
    y = np.ascontiguousarray(y, dtype=np.float64)
    if sr_in == sr_out or len(y) == 0:
        return y
    from scipy.signal import resample_poly  # noqa: PLC0415

    g = gcd(int(sr_in), int(sr_out))
    return np.ascontiguousarray(resample_poly(y, sr_out // g, sr_in // g), dtype=np.float64)


def _riff_data_check(path: Path) -> str | None:
    """Return a truncation message when the ``data`` chunk declares more bytes than the file holds."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
                return None
            little = head[:4] == b"RIFF"
            pos = 12
            block_align = None
            while pos + 8 <= size:
                fh.seek(pos)
                hdr = fh.read(8)
                if len(hdr) < 8:
                    break
                cid, clen = hdr[:4], struct.unpack("<I" if little else ">I", hdr[4:])[0]
                if cid == b"fmt ":
                    fmt = fh.read(16)
                    if len(fmt) >= 14:
                        block_align = struct.unpack("<H" if little else ">H", fmt[12:14])[0]
                if cid == b"data":
                    have = size - (pos + 8)
                    if clen not in (0, 0xFFFFFFFF) and have < clen:
                        return (f"truncated WAV: header declares {clen} data bytes, file holds {have}"
                                + (f" ({have // block_align} of {clen // block_align} frames)"
                                   if block_align else ""))
                    return None
                pos += 8 + clen + (clen & 1)
    except OSError:
        return None
    return None


def load(path: str | os.PathLike[str], *, name: str | None = None) -> Audio:
    """Read a WAV file and validate it.

    Raises
    ------
    AudioError
        Missing file, directory, empty (0 bytes), not a WAV file, unreadable or truncated WAV,
        no samples, NaN/Inf samples. The message starts with the path.
    """
    import soundfile as sf  # noqa: PLC0415

    p = Path(path)
    where = str(p)
    if not p.exists():
        raise AudioError("file not found", where=where)
    if p.is_dir():
        raise AudioError("is a directory, not a WAV file", where=where)
    if p.stat().st_size == 0:
        raise AudioError("empty file (0 bytes)", where=where, fix="re-synthesize it")
    try:
        info = sf.info(str(p))
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError on garbage
        with open(p, "rb") as fh:
            magic = fh.read(4)
        what = "not a WAV file" if magic not in (b"RIFF", b"RIFX", b"RF64") else "unreadable WAV"
        raise AudioError(f"{what} ({str(exc).splitlines()[0][:120]})", where=where) from None
    if info.format not in _WAV_FORMATS:
        raise AudioError(f"not a WAV file (format {info.format})", where=where,
                         fix="convert it to WAV, e.g. with sox or ffmpeg")
    trunc = _riff_data_check(p)
    if trunc:
        raise AudioError(trunc, where=where, fix="re-synthesize it (the writer stopped mid-file)")
    try:
        data, sr = sf.read(str(p), dtype="float64", always_2d=True)
    except Exception as exc:
        raise AudioError(f"unreadable WAV ({str(exc).splitlines()[0][:120]})", where=where) from None
    notes: list[str] = []
    if info.subtype in ("PCM_U8", "PCM_S8"):
        notes.append("8-bit PCM (low resolution; scores are pessimistic)")
    return load_array(data, sr, name=name or p.stem, path=where, notes=notes, subtype=info.subtype)


def load_array(y: np.ndarray, sr: int, *, name: str = "", path: str | None = None,
               notes: list[str] | None = None, subtype: str | None = None) -> Audio:
    """Validate an in-memory signal the same way :func:`load` validates a file."""
    where = path or name or "<array>"
    notes = list(notes or [])
    y = np.asarray(y)
    if y.ndim not in (1, 2):
        raise AudioError(f"expected 1-D or 2-D audio, got shape {y.shape}", where=where)
    if y.ndim == 2 and y.shape[1] > 1:
        notes.append(f"{y.shape[1]} channels, down-mixed to mono")
    y = to_mono(y)
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise AudioError(f"invalid sample rate {sr!r}", where=where)
    if len(y) == 0:
        raise AudioError("no audio samples (0 frames)", where=where, fix="re-synthesize it")
    bad = int(np.count_nonzero(~np.isfinite(y)))
    if bad:
        raise AudioError(f"{bad} NaN/Inf samples", where=where, fix="the writer produced invalid floats")
    if sr > 48000:
        notes.append(f"{sr} Hz, resampled to {ANALYSIS_SR} Hz for analysis")
    if sr < 8000:
        notes.append(f"{sr} Hz is below PESQ narrow-band's 8 kHz; upsampled, scores are pessimistic")
    peak = float(np.max(np.abs(y)))
    if peak > 1.0:
        notes.append(f"peak {peak:.2f} above full scale")
    return Audio(y=y, sr=int(sr), name=name, path=path, notes=notes, subtype=subtype)
