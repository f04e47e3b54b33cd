"""The HTTP service: FastAPI + uvicorn around one :class:`engine.synth.Engine`.

Endpoints
---------
``POST /api/tts``   JSON ``{text, speaker?, emotion?, duration_ratio?, seed?, backend?, temperature?}`` -> ``audio/wav``
                    (headers ``X-Request-Id``, ``X-Audio-Seconds``, ``X-RTF``, ``X-Sample-Rate``).
``POST /tts``       the Qwen3-TTS-style probe: JSON ``{text, lang?, speaker?}`` -> ``audio/wav``, same guards.
``GET /health``     L1: the process answers and the back-end is loaded (503 while loading/draining).
``GET /metrics``    Prometheus text from the service's own registry (see :mod:`engine.metrics`).
``GET /``           a small WebUI (form -> ``/api/tts`` -> audio player).
``GET /api/voices`` speakers and emotions (for the WebUI).
``GET /docs``       Swagger UI (``/redoc``, ``/openapi.json``), assets from the fastapi-offline wheel.

Guard rails (:mod:`engine.service_guards` for the first four): an optional API key (401), a Host
allow-list (400), JSON only (415), header and body read timeouts (408), body size (413), text length
(413), audio length (413 ``audio_too_long``: ``max_audio_seconds`` bounds what one request may cost),
which back-ends a client may name (403), bounded concurrency (429 with ``Retry-After`` as soon as
every slot is busy: a request never waits for a slot), a per-request timeout (504, logged as
``request_timeout``), 503 with ``Retry-After`` while the back-end loads or the service drains (and
when the drain deadline passes with a request still running).

Synthesis runs in a worker thread pool sized to the concurrency limit, so the event loop keeps
answering ``/health`` and ``/metrics`` while eSpeak works. A request that times out, outlives the
drain deadline or whose client hangs up frees its slot at once and cancels its synthesis (the engine
stops at its next segment or stage); the pool stays bounded, so abandoned work cannot pile up.

Signals: ``SIGUSR1`` reloads the back-end (a new Engine, caches cleared) while the listener keeps
serving with the old one; ``SIGTERM``/``SIGINT`` stop accepting, let in-flight requests finish (drain)
and exit 0.
"""
import errno
import gc
import math
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from ttsops.errors import TtsopsError

from engine.metrics import ServiceMetrics
from engine.service_app import create_app, error_type, version
from engine.service_guards import header_timeout_protocol

__all__ = ["ServiceSettings", "ServiceState", "create_app", "run_service", "uvicorn_config", "PortInUseError",
           "bind_socket", "service_logs"]

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
    max_audio_seconds: float = 120.0   #: longest audio one request may make (413 audio_too_long beyond)
    max_body_bytes: int = 64 * 1024
    retry_after_s: int = 1
    drain_timeout_s: float = 30.0
    header_timeout_s: float = 10.0     #: request line + headers must arrive within this (else 408)
    body_timeout_s: float = 10.0       #: the whole body must arrive within this (else 408)
    api_key: Optional[str] = None      #: when set, /api/* need ``Authorization: Bearer <key>`` or ``X-API-Key``
    allowed_hosts: Optional[list] = None     #: Host header allow-list; None: loopback names on a loopback bind
    allowed_backends: Optional[list] = None  #: back-ends a request may name; None: only the default one
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
        cfg.max_audio_seconds = settings.max_audio_seconds
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
        from engine.backends import REGISTRY
        self.metrics = metrics or ServiceMetrics(version=version(),
                                                 backends=REGISTRY)
        self.metrics.max_concurrency.set(settings.max_concurrency)
        self.metrics.track_ready(lambda: self.ready and not self.draining)
        self.engine: Any = None
        self.generation = 0
        self.ready = False
        self.draining = False
        self.drain_deadline: float | None = None     #: time.monotonic() when a drain gives up on requests
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
            self.log.bind(event="backend_load_failed", error_type=error_type(exc),
                          traceback=traceback.format_exc()).error(
                f"Back-end failed to load: {self.load_error}")
            raise
        self.engine = engine
        self.ready = True
        self.load_error = None
        self.metrics.set_build_info(self.backend_name)
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
            self.metrics.set_build_info(self.backend_name)
            self.log.bind(event="backend_reloaded", reason=reason, generation=self.generation,
                          elapsed={"reload": round(elapsed, 4)}).info(
                f"Back-end reloaded ({reason}) in {elapsed:.2f}s, generation {self.generation}")
            return True
        finally:
            self._reload_lock.release()

    def _reload_failed(self, reason: str, exc: BaseException) -> bool:
        self.last_reload = {"ok": False, "reason": reason, "error": f"{type(exc).__name__}: {exc}"}
        self.log.bind(event="backend_reload_failed", reason=reason, error_type=error_type(exc),
                      traceback=traceback.format_exc()).error(
            f"Back-end reload failed, keeping the old engine: {type(exc).__name__}: {exc}")
        return False

    def synthesize(self, req: Any, cancel: threading.Event | None = None) -> Any:
        """Run in a worker thread; waits while a reload holds the gate (unless cancelled)."""
        from engine.synth import SynthesisCancelled
        with self._gate:
            while self._exclusive:
                if cancel is not None and cancel.is_set():
                    raise SynthesisCancelled("cancelled while a back-end reload held the engine")
                self._gate.wait(0.1)
            self._active += 1
            engine = self.engine
        try:
            return engine.synthesize(req, cancel=cancel)
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
        self.executor.shutdown(wait=True, cancel_futures=True)
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


def uvicorn_config(app: Any, settings: ServiceSettings, log: Any) -> Any:
    """The uvicorn configuration ``serve`` runs with (the header-timeout protocol, the drain timing)."""
    import uvicorn

    state = getattr(getattr(app, "state", None), "tts", None)

    def slow_headers(client: Any) -> None:
        if state is not None:
            state.metrics.errors.labels(error_type="header_timeout").inc()
        log.bind(event="request_header_timeout", client=client[0] if client else None,
                 timeout_s=settings.header_timeout_s).warning(
            f"Closed a connection from {client[0] if client else '?'}: headers not received within "
            f"{settings.header_timeout_s:g}s")

    # our drain deadline answers 503 first; uvicorn's own (which would cancel tasks: a bare 500) comes later
    return uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                          timeout_graceful_shutdown=math.ceil(settings.drain_timeout_s) + 2,
                          timeout_keep_alive=5, server_header=False,
                          http=header_timeout_protocol(settings.header_timeout_s, slow_headers))


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
            if not state.draining:
                state.drain_deadline = time.monotonic() + settings.drain_timeout_s
            state.draining = True
            name = signal.Signals(sig).name
            log.bind(event="service_signal", signal=name, in_flight=state.in_flight).info(
                f"{name} received: stop accepting, drain {state.in_flight} in-flight request(s)")
            self.should_exit = True

    config = uvicorn_config(app, settings, log)
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
