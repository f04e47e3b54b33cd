"""`tts-engine health --level 1|2|3`: L1 alive, L2 real synthesis, L3 emotion semantics."""
from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.option("--level", type=click.IntRange(1, 3), default=1, show_default=True,
              help="1: alive + back-end loaded; 2: a real synthesis of 你好,世界。; 3: happy vs serious F0.")
@click.option("--url", default=None, help="Check a running service (http://127.0.0.1:8000); default: in-process.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.1, 600), default=30.0, show_default=True,
              help="Overall deadline of the check (every request of it, a trickling server included).")
@click.option("--backend", default=None, help="Back-end to check (default: the engine's default).")
@click.option("--speaker", default=None, help="Speaker to check.")
@click.option("--log-dir", type=click.Path(path_type=Path), default=Path("logs"), show_default=True,
              help="health.log goes here.")
@click.option("--api-key", envvar="TTSOPS_API_KEY", default=None, show_envvar=True,
              help="Key of a service started with --api-key (sent as a Bearer token).")
def health(level: int, url: str | None, as_json: bool, timeout_s: float, backend: str | None,
           speaker: str | None, log_dir: Path, api_key: str | None) -> int:
    """Run one health check; log it to logs/health.log (event health_check). Exit 0 ok, 1 failed."""
    from engine.health import HealthConfig, check
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
            res = check(level, url=url, engine=engine, config=cfg, log=logs.health)
        finally:
            if engine is not None:
                engine.close()
    if as_json:
        d = res.to_dict()
        d["details"].pop("traceback", None)
        click.echo(json.dumps(d, default=str, ensure_ascii=False))
    else:
        click.echo(res.line())
    return 0 if res.ok else 1
