"""Health checks in three levels, against a running service (``url``) or in-process (an Engine).

=====  ==========================================================================================
L1     the process answers: ``GET /health`` is 200 and says the back-end is loaded (in-process: the
       engine builds and reports its default back-end available).
L2     a real synthesis of ``你好,世界。``: longer than 1.2 s, at the back-end's sample rate, finite,
       not clipped flat, and no run of all-zero 50 ms frames longer than ``max_silence_s`` (an all-zero
       output fails as ``audio output silent for Ns``, the seeds' message).
L3     emotion semantics: the same text as *happy* and as *serious*; their F0 contours must be told
       apart (``quality.emotion.check_emotion_semantics``, DTW distance in semitones; alarm when closer
       than its documented threshold).
=====  ==========================================================================================

Every check writes one JSON record (event ``health_check``: level, ok, duration, reason, target) to
``logs/health.log`` through the engine's logging set-up.
"""
from __future__ import annotations

import io
import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

__all__ = ["HealthResult", "HealthConfig", "check", "wait_until_ok", "check_audio", "l1", "l2", "l3", "HEALTH_TEXT",
           "log_result"]

HEALTH_TEXT = "你好,世界。"
L3_TEXT = "今天的天气真不错,我们一起去公园散步吧。"
FRAME_S = 0.05


@dataclass
class HealthConfig:
    text: str = HEALTH_TEXT
    l3_text: str = L3_TEXT
    min_duration_s: float = 1.2
    max_silence_s: float = 1.0
    timeout_s: float = 30.0
    speaker: str | None = None
    backend: str | None = None
    seed: int = 0
    api_key: str | None = None      #: for a service started with --api-key (default: $TTSOPS_API_KEY)


@dataclass
class HealthResult:
    level: int
    ok: bool
    duration_s: float
    reason: str
    target: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        state = "ok" if self.ok else "FAILED"
        return f"health L{self.level} {state} ({self.target}, {self.duration_s:.2f}s): {self.reason}"


