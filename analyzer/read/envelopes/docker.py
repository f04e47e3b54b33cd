"""Docker's json-file log driver (what ``/var/lib/docker/containers/*/*-json.log`` holds):
``{"log": "text\\n", "stream": "stderr", "time": "2024-06-15T14:22:03.123456789Z"}`` a line. Lines
longer than 16 KiB are split into entries whose ``log`` does not end with a newline: rejoined here."""
from __future__ import annotations

from typing import Any

from analyzer.read.envelopes.base import Inner
from analyzer.read.times import parse_time

__all__ = ["DockerJsonFile"]

_KEYS = frozenset({"log", "stream", "time", "attrs"})


class DockerJsonFile:
    name = "docker"

    def __init__(self) -> None:
        self._partial: list[str] = []

    @staticmethod
    def match(obj: dict[str, Any]) -> bool:
        return isinstance(obj.get("log"), str) and ("stream" in obj or "time" in obj) and _KEYS.issuperset(obj)

    def unwrap(self, obj: dict[str, Any]) -> list[Inner]:
        log = obj["log"]
        if log.endswith("\n"):
            text = "".join(self._partial) + log if self._partial else log
            self._partial = []
        else:  # a piece of a long line: wait for the piece that ends it (bounded)
            self._partial.append(log)
            if sum(map(len, self._partial)) < (1 << 20):
                return []
            text, self._partial = "".join(self._partial), []
        fields = {"stream": obj["stream"]} if isinstance(obj.get("stream"), str) else {}
        if isinstance(obj.get("attrs"), dict):
            fields.update({k: v for k, v in obj["attrs"].items() if isinstance(v, (str, int, float))})
        return [Inner(text.rstrip("\n").rstrip("\r"), parse_time(obj.get("time")), None, fields)]

    def flush(self) -> list[Inner]:
        if not self._partial:
            return []
        text, self._partial = "".join(self._partial), []
        return [Inner(text)]
