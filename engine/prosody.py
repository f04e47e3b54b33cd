"""Emotions and duration_ratio as measurable prosody: F0 mean and range, rate, energy.

Two layers:

* the back-end's own controls (:func:`voice_for_emotion`): eSpeak's pitch (F0 mean), range (F0
  spread), rate and volume, offset per emotion;
* WORLD resynthesis with pyworld (:func:`resynthesize`) where those are not enough: an exact time
  stretch for ``duration_ratio`` (output length = input length x ratio), extra F0 range expansion or
  compression around the utterance's mean, and prosody matching to a reference (the output's log-F0
  mean and standard deviation set to the reference's).

Happy is higher and wider in F0 and faster; sad lower, flatter, slower and softer (the tests check
both with a pyworld pitch tracker on real output).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass, replace
from types import ModuleType

import numpy as np

from engine.backends.base import Voice
from engine.speakers import EMOTIONS
from ttsops.errors import InputError

__all__ = ["PEAK_LIMIT", "limit_peak", "EmotionStyle", "EMOTION_STYLES", "DURATION_RATIO_RANGE", "check_emotion",
           "check_duration_ratio", "voice_for_emotion", "resynthesize", "f0_stats", "load_pyworld",
           "F0Stats", "TEMPERATURE_RANGE", "check_temperature", "ProsodyVariation", "sample_variation"]

DURATION_RATIO_RANGE = (0.75, 1.25)
#: ``temperature`` 0 turns sampling off (deterministic output); 1 is a neural TTS model's usual spread
TEMPERATURE_RANGE = (0.0, 2.0)


#: largest absolute sample after prosody processing (louder utterances are scaled, never clipped)
PEAK_LIMIT = 0.98

@dataclass(frozen=True)
class EmotionStyle:
    """Prosody offsets of one emotion.

    pitch, pitch_range : added to the voice's eSpeak pitch / range (0-99 scale).
    rate : factor on words per minute.
    gain_db : energy change applied to the waveform.
    f0_range_scale : extra F0 spread around the mean by WORLD resynthesis (1.0: none).
    f0_shift_semitones : extra F0 shift by WORLD resynthesis (0: none).
    """

    pitch: int = 0
    pitch_range: int = 0
    rate: float = 1.0
    gain_db: float = 0.0
    f0_range_scale: float = 1.0
    f0_shift_semitones: float = 0.0

    @property
    def needs_resynthesis(self) -> bool:
        return self.f0_range_scale != 1.0 or self.f0_shift_semitones != 0.0


EMOTION_STYLES: dict[str, EmotionStyle] = {
    "neutral": EmotionStyle(),
    "happy": EmotionStyle(pitch=14, pitch_range=30, rate=1.10, gain_db=1.5, f0_range_scale=1.25),
    "sad": EmotionStyle(pitch=-14, pitch_range=-30, rate=0.85, gain_db=-4.0, f0_range_scale=0.7),
    "angry": EmotionStyle(pitch=6, pitch_range=25, rate=1.12, gain_db=3.0),
    "calm": EmotionStyle(pitch=-6, pitch_range=-15, rate=0.92, gain_db=-2.0),
    "serious": EmotionStyle(pitch=-10, pitch_range=-35, rate=0.95, gain_db=0.0, f0_range_scale=0.8),
}
assert set(EMOTION_STYLES) == set(EMOTIONS)


def check_emotion(emotion: str | None) -> str:
    """The emotion name (``None``: neutral); :class:`InputError` for unknown ones."""
    if emotion in (None, ""):
        return "neutral"
    if not isinstance(emotion, str) or emotion not in EMOTION_STYLES:
        raise InputError(f"unknown emotion {emotion!r}", where="emotion", fix=f"choose one of {', '.join(EMOTIONS)}")
    return emotion


def check_duration_ratio(ratio: object) -> float:
    """``duration_ratio`` as a float in [0.75, 1.25]; :class:`InputError` otherwise."""
    lo, hi = DURATION_RATIO_RANGE
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)):
        raise InputError(f"duration_ratio must be a number in [{lo}, {hi}], got {ratio!r}", where="duration_ratio")
    value = float(ratio)
    if not np.isfinite(value) or not lo <= value <= hi:
        raise InputError(f"duration_ratio {ratio!r} is outside [{lo}, {hi}]", where="duration_ratio",
                         fix="use 1.0 for normal speed, 0.75 to speak faster, 1.25 slower")
    return value


def check_temperature(value: object) -> float:
    """``temperature`` as a float in [0, 2]; :class:`InputError` otherwise."""
    lo, hi = TEMPERATURE_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(float(value)) \
            or not lo <= float(value) <= hi:
        raise InputError(f"temperature must be a number in [{lo}, {hi}], got {value!r}", where="temperature",
                         fix="0 for deterministic output, 1 for sampled prosody like a neural model's")
    return float(value)


def voice_for_emotion(voice: Voice, emotion: str) -> Voice:
    """``voice`` with the emotion's eSpeak pitch / range / rate offsets applied (clipped to 0-99)."""
    st = EMOTION_STYLES[emotion]
    return replace(voice,
                   pitch=int(np.clip(voice.pitch + st.pitch, 0, 99)),
                   pitch_range=int(np.clip(voice.pitch_range + st.pitch_range, 0, 99)),
                   rate_wpm=int(round(voice.rate_wpm * st.rate)))


