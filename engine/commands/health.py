"""`tts-engine health --level 1|2|3`: L1 alive, L2 real synthesis, L3 emotion semantics."""
from __future__ import annotations

import json
from pathlib import Path

import click

from engine.commands._options import (ENV, color_option, emit, format_option, log_dir_option, output_option,
                                      quiet_option, resolved_format, use_color)


@click.command()
@click.option("--level", type=click.IntRange(1, 3), default=1, show_default=True,
              help="1: alive + back-end loaded; 2: a real synthesis of 你好,世界。; 3: happy vs serious F0.")
@click.option("--url", default=None, envvar=ENV["health_url"], show_envvar=True,
              help="Check a running service (http://127.0.0.1:8000); default: in-process.")
@format_option
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.1, 600), default=30.0, show_default=True,
              envvar=ENV["health_timeout"], show_envvar=True,
              help="Overall deadline of the check (every request of it, a trickling server included).")
@click.option("--backend", default=None, help="Back-end to check (default: the engine's default).")
@click.option("--speaker", default=None, help="Speaker to check.")
@log_dir_option(help="health.log goes here.")
@click.option("--api-key", envvar=ENV["api_key"], default=None, show_envvar=True,
              help="Key of a service started with --api-key (sent as a Bearer token).")
@click.option("--wait", "wait_s", type=click.FloatRange(0, 3600), default=0.0, show_default=True,
              help="Check again every 0.5 s until it passes or this many seconds have passed (a service "
                   "that is still starting: systemd ExecStartPost, a container start period).")
@output_option()
@quiet_option("Print nothing; the exit code tells (0 ok, 1 failed): for probes.")
@color_option
def health(level: int, url: str | None, fmt: str | None, timeout_s: float, backend: str | None,
           speaker: str | None, log_dir: Path, api_key: str | None, wait_s: float, output: Path | None,
           quiet: bool, color: str) -> int:
    """Run one health check; log it to logs/health.log (event health_check). Exit 0 ok, 1 failed."""
    from engine.health import HealthConfig, wait_until_ok
    from engine.logs import EngineLogs, remove_default_stderr_handler

    remove_default_stderr_handler()
    cfg = HealthConfig(timeout_s=timeout_s, backend=backend, speaker=speaker, api_key=api_key)
    with EngineLogs(log_dir) as logs:
        engine = None
        if url is None:
            from engine.config import EngineConfig
            from engine.synth import Engine
            ecfg = EngineConfig(log_dir=log_dir)
            if backend:
                ecfg.default_backend = backend
            engine = Engine(ecfg, logs=logs)
        try:
            res = wait_until_ok(level, wait_s=wait_s, url=url, engine=engine, config=cfg, log=logs.health)
        finally:
            if engine is not None:
                engine.close()
    if resolved_format(fmt) == "json":
        d = res.to_dict()
        d["details"].pop("traceback", None)
        text = json.dumps(d, default=str, ensure_ascii=False)
    else:
        text = res.line()
        if output is None and use_color(color):
            state = "ok" if res.ok else "FAILED"
            text = text.replace(f" {state} ", " " + click.style(state, fg="green" if res.ok else "red", bold=True) + " ", 1)
    emit(text, output, quiet=quiet, color=color == "always" or None)
    return 0 if res.ok else 1
