"""The shipped systemd units and Kubernetes manifests (deploy/) do what they say: the units pass
`systemd-analyze verify` (where installed; parsed otherwise), the service starts from the unit's
own environment, ExecStartPost waits for it, the timer's L2 check passes against it and fails once
it is gone, ExecReload is a back-end reload, SIGTERM stops it with exit 0; the Kubernetes probes are
real `tts-engine` commands that exit 0 against a service started from the container's env."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from _service_helpers import free_port, wait_healthy  # noqa: E402

from engine.commands._options import ENV  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "deploy" / "systemd"
KUBE = ROOT / "deploy" / "kubernetes"
EXE = str(Path(sys.executable).with_name("tts-engine"))
SHIPPED_EXE = "/opt/ttsops/bin/tts-engine"

pytestmark = pytest.mark.xdist_group("deploy-supervision")


def unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file as section -> key -> values (keys may repeat)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = out.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        assert section is not None and key and _, f"{path.name}: {line!r}"
        section.setdefault(key, []).append(value)
    return out


def unit_env(u: dict) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in u["Service"].get("Environment", []):
        env.update(dict(kv.split("=", 1) for kv in shlex.split(value)))
    return env


def command(line: str, env: dict[str, str]) -> list[str]:
    """An Exec*= line as argv, the shipped path to this venv's tts-engine, ${VAR} expanded."""
    for k, v in env.items():
        line = line.replace("${%s}" % k, v)
    argv = shlex.split(line)
    return [EXE if a == SHIPPED_EXE else a for a in argv]


def start(argv: list[str], env: dict[str, str], out: Path) -> subprocess.Popen:
    with open(out, "ab") as fh:
        return subprocess.Popen(argv, cwd=out.parent, stdout=fh, stderr=subprocess.STDOUT,
                                env={**os.environ, **env})


def stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)


# -- systemd ----------------------------------------------------------------------------------------
def test_units_parse_and_name_our_commands() -> None:
    main = unit(SYSTEMD / "tts-engine.service")
    health = unit(SYSTEMD / "tts-engine-health.service")
    timer = unit(SYSTEMD / "tts-engine-health.timer")
    assert main["Service"]["ExecStart"] == [f"{SHIPPED_EXE} serve"]
    assert main["Service"]["ExecReload"] == ["/bin/kill -USR1 $MAINPID"]
    assert main["Service"]["KillSignal"] == ["SIGTERM"] and main["Service"]["Restart"] == ["on-failure"]
    drain = 30 + 2   # --drain-timeout default, then uvicorn's own graceful timeout
    assert int(main["Service"]["TimeoutStopSec"][0]) > drain
    assert health["Service"]["Type"] == ["oneshot"] and "--level 2" in health["Service"]["ExecStart"][0]
    assert timer["Timer"]["OnUnitActiveSec"] and timer["Install"]["WantedBy"] == ["timers.target"]
    for name in unit_env(main):
        assert name in ENV.values(), name


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed; the units "
                    "were parsed and run by the other tests")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    for name in ("tts-engine.service", "tts-engine-health.service", "tts-engine-health.timer"):
        text = (SYSTEMD / name).read_text(encoding="utf-8").replace(SHIPPED_EXE, EXE)
        (tmp_path / name).write_text(text, encoding="utf-8")
    r = subprocess.run(["systemd-analyze", "verify", *(str(p) for p in sorted(tmp_path.iterdir()))],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Unknown" not in r.stderr and "bad" not in r.stderr, r.stderr
    (tmp_path / "tts-engine.service").write_text(text.replace("ExecStart=", "ExecStrat="), encoding="utf-8")
    r = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "tts-engine.service")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0                 # the check can fail


