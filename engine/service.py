"""The HTTP service: FastAPI + uvicorn around one :class:`engine.synth.Engine`.

Endpoints
---------
``POST /api/tts``   JSON ``{text, speaker?, emotion?, duration_ratio?, seed?, backend?}`` -> ``audio/wav``
                    (headers ``X-Request-Id``, ``X-Audio-Seconds``, ``X-RTF``, ``X-Sample-Rate``).
``GET /health``     L1: the process answers and the back-end is loaded (503 while loading/draining).
``GET /metrics``    Prometheus text from the service's own registry (see :mod:`engine.metrics`).
``GET /``           a small WebUI (form -> ``/api/tts`` -> audio player).
``GET /api/voices`` speakers and emotions (for the WebUI).

Guard rails: body size (413), text length (413), bounded concurrency (429 with ``Retry-After`` as soon
as every slot is busy: a request never waits for a slot), a per-request timeout (504, logged as
``request_timeout``), 503 with ``Retry-After`` while the back-end loads or the service drains.

Synthesis runs in a worker thread pool sized to the concurrency limit, so the event loop keeps
answering ``/health`` and ``/metrics`` while eSpeak works. A request that times out keeps its slot
until its thread really finishes, so timeouts cannot pile up threads.

Signals: ``SIGUSR1`` reloads the back-end (a new Engine, caches cleared) while the listener keeps
serving with the old one; ``SIGTERM``/``SIGINT`` stop accepting, let in-flight requests finish (drain)
and exit 0.
"""
import asyncio
import errno
import gc
import os
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ttsops.errors import BackendError, InputError, TtsopsError

from engine.metrics import CONTENT_TYPE_LATEST, ServiceMetrics

__all__ = ["ServiceSettings", "ServiceState", "create_app", "run_service", "PortInUseError",
           "bind_socket", "service_logs"]

WEBUI = Path(__file__).with_name("webui.html")


class PortInUseError(TtsopsError):
    """The listening port is taken (kb_id ``port_in_use``)."""

    exit_code = 2
    error_type = "port_in_use"


@dataclass
class ServiceSettings:
    """Everything ``tts-engine serve`` can be told."""

    host: str = "127.0.0.1"
    port: int = 8000
    backend: Optional[str] = None
    inject: Optional[str] = None    #: fault spec for FaultConfig.parse ("all", "cuda_oom,silent_output", "rate=0.1")
    seed: int = 0
    max_concurrency: int = 4
    timeout_s: float = 30.0
    max_text_length: int = 2000
    max_body_bytes: int = 64 * 1024
    retry_after_s: int = 1
    drain_timeout_s: float = 30.0
    log_dir: Optional[Path] = Path("logs")
    warmup_text: str = "你好。"
    config_path: Optional[Path] = None


# ------------------------------------------------------------------------------------- logging
def service_logs(log_dir: Path | None, *, stderr: bool = False):
    """The :class:`engine.logs.EngineLogs` the service and its engines share (one set of handlers:
    ``service.log``, ``inference.log``, ``health.log``, ``console.log``)."""
    from engine.logs import EngineLogs
    return EngineLogs(log_dir, stderr=stderr)


# ------------------------------------------------------------------------------------- state
def _default_engine_factory(settings: ServiceSettings, logs: Any) -> Callable[[], Any]:
    """Engines that share the service's logs and one fault injector (faults are the world, not the
    engine: a back-end reload ends the incident in progress but does not replay the seeded sequence)."""
    shared: dict[str, Any] = {}

    def make() -> Any:
        from engine.config import EngineConfig
        from engine.synth import Engine
        cfg = EngineConfig.from_toml(settings.config_path) if settings.config_path else EngineConfig()
        cfg.log_dir = settings.log_dir
        if settings.backend:
            cfg.default_backend = settings.backend
        cfg.max_text_length = settings.max_text_length
        cfg.seed = settings.seed
        if settings.inject is not None:
            from engine.config import FaultConfig
            cfg.inject = FaultConfig.parse(settings.inject, seed=settings.seed)
        injector = shared.get("injector")
        if injector is None and cfg.inject is not None:
            from engine.faults import FaultInjector
            injector = shared["injector"] = FaultInjector(cfg.inject, logs=logs, clock=logs.clock,
                                                          log_dir=cfg.log_dir)
        elif injector is not None:
            injector.close()   # the reload fixes what was going on
        return Engine(cfg, logs=logs, injector=injector)
    return make


def _default_request_factory(**kw: Any) -> Any:
    from engine.synth import SynthRequest
    return SynthRequest(**kw)


