"""A Sentry stand-in on 127.0.0.1: accepts the SDK's envelope POSTs (gzip or brotli) and keeps every
event, and the raw bytes to search for what must never be sent."""
from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SentryReceiver:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                enc = (self.headers.get("content-encoding") or "").lower()
                if enc == "gzip":
                    body = gzip.decompress(body)
                elif enc == "br":
                    import brotli
                    body = brotli.decompress(body)
                receiver._keep(self.path, body)
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.dsn = f"http://public-key@127.0.0.1:{self.port}/1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _keep(self, path: str, body: bytes) -> None:
        lines = body.split(b"\n")
        events = []
        i = 1                                   # line 0: the envelope header
        while i + 1 < len(lines):
            header = json.loads(lines[i])
            payload = lines[i + 1]
            if header.get("type") == "event":
                events.append(json.loads(payload))
            i += 2
        with self._lock:
            self.paths.append(path)
            self.raw.append(body)
            self.events.extend(events)

    def wait_for(self, n: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.events) >= n:
                    return list(self.events)
            time.sleep(0.05)
        return list(self.events)

    def all_bytes(self) -> bytes:
        with self._lock:
            return b"\n".join(self.raw)

    def __enter__(self) -> "SentryReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
