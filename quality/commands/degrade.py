"""`tts-quality degrade SRC OUT --kind KIND [--only NAME ...]`: a controlled faulty copy of a set."""
from __future__ import annotations

from pathlib import Path

import click

from ttsops.cli import quiet_option
from ttsops.errors import InputError

KINDS = ("noise_30db", "noise_20db", "noise_10db", "clip_50pct", "dropouts_5pct", "pitch_up_1st", "pitch_down_1st",
         "stretch_5pct", "lead_silence_150ms", "reverb_500ms", "identical")


@click.command()
@click.argument("src", type=click.Path(path_type=Path, file_okay=False))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--kind", type=click.Choice(KINDS), default="noise_20db", show_default=True,
              help="Which degradation (see docs/quality.md).")
@click.option("--only", multiple=True, metavar="NAME",
              help="Degrade only these utterances (repeatable); the others are copied unchanged.")
@quiet_option
def degrade(src: Path, out: Path, kind: str, only: tuple[str, ...], quiet: bool) -> int:
    """Write a degraded copy of every WAV in SRC to OUT (same names), for demos and drills."""
    from quality.degrade import degrade_dir  # noqa: PLC0415

    if not src.is_dir():
        raise InputError("source directory not found", where=str(src))
    files = degrade_dir(src, out, kind, only=list(only) or None)
    if not files:
        raise InputError("no .wav files to degrade", where=str(src))
    what = f"{', '.join(only)} degraded" if only else "all degraded"
    if not quiet:
        click.echo(f"wrote {len(files)} file(s) to {out} ({kind}; {what})")
    return 0
