"""The Kubernetes CRI log format (containerd, CRI-O; what ``/var/log/pods/*/*.log`` holds and what
``kubectl logs`` reads): ``<RFC3339Nano> <stdout|stderr> <P|F> <text>``. ``P`` marks a partial
line (the runtime splits long lines); the pieces are rejoined up to the ``F`` that ends them."""
from __future__ import annotations

import re

from analyzer.read.envelopes.base import Inner
from analyzer.read.times import parse_time

__all__ = ["CriLog"]

_CRI_RE = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) "
                     r"(?P<stream>stdout|stderr) (?P<tag>[PF])(?::\S*)? ?(?P<text>.*)$", re.S)


class CriLog:
    name = "cri"

    def __init__(self) -> None:
        self._partial: list[str] = []

    @staticmethod
    def could_be(text: str) -> bool:
        """A cheap test before the regex: ``2024-06-15T...Z stdout F ...``."""
        return text[10:11] == "T" and (" stdout " in text[:48] or " stderr " in text[:48])

    def unwrap_text(self, text: str) -> list[Inner] | None:
        """The entries of one CRI line (``[]`` while a partial line waits), ``None`` if not CRI."""
        m = _CRI_RE.match(text)
        if m is None:
            return None
        piece = m.group("text")
        if m.group("tag") == "P":
            self._partial.append(piece)
            if sum(map(len, self._partial)) < (1 << 20):
                return []
            piece = ""
        whole = "".join(self._partial) + piece if self._partial else piece
        self._partial = []
        return [Inner(whole, parse_time(m.group("ts")), None, {"stream": m.group("stream")})]

    def flush(self) -> list[Inner]:
        if not self._partial:
            return []
        text, self._partial = "".join(self._partial), []
        return [Inner(text)]
