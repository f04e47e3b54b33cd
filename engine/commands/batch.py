"""`tts-engine batch tasks.jsonl --out DIR`: every task isolated, atomic outputs, resumable."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from engine.commands._options import (ENV, color_option, format_option, human_stream, log_format_option,
                                      progress_option, resolved_format, rich_color_env, sentry_option,
                                      start_streams)
from ttsops.cluster import ClusterSpec, cluster_options

__all__ = ["batch"]


@click.command()
@click.argument("tasks", type=click.Path(path_type=Path))
@click.option("--out", "-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder: <name>.wav, manifest.jsonl, failed.jsonl.")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Skip tasks finished by an earlier (possibly killed) run with the same text and settings; "
                   "a task changed under the same name is made again.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for tasks that give none.")
@click.option("--inject", default=None, metavar="SPEC",
              help="Fault injection: 'all', 'cuda_oom,silent_output', or 'rate=0.2,faults=a+b,seed=3,min_gap=15' "
                   "(without rate/min_gap a short batch gets a proportionally shorter healthy gap).")
@click.option("--simulate-clock", is_flag=True,
              help="Log on a simulated clock (requests spread at --rate per minute) instead of real time.")
@click.option("--rate", type=float, default=4.0, show_default=True, help="Simulated requests per minute.")
@click.option("--log-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              envvar=ENV["log_dir"], show_envvar=True, help="Log folder (default: OUT/logs).")
@click.option("--prompt-root", type=click.Path(file_okay=False, path_type=Path), default=None,
              envvar=ENV["prompt_root"], show_envvar=True,
              help="Folder relative prompt_audio paths resolve against and must stay under "
                   "(default: the tasks file's folder).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              envvar=ENV["config"], show_envvar=True, help="TOML file with an [engine] section.")
@click.option("--quiet", "-q", is_flag=True, help="Only the final line.")
@format_option
@progress_option
@color_option
@log_format_option
@sentry_option
@cluster_options(resources=True)
def batch(tasks: Path, out_dir: Path, resume: bool, seed: int, inject: str | None, simulate_clock: bool,
          rate: float, log_dir: Path | None, prompt_root: Path | None, config_path: Path | None, quiet: bool,
          fmt: str | None, progress: bool | None, color: str, log_format: str | None, sentry_dsn: str | None,
          cluster: ClusterSpec) -> int:
    """Synthesize every task of a JSONL file. Exit 0: all succeeded; 1: some failed; 2: unusable input."""
    from engine.batch import run_batch
    from engine.config import EngineConfig, FaultConfig

    cfg = EngineConfig.from_toml(config_path) if config_path else EngineConfig()
    streams = start_streams(log_format, sentry_dsn, cfg)
    rich_color_env(color)
    out = human_stream(streams)
    as_json = resolved_format(fmt) == "json"
    cfg = cfg.with_(log_dir=log_dir or out_dir / "logs", seed=seed)
    if inject is not None:
        fc = FaultConfig.parse(inject, seed=seed)
        if fc is not None and "min_gap" not in inject and "rate" not in inject:
            # a short batch should still show incidents: scale the healthy gap to the batch
            n = _count_lines(tasks)
            fc.min_gap = min(fc.min_gap, max(1, n // 8))
            fc.rate = max(fc.rate, 0.4 if n < 100 else fc.rate)
        cfg = cfg.with_(inject=fc)
    if simulate_clock:
        cfg = cfg.with_(clock="simulated", sim_rate=rate)
    echo = (lambda _line: None) if quiet or as_json else (lambda line: click.echo(line, file=out))
    kw = dict(config=cfg, resume=resume, prompt_root=prompt_root,
              progress=(sys.stderr.isatty() and not quiet) if progress is None else progress, echo=echo)
    if cluster.distributed:
        from engine.distributed import ClusterMaker
        from ttsops.cluster import connect

        with connect(cluster) as client:
            summary = run_batch(tasks, out_dir, **kw,
                                maker=lambda run: ClusterMaker(run, client, resources=dict(cluster.resources)))
    else:
        summary = run_batch(tasks, out_dir, **kw)
    if as_json:
        click.echo(json.dumps({"total": summary.total, "succeeded": summary.succeeded, "failed": summary.failed,
                               "resumed": summary.resumed, "redone": summary.redone, "not_run": summary.not_run,
                               "out_dir": str(summary.out_dir), "manifest": str(summary.manifest),
                               "failed_path": str(summary.failed_path)}), file=out)
    elif quiet:
        click.echo(f"Batch completed: {summary.succeeded}/{summary.total} tasks succeeded", file=out)
    if summary.redone:
        click.echo(f"{summary.redone} task(s) changed since the last run were made again", err=True)
    if summary.failed:
        root = prompt_root or tasks.resolve().parent
        click.echo(f"{summary.failed} failed task(s) written to {summary.failed_path}; retry with: tts-engine batch "
                   f"{summary.failed_path} --out {out_dir} --prompt-root {root}", err=True)
    return summary.exit_code


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            return sum(1 for line in fh if line.strip())
    except OSError:
        return 0
