"""``tts-analyze [analyze] PATH...``: parse flags, build the config, call the library, exit code."""
from __future__ import annotations

import sys

import click

from ttsops.cli import color_option, quiet_option, use_color
from ttsops.cluster import ClusterSpec, cluster_options
from ttsops.errors import InputError

__all__ = ["analyze"]

FORMATS = ("terminal", "json", "markdown", "html")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="terminal", show_default=True,
              envvar="TTSOPS_ANALYZE_FORMAT", help="Report format (json: the machine-readable contract).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, envvar="TTSOPS_ANALYZE_OUTPUT",
              help="Write the report to FILE instead of stdout (- is stdout).")
@click.option("--window", default=None, envvar="TTSOPS_ANALYZE_WINDOW",
              help="Window length for detection, e.g. 60s, 5min. [default: 60s]")
@click.option("--baseline", multiple=True, help="Known-good logs to fit the detector on (repeatable).")
@click.option("--state", "state_dir", type=click.Path(file_okay=False), default=None, envvar="TTSOPS_ANALYZE_STATE",
              help="Template state folder: template ids stay stable and 'new' is relative to it.")
@click.option("--sessions", default=None, metavar="REGEX",
              help=r"Group records by the matched id (e.g. 'blk_-?\d+') and score each session.")
@click.option("--log-format", default=None, metavar="FMT", envvar="TTSOPS_ANALYZE_LOG_FORMAT",
              help="logparser-style header for plain-text logs, e.g. '<Date> <Time> <Level> <Content>'.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              envvar="TTSOPS_ANALYZE_CONFIG",
              help="TOML config ([analyze], [templates], [features], [detect], [incidents], [alerts]).")
@click.option("--kb", "kb_path", type=click.Path(dir_okay=False), default=None, envvar="TTSOPS_ANALYZE_KB",
              help="Knowledge base YAML (default: the packaged analyzer/kb.yaml).")
@click.option("--follow", is_flag=True, help="Tail the files and alert when incidents open or close.")
@click.option("--alerts-jsonl", type=click.Path(dir_okay=False), default=None, envvar="TTSOPS_ANALYZE_ALERTS_JSONL",
              help="--follow: append alerts as JSON lines to FILE.")
@click.option("--webhook", default=None, metavar="URL", envvar="TTSOPS_ANALYZE_WEBHOOK",
              help="--follow: POST each alert to a webhook receiver URL, in the body Alertmanager sends its "
                   "receivers.")
@click.option("--alertmanager", default=None, metavar="URL", envvar="TTSOPS_ANALYZE_ALERTMANAGER",
              help="--follow: post alerts to an Alertmanager (URL/api/v2/alerts, e.g. http://alertmanager:9093); "
                   "open incidents are re-posted every [alerts] alertmanager_repeat seconds.")
@click.option("--max-seconds", type=float, default=None, help="--follow: stop after this many seconds.")
@click.option("--resolve-after", type=float, default=None,
              help="--follow: seconds without a related record before an incident is resolved. [default: 120]")
@click.option("--from-start/--from-end", default=True, show_default=True,
              help="--follow: read existing content first, or only what is appended.")
@click.option("--no-progress", is_flag=True, envvar="TTSOPS_NO_PROGRESS", help="No progress bar on stderr.")
@color_option
@quiet_option
@cluster_options()
def analyze(paths: tuple[str, ...], fmt: str, output: str | None, window: str | None, baseline: tuple[str, ...],
            state_dir: str | None, sessions: str | None, log_format: str | None, config_path: str | None,
            kb_path: str | None, follow: bool, alerts_jsonl: str | None, webhook: str | None,
            alertmanager: str | None, max_seconds: float | None, resolve_after: float | None, from_start: bool,
            no_progress: bool, color: str, no_color: bool, quiet: bool, cluster: ClusterSpec) -> int:
    """Find incidents and their root causes in log files, folders, globs or - (stdin).

    \b
    Exit codes:
      0  nothing found
      1  incidents found
      2  usage error or unreadable input
    """
    from analyzer.config import AnalyzeConfig

    overrides = dict(window=window, baseline=list(baseline) or None, state_dir=state_dir, sessions=sessions,
                     log_format=log_format, kb_path=kb_path, progress=not (no_progress or quiet))
    if config_path:
        config = AnalyzeConfig.from_toml(config_path, **overrides)
    else:
        config = AnalyzeConfig(**{k: v for k, v in overrides.items() if v is not None})
    if follow:
        if cluster.distributed:
            raise click.UsageError("--follow reads on this machine: drop --workers/--scheduler")
        if "-" in paths:
            raise InputError("--follow cannot read stdin", where="-", fix="give log files or folders")
        from analyzer.alerts import build_sinks, follow_logs

        if resolve_after is not None:
            import dataclasses

            config.alerts = dataclasses.replace(config.alerts, resolve_after=resolve_after)

        sinks = build_sinks(terminal=True, jsonl=alerts_jsonl, webhook=webhook, alertmanager=alertmanager,
                            config=config.alerts)
        return follow_logs(list(paths), config, sinks=sinks, max_seconds=max_seconds, from_start=from_start)
    if alerts_jsonl or webhook or alertmanager or max_seconds is not None or resolve_after is not None:
        raise click.UsageError("--alerts-jsonl, --webhook, --alertmanager, --max-seconds and --resolve-after "
                               "need --follow")

    from analyzer.pipeline import analyze as run_analysis
    from analyzer.report import render

    if cluster.distributed:
        from analyzer.dist import analyze_on_cluster
        from ttsops.cluster import connect

        with connect(cluster) as client:
            result = analyze_on_cluster(list(paths), config, client, log=(lambda _line: None) if quiet else (lambda line: click.echo(line, err=True)),
                                        progress=not (no_progress or quiet))
    else:
        result = run_analysis(list(paths), config)
    if fmt == "terminal" and output is None:
        from rich.console import Console

        from analyzer.report.terminal import print_report

        forced = use_color(color, no_color)
        print_report(result, Console(force_terminal=forced, no_color=forced is False, highlight=False),
                     notes=not quiet)
    else:
        text = render(result, fmt)
        if output:
            from ttsops.output import write_output

            write_output(output, text, what="the report")  # devices and pipes written through, files atomically
            if not quiet and output != "-":
                click.echo(f"report: {output} ({len(result.incidents)} incidents)", err=True)
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
    return result.exit_code
