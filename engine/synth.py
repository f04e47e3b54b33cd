"""The engine: one request in, audio out, and one structured log record per event.

Stages (each timed into ``elapsed``): ``frontend`` (validation, normalization, script and sentence
split, reference audio), ``acoustic`` (the back-end speaks each segment), ``resynthesis`` (WORLD:
duration_ratio, emotion F0 shaping, prosody matching; 0 when not needed), ``write`` (the WAV file,
when the request names an output path).
"""
from __future__ import annotations

import io
import os
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.backends import backend_statuses, get_backend
from engine.backends.base import REQUEST_CONTEXT, BackendStatus, RequestContext
from engine.clock import Clock, make_clock
from engine.config import EngineConfig
from engine.logs import EngineLogs
from engine.prosody import (EMOTION_STYLES, apply_gain, check_duration_ratio, check_emotion, check_temperature,
                            f0_stats, resynthesize, sample_variation, voice_for_emotion)
from engine.speakers import SPEAKERS, Speaker, get_speaker
from engine.text import prepare
from ttsops.errors import BackendError, InputError, TtsopsError
from ttsops.output import OutputError, write_atomic, write_output
from ttsops.procinfo import peak_rss_mb, rss_mb

__all__ = ["Engine", "SynthRequest", "SynthResult", "write_wav_atomic", "write_wav_output", "wav_bytes",
           "OutputError", "SynthesisCancelled", "AudioTooLong"]

SENTENCE_PAUSE_S = 0.18   #: silence between sentences
SWITCH_PAUSE_S = 0.06     #: silence where the language changes inside a sentence
FADE_S = 0.008            #: fade in/out at every join (no clicks)
#: eSpeak pitch units (0-99) -> semitones, for back-ends without pitch controls (``pitch_controls``)
PITCH_UNIT_SEMITONES = 0.15
SILENCE_PEAK = 1e-3       #: an output whose peak is below this is silent
EDGE_PAD_S = 0.15         #: silence before and after the speech (as recorded prompts have)
SILENT_ALARM_S = 8.0      #: seconds of silent output in a row before the health log alarms


@dataclass
class SynthRequest:
    """One synthesis request (see CONTRACTS.md). ``output``: also write a WAV there (atomic).

    ``temperature`` > 0 samples the prosody (F0, durations, energy) from ``seed``, as a sampling
    neural model does; 0 (the default) keeps the output deterministic.
    """

    text: str
    speaker: str | None = None
    emotion: str | None = "neutral"
    duration_ratio: float = 1.0
    seed: int | None = None
    backend: str | None = None
    ref_audio: str | Path | None = None
    request_id: str | None = None
    output: str | Path | None = None
    temperature: float = 0.0


@dataclass
class SynthResult:
    audio: np.ndarray
    sample_rate: int
    request_id: str
    duration_s: float
    record: dict[str, Any] = field(default_factory=dict)

    def to_wav_bytes(self) -> bytes:
        return wav_bytes(self.audio, self.sample_rate)

    def write(self, path: str | Path) -> Path:
        return write_wav_output(path, self.audio, self.sample_rate)


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV of float audio in [-1, 1]."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(audio, dtype=np.float32), sample_rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


class SynthesisCancelled(TtsopsError):
    """The caller gave up on the request (the service's timeout, drain deadline or a client that
    hung up): the synthesis stopped at its next segment or stage."""

    error_type = "request_cancelled"


class AudioTooLong(InputError):
    """The text would make more audio than ``EngineConfig.max_audio_seconds`` (detected as it is
    spoken, so the cost of a request stays bounded)."""

    error_type = "audio_too_long"


def write_wav_atomic(path: str | Path, audio: np.ndarray | bytes, sample_rate: int = 0) -> Path:
    """Write a 16-bit WAV (or ready WAV ``bytes``) atomically (:func:`ttsops.output.write_atomic`:
    temp file in the same folder, fsync, ``os.replace``). OS errors raise :class:`OutputError`."""
    data = audio if isinstance(audio, bytes) else wav_bytes(audio, sample_rate)
    return write_atomic(path, data, what="the WAV", tmp_suffix=".wav.tmp")