# ------------------------------------------------------------------------------------- audio rules
def check_audio(y: np.ndarray, sr: int, *, expected_sr: int | None, min_duration_s: float = 1.2,
                max_silence_s: float = 1.0) -> tuple[bool, str, dict[str, Any]]:
    """The L2 rules on one decoded output; returns (ok, reason, details)."""
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    dur = len(y) / sr if sr else 0.0
    det: dict[str, Any] = {"audio_seconds": round(dur, 3), "sample_rate": sr, "expected_sample_rate": expected_sr}
    if len(y) == 0:
        return False, "audio output empty (0 samples)", det
    if not np.all(np.isfinite(y)):
        return False, "audio output has NaN/inf samples", det
    if expected_sr and sr != expected_sr:
        return False, f"sample rate mismatch: got {sr} Hz, the back-end produces {expected_sr} Hz", det
    n = max(1, int(FRAME_S * sr))
    frames = y[: len(y) // n * n].reshape(-1, n) if len(y) >= n else y.reshape(1, -1)
    zero = np.all(np.abs(frames) < 1.0 / 32768, axis=1)
    longest = cur = 0
    for z in zero:
        cur = cur + 1 if z else 0
        longest = max(longest, cur)
    det.update(zero_frames=int(zero.sum()), frames=int(len(zero)), longest_silence_s=round(longest * n / sr, 3),
               rms=float(np.sqrt(np.mean(y ** 2))), peak=float(np.max(np.abs(y))))
    if zero.all():
        return False, f"audio output silent for {max(1, round(dur))}s", det
    if longest * n / sr > max_silence_s:
        return False, f"audio output silent for {longest * n / sr:.1f}s inside {dur:.1f}s of audio", det
    if dur <= min_duration_s:
        return False, f"audio too short: {dur:.2f}s <= {min_duration_s}s for {HEALTH_TEXT!r}", det
    return True, f"{dur:.2f}s of audio at {sr} Hz, no silent stretch (longest {longest * n / sr:.2f}s)", det


def _decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    import soundfile as sf
    y, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    if y.ndim > 1:
        y = y.mean(axis=1)
    return y, int(sr)


# ------------------------------------------------------------------------------------- targets
class _Http:
    """A running service. Every request shares the check's overall deadline (a silent or trickling
    server cannot stretch a check past ``timeout_s``: :func:`ttsops.http.request`)."""

    def __init__(self, url: str, deadline: float, api_key: str | None = None):
        self.url = url.rstrip("/")
        self.deadline = deadline                     # time.monotonic() by which the check must end
        key = api_key if api_key is not None else os.environ.get("TTSOPS_API_KEY")
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def _request(self, method: str, path: str, **kw: Any) -> Any:
        from ttsops.http import DeadlineExceeded, request
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(f"no complete answer from {self.url} within the check's deadline")
        return request(method, self.url + path, deadline=left, headers={**self.headers, **kw.pop("headers", {})},
                       **kw)

    def health(self) -> dict[str, Any]:
        r = self._request("GET", "/health")
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        body = body if isinstance(body, dict) else {}
        body["_status"] = r.status_code
        return body

    def speak(self, text: str, **kw: Any) -> tuple[np.ndarray, int, str]:
        payload = {"text": text, **{k: v for k, v in kw.items() if v is not None}}
        r = self._request("POST", "/api/tts", json=payload, headers={"X-Request-Id": f"health-{int(time.time()*1000)}"})
        if r.status_code != 200:
            try:
                j = r.json()
                msg = f"{j.get('error_type')}: {j.get('detail')}"
            except Exception:
                msg = r.text[:200]
            raise RuntimeError(f"POST /api/tts answered {r.status_code} {msg}")
        y, sr = _decode_wav(r.content)
        return y, sr, r.headers.get("x-request-id", "")

    def expected_sr(self) -> int | None:
        try:
            return self.health().get("sample_rate")
        except Exception:
            return None

    def close(self) -> None:
        pass


class _InProcess:
    def __init__(self, engine: Any = None, config: Any = None):
        self._own = engine is None
        if engine is None:
            from engine.config import EngineConfig
            from engine.synth import Engine
            engine = Engine(config or EngineConfig())
        self.engine = engine

    def health(self) -> dict[str, Any]:
        sts = self.engine.backends()
        default = getattr(getattr(self.engine, "config", None), "default_backend", "espeak")
        st = next((b for b in sts if b.name == default), None)
        return {"_status": 200 if st is not None and st.available else 503, "backend": default,
                "backend_loaded": bool(st and st.available), "sample_rate": getattr(st, "sample_rate", None),
                "reason": getattr(st, "detail", "")}

    def speak(self, text: str, **kw: Any) -> tuple[np.ndarray, int, str]:
        from engine.synth import SynthRequest
        res = self.engine.synthesize(SynthRequest(text=text, **{k: v for k, v in kw.items() if v is not None}))
        return np.asarray(res.audio), int(res.sample_rate), res.request_id

    def expected_sr(self) -> int | None:
        return self.health().get("sample_rate")

    def close(self) -> None:
        if self._own:
            self.engine.close()


# ------------------------------------------------------------------------------------- levels
def l1(t: Any, cfg: HealthConfig) -> tuple[bool, str, dict[str, Any]]:
    h = t.health()
    status = h.pop("_status", None)
    if status == 200 and h.get("backend_loaded", True):
        return True, f"alive, back-end {h.get('backend')} loaded", h
    return False, f"/health answered {status}: {h.get('status', '')} {h.get('reason', '')}".strip(), h


def l2(t: Any, cfg: HealthConfig) -> tuple[bool, str, dict[str, Any]]:
    expected = t.expected_sr()
    y, sr, rid = t.speak(cfg.text, speaker=cfg.speaker, backend=cfg.backend, seed=cfg.seed)
    ok, reason, det = check_audio(y, sr, expected_sr=expected, min_duration_s=cfg.min_duration_s,
                                  max_silence_s=cfg.max_silence_s)
    det["request_id"] = rid
    return ok, reason, det


def l3(t: Any, cfg: HealthConfig) -> tuple[bool, str, dict[str, Any]]:
    from quality.emotion import check_emotion_semantics
    samples: dict[str, tuple[np.ndarray, int]] = {}
    for emo in ("happy", "serious"):
        y, sr, _ = t.speak(cfg.l3_text, emotion=emo, speaker=cfg.speaker, backend=cfg.backend, seed=cfg.seed)
        ok, reason, _det = check_audio(y, sr, expected_sr=None, min_duration_s=0.3, max_silence_s=cfg.max_silence_s)
        if not ok:
            return False, f"{emo}: {reason}", {}
        samples[emo] = (y, sr)
    res = check_emotion_semantics(samples)
    det = {"distances": {str(k): float(v) for k, v in dict(res.distances).items()}, "threshold": res.threshold}
    reason = res.reason or ("happy and serious told apart" if res.ok else "emotions not told apart")
    return bool(res.ok), reason, det


LEVELS: Mapping[int, Callable[[Any, HealthConfig], tuple[bool, str, dict[str, Any]]]] = {1: l1, 2: l2, 3: l3}


def check(level: int, *, url: str | None = None, engine: Any = None, engine_config: Any = None,
          config: HealthConfig | None = None, log: Any = None) -> HealthResult:
    """Run one level; never raises for a failing target (the failure is the result)."""
    cfg = config or HealthConfig()
    if level not in LEVELS:
        raise ValueError(f"health level must be 1, 2 or 3, got {level}")
    t0 = time.perf_counter()
    t_deadline = time.monotonic() + cfg.timeout_s      # the whole check, every request of it
    target = url.rstrip("/") if url else "in-process"
    t = None
    try:
        t = _Http(url, t_deadline, cfg.api_key) if url else _InProcess(engine, engine_config)
        ok, reason, det = LEVELS[level](t, cfg)
    except Exception as exc:
        ok, reason = False, _explain(exc, url)
        det = {"error_type": _error_type(exc)}
        if not url:
            det["traceback"] = traceback.format_exc()
    finally:
        if t is not None:
            try:
                t.close()
            except Exception:
                pass
    res = HealthResult(level, ok, round(time.perf_counter() - t0, 4), reason, target, det)
    if log is not None:
        log_result(res, log)
    return res


def wait_until_ok(level: int, *, wait_s: float, interval_s: float = 0.5, log: Any = None,
                  **kw: Any) -> HealthResult:
    """:func:`check` again every ``interval_s`` until it passes or ``wait_s`` has passed (a service
    still starting: ``systemd``'s ExecStartPost, a container's start period); only the last result
    is logged. ``wait_s`` 0 is one check."""
    deadline = time.monotonic() + max(0.0, wait_s)
    while True:
        res = check(level, **kw)
        if res.ok or time.monotonic() + interval_s > deadline:
            break
        time.sleep(interval_s)
    if log is not None:
        log_result(res, log)
    return res


def _error_type(exc: BaseException) -> str:
    et = getattr(exc, "error_type", None) or getattr(exc, "kb_id", None)
    if et:
        return str(et)
    name = type(exc).__name__
    if name in ("ConnectError", "ConnectTimeout"):
        return "connection_refused"
    if name in ("ReadTimeout", "TimeoutException", "PoolTimeout", "WriteTimeout", "DeadlineExceeded"):
        return "request_timeout"
    return name


def _explain(exc: BaseException, url: str | None) -> str:
    name = type(exc).__name__
    if name in ("ConnectError", "ConnectTimeout"):
        return f"cannot connect to {url}: {exc}"
    if name in ("ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException", "DeadlineExceeded"):
        return f"no complete answer from {url} within the timeout"
    one = getattr(exc, "one_line", None)
    return one() if callable(one) else f"{name}: {exc}"


def log_result(res: HealthResult, log: Any) -> None:
    det = {k: v for k, v in res.details.items() if k != "traceback"}
    bound = log.bind(event="health_check", level=res.level, ok=res.ok, duration=res.duration_s,
                     reason=res.reason, target=res.target, details=det,
                     request_id=det.get("request_id"), audio_seconds=det.get("audio_seconds"))
    if res.ok:
        bound.info(f"Health check L{res.level} passed: {res.reason}")
    else:
        bound.bind(error_type=det.get("error_type") or ("silent_output" if "silent" in res.reason else "health_check_failed"),
                   traceback=res.details.get("traceback")).error(f"Health check L{res.level} failed: {res.reason}")


def health_logger(log_dir: Path | None, *, stderr: bool = False):
    """``(EngineLogs, logger)`` for ``health.log`` (+ ``console.log``); close the first when done."""
    from engine.logs import EngineLogs
    logs = EngineLogs(log_dir, stderr=stderr, channels=("health",))
    return logs, logs.health
