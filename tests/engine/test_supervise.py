"""`tts-engine supervise`: restarts a killed child, stops a crash loop, reloads on fault signatures,
escalates to a full restart outside the busy window, restarts a hung child (short intervals)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _service_helpers import ROOT, free_port  # noqa: E402

from engine.supervise import Supervisor, SupervisorConfig, in_busy_window  # noqa: E402
from ttsops.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.xdist_group("service")

FAST = dict(l1_interval_s=0.3, l2_interval_s=30.0, l3_interval_s=3600.0, check_timeout_s=2.0, l1_failures=2,
            startup_timeout_s=30.0, stop_timeout_s=5.0, backoff_initial_s=0.1, backoff_max_s=0.5,
            poll_s=0.1, reload_cooldown_s=0.5)


def decisions(log_dir: Path) -> list[dict]:
    p = log_dir / "supervisor.log"
    return [json.loads(x)["record"]["extra"] for x in p.read_text().splitlines()] if p.exists() else []


def wait_for(pred, timeout: float = 30.0, step: float = 0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("condition not met in time")


def health(url: str) -> dict | None:
    try:
        r = httpx.get(url + "/health", timeout=2)
        return r.json() if r.status_code == 200 else None
    except httpx.HTTPError:
        return None


def write_toml(path: Path, **kw) -> Path:
    lines = ["[supervisor]"]
    for k, v in kw.items():
        lines.append(f"{k} = {json.dumps(str(v)) if isinstance(v, Path) else json.dumps(v)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_busy_window_and_config() -> None:
    assert in_busy_window("09:00-18:00", datetime(2026, 1, 1, 12, 0))
    assert not in_busy_window("09:00-18:00", datetime(2026, 1, 1, 19, 0))
    assert in_busy_window("22:00-06:00", datetime(2026, 1, 1, 23, 0))
    assert in_busy_window("22:00-06:00", datetime(2026, 1, 1, 5, 59))
    assert not in_busy_window("22:00-06:00", datetime(2026, 1, 1, 12, 0))
    assert not in_busy_window(None)
    with pytest.raises(ConfigError):
        SupervisorConfig(busy_window="nine to five")
    with pytest.raises(ConfigError):
        SupervisorConfig(restart_budget=0)


def test_killed_child_is_restarted(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cfg = write_toml(tmp_path / "sup.toml", port=port, log_dir=tmp_path / "logs", **FAST)
    sup = subprocess.Popen([sys.executable, "-m", "engine.cli", "supervise", "--config", str(cfg)], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pid1 = wait_for(lambda: (health(url) or {}).get("pid"))
        os.kill(pid1, signal.SIGKILL)
        pid2 = wait_for(lambda: (h := health(url)) and h["pid"] != pid1 and h["pid"])
        assert pid2 != pid1
        sup.send_signal(signal.SIGTERM)
        out, err = sup.communicate(timeout=30)
    finally:
        if sup.poll() is None:
            sup.kill()
    assert sup.returncode == 0, err
    assert "1 restart(s)" in err
    d = decisions(tmp_path / "logs")
    light = [x for x in d if x["action"] == "light_restart"]
    assert len(light) == 1 and "child exited with code -9" in light[0]["reason"]
    assert all(x["event"] == "supervisor_decision" and x["reason"] for x in d)
    assert d[-1]["action"] == "stop" and d[-1]["reason"] == "SIGTERM"
    assert health(url) is None                                  # child stopped with the supervisor


def test_crash_loop_exhausts_budget_and_says_so(tmp_path: Path) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    cfg = write_toml(tmp_path / "sup.toml", port=port, log_dir=tmp_path / "logs", restart_budget=3,
                     budget_window_s=60.0, **FAST)
    t0 = time.monotonic()
    try:
        p = subprocess.run([sys.executable, "-m", "engine.cli", "supervise", "--config", str(cfg)], cwd=ROOT,
                           capture_output=True, text=True, timeout=90)
    finally:
        blocker.close()
    assert p.returncode == 1
    assert "restart budget exhausted: 3 restarts" in p.stderr and f"port {port} is already in use" in p.stderr
    assert "Traceback" not in p.stderr
    d = decisions(tmp_path / "logs")
    acts = [x["action"] for x in d]
    assert acts.count("start") == 4 and acts.count("light_restart") == 3 and "give_up" in acts
    backoffs = [x["backoff_s"] for x in d if x["action"] == "light_restart"]
    assert backoffs == sorted(backoffs) and backoffs[1] > backoffs[0]     # exponential back-off
    assert time.monotonic() - t0 < 60


def _run_in_thread(cfg: SupervisorConfig, **kw) -> tuple[Supervisor, threading.Thread, dict]:
    sup = Supervisor(cfg, stderr=False, **kw)
    box: dict = {}
    th = threading.Thread(target=lambda: box.update(code=sup.run()), daemon=True)
    th.start()
    return sup, th, box


def append_record(log: Path, message: str, **extra) -> None:
    rec = {"text": message, "record": {"level": {"name": "ERROR"}, "message": message, "extra": extra}}
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(rec) + "\n")


def test_signature_reload_then_full_restart_outside_busy_window(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_dir = tmp_path / "logs"
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "model.bin").write_bytes(b"x")
    cfg = SupervisorConfig(port=port, log_dir=log_dir, cache_dirs=[cache], escalate_within_s=60, busy_window=None,
                           **FAST)
    sup, th, box = _run_in_thread(cfg)
    try:
        pid1 = wait_for(lambda: (health(url) or {}).get("pid"))
        append_record(log_dir / "inference.log", "Synthesis failed: torch.OutOfMemoryError: CUDA out of memory. "
                      "Tried to allocate 2.00 GiB", error_type="torch.OutOfMemoryError", request_id="r1")
        h = wait_for(lambda: (x := health(url)) and x["generation"] == 1 and x)
        assert h["pid"] == pid1                                        # reload in place: same process
        time.sleep(0.8)                                                # past the cool-down
        append_record(log_dir / "health.log", "Health check L2 failed: audio output silent for 8s",
                      event="health_check")
        pid2 = wait_for(lambda: (x := health(url)) and x["pid"] != pid1 and x["pid"])
        assert pid2 and not (cache / "model.bin").exists()            # full restart cleared the caches
    finally:
        sup.request_stop("test over")
        th.join(timeout=30)
    assert box["code"] == 0
    acts = [(x["action"], x["reason"]) for x in decisions(log_dir)]
    heavy = [r for a, r in acts if a == "heavy_restart"]
    full = [r for a, r in acts if a == "full_restart"]
    assert heavy and "cuda_oom signature" in heavy[0]
    assert full and "silent_output signature" in full[0] and "after a reload" in full[0]
    assert sup.restart_counts == {"light_restart": 0, "heavy_restart": 1, "full_restart": 1}


def test_busy_window_defers_full_restart_and_hung_child_gets_light_restart(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_dir = tmp_path / "logs"
    cfg = SupervisorConfig(port=port, log_dir=log_dir, escalate_within_s=60, busy_window="00:00-23:59",
                           **{**FAST, "stop_timeout_s": 1.0, "check_timeout_s": 0.5})
    sup, th, box = _run_in_thread(cfg, now=lambda: datetime(2026, 1, 1, 12, 0))
    try:
        pid1 = wait_for(lambda: (health(url) or {}).get("pid"))
        for i in range(2):
            append_record(log_dir / "service.log", "Health check L2 failed: audio output silent for 8s")
            wait_for(lambda: (x := health(url)) and x["generation"] == i + 1)
            time.sleep(0.8)
        assert health(url)["pid"] == pid1                              # deferred: still the same process
        os.kill(pid1, signal.SIGSTOP)                                  # alive but hung
        pid2 = wait_for(lambda: (x := health(url)) and x["pid"] != pid1 and x["pid"], timeout=40)
        assert pid2
    finally:
        sup.request_stop("test over")
        th.join(timeout=30)
        try:
            os.kill(pid1, signal.SIGKILL)
        except ProcessLookupError:
            pass
    acts = [(x["action"], x["reason"]) for x in decisions(log_dir)]
    assert any(a == "full_restart_deferred" and "busy window" in r for a, r in acts)
    light = [r for a, r in acts if a == "light_restart"]
    assert light and "L1 failed 2x" in light[0]
    assert any(a == "kill" for a, _ in acts)                           # SIGTERM ignored while stopped -> SIGKILL