# ---------------------------------------------------------------------------------------------------
def load_pyworld() -> ModuleType:
    """Import pyworld, also where its ``__init__`` fails on a missing ``pkg_resources``.

    pyworld 0.3.x reads its version with ``pkg_resources``, which setuptools >= 81 no longer ships;
    the compiled extension itself does not need it, so it is loaded directly in that case.
    """
    if "pyworld" in sys.modules and hasattr(sys.modules["pyworld"], "dio"):
        return sys.modules["pyworld"]
    try:
        return importlib.import_module("pyworld")
    except ModuleNotFoundError as exc:
        if exc.name != "pkg_resources":
            raise
    sys.modules.pop("pyworld", None)
    spec = importlib.util.find_spec("pyworld")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("pyworld", name="pyworld")
    from pathlib import Path
    folder = Path(list(spec.submodule_search_locations)[0])
    ext = next(iter(sorted(folder.glob("pyworld*.so")) + sorted(folder.glob("pyworld*.pyd"))), None)
    if ext is None:
        raise ModuleNotFoundError("pyworld extension not found", name="pyworld")
    ext_spec = importlib.util.spec_from_file_location("pyworld", ext)
    assert ext_spec is not None and ext_spec.loader is not None
    module = importlib.util.module_from_spec(ext_spec)
    ext_spec.loader.exec_module(module)  # type: ignore[union-attr]
    sys.modules["pyworld"] = module
    return module


@dataclass(frozen=True)
class F0Stats:
    """Voiced F0 statistics: mean and standard deviation of log2-F0 (octaves), plus Hz helpers."""

    log_mean: float
    log_std: float
    voiced_fraction: float

    @property
    def mean_hz(self) -> float:
        return float(2.0 ** self.log_mean)


FRAME_PERIOD_MS = 5.0


@dataclass(frozen=True)
class ProsodyVariation:
    """One random draw of prosody, as a sampling TTS model varies it from one seed to the next.

    Every curve is a sum of a few slow sinusoids with random frequencies and phases, so one draw
    applies to an utterance of any length. ``temperature`` scales every spread; at 1.0 (standard
    deviations between renders): F0 level 0.6 semitones, F0 range x exp(N(0, 0.12)), F0 contour
    wobble 0.5 semitones (0.5-3 Hz), tempo x exp(N(0, 0.04)) with a local rate wobble of 8 %
    (0.3-1.5 Hz), level 1 dB with a 1 dB wobble (0.5-2 Hz).
    """

    f0_shift_semitones: float
    f0_range_scale: float
    tempo: float
    gain_db: float
    f0_wobble: tuple[tuple[float, float, float], ...]    # (amplitude in semitones, Hz, phase)
    rate_wobble: tuple[tuple[float, float, float], ...]  # (amplitude in log-rate, Hz, phase)
    gain_wobble: tuple[tuple[float, float, float], ...]  # (amplitude in dB, Hz, phase)

    @staticmethod
    def curve(parts: tuple[tuple[float, float, float], ...], t: np.ndarray) -> np.ndarray:
        out = np.zeros_like(t, dtype=np.float64)
        for amp, hz, ph in parts:
            out += amp * np.sin(2 * np.pi * hz * t + ph)
        return out


