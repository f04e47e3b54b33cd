"""`tts-quality score REF DEG` / `tts-quality score REFDIR DEGDIR`."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ttsops.cli import color_option, quiet_option, use_color
from ttsops.cluster import ClusterSpec, cluster_options
from ttsops.errors import InputError


@click.command()
@click.argument("ref", type=click.Path(path_type=Path))
@click.argument("deg", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True,
              envvar="TTSOPS_QUALITY_FORMAT")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, envvar="TTSOPS_QUALITY_OUTPUT",
              help="Write the rows here instead of stdout (- is stdout).")
@click.option("-j", "--jobs", type=click.IntRange(0, 1024), default=0, envvar="TTSOPS_QUALITY_JOBS",
              help="Worker processes (0 = all cores).")
@click.option("--f0-method", type=click.Choice(["dio", "harvest"]), default="dio", show_default=True)
@click.option("--metrics", "metrics_spec", default="default", show_default=True, metavar="LIST",
              envvar="TTSOPS_QUALITY_METRICS",
              help="Comma-separated: pesq, stoi, mcd, f0 (the default set), dnsmos, speaker_similarity, or all.")
@click.option("--prompt", type=click.Path(path_type=Path), default=None,
              help="The speaker's prompt audio for speaker_similarity (a file, or a directory matched by name); "
                   "default: REF.")
@click.option("--no-progress", is_flag=True, envvar="TTSOPS_NO_PROGRESS", help="No progress bar.")
@color_option
@quiet_option
@cluster_options()
def score(ref: Path, deg: Path, fmt: str, output: Path | None, jobs: int, f0_method: str, metrics_spec: str,
          prompt: Path | None, no_progress: bool, color: str, no_color: bool, quiet: bool, cluster: ClusterSpec) -> int:
    """Score candidate audio against reference audio.

    REF and DEG are two WAV files, or two directories whose WAV files are matched by name. Exit 0
    when every pair was scored, 1 when some pair has an error (its row says why), 2 on usage errors.
    """
    from quality.features import ScoreConfig, parse_metrics  # noqa: PLC0415
    from quality.output import rows_csv, rows_json, rows_table  # noqa: PLC0415
    from quality.score import match_dirs, score_pair, score_pairs, wav_names  # noqa: PLC0415

    cfg = ScoreConfig(f0_method=f0_method, metrics=parse_metrics(metrics_spec))
    for p in (ref, deg) + ((prompt,) if prompt else ()):
        if not p.exists() and not p.is_symlink():
            raise InputError("not found", where=str(p))
    if ref.is_dir() != deg.is_dir():
        raise InputError("REF and DEG must both be files or both be directories", where=f"{ref} {deg}")
    if ref.is_dir():
        prompts = None
        if prompt is not None:
            prompts = wav_names(prompt) if prompt.is_dir() else {n: prompt for n in wav_names(deg)}
        from quality.cluster import running_on  # noqa: PLC0415

        with running_on(cluster, log=None if quiet else lambda line: click.echo(line, err=True)):
            rows = score_pairs(match_dirs(ref, deg), config=cfg, jobs=jobs or None, prompts=prompts,
                               progress=not (no_progress or quiet) and sys.stderr.isatty())
    else:
        if prompt is not None and prompt.is_dir():
            prompt = wav_names(prompt).get(deg.stem)
        rows = [score_pair(ref, deg, config=cfg, prompt=prompt)]
    if fmt == "table" and output is None:
        rows_table(rows, title=f"{ref} vs {deg}", color=use_color(color, no_color))
    else:
        from ttsops.output import write_output  # noqa: PLC0415

        text = rows_json(rows) if fmt == "json" else rows_csv(rows) if fmt == "csv" else \
            rows_table(rows, title=f"{ref} vs {deg}", color=False, file=True)
        text = text if text.endswith("\n") else text + "\n"
        if output:
            write_output(output, text, what="the scores")
        else:
            click.echo(text, nl=False)
    bad = sum(1 for r in rows if r.get("error"))
    if bad and not quiet:
        click.echo(f"{bad} of {len(rows)} pair(s) have errors (see the error column)", err=True)
        return 1
    return 0
