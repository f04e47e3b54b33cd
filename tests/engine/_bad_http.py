"""A misbehaving HTTP peer on 127.0.0.1 for the tests of our HTTP clients (webhook alerts, health
checks): ``silent`` reads the request and never answers; ``trickle`` answers one byte of a status
line every 0.2 s, forever; ``slow`` answers 200 after ``delay`` seconds."""
from __future__ import annotations

import socket
import threading


class BadReceiver:
    """A raw TCP peer; ``connections`` counts the connections it accepted."""

    def __init__(self, mode: str, delay: float = 5.0):
        self.mode, self.delay = mode, delay
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.url = self.base + "/alerts"
        self.connections = 0
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn) -> None:  # noqa: ANN001
        try:
            conn.recv(65536)
            if self.mode == "slow":
                self.stop.wait(self.delay)
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            elif self.mode == "trickle":
                for b in (b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000):
                    if self.stop.wait(0.2):
                        break
                    conn.sendall(bytes([b]))
            else:
                self.stop.wait(60)
        except OSError:
            pass
        finally:
            conn.close()

    def __enter__(self) -> "BadReceiver":
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.sock.close()