def sample_variation(seed: int, key: str, temperature: float) -> ProsodyVariation:
    """Draw the prosody of one render from ``seed`` and ``key`` (text and speaker): the same request
    with the same seed gives the same audio; another seed, or another text, another draw."""
    import zlib

    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(key.encode("utf-8"))])
    T = float(temperature)

    def normal(sd: float) -> float:
        return float(np.clip(rng.normal(0.0, sd), -2.5 * sd, 2.5 * sd)) * T

    def wobble(sd: float, lo: float, hi: float, k: int = 3) -> tuple[tuple[float, float, float], ...]:
        # k sinusoids with random amplitudes whose sum has standard deviation ~ sd
        amps = rng.rayleigh(sd / np.sqrt(k), size=k) * T
        return tuple((float(a), float(rng.uniform(lo, hi)), float(rng.uniform(0, 2 * np.pi))) for a in amps)

    return ProsodyVariation(
        f0_shift_semitones=normal(0.6), f0_range_scale=float(np.exp(normal(0.12))), tempo=float(np.exp(normal(0.04))),
        gain_db=normal(1.0), f0_wobble=wobble(0.5, 0.5, 3.0), rate_wobble=wobble(0.08, 0.3, 1.5),
        gain_wobble=wobble(1.0, 0.5, 2.0))