class ServiceState:
    """The engine, its concurrency slots, the metrics and the lifecycle flags of one service."""

    def __init__(self, settings: ServiceSettings, *, engine_factory: Callable[[], Any] | None = None,
                 request_factory: Callable[..., Any] | None = None, metrics: ServiceMetrics | None = None,
                 logs: Any = None):
        self.settings = settings
        self._own_logs = logs is None
        self.logs = logs if logs is not None else service_logs(settings.log_dir)
        self.log = self.logs.service
        self.engine_factory = engine_factory or _default_engine_factory(settings, self.logs)
        self.request_factory = request_factory or _default_request_factory
        self.metrics = metrics or ServiceMetrics(backend=settings.backend or "default", version=_version())
        self.engine: Any = None
        self.generation = 0
        self.ready = False
        self.draining = False
        self.load_error: str | None = None
        self.last_reload: dict[str, Any] | None = None
        self.started = time.time()
        self.executor = ThreadPoolExecutor(max_workers=max(1, settings.max_concurrency),
                                           thread_name_prefix="synth")
        self._slots = threading.Lock()
        self._in_flight = 0
        self._gate = threading.Condition()
        self._active = 0
        self._exclusive = False
        self._reload_lock = threading.Lock()
        self.sample_rate: int | None = None
        self.backend_name: str = settings.backend or "default"

    # -- slots ----------------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        return self._in_flight

    def try_acquire(self) -> bool:
        """Take a slot without waiting; False when all are busy (the caller answers 429)."""
        with self._slots:
            if self._in_flight >= self.settings.max_concurrency:
                return False
            self._in_flight += 1
            self.metrics.in_flight.set(self._in_flight)
            return True

    def release(self) -> None:
        with self._slots:
            self._in_flight -= 1
            self.metrics.in_flight.set(self._in_flight)

    # -- engine ----------------------------------------------------------------------------
    def _warm(self, engine: Any) -> None:
        """Load the default back-end before the first request (no synthesis: no fault draw)."""
        warm = getattr(engine, "warmup", None)
        cfg = getattr(engine, "config", None)
        if callable(warm):
            res = warm()
        elif cfg is not None and getattr(cfg, "default_backend", None):
            from engine.backends import get_backend
            backend = get_backend(cfg.default_backend)
            self.backend_name = cfg.default_backend
            self.sample_rate = int(backend.sample_rate)
            return
        else:
            req = self.request_factory(text=self.settings.warmup_text, request_id=f"warmup-{uuid.uuid4().hex[:8]}")
            res = engine.synthesize(req)
        if res is not None and getattr(res, "sample_rate", None):
            self.sample_rate = int(res.sample_rate)
            rec = getattr(res, "record", None) or {}
            self.backend_name = str(rec.get("backend") or self.backend_name)

    def load(self) -> None:
        t0 = time.perf_counter()
        try:
            engine = self.engine_factory()
            self._warm(engine)
        except Exception as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
            self.log.bind(event="backend_load_failed", error_type=_error_type(exc),
                          traceback=traceback.format_exc()).error(
                f"Back-end failed to load: {self.load_error}")
            raise
        self.engine = engine
        self.ready = True
        self.load_error = None
        self.log.bind(event="backend_loaded", backend=self.backend_name, sample_rate=self.sample_rate,
                      generation=self.generation, elapsed={"load": round(time.perf_counter() - t0, 4)}).info(
            f"Back-end {self.backend_name} loaded in {time.perf_counter() - t0:.2f}s")

    def reload(self, reason: str = "SIGUSR1") -> bool:
        """Back-end reload in place: a fresh Engine, back-end instances and caches cleared.

        New syntheses wait (inside their request timeout) while the reload holds the gate; the
        listener, ``/health`` and ``/metrics`` keep answering. On failure the old engine stays.
        """
        if not self._reload_lock.acquire(blocking=False):
            self.log.bind(event="backend_reload_skipped", reason=reason).warning(
                "Back-end reload already running; request ignored")
            return False
        try:
            t0 = time.perf_counter()
            self.log.bind(event="backend_reload_start", reason=reason, generation=self.generation).info(
                f"Reloading back-end ({reason})")
            try:
                new = self.engine_factory()
            except Exception as exc:
                return self._reload_failed(reason, exc)
            with self._gate:
                self._exclusive = True
                deadline = time.monotonic() + self.settings.timeout_s + 5
                while self._active > 0 and time.monotonic() < deadline:
                    self._gate.wait(0.05)
            try:
                old = self.engine
                _reset_backends()
                _clear_caches()
                try:
                    self._warm(new)
                except Exception as exc:
                    _close(new)
                    return self._reload_failed(reason, exc)
                self.engine = new
                self.ready = True
                self.load_error = None
                _close(old)
                del old
                _clear_caches()
                elapsed = time.perf_counter() - t0
                self.last_reload = {"ok": True, "reason": reason, "generation": self.generation + 1,
                                    "elapsed_s": round(elapsed, 3), "time": time.time()}
                self.generation += 1
            finally:
                with self._gate:
                    self._exclusive = False
                    self._gate.notify_all()
            self.metrics.reloads.inc()
            self.log.bind(event="backend_reloaded", reason=reason, generation=self.generation,
                          elapsed={"reload": round(elapsed, 4)}).info(
                f"Back-end reloaded ({reason}) in {elapsed:.2f}s, generation {self.generation}")
            return True
        finally:
            self._reload_lock.release()

    def _reload_failed(self, reason: str, exc: BaseException) -> bool:
        self.last_reload = {"ok": False, "reason": reason, "error": f"{type(exc).__name__}: {exc}"}
        self.log.bind(event="backend_reload_failed", reason=reason, error_type=_error_type(exc),
                      traceback=traceback.format_exc()).error(
            f"Back-end reload failed, keeping the old engine: {type(exc).__name__}: {exc}")
        return False

    def synthesize(self, req: Any) -> Any:
        """Run in a worker thread; waits while a reload holds the gate."""
        with self._gate:
            while self._exclusive:
                self._gate.wait()
            self._active += 1
            engine = self.engine
        try:
            return engine.synthesize(req)
        finally:
            with self._gate:
                self._active -= 1
                self._gate.notify_all()

    def voices(self) -> dict[str, list[str]]:
        speakers: list[str] = []
        emotions: list[str] = ["neutral", "happy", "sad", "angry", "calm", "serious"]
        try:
            from engine.speakers import EMOTIONS, SPEAKERS
            speakers = sorted(SPEAKERS)
            emotions = list(EMOTIONS)
        except Exception:
            try:
                speakers = [getattr(s, "name", str(s)) for s in self.engine.speakers()]
            except Exception:
                pass
        return {"speakers": speakers, "emotions": emotions}

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True)
        _close(self.engine)

    def close_logs(self) -> None:
        if self._own_logs:
            self.logs.close()


