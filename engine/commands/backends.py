"""`tts-engine backends`: which synthesis back-ends can run here, and the speakers and emotions."""
from __future__ import annotations

import io
import json
from pathlib import Path

import click

from engine.commands._options import color_option, emit, format_option, output_option, quiet_option, resolved_format

__all__ = ["backends"]


@click.command()
@format_option
@output_option()
@quiet_option("Print nothing; exit 0 when the default back-end (eSpeak) works.")
@color_option
def backends(fmt: str | None, output: Path | None, quiet: bool, color: str) -> int:
    """List back-ends (available or why not), speakers and emotions. Exit 0 if the default works."""
    from engine.backends import backend_statuses
    from engine.speakers import EMOTIONS, SPEAKERS

    statuses = backend_statuses()
    code = 0 if any(s.available and s.name == "espeak" for s in statuses) else 1
    if resolved_format(fmt) == "json":
        emit(json.dumps({
            "backends": [s.__dict__ for s in statuses],
            "speakers": {n: {"language": s.language, "gender": s.gender, "description": s.description}
                         for n, s in SPEAKERS.items()},
            "emotions": list(EMOTIONS),
        }, ensure_ascii=False, indent=2), output, quiet=quiet)
        return code
    if quiet and output is None:
        return code
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO() if output is not None else None
    console = Console(file=buf, no_color=color == "never" or None, force_terminal=True if color == "always" else None,
                      width=120 if buf is not None else None)
    table = Table(title="Back-ends")
    for col in ("name", "available", "sample rate", "detail"):
        table.add_column(col)
    for s in statuses:
        table.add_row(s.name, "[green]yes[/]" if s.available else "[red]no[/]", str(s.sample_rate or "-"), s.detail)
    console.print(table)
    sp = Table(title="Speakers")
    for col in ("name", "language", "gender", "description"):
        sp.add_column(col)
    for s in SPEAKERS.values():
        sp.add_row(s.name, s.language, s.gender, s.description)
    console.print(sp)
    console.print("Emotions: " + ", ".join(EMOTIONS))
    if buf is not None:
        emit(buf.getvalue(), output)
    return code
