"""What stands between a client and the service's endpoints (used by :mod:`engine.service`).

* who may call: an optional API key (constant-time compare) and a Host allow-list (DNS rebinding:
  a page on evil.example that resolves to 127.0.0.1 must not reach a loopback service);
* what they may send: JSON only, as ``application/json``;
* how long a slow client may hold a connection: a header read timeout in the HTTP protocol itself
  (uvicorn has none: a client that never finishes its headers holds its connection forever), the
  body read timeout lives in the endpoint;
* what an error may show: no server paths.
"""
from __future__ import annotations

import hmac
import json
import re
from typing import Any, Callable, Mapping

__all__ = ["api_key_ok", "default_allowed_hosts", "is_json", "redact_paths", "header_timeout_protocol",
           "LOOPBACK_HOSTS"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
_PATH_RE = re.compile(r"(?<![\w.:/])(?:/[^\s/'\"():,;<>=]+)+/?")


def api_key_ok(headers: Mapping[str, str], key: str) -> bool:
    """``Authorization: Bearer <key>`` or ``X-API-Key: <key>``, compared in constant time."""
    given = headers.get("x-api-key")
    if given is None:
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else ""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), key.encode("utf-8", "surrogatepass"))


def default_allowed_hosts(bind_host: str) -> list[str]:
    """Loopback names for a loopback bind (the DNS-rebinding case), anything otherwise."""
    if bind_host in LOOPBACK_HOSTS or bind_host.startswith("127."):
        return sorted({*LOOPBACK_HOSTS, bind_host})
    return ["*"]


def is_json(content_type: str | None) -> bool:
    """``application/json`` with any parameters (``; charset=utf-8``), case-insensitive."""
    return (content_type or "").split(";", 1)[0].strip().lower() == "application/json"


def redact_paths(text: str) -> str:
    """Absolute file-system paths replaced by their last component (``…/libttsfrd.so``)."""
    return _PATH_RE.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


def header_timeout_protocol(timeout_s: float, on_timeout: Callable[[Any], None] | None = None) -> type:
    """uvicorn's h11 protocol with a deadline for a request's headers: a connection whose request
    line and headers are not complete ``timeout_s`` after its first byte (or after it opened, or
    after the previous response) gets ``408`` and is closed. ``on_timeout(client)`` is told."""
    import asyncio

    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutH11(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(timeout_s, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _between_requests(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._between_requests():
                self._arm()
            super().data_received(data)
            if not self._between_requests():
                self._disarm()            # the headers are complete: the endpoint's timeouts apply

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self.transport.is_closing() or not self._between_requests():
                return
            if on_timeout is not None:
                on_timeout(self.client)
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                                 b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_SLOW), _SLOW))
            self.transport.close()

    return HeaderTimeoutH11


_SLOW = json.dumps({"error_type": "header_timeout", "detail": "request headers not received in time"}).encode()
