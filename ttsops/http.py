"""HTTP requests with an overall deadline, for the toolkit's own clients (webhook alerts, health checks).

httpx's timeouts bound each network operation, not the exchange: a server that answers one byte a
second keeps a request alive forever. Running the request on asyncio and cancelling it with
``asyncio.wait_for`` bounds the whole of it (the approach httpx's maintainers point to in
encode/httpx#776 and #1450); this wraps that for synchronous callers, one short-lived event loop a
request (our callers send a few requests a minute, so connection reuse does not matter).
"""
from __future__ import annotations

import asyncio
from typing import Any

import httpx

__all__ = ["DeadlineExceeded", "request"]


class DeadlineExceeded(httpx.TimeoutException):
    """The whole request (connect, send, headers, body) took longer than its deadline."""


def request(method: str, url: str, *, deadline: float, **kwargs: Any) -> httpx.Response:
    """``httpx`` request whose complete answer (body read) must arrive within ``deadline`` seconds.

    Raises :class:`DeadlineExceeded` (an ``httpx.TimeoutException``) past the deadline, and the
    usual ``httpx.HTTPError`` subclasses otherwise. Must not be called from a running event loop.
    """
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(timeout=deadline) as client:
            response = await client.request(method, url, **kwargs)
            await response.aread()
            return response

    try:
        return asyncio.run(asyncio.wait_for(go(), timeout=max(deadline, 0.001)))
    except asyncio.TimeoutError:
        raise DeadlineExceeded(f"no complete answer from {url} within {deadline:g}s") from None
