"""`tts-quality regress --baseline refs/ --candidate DIR | --synthesize`."""
from __future__ import annotations

import json
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import click

from ttsops.cli import color_option, quiet_option, use_color
from ttsops.cluster import ClusterSpec, cluster_options
from ttsops.errors import InputError


@click.command()
@click.option("--baseline", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Reference set (from `tts-quality reference build`).")
@click.option("--candidate", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Directory of candidate WAVs, matched to the baseline by name.")
@click.option("--synthesize", is_flag=True, help="Make the candidate set now with the current engine.")
@click.option("--backend", default=None, envvar="TTSOPS_QUALITY_BACKEND",
              help="Back-end for --synthesize (another back-end = cross-engine run).")
@click.option("--thresholds", type=click.Path(path_type=Path, dir_okay=False), default=None,
              envvar="TTSOPS_QUALITY_THRESHOLDS", help="Thresholds TOML (default data/samples/thresholds.toml).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              envvar="TTSOPS_QUALITY_FORMAT")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              envvar="TTSOPS_QUALITY_OUTPUT", help="Write the report (in --format) here instead of stdout.")
@click.option("--json-out", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Also write JSON here.")
@click.option("--html", "html_out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              envvar="TTSOPS_QUALITY_HTML", help="Write the HTML report (plots) here.")
@click.option("--log-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              envvar="TTSOPS_QUALITY_LOG_DIR",
              help="Append JSON log lines (engine format, event quality_regression) to LOG_DIR/quality.log.")
@click.option("--prom", type=click.Path(path_type=Path, dir_okay=False), default=None, envvar="TTSOPS_QUALITY_PROM",
              help="Write a Prometheus textfile (node_exporter textfile collector).")
@click.option("--mode", type=click.Choice(["auto", "pairs", "distribution"]), default="auto", show_default=True,
              envvar="TTSOPS_QUALITY_MODE",
              help="pairs: golden file vs file; distribution: several renders a text (sampling engines); "
                   "auto: distribution when the baseline holds several renders a text or did not re-synthesize identically.")
@click.option("--metrics", "metrics_spec", default=None, metavar="LIST", envvar="TTSOPS_QUALITY_METRICS",
              help="Scores to compute (see `score --metrics`); default: the pair scores in pair mode, "
                   "dnsmos,speaker_similarity in distribution mode.")
@click.option("--history", type=click.Path(path_type=Path, dir_okay=False), default=None, envvar="TTSOPS_QUALITY_HISTORY",
              help="Append this run (one JSON line) to FILE; the HTML report plots the trend over its runs.")
@click.option("-j", "--jobs", type=click.IntRange(0, 1024), default=0, envvar="TTSOPS_QUALITY_JOBS",
              help="Worker processes (0 = all cores).")
@click.option("--no-progress", is_flag=True, envvar="TTSOPS_NO_PROGRESS", help="No progress bar.")
@color_option
@quiet_option
@cluster_options()
def regress(baseline: Path, candidate: Path | None, synthesize: bool, backend: str | None, thresholds: Path | None,
            fmt: str, output: Path | None, json_out: Path | None, html_out: Path | None, log_dir: Path | None,
            prom: Path | None, mode: str, metrics_spec: str | None, history: Path | None, jobs: int,
            no_progress: bool, color: str, no_color: bool, quiet: bool, cluster: ClusterSpec) -> int:
    """Compare a candidate set with the baseline; exit 1 on regression.

    Every utterance (every text, in distribution mode) gets a verdict with the metrics that fired and
    a plain-words reason. Exit codes: 0 pass, 1 regression (or an utterance that could not be
    scored), 2 usage or unreadable input (a corrupt manifest or thresholds file included).
    """
    from quality.cluster import running_on  # noqa: PLC0415
    from quality.regress import load_thresholds  # noqa: PLC0415

    if not baseline.is_dir():
        raise InputError("baseline directory not found", where=str(baseline),
                         fix="build one with `tts-quality reference build texts.jsonl --out refs/`")
    if bool(candidate) == synthesize:
        raise InputError("give exactly one of --candidate DIR or --synthesize", where="--candidate/--synthesize")
    t = load_thresholds(thresholds)
    with running_on(cluster, log=None if quiet else lambda line: click.echo(line, err=True)):
        return _regress(baseline, candidate, synthesize, backend, t, fmt, output, json_out, html_out, log_dir, prom,
                        mode, metrics_spec, history, jobs, no_progress, color, no_color, quiet)


def _regress(baseline: Path, candidate: Path | None, synthesize: bool, backend: str | None, t: Any, fmt: str,
             output: Path | None, json_out: Path | None, html_out: Path | None, log_dir: Path | None,
             prom: Path | None, mode: str, metrics_spec: str | None, history: Path | None, jobs: int,
             no_progress: bool, color: str, no_color: bool, quiet: bool) -> int:
    from quality.features import ScoreConfig, parse_metrics  # noqa: PLC0415
    from quality.regress import choose_mode, print_terminal, regress as run, write_log_lines, write_prom  # noqa: PLC0415

    tmp = None
    cross = None
    if synthesize:
        from quality.reference import resynthesize_set  # noqa: PLC0415

        tmp = tempfile.TemporaryDirectory(prefix="tts-quality-candidate-")
        candidate = Path(tmp.name)
        info = resynthesize_set(baseline, candidate, backend=backend)
        cross = info["cross_engine"]
    elif not candidate.is_dir():
        raise InputError("candidate directory not found", where=str(candidate))
    try:
        if mode == "auto":
            mode, why = choose_mode(baseline, candidate)
        else:
            why = f"--mode {mode}"
        metrics = parse_metrics(metrics_spec) if metrics_spec else (
            frozenset({"dnsmos", "speaker_similarity"}) if mode == "distribution" else None)
        res = run(baseline, candidate, thresholds=t, jobs=jobs or None, cross_engine=cross, mode=mode,
                  progress=not (no_progress or quiet) and sys.stderr.isatty(),
                  config=ScoreConfig(metrics=metrics) if metrics else None)
        res.mode_reason = why
        from ttsops.output import write_output  # noqa: PLC0415

        for w in res.warnings:
            click.echo(f"warning: {w}", err=True)
        doc = res.to_json()
        doc_text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        if output is not None:
            if fmt == "json":
                write_output(output, doc_text, what="the report")
            else:
                import io  # noqa: PLC0415

                buf = io.StringIO()
                print_terminal(res, file=buf, color=False)
                write_output(output, buf.getvalue(), what="the report")
        elif fmt == "json":
            click.echo(doc_text, nl=False)
        else:
            print_terminal(res, color=use_color(color, no_color))
        if json_out:
            write_output(json_out, doc_text, what="the JSON report")
        if history:
            from quality.history import append_run  # noqa: PLC0415

            append_run(history, res)
        if html_out:
            from quality.report import write_html  # noqa: PLC0415

            write_html(res, html_out, history=history)
        if log_dir:
            from loguru import logger  # noqa: PLC0415

            try:  # the JSON lines go to the file only, not to loguru's default stderr handler
                logger.remove(0)
            except ValueError:
                pass
            write_log_lines(res, log_dir, run_id=f"quality-{uuid.uuid4().hex[:12]}")
        if prom:
            write_prom(res, prom)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return res.exit_code
