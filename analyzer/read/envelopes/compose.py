"""``docker compose logs`` / ``docker-compose up`` output: every line prefixed with the service
(``tts-1  | text``, ``web_1    | text``). Recognised per file (most lines carry the prefix)."""
from __future__ import annotations

import re

__all__ = ["ComposePrefix"]

_PREFIX_RE = re.compile(r"^(?P<svc>[A-Za-z0-9][\w.\-]{0,62}?)(?:[-_]\d{1,3})?\s+\| ?(?P<text>.*)$", re.S)


class ComposePrefix:
    name = "compose"

    @staticmethod
    def sniff(sample: list[str]) -> float:
        svcs = set()
        hits = 0
        for s in sample:
            m = _PREFIX_RE.match(s)
            if m is not None:
                hits += 1
                svcs.add(m.group("svc"))
        return hits / len(sample) if sample and len(svcs) <= 16 else 0.0

    @staticmethod
    def strip(text: str) -> tuple[str, dict[str, str] | None]:
        m = _PREFIX_RE.match(text)
        return (m.group("text"), {"service": m.group("svc")}) if m is not None else (text, None)
