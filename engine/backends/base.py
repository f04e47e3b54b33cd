"""The protocol every synthesis back-end implements.

A back-end turns one single-language text segment into mono float32 audio. Everything around it
(normalization, script splitting, speakers, emotions, duration_ratio, logging, fault injection) is the
engine's job and is shared by all back-ends.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

__all__ = ["Voice", "BackendStatus", "Backend"]


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
