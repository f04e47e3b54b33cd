"""`tts-quality reference build texts.jsonl --out refs/`."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ttsops.cli import quiet_option
from ttsops.cluster import ClusterSpec, cluster_options


@click.group()
def reference() -> None:
    """Golden reference sets."""


@reference.command("build")
@click.argument("texts", type=click.Path(path_type=Path, dir_okay=False), required=False)
@click.option("-o", "--out", "--output", "out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Output directory.")
@click.option("--backend", default=None, envvar="TTSOPS_QUALITY_BACKEND", help="Synthesis back-end (default: the engine's).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-variability", is_flag=True, help="Skip measuring re-synthesis variability.")
@click.option("--sampling", is_flag=True,
              help="Sampled prosody: --renders renders of each text (seeds SEED, SEED+1, ...), for distribution mode.")
@click.option("--renders", type=click.IntRange(1, 1000), default=None, help="Renders of each text with --sampling [default: 8].")
@click.option("--temperature", type=click.FloatRange(0.0, 2.0, min_open=True), default=1.0, show_default=True,
              help="Sampling temperature with --sampling (tasks that set their own keep it).")
@click.option("-j", "--jobs", type=click.IntRange(0, 1024), default=0, envvar="TTSOPS_QUALITY_JOBS",
              help="Worker processes for scoring (0 = all cores).")
@click.option("--no-progress", is_flag=True, envvar="TTSOPS_NO_PROGRESS", help="No progress bar.")
@quiet_option
@cluster_options()
def build(texts: Path | None, out: Path, backend: str | None, seed: int, no_variability: bool, sampling: bool,
          renders: int | None, temperature: float, jobs: int, no_progress: bool, quiet: bool,
          cluster: ClusterSpec) -> int:
    """Synthesize TEXTS (engine batch JSONL; default: the shipped set) into OUT with a manifest."""
    from quality.reference import DEFAULT_TEXTS, build_reference  # noqa: PLC0415
    from ttsops.errors import InputError  # noqa: PLC0415

    texts = texts or DEFAULT_TEXTS
    if not texts.is_file():
        raise InputError("texts file not found", where=str(texts))
    from quality.cluster import running_on  # noqa: PLC0415

    with running_on(cluster, log=None if quiet else lambda line: click.echo(line, err=True)):
        man = build_reference(texts, out, backend=backend, seed=seed, variability=not no_variability,
                              jobs=jobs or None, progress=not (no_progress or quiet) and sys.stderr.isatty(),
                              sampling=sampling,
                              renders=(renders or 8) if sampling else (renders or 1), temperature=temperature)
    what = (f"{man['sampling']['renders']} sampled renders of each text (seeds {man['sampling']['seeds'][0]}.."
            f"{man['sampling']['seeds'][-1]}, temperature {man['sampling']['temperature']})" if sampling else "one render a text")
    if not quiet:
        click.echo(f"wrote {len(man['utterances'])} reference file(s) and manifest.json to {out} "
                   f"({what}; back-end {man['backend']}, {len(man['errors'])} error(s))")
    for e in man["errors"]:
        click.echo(f"  line {e['line']}: {e['error']}", err=True)
    return 1 if man["errors"] else 0
