"""The flag vocabulary every ``tts-engine`` subcommand shares, and the process set-up behind it.

``--format text|json`` (``--json`` kept as its alias), ``-o/--output``, ``--no-progress``,
``--color auto|always|never`` (``NO_COLOR`` honoured), ``-q/--quiet``, ``--log-format text|json``
and ``--sentry-dsn``; each option that matters in a container also reads a ``TTSOPS_*`` variable
(docs/engine.md lists them). A command is: parse, :func:`start_streams`, call the library,
:func:`emit` the result.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable, TextIO

import click

from ttsops.cluster import ENV_SCHEDULER

__all__ = ["format_option", "output_option", "quiet_option", "color_option", "progress_option",
           "log_format_option", "sentry_option", "log_dir_option", "config_option", "start_streams",
           "use_color", "rich_color_env", "emit", "resolved_format", "human_stream", "ENV"]

#: option -> environment variable, for the options that matter in a container (docs/engine.md)
ENV = {
    "host": "TTSOPS_HOST", "port": "TTSOPS_PORT", "backend": "TTSOPS_BACKEND",
    "max_concurrency": "TTSOPS_MAX_CONCURRENCY", "timeout": "TTSOPS_TIMEOUT",
    "max_text_length": "TTSOPS_MAX_TEXT_LENGTH", "max_body_bytes": "TTSOPS_MAX_BODY_BYTES",
    "max_audio_seconds": "TTSOPS_MAX_AUDIO_SECONDS", "drain_timeout": "TTSOPS_DRAIN_TIMEOUT",
    "header_timeout": "TTSOPS_HEADER_TIMEOUT", "body_timeout": "TTSOPS_BODY_TIMEOUT",
    "api_key": "TTSOPS_API_KEY", "allowed_hosts": "TTSOPS_ALLOWED_HOSTS", "allow_backends": "TTSOPS_ALLOW_BACKENDS",
    "inject": "TTSOPS_INJECT", "log_dir": "TTSOPS_LOG_DIR", "config": "TTSOPS_CONFIG",
    "log_format": "TTSOPS_LOG_FORMAT", "sentry_dsn": "SENTRY_DSN", "color": "TTSOPS_COLOR",
    "health_url": "TTSOPS_HEALTH_URL", "health_timeout": "TTSOPS_HEALTH_TIMEOUT",
    "prompt_root": "TTSOPS_PROMPT_ROOT", "scheduler": ENV_SCHEDULER,
}


def _alias_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta["format_alias"] = "json"
    return value


def format_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--format text|json``; ``--json`` is the older spelling of ``--format json``."""
    f = click.option("--json", "json_alias", is_flag=True, expose_value=False, callback=_alias_json,
                     is_eager=True, help="Same as --format json.")(f)
    return click.option("--format", "fmt", type=click.Choice(["text", "json"]), default=None,
                        help="Output: text (default) or one JSON object (--json is the same).")(f)


def resolved_format(fmt: str | None) -> str:
    """The ``--format`` value with the ``--json`` alias applied."""
    ctx = click.get_current_context(silent=True)
    alias = ctx.meta.get("format_alias") if ctx is not None else None
    return fmt or alias or "text"


def output_option(help: str = "Write the result to FILE instead of stdout.") -> Callable[..., Any]:
    return click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path),
                        default=None, help=help)


def quiet_option(help: str = "Print nothing but errors; the exit code tells.") -> Callable[..., Any]:
    return click.option("-q", "--quiet", "quiet", is_flag=True, help=help)


color_option = click.option(
    "--color", "color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
    envvar=ENV["color"], show_envvar=True, help="Colour in terminal output (auto: a terminal and no NO_COLOR).")

progress_option = click.option(
    "--progress/--no-progress", "progress", default=None,
    help="Progress bar on stderr (default: when stderr is a terminal and not --quiet).")

log_format_option = click.option(
    "--log-format", "log_format", type=click.Choice(["text", "json"]), default=None, envvar=ENV["log_format"],
    show_envvar=True, help="text: plain console lines on stderr; json: every log record as one flat JSON "
                           "object a line on stdout (Docker/Kubernetes; tts-analyze reads it). Default: the "
                           "config's log_format, else text.")

sentry_option = click.option(
    "--sentry-dsn", "sentry_dsn", default=None, envvar=ENV["sentry_dsn"], show_envvar=True, metavar="DSN",
    help="Report errors and key warnings to Sentry (needs ttsops[sentry]); never text or audio.")


def log_dir_option(default: Path | None = Path("logs"), help: str = "Where the log files go.") -> Callable[..., Any]:
    return click.option("--log-dir", "log_dir", type=click.Path(file_okay=False, path_type=Path), default=default,
                        show_default=default is not None, envvar=ENV["log_dir"], show_envvar=True, help=help)


def config_option(help: str = "TOML file with an [engine] section.") -> Callable[..., Any]:
    return click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        envvar=ENV["config"], show_envvar=True, help=help)


def use_color(color: str, stream: TextIO | None = None) -> bool:
    """``always``/``never`` as said; ``auto``: ``stream`` is a terminal and ``NO_COLOR`` is unset or empty."""
    if color == "always":
        return True
    if color == "never" or os.environ.get("NO_COLOR"):
        return False
    stream = stream if stream is not None else sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def rich_color_env(color: str) -> None:
    """``--color`` for what rich draws in this process (progress bars): rich reads ``NO_COLOR`` and
    ``FORCE_COLOR`` when it makes a console."""
    if color == "never":
        os.environ["NO_COLOR"] = "1"
    elif color == "always":
        os.environ.pop("NO_COLOR", None)
        os.environ["FORCE_COLOR"] = "1"


def start_streams(log_format: str | None, sentry_dsn: str | None, config: Any = None) -> str:
    """Set this process's log streams (``--log-format``, Sentry) for the command; undone when the
    command ends. ``config``: an :class:`engine.config.EngineConfig` whose ``log_format`` and
    ``sentry`` apply where the flags are not given. Returns the log format in force."""
    from engine.logs import configure_process_logging
    from engine.sentry import SentryReporter

    fmt = log_format or (config.log_format if config is not None else None) or "text"
    sentry_cfg = config.sentry if config is not None else None
    if sentry_dsn:
        from engine.config import SentryConfig
        base = sentry_cfg or SentryConfig()
        sentry_cfg = SentryConfig(dsn=sentry_dsn, environment=base.environment, sample_rate=base.sample_rate,
                                  messages=base.messages)
    reporter = SentryReporter.from_config(sentry_cfg)
    previous = configure_process_logging(log_format=fmt, sentry=reporter)
    ctx = click.get_current_context(silent=True)

    def restore() -> None:
        configure_process_logging(log_format=previous.log_format, stream=previous.stream, sentry=previous.sentry)
        if reporter is not None:
            reporter.close()
    if ctx is not None:
        ctx.call_on_close(restore)
    return fmt


def human_stream(log_format: str) -> TextIO:
    """Where a command's own lines go: stdout, unless the JSON logs have it (then stderr)."""
    return sys.stderr if log_format == "json" else sys.stdout


def emit(text: str, output: Path | None = None, *, quiet: bool = False, stream: TextIO | None = None,
         color: bool | None = None) -> None:
    """The command's result: to ``output`` (a file, written whole) or the stream; nothing if quiet
    (a file is still written: it was asked for). ``color``: keep styles even off a terminal."""
    if output is not None:
        from ttsops.errors import InputError
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write the output: {exc.strerror or exc}", where=str(output)) from None
        return
    if not quiet:
        click.echo(text, file=stream if stream is not None else sys.stdout, color=color)
