"""The HTTP endpoints of ``tts-engine serve`` (:func:`create_app`), around a
:class:`engine.service.ServiceState`; limits and their answers are listed in :mod:`engine.service`."""
import asyncio
import os
import threading
import time
import traceback
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Optional

from ttsops.errors import BackendError, InputError, TtsopsError

from engine.metrics import CONTENT_TYPE_LATEST
from engine.service_guards import api_key_ok, default_allowed_hosts, is_json, redact_paths

__all__ = ["create_app", "version", "error_type"]

WEBUI = Path(__file__).with_name("webui.html")
FAVICON = Path(__file__).with_name("favicon.svg")
CLOSE = {"Connection": "close"}     #: the rest of an unread body would be taken for the next request
DRAIN_BYTES = 1 << 20               #: a too-large body up to this size is read (and dropped) before the 413


async def _drain(request: Any) -> None:
    async for _ in request.stream():
        pass


def version() -> str:
    try:
        from importlib.metadata import version
        return version("ttsops")
    except Exception:
        return "0.0.0"


def error_type(exc: BaseException) -> str:
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
def create_app(state: Any):
    """Build the FastAPI app around ``state`` (tests build one with a fake engine factory)."""
    from fastapi import FastAPI, Request  # noqa: F401 - FastAPI: the lifespan's annotation
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from pydantic import BaseModel, ConfigDict, Field, ValidationError
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.requests import ClientDisconnect

    s = state.settings

    class TTSBody(BaseModel):
        # strict: "1.0" is not a number and true is not a seed (422, never coerced)
        model_config = ConfigDict(extra="forbid", strict=True)
        text: str
        speaker: Optional[str] = None
        emotion: str = "neutral"
        duration_ratio: float = Field(default=1.0, allow_inf_nan=False)
        seed: int = Field(default=0, ge=0, le=2**32 - 1)
        backend: Optional[str] = None
        temperature: float = Field(default=0.0, ge=0.0, le=2.0, allow_inf_nan=False)  # sampled prosody

    class ProbeBody(BaseModel):
        # the Qwen3-TTS-style probe: the same strictness, its own three fields
        model_config = ConfigDict(extra="forbid", strict=True)
        text: str
        lang: Optional[str] = Field(default=None, max_length=64)
        speaker: Optional[str] = None

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
                       max_concurrency=s.max_concurrency, timeout_s=s.timeout_s, inject=s.inject,
                       api_key=bool(s.api_key)).info(
            f"Service listening on http://{s.host}:{s.port} (pid {os.getpid()})")
        yield
        n = state.in_flight
        state.log.bind(event="service_draining", in_flight=n).info(f"Draining {n} in-flight request(s)")
        await loop.run_in_executor(None, state.shutdown)
        state.log.bind(event="service_stopped").info("Service stopped")
        state.close_logs()

    # /docs and /redoc from assets in the fastapi-offline wheel: no CDN, so they work air-gapped
    from fastapi_offline import FastAPIOffline
    app = FastAPIOffline(title="ttsops engine", version=version(), lifespan=lifespan, favicon_url="/favicon.ico")
    app.add_middleware(TrustedHostMiddleware,
                       allowed_hosts=s.allowed_hosts if s.allowed_hosts is not None else default_allowed_hosts(s.host))
    app.state.tts = state

    def error(status: int, error_type: str, detail: str, call: _Call, *,
              retry_after: bool = False, count: bool = True, headers: dict | None = None) -> JSONResponse:
        headers = {"X-Request-Id": call.rid, **(headers or {})}
        if retry_after:
            headers["Retry-After"] = str(s.retry_after_s)
        if count:
            state.metrics.observe_request(status, call.elapsed(), endpoint=call.endpoint, error_type=error_type)
        return JSONResponse({"error_type": error_type, "detail": redact_paths(detail), "request_id": call.rid},
                            status_code=status, headers=headers)

    def unauthorized(request: Request, call: _Call) -> JSONResponse | None:
        if not s.api_key or api_key_ok(request.headers, s.api_key):
            return None
        state.log.bind(event="request_unauthorized", request_id=call.rid, path=request.url.path,
                       client=request.client.host if request.client else None).warning(
            f"Rejected request {call.rid} to {request.url.path}: missing or wrong API key")
        return error(401, "unauthorized", "missing or wrong API key (send Authorization: Bearer <key>)", call,
                     headers={"WWW-Authenticate": "Bearer"})

    def hung_up(call: _Call, phase: str) -> Response:
        """The client closed the connection: one event in the log, nothing on stderr."""
        state.metrics.observe_request(499, call.elapsed(), endpoint=call.endpoint, error_type="client_disconnected")
        state.log.bind(event="client_disconnected", request_id=call.rid, phase=phase).info(
            f"Client hung up on request {call.rid} while {phase}")
        return Response(status_code=499)

    @app.get("/", response_class=HTMLResponse)
    async def webui() -> HTMLResponse:
        return HTMLResponse(WEBUI.read_text(encoding="utf-8"))

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(FAVICON.read_bytes(), media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/api/voices")
    async def voices(request: Request):
        denied = unauthorized(request, _Call(request, "/api/voices"))
        return denied or state.voices()

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
                "inject": s.inject, "version": version()}
        if state.load_error:
            body["reason"] = redact_paths(state.load_error)
        if state.last_reload:
            body["last_reload"] = state.last_reload
        return JSONResponse(body, status_code=200 if status == "ok" else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def read_body(request: Request, call: _Call) -> bytes | Response:
        clen = request.headers.get("content-length")
        if clen and clen.isdigit() and int(clen) > s.max_body_bytes:
            if int(clen) <= DRAIN_BYTES:
                # read what the client is sending before answering: closing on an unread body resets
                # the connection, and the client sees ECONNRESET instead of the 413
                try:
                    await asyncio.wait_for(_drain(request), timeout=s.body_timeout_s)
                except (asyncio.TimeoutError, ClientDisconnect):
                    pass
            return error(413, "body_too_large", f"body of {clen} bytes exceeds {s.max_body_bytes}", call,
                         headers=CLOSE)

        async def chunks() -> bytes | None:
            got, size = [], 0
            async for chunk in request.stream():      # counted while reading: chunked bodies have no header
                size += len(chunk)
                if size > s.max_body_bytes:
                    return None
                got.append(chunk)
            return b"".join(got)
        try:
            body = await asyncio.wait_for(chunks(), timeout=s.body_timeout_s)
        except asyncio.TimeoutError:
            state.log.bind(event="request_body_timeout", request_id=call.rid, timeout_s=s.body_timeout_s).warning(
                f"Request {call.rid}: body not received within {s.body_timeout_s:g}s")
            return error(408, "body_timeout", f"request body not received within {s.body_timeout_s:g}s", call,
                         headers=CLOSE)
        except ClientDisconnect:
            return hung_up(call, "sending its body")
        if body is None:
            return error(413, "body_too_large", f"body exceeds {s.max_body_bytes} bytes", call, headers=CLOSE)
        return body

    async def wait(fut: Any, request: Request, deadline: float) -> str:
        """``done``, ``timeout``, ``drain`` (the drain deadline passed) or ``disconnected``."""
        while True:
            now = time.monotonic()
            drain = state.drain_deadline
            limit = deadline if drain is None else min(deadline, drain)
            if now >= limit:
                return "drain" if drain is not None and drain <= deadline else "timeout"
            done, _ = await asyncio.wait({fut}, timeout=min(0.25, limit - now))
            if done:
                return "done"
            if await request.is_disconnected():
                return "disconnected"

    def parse_api(raw: bytes, call: _Call) -> dict[str, Any] | JSONResponse:
        """``/api/tts``: the engine's own request fields."""
        try:
            body = TTSBody.model_validate_json(raw)
        except ValidationError as exc:
            return error(422, "invalid_request", _pydantic_message(exc), call)
        return {k: v for k, v in body.model_dump().items() if v is not None}

    def parse_probe(raw: bytes, call: _Call) -> dict[str, Any] | JSONResponse:
        """``/tts``: the Qwen3-TTS-style ``{text, lang, speaker}``; ``lang`` picks the speaker when
        none is named (the text is split by script either way)."""
        try:
            body = ProbeBody.model_validate_json(raw)
        except ValidationError as exc:
            return error(422, "invalid_request", _pydantic_message(exc), call)
        try:
            lang = probe_language(body.lang)
        except ValueError as exc:
            return error(400, "unsupported_language", str(exc), call)
        kw: dict[str, Any] = {"text": body.text}
        speaker = body.speaker or (default_speaker(lang) if lang else None)
        if speaker:
            kw["speaker"] = speaker
        return kw

    async def synthesize(request: Request, endpoint: str, parse: Any):
        """What ``/api/tts`` and ``/tts`` share: every guard, the slot, the timeout, the answer."""
        call = _Call(request, endpoint)
        if state.draining:
            state.metrics.rejected.labels(reason="draining").inc()
            return error(503, "draining", "service is shutting down; retry on another instance", call,
                         retry_after=True)
        if not state.ready:
            state.metrics.rejected.labels(reason="not_ready").inc()
            return error(503, "backend_not_loaded", state.load_error or "back-end is still loading", call,
                         retry_after=True)
        denied = unauthorized(request, call)
        if denied is not None:
            return denied
        if not is_json(request.headers.get("content-type")):
            return error(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json",
                         call)
        raw = await read_body(request, call)
        if isinstance(raw, Response):
            return raw
        kw = parse(raw, call)
        if isinstance(kw, Response):
            return kw
        text = kw["text"]
        if len(text) > s.max_text_length:
            return error(413, "text_too_long", f"text has {len(text)} characters, the limit is "
                         f"{s.max_text_length}; split it or use `tts-engine batch`", call)
        allowed = s.allowed_backends if s.allowed_backends is not None else [state.backend_name]
        if kw.get("backend") is not None and kw["backend"] not in allowed:
            return error(403, "backend_not_allowed", f"back-end {kw['backend']!r} is not enabled on this service "
                         f"(allowed: {', '.join(allowed)})", call)
        backend = kw.get("backend") or state.backend_name
        if not state.try_acquire():
            state.metrics.rejected.labels(reason="overloaded").inc()
            state.log.bind(event="request_rejected", request_id=call.rid, reason="overloaded",
                           in_flight=state.in_flight).warning(
                f"Rejected request {call.rid}: all {s.max_concurrency} synthesis slots busy")
            return error(429, "overloaded", f"all {s.max_concurrency} synthesis slots are busy", call,
                         retry_after=True)
        released = False

        def release(_f: Any = None) -> None:    # once: at the end of the work or when we stop waiting
            nonlocal released
            if not released:
                released = True
                state.release()
        kw["request_id"] = call.rid
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        try:
            req = state.request_factory(**kw)
            fut = loop.run_in_executor(state.executor, state.synthesize, req, cancel)
        except Exception as exc:
            release()
            return _failure(exc, call, len(text), backend)
        fut.add_done_callback(release)
        outcome = await wait(fut, request, time.monotonic() + s.timeout_s)
        if outcome != "done":
            cancel.set()                       # the engine stops at its next segment or stage
            release()
            fut.add_done_callback(_swallow)
            if outcome == "disconnected":
                return hung_up(call, "waiting for its synthesis")
            if outcome == "drain":
                state.log.bind(event="request_drain_timeout", request_id=call.rid, error_type="draining",
                               drain_timeout_s=s.drain_timeout_s).error(
                    f"Request {call.rid} still running at the drain deadline ({s.drain_timeout_s:g}s): cancelled")
                return error(503, "draining", f"service stopped before the synthesis finished (drain timeout "
                             f"{s.drain_timeout_s:g}s); retry on another instance", call, retry_after=True)
            state.log.bind(event="request_timeout", request_id=call.rid, error_type="request_timeout",
                           timeout_s=s.timeout_s, text_length=len(text)).error(
                f"Request {call.rid} timed out after {s.timeout_s:g}s (synthesis cancelled, slot freed)")
            return error(504, "request_timeout", f"synthesis took longer than {s.timeout_s:g}s", call)
        try:
            res = fut.result()
        except Exception as exc:
            return _failure(exc, call, len(text), backend)
        wav = res.to_wav_bytes()
        rec = getattr(res, "record", None) or {}
        audio_s = float(getattr(res, "duration_s", 0.0) or 0.0)
        rtf = rec.get("rtf")
        elapsed = call.elapsed()
        state.metrics.observe_synthesis(str(rec.get("backend") or backend), ok=True)
        state.metrics.observe_request(200, elapsed, endpoint=endpoint, audio_seconds=audio_s,
                                      rtf=float(rtf) if isinstance(rtf, (int, float)) else None,
                                      response_bytes=len(wav))
        state.log.bind(event="request_done", request_id=call.rid, endpoint=endpoint, status=200,
                       text_length=len(text), audio_seconds=round(audio_s, 4), rtf=rtf,
                       elapsed={"request": round(elapsed, 5)}).debug(
            f"POST {endpoint} {call.rid} 200 {audio_s:.2f}s audio in {elapsed * 1000:.1f} ms")
        headers = {"X-Request-Id": call.rid, "X-Audio-Seconds": f"{audio_s:.3f}",
                   "X-Sample-Rate": str(getattr(res, "sample_rate", "")),
                   "X-RTF": f"{float(rtf):.5f}" if isinstance(rtf, (int, float)) else ""}
        return Response(wav, media_type="audio/wav", headers=headers)

    @app.post("/api/tts")
    async def tts(request: Request):
        return await synthesize(request, "/api/tts", parse_api)

    @app.post("/tts")
    async def tts_probe(request: Request):
        return await synthesize(request, "/tts", parse_probe)

    def _failure(exc: BaseException, call: _Call, text_length: int, backend: str) -> JSONResponse:
        et = error_type(exc)
        if et == "audio_too_long":
            status, level = 413, "warning"
        elif isinstance(exc, InputError):
            status, level = 400, "warning"
        else:
            status, level = 500, "error"
        if not isinstance(exc, InputError):
            state.metrics.observe_synthesis(backend, ok=False)
        msg = exc.one_line() if isinstance(exc, TtsopsError) else f"{type(exc).__name__}: {exc}"
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        state.log.bind(event="request_error", request_id=call.rid, endpoint=call.endpoint, status=status,
                       error_type=et, text_length=text_length, backend=backend,
                       traceback=tb if status >= 500 else None).log(
            level.upper(), f"POST {call.endpoint} {call.rid} {status} {et}: {msg}")
        return error(status, et, msg.splitlines()[0] if msg else et, call)

    return app


class _Call:
    """One request to a guarded endpoint: its id (the client's ``X-Request-Id`` reduced to ASCII
    letters, digits and ``-_.``, at most 64), when it began, and which endpoint it counts under."""

    __slots__ = ("rid", "t0", "endpoint")

    def __init__(self, request: Any, endpoint: str):
        self.t0 = time.perf_counter()
        self.endpoint = endpoint
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        rid = "".join(ch for ch in rid if ch.isascii() and (ch.isalnum() or ch in "-_."))[:64]   # echoed: ASCII only
        self.rid = rid or uuid.uuid4().hex[:16]

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0


def _pydantic_message(exc: Any) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5])


