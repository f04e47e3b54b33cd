"""The service under load on loopback, and a fault-injected soak under the supervisor.

Part 1, load (``--requests`` 10 000 by default): ``tts-engine serve`` in a subprocess, ``--clients``
threads sharing one keep-alive HTTP client send short zh/en texts as fast as answers come back
(bounded: each request is sent once; 429 answers are counted, not retried). Reported: requests/s,
latency quantiles of the 200s and of every answer, status counts, whether ``/metrics`` counts equal
the requests sent, and the server's RSS (``/proc/PID/status`` VmRSS) after start-up, after the first
``--warmup`` requests, every 1 000 requests and at the end (memory must stay bounded).

Part 2, soak (``--soak-seconds``, 0 to skip): ``tts-engine supervise`` runs the service with
``--inject`` (seeded faults: CUDA OOM, silent output, device mismatch, ...) and short check intervals,
while a few clients send requests; at the end the supervisor's decisions (``supervisor.log``) give
the restarts made by kind, and ``labels.jsonl`` the incidents injected.

Writes ``benchmarks/results/service.json``; everything on 127.0.0.1, self-stopping.

    python benchmarks/bench_service.py [--requests 10000] [--clients 8] [--soak-seconds 90] [--out FILE]
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

TEXTS = ["你好。", "你好,世界。", "谢谢。", "Hello.", "Hi there.", "你好。Hello.", "早上好。", "Good night."]


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def wait_healthy(url: str, timeout: float = 60) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            r = httpx.get(url + "/health", timeout=2)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not healthy after {timeout}s")


def quantiles(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {}
    a = np.asarray(xs) * 1000
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p90_ms": round(float(np.percentile(a, 90)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2), "max_ms": round(float(a.max()), 2),
            "mean_ms": round(float(a.mean()), 2)}


def metric_counts(text: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in re.finditer(
        r'^tts_requests_total\{endpoint="/api/tts",status="(\d+)"\} ([0-9.e+]+)$', text, re.M)}


def load(n: int, clients: int, max_concurrency: int, warmup: int, work: Path) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_dir = work / "load-logs"
    err = open(work / "load-serve.stderr", "w")
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--port", str(port), "--log-dir",
                             str(log_dir), "--max-concurrency", str(max_concurrency), "--timeout", "10"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_healthy(url)
        rss = {"after_start": rss_mb(proc.pid)}
        samples: list[tuple[int, float | None]] = []
        results: list[tuple[int, float]] = [(0, 0.0)] * n
        counter = iter(range(n))
        lock = threading.Lock()
        done = [0]
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        with httpx.Client(base_url=url, timeout=30, limits=limits) as c:
            def worker() -> None:
                while True:
                    with lock:
                        i = next(counter, None)
                    if i is None:
                        return
                    body = {"text": TEXTS[i % len(TEXTS)], "seed": i % 5}
                    t0 = time.perf_counter()
                    try:
                        code = c.post("/api/tts", json=body).status_code
                    except httpx.HTTPError:
                        code = -1
                    results[i] = (code, time.perf_counter() - t0)
                    with lock:
                        done[0] += 1
                        k = done[0]
                    if k == warmup:
                        rss["after_warmup"] = rss_mb(proc.pid)
                    if k % 1000 == 0:
                        samples.append((k, rss_mb(proc.pid)))
            t0 = time.perf_counter()
            with cf.ThreadPoolExecutor(clients) as ex:
                for f in [ex.submit(worker) for _ in range(clients)]:
                    f.result()
            wall = time.perf_counter() - t0
            metrics = c.get("/metrics").text
            health = c.get("/health").json()
        rss["end"] = rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        err.close()
    codes = collections.Counter(code for code, _ in results)
    counted = metric_counts(metrics)
    lat_ok = [t for code, t in results if code == 200]
    return {
        "requests": n, "clients": clients, "max_concurrency": max_concurrency, "wall_s": round(wall, 2),
        "requests_per_s": round(n / wall, 1), "served_per_s": round(codes[200] / wall, 1),
        "status_counts": {str(k): v for k, v in sorted(codes.items())},
        "overload_answers": codes[429] + codes[503],
        "latency_200": quantiles(lat_ok), "latency_all": quantiles([t for _, t in results]),
        "metrics_requests_total": counted, "metrics_match": sum(counted.values()) == n and all(
            counted.get(str(k)) == v for k, v in codes.items() if k > 0),
        "rss_mb": {k: round(v, 1) if v else v for k, v in rss.items()},
        "rss_samples_mb": [(k, round(v, 1) if v else v) for k, v in samples],
        "rss_growth_after_warmup_mb": round((rss["end"] or 0) - (rss.get("after_warmup") or rss["after_start"] or 0), 1),
        "in_flight_at_end": health.get("in_flight"), "serve_exit_code": rc,
    }


def soak(seconds: float, clients: int, inject: str, work: Path) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_dir = work / "soak-logs"
    cfg = work / "supervisor.toml"
    cfg.write_text("\n".join([
        "[supervisor]", f"port = {port}", f'log_dir = "{log_dir}"', "l1_interval_s = 1.0", "l2_interval_s = 5.0",
        "l3_interval_s = 30.0", "check_timeout_s = 5.0", "l1_failures = 2", "backoff_initial_s = 0.5",
        "backoff_max_s = 5.0", "restart_budget = 30", "budget_window_s = 600.0", "escalate_within_s = 20.0",
        "reload_cooldown_s = 3.0", "stable_after_s = 20.0", f"max_runtime_s = {seconds + 5}", ""]))
    err = open(work / "soak-supervise.stderr", "w")
    sup = subprocess.Popen([sys.executable, "-m", "engine.cli", "supervise", "--config", str(cfg),
                            "--inject", inject], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    codes: collections.Counter = collections.Counter()
    lock = threading.Lock()
    try:
        wait_healthy(url, timeout=60)
        stop_at = time.monotonic() + seconds

        def worker(k: int) -> None:
            with httpx.Client(base_url=url, timeout=15) as c:
                i = 0
                while time.monotonic() < stop_at:
                    i += 1
                    try:
                        code = c.post("/api/tts", json={"text": TEXTS[(i + k) % len(TEXTS)]}).status_code
                    except httpx.HTTPError:
                        code = -1          # connection refused / reset while the child restarts
                        time.sleep(0.2)
                    with lock:
                        codes[code] += 1
                    time.sleep(0.02)
        with cf.ThreadPoolExecutor(clients) as ex:
            for f in [ex.submit(worker, k) for k in range(clients)]:
                f.result()
    finally:
        sup.send_signal(signal.SIGTERM)
        try:
            sup_rc = sup.wait(timeout=90)
        except subprocess.TimeoutExpired:
            sup.kill()
            sup_rc = None
        err.close()
    decisions = []
    p = log_dir / "supervisor.log"
    if p.exists():
        decisions = [json.loads(x)["record"]["extra"] for x in p.read_text().splitlines()]
    acts = collections.Counter(d["action"] for d in decisions)
    labels = []
    lp = log_dir / "labels.jsonl"
    if lp.exists():
        labels = [json.loads(x) for x in lp.read_text().splitlines() if x.strip()]
    reasons = collections.Counter((d["action"], re.sub(r"\b\d+(?:\.\d+)?\b", "N", d["reason"])[:110]) for d in decisions
                                  if d["action"].endswith("restart") or d["action"] in ("give_up", "full_restart_deferred"))
    return {
        "seconds": seconds, "inject": inject, "clients": clients,
        "requests_sent": sum(codes.values()), "status_counts": {str(k): v for k, v in sorted(codes.items())},
        "restarts": {k: acts.get(k, 0) for k in ("light_restart", "heavy_restart", "full_restart")},
        "restarts_total": sum(acts.get(k, 0) for k in ("light_restart", "heavy_restart", "full_restart")),
        "full_restart_deferred": acts.get("full_restart_deferred", 0), "gave_up": acts.get("give_up", 0) > 0,
        "decisions": dict(acts), "restart_reasons": [{"action": a, "reason": r, "count": n}
                                                     for (a, r), n in reasons.most_common(12)],
        "incidents_injected": collections.Counter(lab["fault"] for lab in labels),
        "supervisor_exit_code": sup_rc,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--max-concurrency", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--soak-seconds", type=float, default=90.0)
    ap.add_argument("--soak-clients", type=int, default=3)
    ap.add_argument("--inject", default="rate=0.05")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "service.json")
    ap.add_argument("--keep", action="store_true", help="keep the temporary log folders")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-service-"))
    out = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                       "loadavg_start": os.getloadavg()}}
    try:
        print(f"load: {args.requests} requests, {args.clients} clients, max concurrency {args.max_concurrency} ...",
              flush=True)
        out["load"] = load(args.requests, args.clients, args.max_concurrency, args.warmup, work)
        ld = out["load"]
        print(f"  {ld['requests_per_s']} req/s; status {ld['status_counts']}; 200 latency {ld['latency_200']}; "
              f"RSS {ld['rss_mb']} (growth after warm-up {ld['rss_growth_after_warmup_mb']} MB); "
              f"metrics match: {ld['metrics_match']}", flush=True)
        if args.soak_seconds > 0:
            print(f"soak: {args.soak_seconds:g}s under the supervisor with --inject {args.inject} ...", flush=True)
            out["soak"] = soak(args.soak_seconds, args.soak_clients, args.inject, work)
            sk = out["soak"]
            print(f"  {sk['requests_sent']} requests {sk['status_counts']}; restarts {sk['restarts']} "
                  f"(deferred full {sk['full_restart_deferred']}, gave up: {sk['gave_up']}); incidents "
                  f"{dict(sk['incidents_injected'])}", flush=True)
        out["machine"]["loadavg_end"] = os.getloadavg()
    finally:
        if args.keep:
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