def write_wav_output(path: str | Path, audio: np.ndarray | bytes, sample_rate: int = 0, *,
                     special_ok: bool = True) -> Path:
    """Write a WAV where the user pointed (:func:`ttsops.output.write_output`): ``-`` is stdout,
    FIFOs and devices are written through, never replaced, regular files atomically, a symlink
    followed only inside its own folder."""
    data = audio if isinstance(audio, bytes) else wav_bytes(audio, sample_rate)
    return write_output(path, data, special_ok=special_ok, what="the WAV", tmp_suffix=".wav.tmp")


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise SynthesisCancelled("the caller stopped waiting; synthesis cancelled")


def _fade_edges(y: np.ndarray, sr: int) -> np.ndarray:
    n = min(int(FADE_S * sr), len(y) // 2)
    if n <= 1:
        return y
    y = y.copy()
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    y[:n] *= ramp
    y[-n:] *= ramp[::-1]
    return y


def _trim(y: np.ndarray, sr: int, threshold: float = 1e-3, keep_s: float = 0.02) -> np.ndarray:
    """Drop leading/trailing near-silence (eSpeak pads each utterance), keeping ``keep_s``."""
    idx = np.flatnonzero(np.abs(y) > threshold)
    if idx.size == 0:
        return y[:0]
    keep = int(keep_s * sr)
    return y[max(0, idx[0] - keep): min(len(y), idx[-1] + keep + 1)]


class Engine:
    """Offline TTS engine. Thread-safe; deterministic; logs every request.

    Parameters
    ----------
    config : EngineConfig
    logs : EngineLogs, optional
        Where records go; by default built from ``config`` (and closed by :meth:`close`).
    clock : Clock, optional
        Record time source; by default from ``config.clock``.
    injector : engine.faults.FaultInjector, optional
        Fault injection; by default built from ``config.inject`` (``None``: off).
    """

    def __init__(self, config: EngineConfig | None = None, *, logs: EngineLogs | None = None,
                 clock: Clock | None = None, injector: Any = None):
        self.config = config or EngineConfig()
        cfg = self.config
        self.clock = clock or (logs.clock if logs is not None else make_clock(
            cfg.clock, start=cfg.sim_start, rate_per_min=cfg.sim_rate, seed=cfg.seed))
        self._owns_logs = logs is None
        self.logs = logs or EngineLogs(cfg.log_dir, clock=self.clock, stderr=cfg.log_stderr,
                                       inference_rotation=cfg.inference_rotation,
                                       inference_retention=cfg.inference_retention)
        if injector is None and cfg.inject is not None:
            from engine.faults import FaultInjector
            injector = FaultInjector(cfg.inject, logs=self.logs, clock=self.clock, log_dir=cfg.log_dir)
        self.injector = injector
        self._rid_rng = random.Random(cfg.seed) if self.clock.simulated else None
        self._lock = threading.RLock()
        self._closed = False
        self._silent_run = 0.0
        self._silence_reported = False
        self._banner()
        if self.injector is not None:
            self.injector.on_startup(self)

    # ------------------------------------------------------------------------------------------
    def _banner(self) -> None:
        from importlib.metadata import PackageNotFoundError, version
        try:
            ver = version("ttsops")
        except PackageNotFoundError:  # pragma: no cover
            ver = "dev"
        c = self.logs.console
        c.info(f"ttsops engine {ver} starting (pid {os.getpid()})")
        c.info(f"default backend: {self.config.default_backend}; speakers: {len(SPEAKERS)}; "
               f"max text length: {self.config.max_text_length}; fault injection: "
               f"{'on' if self.config.inject else 'off'}")
        c.info(f"log directory: {self.config.log_dir}")

    def backends(self) -> list[BackendStatus]:
        return backend_statuses()

    def speakers(self) -> list[Speaker]:
        return list(SPEAKERS.values())

    def new_request_id(self) -> str:
        if self._rid_rng is not None:
            return "req-" + "".join(self._rid_rng.choice("0123456789abcdef") for _ in range(12))
        return "req-" + uuid.uuid4().hex[:12]

    # ------------------------------------------------------------------------------------------
    def synthesize(self, req: SynthRequest, *, cancel: threading.Event | None = None) -> SynthResult:
        """Speak ``req``; raise :class:`InputError` / :class:`BackendError` after logging the error.

        ``cancel``: when set (by a caller that stopped waiting), the synthesis raises
        :class:`SynthesisCancelled` at its next segment or stage instead of running to the end.
        """
        if self._closed:
            raise BackendError("engine is closed")
        self.clock.request_gap()
        rid = req.request_id or self.new_request_id()
        backend_name = req.backend or self.config.default_backend
        seed = self.config.seed if req.seed is None else req.seed
        text = req.text if isinstance(req.text, str) else ""
        fields: dict[str, Any] = {
            "request_id": rid, "text_length": len(text), "speaker": req.speaker or "zh_female_1",
            "emotion": req.emotion or "neutral", "duration_ratio": req.duration_ratio, "backend": backend_name,
            "seed": seed, "ref_audio": req.ref_audio is not None, "temperature": req.temperature,
        }
        log = self.logs.inference.bind(**fields)
        log.bind(event="synthesis_start").info(
            f"Synthesis started: {fields['text_length']} chars, speaker={fields['speaker']}, "
            f"emotion={fields['emotion']}, backend={backend_name}")
        elapsed = {"frontend": 0.0, "acoustic": 0.0, "resynthesis": 0.0, "write": 0.0}
        stage = "frontend"
        ctx: dict[str, Any] = {"request_id": rid, "request": req, "backend": backend_name}
        t_all = time.perf_counter()
        bctx = RequestContext(log)  # back-ends log through the request's logger (engine.backends.base)
        bctx_token = REQUEST_CONTEXT.set(bctx)
        try:
            with self._lock:
                _check_cancel(cancel)            # it may have waited for the lock past its caller's patience
                t0 = time.perf_counter()
                if self.injector is not None:
                    self.injector.before_request(ctx)
                    req = ctx["request"]
                emotion = check_emotion(req.emotion)
                ratio = check_duration_ratio(req.duration_ratio)
                temperature = check_temperature(req.temperature)
                speaker = get_speaker(req.speaker)
                try:
                    segments = prepare(req.text, max_length=self.config.max_text_length)
                except InputError as exc:
                    if exc.message.startswith("Text preprocessing failed"):
                        log.bind(event="text_rejected").error(exc.message)
                    raise
                target = None
                if req.ref_audio is not None:
                    from engine.refaudio import load_reference
                    ref = load_reference(req.ref_audio, min_seconds=self.config.reference_min_seconds)
                    for w in ref.warnings:
                        log.bind(event="reference_warning", reference_seconds=round(ref.duration_s, 3)).warning(w)
                    if ref.warnings:
                        fields["warnings"] = list(ref.warnings)
                    target = f0_stats(ref.audio, ref.sample_rate)
                languages = sorted({s.language for s in segments}, key=["zh", "en"].index)
                fields.update(speaker=speaker.name, emotion=emotion, duration_ratio=ratio,
                              languages=languages, segments=len(segments))
                elapsed["frontend"] = time.perf_counter() - t0

                stage = "acoustic"
                t0 = time.perf_counter()
                backend = get_backend(backend_name)
                if self.injector is not None:
                    self.injector.before_acoustic(ctx)
                sr = backend.sample_rate
                style = EMOTION_STYLES[emotion]
                pieces: list[np.ndarray] = []
                prev_sentence = None
                cap = self.config.max_audio_seconds * sr / max(ratio, 1e-6)   # samples before the ratio
                spoken = 0
                for seg in segments:
                    _check_cancel(cancel)
                    voice = voice_for_emotion(speaker.voice(seg.language), emotion)
                    y = _trim(np.asarray(backend.synthesize(seg.text, voice), dtype=np.float32), sr)
                    if y.size == 0:
                        continue
                    if pieces:
                        gap = SENTENCE_PAUSE_S if seg.sentence != prev_sentence else SWITCH_PAUSE_S
                        pieces.append(np.zeros(int(gap * sr), dtype=np.float32))
                    pieces.append(_fade_edges(y, sr))
                    prev_sentence = seg.sentence
                    spoken += len(y)
                    if spoken > cap:
                        raise AudioTooLong(
                            f"the text makes more than {self.config.max_audio_seconds:g}s of audio "
                            f"({len(req.text)} characters)", where="text",
                            fix="split it into shorter requests, or use `tts-engine batch`")
                lead = np.zeros(int(EDGE_PAD_S * sr), dtype=np.float32)
                audio = np.concatenate([lead, *pieces, lead]) if pieces else np.zeros(int(0.1 * sr), np.float32)
                elapsed["acoustic"] = time.perf_counter() - t0

                stage = "resynthesis"
                _check_cancel(cancel)
                t0 = time.perf_counter()
                f0_shift, f0_scale = style.f0_shift_semitones, style.f0_range_scale
                if not getattr(backend, "pitch_controls", True):
                    # no pitch knobs (kokoro): WORLD applies the emotion's eSpeak pitch offsets
                    f0_shift += style.pitch * PITCH_UNIT_SEMITONES
                    f0_scale *= 1.0 + style.pitch_range / 100.0
                variation = (sample_variation(seed, f"{speaker.name}\n{text}", temperature)
                             if temperature > 0 else None)
                if ratio != 1.0 or f0_shift != 0.0 or f0_scale != 1.0 or target is not None or variation is not None:
                    audio = resynthesize(audio, sr, ratio=ratio, f0_range_scale=f0_scale,
                                         f0_shift_semitones=f0_shift, target=target, variation=variation)
                audio = apply_gain(audio, style.gain_db)
                if self.injector is not None:
                    audio = self.injector.after_synthesis(ctx, audio, sr)
                audio = np.clip(np.nan_to_num(audio), -1.0, 1.0).astype(np.float32)
                elapsed["resynthesis"] = time.perf_counter() - t0

                stage = "write"
                _check_cancel(cancel)
                if req.output is not None:
                    t0 = time.perf_counter()
                    write_wav_output(req.output, audio, sr)
                    elapsed["write"] = time.perf_counter() - t0
        except Exception as exc:
            total = time.perf_counter() - t_all
            if isinstance(exc, SynthesisCancelled):
                log.bind(event="synthesis_cancelled", stage=stage, elapsed_total=round(total, 5)).warning(
                    f"Synthesis cancelled in stage {stage} after {total:.3f}s (the caller stopped waiting)")
                if self.injector is not None:
                    self.injector.after_request(ctx, fields)
                raise
            self._log_error(log, fields, exc, stage, elapsed, total, ctx)
            if isinstance(exc, TtsopsError):
                raise
            kind = getattr(exc, "error_type", type(exc).__name__)
            raise BackendError(f"{kind}: {exc}".splitlines()[0], where=f"stage {stage}") from exc
        finally:
            REQUEST_CONTEXT.reset(bctx_token)
        total = time.perf_counter() - t_all + ctx.get("extra_seconds", 0.0)
        if ctx.get("extra_seconds"):
            elapsed["acoustic"] += ctx["extra_seconds"]
        duration = len(audio) / sr
        self.clock.spend(self._clock_cost(total, duration, ctx))
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        fields.update({
            "event": "synthesis_success", "sample_rate": sr, "audio_seconds": round(duration, 4),
            "elapsed": {k: round(v, 5) for k, v in elapsed.items()}, "elapsed_total": round(total, 5),
            "rtf": round(total / duration, 5) if duration > 0 else None,
            "rss_mb": round(rss_mb(), 1), "peak_rss_mb": peak_rss_mb(), "peak": round(peak, 4),
        })
        if "gpu_mem_mb" in ctx:
            fields["gpu_mem_mb"] = ctx["gpu_mem_mb"]
        if bctx.stats:
            fields["backend_stats"] = bctx.stats
        self._check_silence(fields, peak, duration)
        if req.output is not None:
            fields["output"] = str(req.output)
        self.logs.inference.bind(**fields).info(
            f"Synthesis succeeded: {duration:.2f}s audio in {total:.3f}s (rtf {fields['rtf']})")
        if self.injector is not None:
            self.injector.after_request(ctx, fields)
        return SynthResult(audio, sr, rid, duration, dict(fields))

    def _clock_cost(self, real_seconds: float, audio_seconds: float, ctx: dict[str, Any]) -> float:
        """How far a request moves the clock: real time, or on a simulated clock a deterministic cost
        (a GPU-class back-end's RTF of 0.08 plus overhead, plus injected delays) so that simulated runs
        are reproducible to the millisecond."""
        if not self.clock.simulated:
            return real_seconds
        return 0.03 + 0.08 * audio_seconds + ctx.get("extra_seconds", 0.0)

    def _check_silence(self, fields: dict[str, Any], peak: float, duration: float) -> None:
        """Silence monitor: warn on a silent output; health symptom after 8 s of silence in a row."""
        if peak >= SILENCE_PEAK:
            self._silent_run = 0.0
            self._silence_reported = False
            return
        self._silent_run += duration
        self.logs.inference.bind(request_id=fields["request_id"], event="audio_silent",
                                 audio_seconds=round(duration, 4), peak=round(peak, 5)).warning(
            f"Synthesized audio is silent: peak {peak:.5f} over {duration:.2f}s")
        if self._silent_run >= SILENT_ALARM_S and not self._silence_reported:
            self._silence_reported = True
            self.logs.health.bind(event="health_symptom", check="output_level", request_id=fields["request_id"],
                                  silent_seconds=round(self._silent_run, 2)).warning(
                f"audio output silent for {int(SILENT_ALARM_S)}s")

    def _log_error(self, log: Any, fields: dict[str, Any], exc: BaseException, stage: str,
                   elapsed: dict[str, float], total: float, ctx: dict[str, Any]) -> None:
        total += ctx.get("extra_seconds", 0.0)
        self.clock.spend(self._clock_cost(total, 0.0, ctx))
        tb_text = ctx.get("traceback") or self.logs.traceback_text(exc)
        error_type = ctx.get("error_type") or type(exc).__name__
        message = exc.one_line() if isinstance(exc, TtsopsError) else str(exc).splitlines()[0] if str(exc) else ""
        fields.update({
            "event": "synthesis_error", "stage": stage, "error_type": error_type, "error_message": message,
            "traceback": tb_text, "elapsed": {k: round(v, 5) for k, v in elapsed.items()},
            "elapsed_total": round(total, 5), "rss_mb": round(rss_mb(), 1), "peak_rss_mb": peak_rss_mb(),
        })
        if "gpu_mem_mb" in ctx:
            fields["gpu_mem_mb"] = ctx["gpu_mem_mb"]
        self.logs.inference.bind(**fields).error(f"Synthesis failed: {error_type}: {message}")
        # the console gets what a Python service prints: the traceback, line by line
        if not isinstance(exc, InputError) or ctx.get("traceback"):
            self.logs.raw_console(tb_text.rstrip(), level="ERROR")
        if self.injector is not None:
            self.injector.after_request(ctx, fields)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.logs.console.info("ttsops engine shutting down")
        if self.injector is not None:
            self.injector.close()
        if self._owns_logs:
            self.logs.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
