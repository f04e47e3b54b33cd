"""`tts-engine backends`: which synthesis back-ends can run here, and the speakers and emotions."""
from __future__ import annotations

import json

import click

__all__ = ["backends"]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def backends(as_json: bool) -> int:
    """List back-ends (available or why not), speakers and emotions. Exit 0 if the default works."""
    from engine.backends import backend_statuses
    from engine.speakers import EMOTIONS, SPEAKERS

    statuses = backend_statuses()
    if as_json:
        click.echo(json.dumps({
            "backends": [s.__dict__ for s in statuses],
            "speakers": {n: {"language": s.language, "gender": s.gender, "description": s.description}
                         for n, s in SPEAKERS.items()},
            "emotions": list(EMOTIONS),
        }, ensure_ascii=False, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        console = Console()
        table = Table(title="Back-ends")
        for col in ("name", "available", "sample rate", "detail"):
            table.add_column(col)
        for s in statuses:
            table.add_row(s.name, "[green]yes[/]" if s.available else "[red]no[/]",
                          str(s.sample_rate or "-"), s.detail)
        console.print(table)
        sp = Table(title="Speakers")
        for col in ("name", "language", "gender", "description"):
            sp.add_column(col)
        for s in SPEAKERS.values():
            sp.add_row(s.name, s.language, s.gender, s.description)
        console.print(sp)
        console.print("Emotions: " + ", ".join(EMOTIONS))
    return 0 if any(s.available and s.name == "espeak" for s in statuses) else 1
