"""`tts-engine serve`: the HTTP service (POST /api/tts, POST /tts, GET /health, GET /metrics, WebUI at /)."""
from __future__ import annotations

from pathlib import Path

import click

from engine.commands._options import (ENV, config_option, log_dir_option, log_format_option, sentry_option,
                                      start_streams)


def _env(name: str) -> dict:
    return {"envvar": ENV[name], "show_envvar": True}


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.", **_env("host"))
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port to listen on.",
              **_env("port"))
@click.option("--backend", default=None, help="Default back-end (espeak, kokoro, modelscope).", **_env("backend"))
@click.option("--inject", "inject", default=None, is_flag=False, flag_value="all", metavar="[SPEC]",
              help="Seeded fault injection: bare flag for every fault, or e.g. 'cuda_oom,silent_output', 'rate=0.1'.",
              **_env("inject"))
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fault injection.")
@click.option("--max-concurrency", type=click.IntRange(1, 256), default=4, show_default=True,
              help="Syntheses at once; more requests get 429 + Retry-After at once.", **_env("max_concurrency"))
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.01, 3600), default=30.0, show_default=True,
              help="Seconds before a request answers 504 (request_timeout).", **_env("timeout"))
@click.option("--max-text-length", type=click.IntRange(1, 1_000_000), default=2000, show_default=True,
              help="Longest text accepted (characters); longer gets 413.", **_env("max_text_length"))
@click.option("--max-body-bytes", type=click.IntRange(64, 100_000_000), default=64 * 1024, show_default=True,
              help="Largest request body; larger gets 413.", **_env("max_body_bytes"))
@click.option("--drain-timeout", type=click.FloatRange(0, 3600), default=30.0, show_default=True,
              help="Seconds SIGTERM waits for in-flight requests.", **_env("drain_timeout"))
@click.option("--max-audio-seconds", type=click.FloatRange(1, 3600), default=120.0, show_default=True,
              help="Longest audio one request may make; beyond it the synthesis stops with 413 audio_too_long.",
              **_env("max_audio_seconds"))
@click.option("--header-timeout", "header_timeout_s", type=click.FloatRange(0.1, 600), default=10.0,
              show_default=True, help="Seconds a client has to send its request line and headers (else 408).",
              **_env("header_timeout"))
@click.option("--body-timeout", "body_timeout_s", type=click.FloatRange(0.1, 600), default=10.0,
              show_default=True, help="Seconds a client has to send its whole body (else 408).", **_env("body_timeout"))
@click.option("--api-key", default=None, help="Require this key on /api/* and /tts (Authorization: Bearer KEY or "
              "X-API-Key: KEY); /health and /metrics stay open for probes and scrapers.", **_env("api_key"))
@click.option("--allowed-hosts", default=None, metavar="LIST",
              help="Comma-separated Host header values to answer ('*' for any; default: loopback names when "
                   "bound to loopback, any otherwise).", **_env("allowed_hosts"))
@click.option("--allow-backends", default=None, metavar="LIST",
              help="Comma-separated back-ends a request may name (default: only the service's own; "
                   "loading another, e.g. Kokoro, is not free).", **_env("allow_backends"))
@log_dir_option()
@config_option("Engine TOML ([engine] table; its log_format and [engine.sentry] apply too).")
@log_format_option
@sentry_option
def serve(host: str, port: int, backend: str | None, inject: str | None, seed: int, max_concurrency: int,
          timeout_s: float, max_text_length: int, max_body_bytes: int, drain_timeout: float,
          max_audio_seconds: float, header_timeout_s: float, body_timeout_s: float, api_key: str | None,
          allowed_hosts: str | None, allow_backends: str | None, log_dir: Path, config_path: Path | None,
          log_format: str | None, sentry_dsn: str | None) -> int:
    """Serve text-to-speech over HTTP until SIGTERM/SIGINT (which drain in-flight requests).

    SIGUSR1 reloads the back-end without dropping the listener. A port already in use is one line
    on stderr and exit 2.
    """
    from engine.backends import REGISTRY
    from engine.config import EngineConfig
    from engine.service import ServiceSettings, run_service

    backends = _list(allow_backends)
    unknown = [b for b in backends or [] if b not in REGISTRY]
    if unknown:
        raise click.BadParameter(f"unknown back-end {unknown[0]!r}; choose from {', '.join(REGISTRY)}",
                                 param_hint="--allow-backends")
    if api_key is not None and not api_key.strip():
        raise click.BadParameter("must not be empty", param_hint="--api-key")
    start_streams(log_format, sentry_dsn, EngineConfig.from_toml(config_path) if config_path else None)
    settings = ServiceSettings(host=host, port=port, backend=backend, inject=inject, seed=seed,
                               max_concurrency=max_concurrency, timeout_s=timeout_s,
                               max_text_length=max_text_length, max_body_bytes=max_body_bytes,
                               drain_timeout_s=drain_timeout, max_audio_seconds=max_audio_seconds,
                               header_timeout_s=header_timeout_s, body_timeout_s=body_timeout_s, api_key=api_key,
                               allowed_hosts=_list(allowed_hosts), allowed_backends=backends,
                               log_dir=log_dir, config_path=config_path)
    return run_service(settings)


def _list(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]