def _close(engine: Any) -> None:
    try:
        if engine is not None and hasattr(engine, "close"):
            engine.close()
    except Exception:
        pass


def _reset_backends() -> None:
    """Drop the process's loaded back-end instances so the next use loads them afresh."""
    import engine.backends as eb
    reset = getattr(eb, "reset_backends", None)
    if callable(reset):
        reset()
        return
    instances = getattr(eb, "_INSTANCES", None)
    lock = getattr(eb, "_LOCK", None)
    if instances is None or lock is None:
        return
    with lock:
        for inst in list(instances.values()):
            try:
                inst.close()
            except Exception:
                pass
        instances.clear()


def _clear_caches() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:
            pass


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("ttsops")
    except Exception:
        return "0.0.0"


def _error_type(exc: BaseException) -> str:
    for e in (exc, exc.__cause__):
        et = getattr(e, "error_type", None) or getattr(e, "kb_id", None)
        if et:
            return str(et)
    if isinstance(exc, InputError):
        return "invalid_input"
    if isinstance(exc, BackendError):
        return "backend_error"
    return type(exc).__name__


# ------------------------------------------------------------------------------------- app
def create_app(state: ServiceState):
    """Build the FastAPI app around ``state`` (tests build one with a fake engine factory)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from pydantic import BaseModel, ConfigDict, Field, ValidationError

    s = state.settings

    class TTSBody(BaseModel):
        model_config = ConfigDict(extra="forbid")
        text: str
        speaker: Optional[str] = None
        emotion: str = "neutral"
        duration_ratio: float = 1.0
        seed: int = Field(default=0, ge=0, le=2**32 - 1)
        backend: Optional[str] = None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loop = asyncio.get_running_loop()
        if state.engine is None:
            try:
                await loop.run_in_executor(None, state.load)
            except Exception:
                # keep serving /health (503 with the reason) so operators and the supervisor see why
                pass
        state.log.bind(event="service_started", host=s.host, port=s.port, pid=os.getpid(),
                       max_concurrency=s.max_concurrency, timeout_s=s.timeout_s, inject=s.inject).info(
            f"Service listening on http://{s.host}:{s.port} (pid {os.getpid()})")
        yield
        n = state.in_flight
        state.log.bind(event="service_draining", in_flight=n).info(f"Draining {n} in-flight request(s)")
        await loop.run_in_executor(None, state.shutdown)
        state.log.bind(event="service_stopped").info("Service stopped")
        state.close_logs()

    app = FastAPI(title="ttsops engine", version=_version(), lifespan=lifespan)
    app.state.tts = state

    def error(status: int, error_type: str, detail: str, rid: str, t0: float, *,
              retry_after: bool = False, count: bool = True) -> JSONResponse:
        headers = {"X-Request-Id": rid}
        if retry_after:
            headers["Retry-After"] = str(s.retry_after_s)
        if count:
            state.metrics.observe_request(status, time.perf_counter() - t0, error_type=error_type)
        return JSONResponse({"error_type": error_type, "detail": detail, "request_id": rid},
                            status_code=status, headers=headers)

    @app.get("/", response_class=HTMLResponse)
    async def webui() -> HTMLResponse:
        return HTMLResponse(WEBUI.read_text(encoding="utf-8"))

    @app.get("/api/voices")
    async def voices() -> dict:
        return state.voices()

    @app.get("/health")
    async def health() -> JSONResponse:
        if state.draining:
            status = "draining"
        elif state.ready:
            status = "ok"
        elif state.load_error:
            status = "error"
        else:
            status = "loading"
        body = {"status": status, "level": 1, "backend": state.backend_name, "backend_loaded": state.ready,
                "sample_rate": state.sample_rate, "pid": os.getpid(), "uptime_s": round(time.time() - state.started, 3),
                "in_flight": state.in_flight, "max_concurrency": s.max_concurrency, "generation": state.generation,
                "inject": s.inject, "version": _version()}
        if state.load_error:
            body["reason"] = state.load_error
        if state.last_reload:
            body["last_reload"] = state.last_reload
        return JSONResponse(body, status_code=200 if status == "ok" else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/api/tts")
    async def tts(request: Request):
        t0 = time.perf_counter()
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        rid = "".join(ch for ch in rid if ch.isalnum() or ch in "-_.")[:64] or uuid.uuid4().hex[:16]
        if state.draining:
            state.metrics.rejected.labels(reason="draining").inc()
            return error(503, "draining", "service is shutting down; retry on another instance", rid, t0,
                         retry_after=True)
        if not state.ready:
            state.metrics.rejected.labels(reason="not_ready").inc()
            return error(503, "backend_not_loaded", state.load_error or "back-end is still loading", rid, t0,
                         retry_after=True)
        # body size: header first, then count while reading (chunked bodies have no header)
        clen = request.headers.get("content-length")
        if clen and clen.isdigit() and int(clen) > s.max_body_bytes:
            return error(413, "body_too_large", f"body of {clen} bytes exceeds {s.max_body_bytes}", rid, t0)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > s.max_body_bytes:
                return error(413, "body_too_large", f"body exceeds {s.max_body_bytes} bytes", rid, t0)
            chunks.append(chunk)
        try:
            body = TTSBody.model_validate_json(b"".join(chunks))
        except ValidationError as exc:
            msg = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
            return error(422, "invalid_request", msg, rid, t0)
        if len(body.text) > s.max_text_length:
            return error(413, "text_too_long", f"text has {len(body.text)} characters, the limit is "
                         f"{s.max_text_length}; split it or use `tts-engine batch`", rid, t0)
        if not state.try_acquire():
            state.metrics.rejected.labels(reason="overloaded").inc()
            state.log.bind(event="request_rejected", request_id=rid, reason="overloaded",
                           in_flight=state.in_flight).warning(
                f"Rejected request {rid}: all {s.max_concurrency} synthesis slots busy")
            return error(429, "overloaded", f"all {s.max_concurrency} synthesis slots are busy", rid, t0,
                         retry_after=True)
        kw = body.model_dump()
        kw = {k: v for k, v in kw.items() if v is not None}
        kw["request_id"] = rid
        loop = asyncio.get_running_loop()
        try:
            req = state.request_factory(**kw)
            fut = loop.run_in_executor(state.executor, state.synthesize, req)
        except Exception as exc:
            state.release()
            return _failure(exc, rid, t0, len(body.text))
        fut.add_done_callback(lambda _f: state.release())
        try:
            res = await asyncio.wait_for(asyncio.shield(fut), timeout=s.timeout_s)
        except asyncio.TimeoutError:
            fut.add_done_callback(_swallow)
            state.log.bind(event="request_timeout", request_id=rid, error_type="request_timeout",
                           timeout_s=s.timeout_s, text_length=len(body.text)).error(
                f"Request {rid} timed out after {s.timeout_s:g}s (synthesis still running, slot held until it ends)")
            return error(504, "request_timeout", f"synthesis took longer than {s.timeout_s:g}s", rid, t0)
        except Exception as exc:
            return _failure(exc, rid, t0, len(body.text))
        wav = res.to_wav_bytes()
        rec = getattr(res, "record", None) or {}
        audio_s = float(getattr(res, "duration_s", 0.0) or 0.0)
        rtf = rec.get("rtf")
        elapsed = time.perf_counter() - t0
        state.metrics.observe_request(200, elapsed, audio_seconds=audio_s,
                                      rtf=float(rtf) if isinstance(rtf, (int, float)) else None)
        state.log.bind(event="request_done", request_id=rid, status=200, text_length=len(body.text),
                       audio_seconds=round(audio_s, 4), rtf=rtf, elapsed={"request": round(elapsed, 5)}).debug(
            f"POST /api/tts {rid} 200 {audio_s:.2f}s audio in {elapsed * 1000:.1f} ms")
        headers = {"X-Request-Id": rid, "X-Audio-Seconds": f"{audio_s:.3f}",
                   "X-Sample-Rate": str(getattr(res, "sample_rate", "")),
                   "X-RTF": f"{float(rtf):.5f}" if isinstance(rtf, (int, float)) else ""}
        return Response(wav, media_type="audio/wav", headers=headers)

    def _failure(exc: BaseException, rid: str, t0: float, text_length: int) -> JSONResponse:
        et = _error_type(exc)
        if isinstance(exc, InputError):
            status, level = 400, "warning"
        elif isinstance(exc, BackendError):
            status, level = 500, "error"
        else:
            status, level = 500, "error"
        msg = exc.one_line() if isinstance(exc, TtsopsError) else f"{type(exc).__name__}: {exc}"
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        state.log.bind(event="request_error", request_id=rid, status=status, error_type=et,
                       text_length=text_length, traceback=tb if status >= 500 else None).log(
            level.upper(), f"POST /api/tts {rid} {status} {et}: {msg}")
        return error(status, et, msg, rid, t0)

    return app


def _swallow(fut: Any) -> None:
    try:
        fut.exception()
    except BaseException:
        pass


# ------------------------------------------------------------------------------------- running
def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves so a taken port is one clear error, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(f"port {port} is already in use on {host} (port_in_use)",
                                 fix=f"stop the other process (`ss -ltnp 'sport = :{port}'`) or pass --port") from None
        raise PortInUseError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                             fix="pass another --host/--port") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_service(settings: ServiceSettings, *, engine_factory: Callable[[], Any] | None = None) -> int:
    """``tts-engine serve``: bind, load, serve until SIGTERM/SIGINT, drain, return 0."""
    from engine.logs import remove_default_stderr_handler
    remove_default_stderr_handler()
    try:
        sock = bind_socket(settings.host, settings.port)
    except PortInUseError as exc:
        logs = service_logs(settings.log_dir, stderr=False)   # the CLI prints the one line
        logs.service.bind(event="service_start_failed", error_type="port_in_use", port=settings.port).error(
            exc.one_line())
        logs.close()
        raise
    import uvicorn

    logs = service_logs(settings.log_dir, stderr=True)
    log = logs.service
    state = ServiceState(settings, engine_factory=engine_factory, logs=logs)
    app = create_app(state)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:  # SIGTERM/SIGINT: drain, exit 0
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
                return
            state.draining = True
            name = signal.Signals(sig).name
            log.bind(event="service_signal", signal=name, in_flight=state.in_flight).info(
                f"{name} received: stop accepting, drain {state.in_flight} in-flight request(s)")
            self.should_exit = True

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=int(settings.drain_timeout_s),
                            timeout_keep_alive=5, server_header=False)
    server = Server(config)

    def on_usr1(signum: int, frame: Any) -> None:
        threading.Thread(target=state.reload, args=("SIGUSR1",), name="reload", daemon=True).start()

    prev = signal.signal(signal.SIGUSR1, on_usr1) if threading.current_thread() is threading.main_thread() else None
    try:
        server.run(sockets=[sock])
    finally:
        if prev is not None:
            signal.signal(signal.SIGUSR1, prev)
        sock.close()
        logs.close()
    if state.load_error and not state.ready:
        return 1
    return 0
