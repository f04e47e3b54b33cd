"""The protocol every synthesis back-end implements.

A back-end turns one single-language text segment into mono float32 audio. Everything around it
(normalization, script splitting, speakers, emotions, duration_ratio, logging, fault injection) is the
engine's job and is shared by all back-ends.
"""
from __future__ import annotations

import contextvars
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

__all__ = ["Voice", "BackendStatus", "Backend", "RequestContext", "REQUEST_CONTEXT", "backend_logger",
           "request_context"]


@dataclass(frozen=True)
class Voice:
    """What a speaker means to one back-end for one language.

    ``name`` is the back-end's own voice id (an eSpeak voice such as ``cmn`` / ``en-us``, a Kokoro
    voice pack key). ``variant``, ``pitch``, ``pitch_range`` and ``rate_wpm`` follow eSpeak's
    controls; other back-ends map or ignore them. ``extra`` holds back-end specific settings.
    """

    language: str
    name: str
    variant: str | None = None
    pitch: int = 50
    pitch_range: int = 50
    rate_wpm: int = 175
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class BackendStatus:
    """Whether a back-end can run here, and why not (shown by ``tts-engine backends``)."""

    name: str
    available: bool
    detail: str
    sample_rate: int | None = None


class Backend(ABC):
    """One synthesis back-end. ``load`` is idempotent; ``synthesize`` is deterministic."""

    name: ClassVar[str]
    sample_rate: int

    @classmethod
    @abstractmethod
    def status(cls) -> BackendStatus:
        """Cheap check (no model load) of whether this back-end can run on this machine."""

    @abstractmethod
    def load(self) -> None:
        """Load libraries / weights; raise ``ttsops.BackendError`` with a clear cause on failure."""

    @abstractmethod
    def synthesize(self, text: str, voice: Voice, *, speed: float = 1.0) -> np.ndarray:
        """Speak one single-language segment; return mono float32 in [-1, 1] at ``sample_rate``."""

    def close(self) -> None:
        """Release resources (optional)."""


@dataclass
class RequestContext:
    """What a back-end sees of the request it is serving (set by ``Engine.synthesize``).

    ``log``: the engine's loguru logger bound with the request's fields (request_id, backend...),
    so a back-end's own events (model load, per-segment token counts and timings) land in the
    engine's ``inference.log`` beside ``synthesis_start``/``synthesis_success``. ``stats``: what the
    back-end reports for the whole request; the engine adds it to the success record as
    ``backend_stats``.
    """

    log: Any
    stats: dict[str, Any] = field(default_factory=dict)


REQUEST_CONTEXT: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar(
    "ttsops_request_context", default=None)


def request_context() -> RequestContext | None:
    """The request being served in this thread/task, or None outside ``Engine.synthesize``."""
    return REQUEST_CONTEXT.get()


def backend_logger() -> Any:
    """The request's logger inside ``Engine.synthesize``, loguru's root logger elsewhere."""
    ctx = REQUEST_CONTEXT.get()
    if ctx is not None:
        return ctx.log
    from loguru import logger
    return logger
