"""`tts-engine serve`: the HTTP service (POST /api/tts, GET /health, GET /metrics, WebUI at /)."""
from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option("--backend", default=None, help="Default back-end (espeak, kokoro, modelscope).")
@click.option("--inject", "inject", default=None, is_flag=False, flag_value="all", metavar="[SPEC]",
              help="Seeded fault injection: bare flag for every fault, or e.g. 'cuda_oom,silent_output', 'rate=0.1'.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fault injection.")
@click.option("--max-concurrency", type=click.IntRange(1, 256), default=4, show_default=True,
              help="Syntheses at once; more requests get 429 + Retry-After at once.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.01, 3600), default=30.0, show_default=True,
              help="Seconds before a request answers 504 (request_timeout).")
@click.option("--max-text-length", type=click.IntRange(1, 1_000_000), default=2000, show_default=True,
              help="Longest text accepted (characters); longer gets 413.")
@click.option("--max-body-bytes", type=click.IntRange(64, 100_000_000), default=64 * 1024, show_default=True,
              help="Largest request body; larger gets 413.")
@click.option("--drain-timeout", type=click.FloatRange(0, 3600), default=30.0, show_default=True,
              help="Seconds SIGTERM waits for in-flight requests.")
@click.option("--log-dir", type=click.Path(path_type=Path), default=Path("logs"), show_default=True)
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Engine TOML ([engine] table).")
def serve(host: str, port: int, backend: str | None, inject: str | None, seed: int, max_concurrency: int,
          timeout_s: float, max_text_length: int, max_body_bytes: int, drain_timeout: float, log_dir: Path,
          config_path: Path | None) -> int:
    """Serve text-to-speech over HTTP until SIGTERM/SIGINT (which drain in-flight requests).

    SIGUSR1 reloads the back-end without dropping the listener. A port already in use is one line
    on stderr and exit 2.
    """
    from engine.service import ServiceSettings, run_service

    settings = ServiceSettings(host=host, port=port, backend=backend, inject=inject, seed=seed,
                               max_concurrency=max_concurrency, timeout_s=timeout_s,
                               max_text_length=max_text_length, max_body_bytes=max_body_bytes,
                               drain_timeout_s=drain_timeout, log_dir=log_dir, config_path=config_path)
    return run_service(settings)
