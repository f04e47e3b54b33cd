"""The supervisor and the health client under hostile conditions: a supervisor killed with SIGKILL
leaves no orphan service, and `health --url` keeps its deadline against a silent or trickling peer."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _bad_http import BadReceiver  # noqa: E402
from _service_helpers import ROOT, free_port  # noqa: E402

pytestmark = pytest.mark.xdist_group("service")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return "\nState:\tZ" not in fh.read()             # a zombie waiting for its reaper is dead
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_sigkilled_supervisor_takes_its_child_with_it(tmp_path: Path) -> None:
    port = free_port()
    logs = tmp_path / "logs"
    toml = tmp_path / "sup.toml"
    toml.write_text(f"[supervisor]\nport = {port}\nlog_dir = {json.dumps(str(logs))}\nl1_interval_s = 0.5\n"
                    "l2_interval_s = 600.0\nstartup_timeout_s = 60.0\npoll_s = 0.1\n")
    sup = subprocess.Popen([sys.executable, "-m", "engine.cli", "supervise", "--config", str(toml)], cwd=ROOT,
                           env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    child = None
    try:
        deadline = time.monotonic() + 60
        while child is None and time.monotonic() < deadline:
            for line in (logs / "supervisor.log").read_text().splitlines() if (logs / "supervisor.log").exists() else []:
                extra = json.loads(line)["record"]["extra"]
                if extra.get("action") == "healthy":
                    child = extra["child_pid"]
            time.sleep(0.1)
        assert child is not None and _alive(child), "the service never came up"
        sup.send_signal(signal.SIGKILL)
        sup.wait(timeout=10)
        deadline = time.monotonic() + 30
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child), f"child {child} outlived its supervisor"
    finally:
        if sup.poll() is None:
            sup.kill()
        if child is not None and _alive(child):
            os.kill(child, signal.SIGKILL)


@pytest.mark.parametrize("mode,level", [("silent", 1), ("trickle", 1), ("slow", 2)])
def test_health_url_keeps_its_overall_deadline(mode: str, level: int, tmp_path: Path) -> None:
    with BadReceiver(mode, delay=30) as peer:
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "engine.cli", "health", "--url", peer.base, "--timeout", "1",
                            "--level", str(level), "--json", "--log-dir", str(tmp_path / "logs")],
                           cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60)
        took = time.monotonic() - t0
    assert r.returncode == 1, r.stderr
    res = json.loads(r.stdout)
    assert res["ok"] is False and res["duration_s"] < 1.5 and took < 15
    assert "within the timeout" in res["reason"] or "within the check's deadline" in res["reason"]
    assert res["details"]["error_type"] == "request_timeout"
