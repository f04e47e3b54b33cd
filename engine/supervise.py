"""`tts-engine supervise`: run `tts-engine serve` as a child and keep it healthy.

Tiers (the seeds' runbooks: a restart that makes things worse is worse than none)
--------------------------------------------------------------------------------
``light_restart``   the service process: SIGTERM (drain), wait, SIGKILL if stuck, start again. On a
                    child that exited, L1 failing ``l1_failures`` times in a row, or L2 failing twice
                    in a row (a 4xx answer to the probe is logged as ``alert``: a restart cannot fix
                    input handling; a pass on the re-check is logged as ``transient``).
``heavy_restart``   back-end reload with caches cleared, in place: SIGUSR1 to the child (the listener
                    stays up). On an OOM or silent-output signature in the child's logs or L2 reason,
                    and on an L3 (emotion) failure.
``full_restart``    stop the child, clear the configured cache directories, wait for the port, start
                    afresh. When a signature comes back within ``escalate_within_s`` of a heavy
                    restart -- but only outside the busy window; inside it the supervisor logs
                    ``full_restart_deferred`` and reloads again.

Every restart counts against a budget (``restart_budget`` in ``budget_window_s``); light and full
restarts wait an exponential back-off first (reset after ``stable_after_s`` of health). When the budget
is spent the supervisor stops the child, logs ``give_up`` with the reason and exits 1: a crash loop
stops and says so instead of thrashing. Every decision is one JSON record (event
``supervisor_decision``: action, reason, counts) in ``logs/supervisor.log``.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any, Callable, Optional

from ttsops.errors import ConfigError

__all__ = ["SupervisorConfig", "Supervisor", "in_busy_window", "LogWatcher", "SIGNATURES"]

#: error types / message fragments in the child's logs that call for a back-end reload
SIGNATURES: dict[str, tuple[str, ...]] = {
    "cuda_oom": ("CUDA out of memory", "OutOfMemoryError", "cuda_oom"),
    "silent_output": ("audio output silent", "silent_output"),
}
LOG_FILES = ("inference.log", "service.log", "health.log")


@dataclass
class SupervisorConfig:
    """Every knob of the supervisor (``[supervisor]`` table of a TOML file)."""

    host: str = "127.0.0.1"
    port: int = 8000
    log_dir: Path = Path("logs")
    serve_args: list[str] = field(default_factory=list)   # extra `tts-engine serve` arguments
    l1_interval_s: float = 5.0
    l2_interval_s: float = 60.0
    l3_interval_s: float = 3600.0
    check_timeout_s: float = 10.0
    l1_failures: int = 2                  # consecutive L1 failures before a light restart
    startup_timeout_s: float = 60.0
    stop_timeout_s: float = 35.0          # SIGTERM drain time before SIGKILL
    backoff_initial_s: float = 1.0
    backoff_factor: float = 2.0
    backoff_max_s: float = 60.0
    stable_after_s: float = 120.0
    restart_budget: int = 5
    budget_window_s: float = 600.0
    busy_window: Optional[str] = None     # "09:00-18:00" (local time; may wrap midnight); None: never busy
    escalate_within_s: float = 300.0
    reload_cooldown_s: float = 5.0
    cache_dirs: list[Path] = field(default_factory=list)
    poll_s: float = 0.2
    max_runtime_s: Optional[float] = None  # stop after this long (soaks, tests)
    command: Optional[list[str]] = None    # override the child command (default: this python -m engine.cli serve)

    def __post_init__(self) -> None:
        from ttsops.config import check_types
        check_types(self, "supervisor")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"port must be in [1, 65535], got {self.port!r}", where="supervisor.port")
        for name in ("startup_timeout_s", "stop_timeout_s", "stable_after_s", "escalate_within_s",
                     "reload_cooldown_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}", where=f"supervisor.{name}")
        if self.max_runtime_s is not None and self.max_runtime_s <= 0:
            raise ConfigError("max_runtime_s must be > 0", where="supervisor.max_runtime_s")
        for name in ("l1_interval_s", "l2_interval_s", "l3_interval_s", "check_timeout_s", "poll_s",
                     "backoff_initial_s", "backoff_max_s", "budget_window_s"):
            if float(getattr(self, name)) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}", where=f"supervisor.{name}")
        if self.backoff_factor < 1:
            raise ConfigError("backoff_factor must be >= 1", where="supervisor.backoff_factor")
        if self.restart_budget < 1 or self.l1_failures < 1:
            raise ConfigError("restart_budget and l1_failures must be >= 1", where="supervisor")
        if self.busy_window is not None:
            _parse_window(self.busy_window)

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> "SupervisorConfig":
        from ttsops.config import load_toml

        from ttsops.config import section_from_toml

        p = Path(path)
        section = load_toml(p).get("supervisor", {})
        if isinstance(section, dict):
            section = {**section, **{k: v for k, v in overrides.items() if v is not None}}
        try:
            return section_from_toml(cls, section, where="[supervisor]")
        except ConfigError as exc:
            raise ConfigError(exc.message, where=f"{p}: {exc.where}", fix=exc.fix) from None


def _parse_window(spec: str) -> tuple[dtime, dtime]:
    try:
        a, b = (x.strip() for x in spec.split("-"))
        return dtime.fromisoformat(a), dtime.fromisoformat(b)
    except ValueError:
        raise ConfigError(f"busy_window must look like '09:00-18:00', got {spec!r}",
                          where="supervisor.busy_window") from None


def in_busy_window(spec: str | None, now: datetime | None = None) -> bool:
    """Whether ``now`` (local time) falls in ``HH:MM-HH:MM`` (wrapping midnight when start > end)."""
    if not spec:
        return False
    start, end = _parse_window(spec)
    t = (now or datetime.now()).time()
    return start <= t < end if start <= end else (t >= start or t < end)


class LogWatcher:
    """Follows the child's JSON logs (surviving rotation) and reports fault signatures."""

    def __init__(self, log_dir: Path, files: tuple[str, ...] = LOG_FILES):
        self.paths = [Path(log_dir) / f for f in files]
        self.pos: dict[Path, tuple[int, int]] = {}
        self.skip_to_end()

    def skip_to_end(self) -> None:
        for p in self.paths:
            try:
                st = p.stat()
                self.pos[p] = (st.st_ino, st.st_size)
            except OSError:
                self.pos[p] = (0, 0)

    def poll(self) -> list[tuple[str, str]]:
        """New ``(signature, evidence)`` pairs since the last call."""
        found: list[tuple[str, str]] = []
        for p in self.paths:
            try:
                st = p.stat()
            except OSError:
                continue
            ino, pos = self.pos.get(p, (0, 0))
            if st.st_ino != ino or st.st_size < pos:     # rotated or truncated: start over
                pos = 0
            if st.st_size == pos:
                self.pos[p] = (st.st_ino, pos)
                continue
            with open(p, "rb") as fh:
                fh.seek(pos)
                data = fh.read(min(st.st_size - pos, 8 * 1024 * 1024))
            cut = data.rfind(b"\n") + 1                   # only whole lines
            self.pos[p] = (st.st_ino, pos + cut)
            for raw in data[:cut].splitlines():
                sig = _signature(raw)
                if sig:
                    found.append(sig)
        return found


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """``preexec_fn`` for the child: SIGTERM (drain, exit) when the supervisor dies, even by SIGKILL
    (Linux ``PR_SET_PDEATHSIG``; it fires when the *thread* that started the child ends, and the
    supervisor starts children from its loop thread). ``None`` where prctl does not exist."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl   # looked up now: the child only calls it

    def arm() -> None:
        prctl(1, int(signal.SIGTERM), 0, 0, 0)        # PR_SET_PDEATHSIG
        if os.getppid() != parent:                    # the supervisor died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)
    return arm


def _signature(raw: bytes) -> tuple[str, str] | None:
    try:
        rec = json.loads(raw)["record"]
    except (ValueError, KeyError, TypeError):
        return None
    level = (rec.get("level") or {}).get("name", "")
    if level not in ("ERROR", "CRITICAL", "WARNING"):
        return None
    extra = rec.get("extra") or {}
    text = " ".join(str(x) for x in (extra.get("error_type"), extra.get("fault"), rec.get("message"),
                                     extra.get("reason")) if x)
    for sig, needles in SIGNATURES.items():
        if any(n in text for n in needles):
            where = extra.get("request_id") or extra.get("event") or ""
            return sig, f"{rec.get('message', '')[:160]} [{where}]"
    return None


class Supervisor:
    """The supervision loop. ``run()`` returns the exit code (0 stopped on request, 1 gave up)."""

    def __init__(self, cfg: SupervisorConfig, *, now: Callable[[], datetime] = datetime.now,
                 stderr: bool = True):
        from engine.logs import EngineLogs
        self.cfg = cfg
        self.now = now
        cfg.log_dir.mkdir(parents=True, exist_ok=True)
        self.logs = EngineLogs(cfg.log_dir, stderr=stderr, channels=("health",))
        route = self.logs.route
        from loguru import logger
        self._sink = logger.add(cfg.log_dir / "supervisor.log", serialize=True, level="DEBUG",
                                rotation="50 MB", retention=5, encoding="utf-8",
                                filter=lambda r: r.get("_ttsops_route") == route
                                and r["extra"].get("channel") == "supervisor")
        self.log = self.logs.channel("supervisor")
        self.child: subprocess.Popen | None = None
        self.child_started = 0.0
        self.child_tail: deque[str] = deque(maxlen=30)
        self.restarts: deque[float] = deque()
        self.restart_counts = {"light_restart": 0, "heavy_restart": 0, "full_restart": 0}
        self.consecutive = 0
        self.healthy_since: float | None = None
        self.last_reload: float | None = None
        self.l1_fails = 0
        self.stop_requested: str | None = None
        self.watcher = LogWatcher(cfg.log_dir)
        self.url = f"http://{cfg.host}:{cfg.port}"
        self.exit_reason = ""
        self.pending_start = False

    # -- logging ----------------------------------------------------------------------------
    def decide(self, action: str, reason: str, level: str = "INFO", **extra: Any) -> None:
        now = time.monotonic()
        rec = dict(event="supervisor_decision", action=action, reason=reason,
                   restarts_in_window=self._in_window(now), restart_budget=self.cfg.restart_budget,
                   budget_window_s=self.cfg.budget_window_s,
                   child_pid=self.child.pid if self.child else None, **extra)
        self.log.bind(**rec).log(level, f"supervisor: {action}: {reason}")

    def _in_window(self, now: float) -> int:
        while self.restarts and now - self.restarts[0] > self.cfg.budget_window_s:
            self.restarts.popleft()
        return len(self.restarts)

    # -- child ------------------------------------------------------------------------------
    def command(self) -> list[str]:
        if self.cfg.command:
            return [str(x) for x in self.cfg.command]
        return [sys.executable, "-m", "engine.cli", "serve", "--host", self.cfg.host, "--port", str(self.cfg.port),
                "--log-dir", str(self.cfg.log_dir), *[str(a) for a in self.cfg.serve_args]]

    def start_child(self, why: str) -> None:
        from engine.logs import process_logging
        cmd = self.command()
        # with JSON logs on stdout (a container) the child's records go there too; its stderr is
        # kept for the one-line reason of a crash either way
        json_out = process_logging().log_format == "json"
        self.child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=None if json_out else subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, start_new_session=True,
                                      preexec_fn=_die_with_parent(os.getpid()))
        self.child_started = time.monotonic()
        self.child_tail.clear()
        self.healthy_since = None
        self.l1_fails = 0
        self.pending_start = True
        threading.Thread(target=self._pump, args=(self.child,), daemon=True, name="child-stderr").start()
        self.decide("start", why, command=" ".join(cmd))

    def _pump(self, child: subprocess.Popen) -> None:
        assert child.stderr is not None
        for raw in child.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            self.child_tail.append(line)

    def _last_error_line(self) -> str:
        for line in reversed(self.child_tail):
            if line.strip():
                return line.strip()[:300]
        return ""

    def stop_child(self, *, graceful: bool = True) -> int | None:
        c = self.child
        if c is None:
            return None
        if c.poll() is None:
            try:
                c.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
                c.wait(timeout=self.cfg.stop_timeout_s if graceful else 5)
            except subprocess.TimeoutExpired:
                self.decide("kill", f"child did not stop within {self.cfg.stop_timeout_s:g}s of SIGTERM",
                            level="WARNING")
                c.kill()
                c.wait(timeout=10)
            except ProcessLookupError:
                pass
        return c.returncode

    # -- restarts ---------------------------------------------------------------------------
    def _backoff(self) -> float:
        return min(self.cfg.backoff_max_s,
                   self.cfg.backoff_initial_s * self.cfg.backoff_factor ** max(0, self.consecutive - 1))

    def _budget_ok(self, action: str, reason: str) -> bool:
        now = time.monotonic()
        if self._in_window(now) >= self.cfg.restart_budget:
            self.exit_reason = (f"restart budget exhausted: {len(self.restarts)} restarts in the last "
                                f"{self.cfg.budget_window_s:g}s (budget {self.cfg.restart_budget}); "
                                f"wanted a {action} because {reason}")
            self.decide("give_up", self.exit_reason, level="CRITICAL")
            return False
        self.restarts.append(now)
        self.restart_counts[action] = self.restart_counts.get(action, 0) + 1
        return True

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self.stop_requested:
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))

    def light_restart(self, reason: str) -> bool:
        if not self._budget_ok("light_restart", reason):
            return False
        self.consecutive += 1
        delay = self._backoff()
        code = self.child.poll() if self.child else None
        self.decide("light_restart", reason, backoff_s=round(delay, 3), exit_code=code)
        if code is None:
            self.stop_child(graceful=True)
        self._sleep(delay)
        if not self.stop_requested:
            self.start_child(f"light restart: {reason}")
        return True

    def heavy_restart(self, reason: str) -> bool:
        now = time.monotonic()
        if self.last_reload is not None and now - self.last_reload < self.cfg.reload_cooldown_s:
            self.decide("cooldown", f"{reason} (reload {now - self.last_reload:.1f}s ago; cooling down)",
                        level="DEBUG")
            return True
        if self.last_reload is not None and now - self.last_reload < self.cfg.escalate_within_s:
            if in_busy_window(self.cfg.busy_window, self.now()):
                self.decide("full_restart_deferred", f"{reason} again {now - self.last_reload:.0f}s after a "
                            f"reload, but inside the busy window {self.cfg.busy_window}; reloading instead",
                            level="WARNING")
            else:
                return self.full_restart(f"{reason} again {now - self.last_reload:.0f}s after a reload")
        if not self._budget_ok("heavy_restart", reason):
            return False
        c = self.child
        if c is None or c.poll() is not None:
            return self.light_restart(f"{reason} (child not running for a reload)")
        gen = self._generation()
        self.decide("heavy_restart", reason, method="SIGUSR1", generation=gen)
        c.send_signal(signal.SIGUSR1)
        self.last_reload = time.monotonic()
        deadline = time.monotonic() + self.cfg.startup_timeout_s
        while time.monotonic() < deadline and not self.stop_requested and c.poll() is None:
            g = self._generation()
            if g is not None and gen is not None and g > gen:
                self.decide("reloaded", f"back-end generation {gen} -> {g}", generation=g)
                break
            time.sleep(0.1)
        else:
            if not self.stop_requested:
                self.decide("reload_unconfirmed", "the child did not report a new back-end generation",
                            level="WARNING")
        self.watcher.skip_to_end()
        return True

    def full_restart(self, reason: str) -> bool:
        if not self._budget_ok("full_restart", reason):
            return False
        self.consecutive += 1
        delay = self._backoff()
        self.decide("full_restart", reason, backoff_s=round(delay, 3),
                    cache_dirs=[str(p) for p in self.cfg.cache_dirs])
        self.stop_child(graceful=True)
        for d in self.cfg.cache_dirs:
            if d.is_dir():
                for child in d.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)
        self._wait_port_free(10.0)
        self._sleep(delay)
        self.last_reload = None
        self.watcher.skip_to_end()
        if not self.stop_requested:
            self.start_child(f"full restart: {reason}")
        return True

    def _wait_port_free(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s = socket.socket()
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((self.cfg.host, self.cfg.port))
                return
            except OSError:
                time.sleep(0.1)
            finally:
                s.close()

    def _generation(self) -> int | None:
        from ttsops.http import request
        try:
            return int(request("GET", self.url + "/health", deadline=self.cfg.check_timeout_s).json().get("generation"))
        except Exception:
            return None

    # -- checks -----------------------------------------------------------------------------
    def _check(self, level: int) -> Any:
        from engine.health import HealthConfig, check
        return check(level, url=self.url, config=HealthConfig(timeout_s=self.cfg.check_timeout_s),
                     log=self.logs.health)

    def _wait_started(self) -> bool:
        """Until L1 passes (True), the child exits or the start-up times out (False)."""
        deadline = time.monotonic() + self.cfg.startup_timeout_s
        while time.monotonic() < deadline and not self.stop_requested:
            if self.child is None or self.child.poll() is not None:
                return False
            from engine.health import HealthConfig, check
            if check(1, url=self.url, config=HealthConfig(timeout_s=min(0.5, self.cfg.check_timeout_s))).ok:
                self.decide("healthy", f"child pid {self.child.pid} answers /health after "
                            f"{time.monotonic() - self.child_started:.1f}s")
                self.healthy_since = time.monotonic()
                return True
            time.sleep(0.1)
        return False

    # -- loop -------------------------------------------------------------------------------
    def request_stop(self, why: str) -> None:
        self.stop_requested = why

    def run(self) -> int:
        cfg = self.cfg
        t_start = time.monotonic()
        installed = []
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                installed.append((sig, signal.signal(sig, lambda s, f: self.request_stop(signal.Signals(s).name))))
        code = 0
        try:
            self.start_child("supervisor start")
            next_l1 = time.monotonic() + cfg.l1_interval_s
            next_l2 = time.monotonic() + cfg.l2_interval_s
            next_l3 = time.monotonic() + cfg.l3_interval_s
            while not self.stop_requested:
                now = time.monotonic()
                if cfg.max_runtime_s is not None and now - t_start >= cfg.max_runtime_s:
                    self.request_stop(f"max runtime {cfg.max_runtime_s:g}s reached")
                    break
                ok = True
                c = self.child
                if c is not None and c.poll() is not None:
                    last = self._last_error_line()
                    ok = self.light_restart(f"child exited with code {c.returncode}" + (f": {last}" if last else ""))
                elif self.pending_start:
                    if self._wait_started():
                        self.pending_start = False
                        next_l1 = time.monotonic() + cfg.l1_interval_s
                    elif not self.stop_requested and self.child is not None and self.child.poll() is None:
                        ok = self.light_restart(f"child not healthy within {cfg.startup_timeout_s:g}s of start")
                else:
                    for sig, evidence in self.watcher.poll()[:1]:
                        ok = self.heavy_restart(f"{sig} signature in the logs: {evidence}")
                        break
                    if ok and not self.pending_start and now >= next_l1:
                        next_l1 = now + cfg.l1_interval_s
                        r = self._check(1)
                        if r.ok:
                            self.l1_fails = 0
                        else:
                            self.l1_fails += 1
                            if self.l1_fails >= cfg.l1_failures:
                                ok = self.light_restart(f"L1 failed {self.l1_fails}x: {r.reason}")
                    if ok and not self.pending_start and now >= next_l2:
                        next_l2 = now + cfg.l2_interval_s
                        r = self._check(2)
                        if not r.ok and not self.stop_requested:
                            r2 = self._check(2)          # confirm: one unlucky request is no outage
                            if r2.ok:
                                self.decide("transient", f"L2 failed once then passed: {r.reason}", level="WARNING")
                            elif " answered 4" in r2.reason:
                                self.decide("alert", f"L2 probe rejected as bad input twice (a restart would not "
                                            f"fix input handling): {r2.reason}", level="ERROR")
                            elif "silent" in r2.reason:
                                ok = self.heavy_restart(f"L2 failed twice: {r2.reason}")
                            else:
                                ok = self.light_restart(f"L2 failed twice: {r2.reason}")
                    if ok and not self.pending_start and now >= next_l3:
                        next_l3 = now + cfg.l3_interval_s
                        r = self._check(3)
                        if not r.ok:
                            ok = self.heavy_restart(f"L3 failed: {r.reason}")
                    if self.healthy_since is not None and time.monotonic() - self.healthy_since > cfg.stable_after_s:
                        self.consecutive = 0
                if not ok:
                    code = 1
                    break
                self._sleep(cfg.poll_s)
        finally:
            why = self.stop_requested or self.exit_reason or "stopping"
            rc = self.stop_child(graceful=True)
            self.decide("stop", why, level="INFO" if code == 0 else "ERROR", exit_code=rc,
                        restarts=dict(self.restart_counts), supervisor_exit=code)
            for sig, prev in installed:
                signal.signal(sig, prev)
            self.close()
        return code

    def close(self) -> None:
        from loguru import logger
        try:
            logger.remove(self._sink)
        except ValueError:
            pass
        self.logs.close()
