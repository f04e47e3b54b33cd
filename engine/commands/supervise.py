"""`tts-engine supervise`: run the service as a child and keep it healthy (tiered restarts, budget)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import click

from engine.commands._options import (ENV, format_option, log_format_option, quiet_option, resolved_format,
                                      sentry_option, start_streams)


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--host", default=None, envvar=ENV["host"], show_envvar=True,
              help="Service address (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, envvar=ENV["port"], show_envvar=True,
              help="Service port (default 8000).")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="TOML with a [supervisor] table (intervals, back-off, budget, busy_window, ...).")
@click.option("--log-dir", type=click.Path(path_type=Path), default=None, envvar=ENV["log_dir"], show_envvar=True,
              help="Logs (default logs/).")
@click.option("--inject", default=None, is_flag=False, flag_value="all", metavar="[SPEC]",
              help="Pass --inject SPEC to the service (fault-injected soak).")
@click.option("--max-runtime", type=click.FloatRange(0.1, None), default=None,
              help="Stop after this many seconds (soaks).")
@format_option
@quiet_option("No summary line when it stops (the reason of a give-up still goes to stderr).")
@log_format_option
@sentry_option
@click.argument("serve_args", nargs=-1, type=click.UNPROCESSED)
def supervise(host: str | None, port: int | None, config_path: Path | None, log_dir: Path | None,
              inject: str | None, max_runtime: float | None, fmt: str | None, quiet: bool, log_format: str | None,
              sentry_dsn: str | None, serve_args: tuple[str, ...]) -> int:
    """Run `tts-engine serve` and keep it healthy: L1 every few seconds, L2 every minute, L3 hourly.

    Extra arguments after `--` go to `tts-engine serve` (e.g. `-- --max-concurrency 8`). Every decision
    is a JSON record (event supervisor_decision) in LOG_DIR/supervisor.log. Exit 0 when stopped by
    SIGTERM/SIGINT or --max-runtime, 1 when the restart budget is exhausted (crash loop).
    """
    from engine.logs import remove_default_stderr_handler
    from engine.supervise import Supervisor, SupervisorConfig

    remove_default_stderr_handler()
    streams = start_streams(log_format, sentry_dsn)
    if sentry_dsn:                  # the child reports too; through its environment, not its argv
        os.environ["SENTRY_DSN"] = sentry_dsn
    over = {"host": host, "port": port, "log_dir": log_dir, "max_runtime_s": max_runtime}
    cfg = SupervisorConfig.from_toml(config_path, **over) if config_path else \
        SupervisorConfig(**{k: v for k, v in over.items() if v is not None})
    extra = list(cfg.serve_args) + list(serve_args)
    if inject is not None:
        extra += ["--inject", inject]
    if log_format is not None:      # the child logs as the supervisor does (its stdout is ours with json)
        extra += ["--log-format", streams]
    cfg.serve_args = extra
    sup = Supervisor(cfg)
    code = sup.run()
    total = sum(sup.restart_counts.values())
    summary = ", ".join(f"{k} {v}" for k, v in sup.restart_counts.items())
    if code:
        click.echo(f"error: supervisor gave up: {sup.exit_reason}; last child output: "
                   f"{sup._last_error_line() or '(none)'}", err=True)
    if quiet:
        return code
    if resolved_format(fmt) == "json":
        click.echo(json.dumps({"exit_code": code, "stopped": sup.stop_requested, "reason": sup.exit_reason,
                               "restarts": dict(sup.restart_counts), "restarts_total": total}, default=str), err=True)
    elif not code:
        click.echo(f"supervisor stopped ({sup.stop_requested}); {total} restart(s): {summary}", err=True)
    return code
