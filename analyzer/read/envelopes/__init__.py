"""The envelope registry: the wrappers collectors put around a service's own lines, recognised with
no flag.

* JSON envelopes, recognised per line on the parsed object (first match wins): Docker json-file,
  journald ``-o json``, OpenTelemetry (OTLP/JSON and flat records), ECS;
* CRI (containerd / CRI-O, ``kubectl logs`` files), recognised per line by its fixed prefix;
* per-file wrappers, recognised by sniffing the first lines of the file: journald ``-o export``
  (binary-safe, fed raw bytes), ``docker compose logs`` service prefixes, Markdown-quoted pastes.

Each unwraps to :class:`Inner` entries whose text is then read like any other line.
"""
from __future__ import annotations

from typing import Any

from analyzer.read.envelopes.base import Inner
from analyzer.read.envelopes.compose import ComposePrefix
from analyzer.read.envelopes.cri import CriLog
from analyzer.read.envelopes.docker import DockerJsonFile
from analyzer.read.envelopes.ecs import Ecs
from analyzer.read.envelopes.journald import JournaldExport, JournaldJson
from analyzer.read.envelopes.otel import OtelJson
from analyzer.read.envelopes.quote import QuotedPaste

__all__ = ["Inner", "JSON_ENVELOPES", "FILE_ENVELOPES", "CriLog", "sniff", "SNIFF_LINES"]

#: tried in order on every JSON object that is not a loguru record
JSON_ENVELOPES: tuple[Any, ...] = (DockerJsonFile, JournaldJson, OtelJson, Ecs)
#: chosen per file from a sample of its first lines
FILE_ENVELOPES: tuple[Any, ...] = (JournaldExport, QuotedPaste, ComposePrefix)
SNIFF_LINES = 64
SNIFF_MIN = 0.6


def sniff(sample: list[str]) -> Any:
    """The per-file envelope class for the first non-empty lines of a file, or ``None``."""
    if not sample:
        return None
    best, best_score = None, SNIFF_MIN
    for cls in FILE_ENVELOPES:
        score = cls.sniff(sample)
        if score >= best_score and (best is None or score > best_score):
            best, best_score = cls, score
    return best
