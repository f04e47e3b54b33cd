"""`tts-engine doctor`: the deployment checklist (PASS/WARN/FAIL with evidence and fix)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from engine.commands._options import (ENV, color_option, emit, format_option, log_dir_option, output_option,
                                      quiet_option, resolved_format, use_color)

_STYLE = {"PASS": "green", "WARN": "yellow", "FAIL": "red"}


@click.command()
@format_option
@click.option("--port", type=int, default=8000, show_default=True, envvar=ENV["port"], show_envvar=True,
              help="Port the service will listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, envvar=ENV["host"], show_envvar=True,
              help="Address the service will bind.")
@log_dir_option(help="Where the engine writes its logs.")
@output_option()
@quiet_option("Only the WARN and FAIL checks and the summary line.")
@color_option
def doctor(fmt: str | None, port: int, host: str, log_dir: Path, output: Path | None, quiet: bool, color: str) -> int:
    """Check this machine before deploying: packages, numpy ABI, eSpeak NG, torch/CUDA, weights, disk, port.

    Exit 0 when nothing FAILs (WARNs are optional parts), 1 otherwise.
    """
    from engine.doctor import FAIL, PASS, format_checks, run_doctor, worst

    checks = run_doctor(port=port, host=host, log_dir=log_dir)
    status = worst(checks)
    if resolved_format(fmt) == "json":
        text = json.dumps({"status": status, "checks": [c.to_dict() for c in checks]}, default=str)
    else:
        shown = [c for c in checks if c.status != PASS] if quiet else checks
        lines = format_checks(shown).splitlines()[:-1] + format_checks(checks).splitlines()[-1:]
        if output is None and use_color(color):
            lines = [click.style(line[:4], fg=_STYLE[line[:4]], bold=True) + line[4:] if line[:4] in _STYLE else line
                     for line in lines]
        text = "\n".join(lines)
    emit(text, output, color=color == "always" or None)
    sys.stdout.flush()
    return 1 if status == FAIL else 0