def test_the_unit_lifecycle_against_a_real_service(tmp_path: Path) -> None:
    main = unit(SYSTEMD / "tts-engine.service")
    health = unit(SYSTEMD / "tts-engine-health.service")
    port = str(free_port())
    env = {**unit_env(main), "TTSOPS_PORT": port, "TTSOPS_LOG_DIR": str(tmp_path / "logs")}
    proc = start(command(main["Service"]["ExecStart"][0], env), env, tmp_path / "serve.out")
    try:
        t0 = time.monotonic()
        post = subprocess.run(command(main["Service"]["ExecStartPost"][0], env), env={**os.environ, **env},
                              capture_output=True, text=True, timeout=150, cwd=tmp_path)
        assert post.returncode == 0 and post.stdout == "", post.stdout + post.stderr
        assert proc.poll() is None and time.monotonic() - t0 < 120
        h = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
        assert h["status"] == "ok" and h["pid"] == proc.pid
        henv = {**unit_env(health), "TTSOPS_PORT": port, "TTSOPS_LOG_DIR": str(tmp_path / "logs")}
        check = command(health["Service"]["ExecStart"][0], henv)
        r = subprocess.run(check, env={**os.environ, **henv}, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        reload = command(main["Service"]["ExecReload"][0].replace("$MAINPID", str(proc.pid)), env)
        assert subprocess.run(reload, timeout=10).returncode == 0
        deadline = time.monotonic() + 30
        while httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()["generation"] != 1:
            assert time.monotonic() < deadline, "no back-end reload after ExecReload"
            time.sleep(0.2)
    finally:
        code = stop(proc)
    assert code == 0
    r = subprocess.run(check, env={**os.environ, **henv}, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stdout == ""        # -q: the exit code says it
    events = [json.loads(x)["record"]["extra"].get("event") for x in (tmp_path / "logs" / "health.log").read_text(
        encoding="utf-8").splitlines()]
    assert events.count("health_check") >= 3


# -- Kubernetes -------------------------------------------------------------------------------------
def manifests() -> list[dict]:
    return [d for p in sorted(KUBE.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text(encoding="utf-8")) if d]


def test_manifests_parse_and_fit_together() -> None:
    docs = {d["kind"]: d for d in manifests()}
    assert set(docs) >= {"Deployment", "Service"}
    dep = docs["Deployment"]
    pod = dep["spec"]["template"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert docs["Service"]["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (c,) = pod["spec"]["containers"]
    assert c["args"] == ["tts-engine", "serve"]
    env = {e["name"] for e in c["env"]}
    assert env <= set(ENV.values()) and {"TTSOPS_LOG_FORMAT", "TTSOPS_PORT"} <= env
    port = next(p["containerPort"] for p in c["ports"])
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert pod["spec"]["terminationGracePeriodSeconds"] > 30 + 2
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        cmd = c[kind]["exec"]["command"]
        assert cmd[:2] == ["tts-engine", "health"] and f"http://127.0.0.1:{port}" in cmd and "-q" in cmd
        timeout = float(cmd[cmd.index("--timeout") + 1])
        assert timeout < c[kind]["timeoutSeconds"]          # the check gives up before the kubelet does


def test_probes_pass_against_a_service_started_from_the_container_env(tmp_path: Path) -> None:
    (dep,) = [d for d in manifests() if d["kind"] == "Deployment"]
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    port = str(free_port())
    env = {e["name"]: str(e["value"]) for e in c["env"] if "value" in e}
    env.update(TTSOPS_HOST="127.0.0.1", TTSOPS_PORT=port, TTSOPS_LOG_DIR=str(tmp_path / "logs"))

    def probe(kind: str) -> subprocess.CompletedProcess:
        argv = [EXE if a == "tts-engine" else a.replace(":8000", f":{port}").replace("/var/log/ttsops",
                str(tmp_path / "logs")) for a in c[kind]["exec"]["command"]]
        return subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True,
                              timeout=c[kind]["timeoutSeconds"] + 10)

    assert probe("startupProbe").returncode == 1               # nothing listens yet
    argv = [EXE if a == "tts-engine" else a for a in c["args"]]
    proc = start(argv, env, tmp_path / "stdout.jsonl")
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, timeout=60)
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            r = probe(kind)
            assert r.returncode == 0 and r.stdout == "", (kind, r.stdout, r.stderr)
    finally:
        assert stop(proc) == 0
    assert probe("readinessProbe").returncode == 1
    lines = (tmp_path / "stdout.jsonl").read_text(encoding="utf-8").splitlines()   # TTSOPS_LOG_FORMAT=json
    records = [json.loads(x) for x in lines]
    assert records and {"time", "level", "message"} <= set(records[0])
    events = {r.get("event") for r in records}
    assert {"service_started", "backend_loaded", "service_stopped"} <= events
