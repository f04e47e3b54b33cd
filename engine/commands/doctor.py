"""`tts-engine doctor`: the deployment checklist (PASS/WARN/FAIL with evidence and fix)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout (checks, summary).")
@click.option("--port", type=int, default=8000, show_default=True, help="Port the service will listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the service will bind.")
@click.option("--log-dir", type=click.Path(path_type=Path), default=Path("logs"), show_default=True,
              help="Where the engine writes its logs.")
def doctor(as_json: bool, port: int, host: str, log_dir: Path) -> int:
    """Check this machine before deploying: packages, numpy ABI, eSpeak NG, torch/CUDA, weights, disk, port.

    Exit 0 when nothing FAILs (WARNs are optional parts), 1 otherwise.
    """
    from engine.doctor import FAIL, format_checks, run_doctor, worst

    checks = run_doctor(port=port, host=host, log_dir=log_dir)
    status = worst(checks)
    if as_json:
        click.echo(json.dumps({"status": status, "checks": [c.to_dict() for c in checks]}, default=str))
    else:
        click.echo(format_checks(checks))
    sys.stdout.flush()
    return 1 if status == FAIL else 0
