"""Helpers for the service tests: a fake engine, an in-thread server, free ports, a subprocess server."""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ttsops.errors import BackendError, InputError

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@dataclass
class FakeRequest:
    text: str
    speaker: str | None = None
    emotion: str = "neutral"
    duration_ratio: float = 1.0
    seed: int = 0
    backend: str | None = None
    request_id: str | None = None
    temperature: float = 0.0


@dataclass
class FakeResult:
    audio: np.ndarray
    sample_rate: int
    request_id: str
    record: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate

    def to_wav_bytes(self) -> bytes:
        import soundfile as sf
        buf = io.BytesIO()
        sf.write(buf, self.audio, self.sample_rate, format="WAV", subtype="PCM_16")
        return buf.getvalue()


class FakeEngine:
    """``sleep:0.5`` sleeps, ``bad`` raises InputError, ``boom`` BackendError, else a 1.5 s tone."""

    sample_rate = 16000

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.cancelled = 0
        self.closed = False

    def synthesize(self, req: FakeRequest, cancel: threading.Event | None = None) -> FakeResult:
        from engine.synth import SynthesisCancelled
        with self.lock:
            self.calls += 1
        if req.text.startswith("sleep:"):    # like the engine: stops at its next step once cancelled
            end = time.monotonic() + float(req.text.split(":")[1])
            while time.monotonic() < end:
                if cancel is not None and cancel.is_set():
                    self.cancelled += 1
                    raise SynthesisCancelled("cancelled")
                time.sleep(0.01)
        elif req.text == "bad":
            raise InputError("text is bad", where="text")
        elif req.text == "boom":
            raise BackendError("back-end exploded")
        t = np.arange(int(1.5 * self.sample_rate)) / self.sample_rate
        y = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        return FakeResult(y, self.sample_rate, req.request_id or "x", {"backend": "fake", "rtf": 0.01})

    def close(self) -> None:
        self.closed = True


class ThreadServer:
    """A uvicorn server for ``state`` in a background thread (no signal handlers there)."""

    def __init__(self, state: Any):
        import uvicorn
        from engine.service import bind_socket, create_app, uvicorn_config
        self.state = state
        self.port = free_port()
        self.sock = bind_socket("127.0.0.1", self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = uvicorn_config(create_app(state), state.settings, state.log)   # what `serve` runs with
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "ThreadServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.sock.close()


def spawn_serve(port: int, log_dir: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "engine.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--log-dir", str(log_dir), *extra]
    # output to a file, never an unread pipe: a busy server's stderr fills a 64 KB pipe buffer, and
    # the logging thread that blocks on it holds loguru's lock, freezing every request behind it
    log_dir.parent.mkdir(parents=True, exist_ok=True)
    out_path = log_dir.parent / f"serve-{port}.out"
    with open(out_path, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})})
    proc.output_path = out_path  # type: ignore[attr-defined]
    return proc


def server_output(proc: subprocess.Popen) -> str:
    """What a server started by :func:`spawn_serve` printed so far."""
    path = getattr(proc, "output_path", None)
    return path.read_text(encoding="utf-8", errors="replace") if path and path.exists() else ""


def wait_healthy(url: str, proc: subprocess.Popen | None = None, timeout: float = 30.0) -> dict:
    import httpx
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}: {server_output(proc)[-2000:]}")
        try:
            r = httpx.get(url + "/health", timeout=2)
            if r.status_code == 200:
                return r.json()
            last = r.text
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"not healthy after {timeout}s: {last}")