#: ``lang`` of ``POST /tts``: ISO codes (``zh``, ``zh-CN``, ``en-US``) and the names Qwen3-TTS uses
LANGUAGES = {"zh": "zh", "cmn": "zh", "chinese": "zh", "mandarin": "zh", "en": "en", "english": "en"}


def probe_language(lang: str | None) -> str | None:
    """``zh``, ``en`` or None (``auto`` / absent: the text decides); ValueError names the choices."""
    if lang is None or lang.strip().lower() in ("", "auto"):
        return None
    key = lang.strip().lower()
    code = LANGUAGES.get(key) or LANGUAGES.get(key.replace("_", "-").split("-", 1)[0])
    if code is None:
        raise ValueError(f"language {lang[:40]!r} is not spoken here; use zh (Chinese), en (English) or auto")
    return code


def default_speaker(lang: str) -> str:
    """The first registered speaker meant for ``lang`` (the default speaker for its own language)."""
    from engine.speakers import DEFAULT_SPEAKER, SPEAKERS
    if SPEAKERS[DEFAULT_SPEAKER].language == lang:
        return DEFAULT_SPEAKER
    return next(name for name, sp in SPEAKERS.items() if sp.language == lang)


def _swallow(fut: Any) -> None:
    try:
        fut.exception()
    except BaseException:
        pass