def _f0(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    pw = load_pyworld()
    x = np.ascontiguousarray(y, dtype=np.float64)
    f0, t = pw.dio(x, sr, f0_floor=50.0, f0_ceil=700.0, frame_period=FRAME_PERIOD_MS)
    f0 = pw.stonemask(x, f0, t, sr)
    # energy gate: DIO finds "pitch" in near-silence (pauses, padding, resynthesis noise floor)
    hop = int(sr * FRAME_PERIOD_MS / 1000)
    win = 2 * hop
    centers = np.clip((t * sr).astype(int), 0, max(len(x) - 1, 0))
    padded = np.pad(x, (win, win))
    rms = np.array([np.sqrt(np.mean(padded[c:c + 2 * win] ** 2)) for c in centers])
    if rms.size and rms.max() > 0:
        f0 = np.where(rms >= rms.max() * 10 ** (-35 / 20), f0, 0.0)
    return f0, t


def f0_stats(y: np.ndarray, sr: int) -> F0Stats:
    """Voiced log-F0 mean / std of ``y`` (pyworld DIO + StoneMask)."""
    f0, _ = _f0(y, sr)
    voiced = f0[f0 > 0]
    if voiced.size < 3:
        return F0Stats(float("nan"), float("nan"), 0.0)
    lg = np.log2(voiced)
    return F0Stats(float(lg.mean()), float(lg.std()), float(voiced.size / max(f0.size, 1)))


def resynthesize(y: np.ndarray, sr: int, *, ratio: float = 1.0, f0_range_scale: float = 1.0,
                 f0_shift_semitones: float = 0.0, target: F0Stats | None = None,
                 variation: ProsodyVariation | None = None) -> np.ndarray:
    """WORLD analysis / modification / synthesis.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
        Mono float audio.
    sr : int
        Sample rate in Hz.
    ratio : float
        Duration factor: the output has ``round(n * ratio)`` samples.
    f0_range_scale : float
        Spread of log-F0 around its voiced mean is multiplied by this.
    f0_shift_semitones : float
        Log-F0 shift.
    target : F0Stats, optional
        Prosody matching: set voiced log-F0 mean and std to these (applied before the shift/scale).
    variation : ProsodyVariation, optional
        Sampled prosody (``temperature`` > 0): F0 level, range and contour, a time-varying tempo and
        level. The output length then follows the sampled tempo instead of ``round(n * ratio)``.

    Returns
    -------
    np.ndarray, shape (round(n * ratio),) without ``variation``, float32
    """
    pw = load_pyworld()
    n = len(y)
    if n < sr // 20:
        return np.asarray(y, dtype=np.float32)
    x = np.ascontiguousarray(y, dtype=np.float64)
    f0, t = _f0(x, sr)
    sp = pw.cheaptrick(x, f0, t, sr)
    ap = pw.d4c(x, f0, t, sr)
    voiced = f0 > 0
    if voiced.sum() >= 3:
        lg = np.log2(np.where(voiced, f0, 1.0))
        mean = lg[voiced].mean()
        std = lg[voiced].std()
        if target is not None and np.isfinite(target.log_mean) and std > 1e-6:
            lg = np.where(voiced, target.log_mean + (lg - mean) * (target.log_std / std), lg)
            mean = target.log_mean
        if variation is None:
            lg = np.where(voiced, mean + (lg - mean) * f0_range_scale + f0_shift_semitones / 12.0, lg)
        else:
            shift = f0_shift_semitones + variation.f0_shift_semitones + variation.curve(variation.f0_wobble, t)
            lg = np.where(voiced, mean + (lg - mean) * f0_range_scale * variation.f0_range_scale + shift / 12.0, lg)
        f0 = np.where(voiced, np.clip(2.0 ** lg, 50.0, 800.0), 0.0)
    out_len = int(round(n * ratio))
    if variation is not None:
        # time-varying stretch: input frame i lasts ratio * tempo * exp(wobble(t_i)) output frames
        stretch = ratio * variation.tempo * np.exp(variation.curve(variation.rate_wobble, t))
        pos = np.concatenate(([0.0], np.cumsum(stretch)[:-1]))
        new_frames = max(2, int(round(pos[-1] + stretch[-1])))
        src = np.interp(np.arange(new_frames), pos, np.arange(len(f0), dtype=np.float64))
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, len(f0) - 1)
        w = (src - lo)[:, None]
        sp = np.ascontiguousarray((1 - w) * sp[lo] + w * sp[hi])
        ap = np.ascontiguousarray((1 - w) * ap[lo] + w * ap[hi])
        f0 = np.ascontiguousarray(f0[np.clip(np.round(src).astype(int), 0, len(f0) - 1)])
        out_len = int(round(new_frames * FRAME_PERIOD_MS / 1000 * sr))
    elif ratio != 1.0:
        frames = len(f0)
        new_frames = max(2, int(round(frames * ratio)))
        src = np.linspace(0, frames - 1, new_frames)
        idx = np.clip(np.round(src).astype(int), 0, frames - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, frames - 1)
        w = (src - lo)[:, None]
        sp = np.ascontiguousarray((1 - w) * sp[lo] + w * sp[hi])
        ap = np.ascontiguousarray((1 - w) * ap[lo] + w * ap[hi])
        f0 = np.ascontiguousarray(f0[idx])  # nearest: keeps voiced/unvoiced edges sharp
    out = pw.synthesize(np.ascontiguousarray(f0), sp, ap, sr, FRAME_PERIOD_MS)
    if len(out) >= out_len:
        out = out[:out_len]
    else:
        out = np.pad(out, (0, out_len - len(out)))
    # keep the loudness of the input (WORLD changes it slightly)
    rms_in = float(np.sqrt(np.mean(x ** 2)) + 1e-12)
    rms_out = float(np.sqrt(np.mean(out ** 2)) + 1e-12)
    out = out * (rms_in / rms_out)
    if variation is not None:
        ts = np.arange(len(out)) / sr
        out = out * 10.0 ** ((variation.gain_db + variation.curve(variation.gain_wobble, ts)) / 20.0)
    return limit_peak(out)


def limit_peak(y: np.ndarray, limit: float = PEAK_LIMIT) -> np.ndarray:
    """Scale the whole utterance down when its peak exceeds ``limit``: never a hard clip, whose flat
    runs ``tts-quality`` (rightly) reports as clipping."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > limit:
        y = y * (limit / peak)
    return y.astype(np.float32)


def apply_gain(y: np.ndarray, gain_db: float) -> np.ndarray:
    """Energy change in dB, with a soft limit so that nothing clips."""
    if gain_db == 0.0:
        return y
    return limit_peak(y * (10.0 ** (gain_db / 20.0)))
