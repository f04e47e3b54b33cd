"""Short load proof on loopback: concurrency above the limit, nothing hangs, overload is 429, and
/metrics counts exactly the requests sent (the long form is benchmarks/bench_service.py)."""
from __future__ import annotations

import collections
import concurrent.futures as cf
import re
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _service_helpers import free_port, spawn_serve, wait_healthy  # noqa: E402

pytestmark = pytest.mark.xdist_group("service")
N = 300
CLIENTS = 12
TIMEOUT_S = 3.0
SLOW = {"text": "今天的天气真不错,我们一起去公园散步吧。", "emotion": "happy"}   # ~0.5 s of work


def metric_counts(text: str) -> dict[str, float]:
    out = {}
    for m in re.finditer(r'^tts_requests_total\{endpoint="/api/tts",status="(\d+)"\} ([0-9.e+]+)$', text, re.M):
        out[m.group(1)] = float(m.group(2))
    return out


def test_load_bounded_no_hang_metrics_match(tmp_path: Path) -> None:
    port = free_port()
    proc = spawn_serve(port, tmp_path / "logs", "--max-concurrency", "2", "--timeout", str(TIMEOUT_S))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        with httpx.Client(base_url=url, timeout=TIMEOUT_S + 10, limits=limits) as c:
            def one(i: int) -> tuple[int, float]:
                body = SLOW if i % 50 == 0 else {"text": f"你好{i % 7}。Hi."}
                t0 = time.perf_counter()
                r = c.post("/api/tts", json=body)
                took = time.perf_counter() - t0
                if r.status_code == 429:
                    time.sleep(0.02)          # a polite client backs off a little (no retry: one answer a request)
                return r.status_code, took
            t0 = time.perf_counter()
            with cf.ThreadPoolExecutor(CLIENTS) as ex:
                res = list(ex.map(one, range(N)))
            wall = time.perf_counter() - t0
            metrics = c.get("/metrics").text
            health = c.get("/health").json()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    codes = collections.Counter(code for code, _ in res)
    assert len(res) == N
    assert set(codes) <= {200, 429, 504}, codes
    assert codes[200] > 0 and codes[429] > 0, codes                     # served, and overload answered at once
    assert max(t for _, t in res) < TIMEOUT_S + 1.5                      # no request hangs past the timeout
    assert health["in_flight"] == 0
    counted = metric_counts(metrics)
    assert sum(counted.values()) == N and all(counted.get(str(k)) == v for k, v in codes.items()), (counted, codes)
    assert "tts_rejected_total{reason=\"overloaded\"} " + f"{float(codes[429])}" in metrics
    print(f"\nload: {N} requests in {wall:.1f}s, {dict(codes)}, max latency {max(t for _, t in res):.2f}s")
