"""`tts-analyze templates PATH... [--log-format FMT] [--state DIR] [--format csv|table|json]`.

``--format csv`` prints one row a log record, ``LineId,EventId,EventTemplate`` (the logparser
benchmark's structured-CSV columns, so results compare directly with published ground truth):
``LineId`` counts records from 1 across the inputs, in input order (files in the order given,
folders sorted); ``EventId`` is ``E<template id>``. ``--format table`` (default) prints templates
with their counts. Ids are final: every merge and split is decided on all the input first.
"""
from __future__ import annotations

import sys
from array import array
from collections import Counter
from typing import Iterator

import click

from ttsops.errors import InputError

__all__ = ["templates", "mine_paths", "MiningResult"]


class MiningResult:
    """Per-record final template ids (compact array) + the miner + the read stats."""

    def __init__(self, ids: array, miner, stats) -> None:  # noqa: ANN001
        self.ids = ids
        self.miner = miner
        self.stats = stats

    def rows(self) -> Iterator[tuple[int, int, str]]:
        tmpl = self.miner.templates()
        for i, tid in enumerate(self.ids, 1):
            yield i, tid, tmpl[tid]


def _files(paths, stats) -> list[str]:  # noqa: ANN001
    """The files under ``paths`` (see :func:`analyzer.read.expand_paths`); none at all is an InputError."""
    from analyzer.read import expand_paths

    files = expand_paths(paths, stats)
    if not files:
        raise InputError("nothing to read (" + ("; ".join(stats.warnings[:3]) or "no log files") + ")",
                         where=", ".join(map(str, paths))[:200])
    return files


def _content(match, text: str, name: str, n: int, stats) -> str | None:  # noqa: ANN001
    """The ``<Content>`` of a line in the given log format, or None (a non-blank miss is a bad line)."""
    m = match(text)
    if m is None:
        if text.strip():
            stats.bad(name, n, "line does not match the log format", text)
        return None
    return m.group("Content")


def iter_messages(paths, *, log_format, stats) -> Iterator[str]:  # noqa: ANN001
    """Messages in input order. With a log format: a fast path straight from the raw lines (no
    Record objects, no time parsing); otherwise the general reader (JSON, prefixes, tracebacks)."""
    from analyzer.read import LineParser, decode_line, iter_raw_lines, read_records

    if not log_format:
        for rec in read_records(paths, stats=stats, merge=False, parse_times=False):
            yield rec.message
        return
    parser = LineParser(log_format, parse_times=False)
    match = parser.fmt_re.match
    files = _files(paths, stats)
    for f in files:
        name = "<stdin>" if f == "-" else f
        for n, raw in iter_raw_lines(f, stats, name):
            stats.lines += 1
            try:
                text = raw.decode("utf-8")
                if "\x00" in text:
                    raise UnicodeDecodeError("utf-8", raw, 0, 1, "NUL")
            except UnicodeDecodeError:
                text = decode_line(raw, name, n, stats)
                if text is None:
                    continue
            content = _content(match, text, name, n, stats)
            if content is None:
                continue
            stats.records += 1
            yield content


def mine_paths(paths, *, log_format=None, state_dir=None, config=None, stats=None) -> MiningResult:  # noqa: ANN001
    """Mine every record under ``paths``; returns final ids (merges/splits decided on everything).

    Work is done once per distinct thing: each distinct *masked* message goes through Drain once;
    with a log format, each distinct *digit shape* of a raw line (digits -> ``1``) is decoded,
    header-parsed and masked once when its masked content keeps no digit (exact: the masking rules
    cannot tell digits apart, see :func:`analyzer.templates.digit_blind`)."""
    from analyzer.read import ReadStats
    from analyzer.templates import TemplateConfig, TemplateMiner

    stats = stats if stats is not None else ReadStats()
    config = config or TemplateConfig()
    miner = TemplateMiner(config, state_dir=state_dir)
    add = miner.add_masked_cluster
    seen: dict[str, int] = {}          # distinct masked message -> index
    clusters = array("q")
    masked_list: list[str] = []
    idx = array("i")

    def distinct(masked: str) -> int:
        j = seen.get(masked)
        if j is None:
            j = len(masked_list)
            seen[masked] = j
            masked_list.append(masked)
            clusters.append(add(masked)[1])
        return j

    if log_format and miner.masker.memo_size and not any(c.isdigit() for c in log_format):
        _fast_lines(paths, log_format, stats, miner.masker.mask, distinct, idx, config.cache_size)
    else:
        mask = miner.masker.mask
        for msg in iter_messages(paths, log_format=log_format, stats=stats):
            idx.append(distinct(mask(msg)))
    lines = Counter(idx)
    final = miner.resolve_all(masked_list, clusters, weights=[lines[j] for j in range(len(masked_list))])
    ids = array("i", map(final.__getitem__, idx))
    if state_dir is not None:
        miner.save()
    return MiningResult(ids, miner, stats)


def write_csv(out, ids, templates: dict[int, str]) -> None:  # noqa: ANN001
    """``LineId,EventId,EventTemplate`` rows (logparser's structured-CSV columns), LineId from 1;
    buffered, one write per 8192 rows (one row per line of a large log)."""
    out.write("LineId,EventId,EventTemplate\n")
    quoted: dict[int, str] = {}
    for tid, t in templates.items():
        if any(c in t for c in ',"\n\r'):
            t = '"' + t.replace('"', '""') + '"'
        quoted[tid] = f",E{tid},{t}\n"
    buf: list[str] = []
    for i, tid in enumerate(ids, 1):     # an f-string a row beats map/join here (measured)
        buf.append(f"{i}{quoted[tid]}")
        if len(buf) >= 8192:
            out.write("".join(buf))
            buf.clear()
    out.write("".join(buf))


def _fast_lines(paths, log_format, stats, mask, distinct, idx, memo_size) -> None:  # noqa: ANN001
    """The ``--log-format`` hot loop: raw line -> digit shape -> (memo hit) distinct index. A batch
    of lines whose shapes are all known is done in three C-level passes (translate, dict lookup,
    array extend); only the lines of an unknown shape are decoded, header-parsed and masked."""
    import re
    from itertools import repeat

    from analyzer.read import LineParser, decode_line, iter_raw_batches
    from analyzer.templates import DIGITS_TO_ONE

    match = LineParser(log_format, parse_times=False).fmt_re.match
    has_digit = re.compile(r"[0-9]").search
    files = _files(paths, stats)
    memo: dict[bytes, int] = {}
    memo_size = max(1, memo_size)
    translate = bytes.translate
    T = DIGITS_TO_ONE
    for f in files:
        name = "<stdin>" if f == "-" else f
        lines = records = 0
        for first, batch in iter_raw_batches(f, stats, name):
            lines += len(batch)
            keys = list(map(translate, batch, repeat(T, len(batch))))
            known = list(map(memo.get, keys))
            if None not in known:
                idx.extend(known)
                records += len(known)
                continue
            dropped = False
            n = -1
            while True:
                try:
                    n = known.index(None, n + 1)
                except ValueError:
                    break
                key = keys[n]
                j = memo.get(key)          # a shape seen earlier in this batch
                if j is None:
                    j = -1
                    raw = batch[n]
                    bad_before = stats.bad_line_count
                    text = (decode_line(raw, name, first + n, stats) if (b"\x00" in raw or not raw.isascii())
                            else raw.decode("ascii"))
                    content = None if text is None else _content(match, text, name, first + n, stats)
                    if content is not None:
                        masked = mask(content)
                        j = distinct(masked)
                        if not has_digit(masked) and stats.bad_line_count == bad_before:
                            if len(memo) >= memo_size:
                                memo.clear()
                            memo[key] = j
                if j < 0:
                    dropped = True     # blank or bad line: no record
                known[n] = j
            if dropped:
                known = [j for j in known if j >= 0]
            idx.extend(known)
            records += len(known)
        stats.lines += lines
        stats.records += records


@click.command("templates")
@click.argument("paths", nargs=-1, required=True)
@click.option("--log-format", "log_format", default=None, metavar="FMT",
              help="logparser header format, e.g. '<Date> <Time> <Level> <Content>' (default: auto-detect "
                   "JSON / timestamp+level prefixes).")
@click.option("--state", "state_dir", default=None, type=click.Path(file_okay=False),
              help="Folder for the template state (plain JSON): ids stay stable between runs; an unusable "
                   "state is moved aside, never overwritten.")
@click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False),
              help="TOML file with a [templates] table (TemplateConfig fields).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--top", default=50, show_default=True, help="Templates shown by --format table.")
def templates(paths: tuple[str, ...], log_format: str | None, state_dir: str | None, config_path: str | None,
              fmt: str, top: int) -> int:
    """Mine log templates (token classes, Drain3's tree, a generalizing merge); print CSV or a summary.

    \b
    --format csv prints LineId,EventId,EventTemplate (logparser structured-CSV columns).
    Exit codes: 0 ok, 2 usage error or unreadable input.
    """
    from analyzer.read import ReadStats
    from analyzer.templates import TemplateConfig

    config = TemplateConfig.from_toml(config_path) if config_path else TemplateConfig()
    stats = ReadStats()
    res = mine_paths(list(paths), log_format=log_format, state_dir=state_dir, config=config, stats=stats)
    if not stats.files:
        raise InputError("no input could be read (" + "; ".join(stats.warnings[:3]) + ")",
                         where=", ".join(paths)[:200])
    for w in stats.warnings[:20]:
        click.echo(f"warning: {w}", err=True)
    if stats.bad_line_count:
        click.echo(f"warning: {stats.bad_line_count} bad line(s); first: " + "; ".join(
            f"{b.file}:{b.line} {b.reason}" for b in stats.bad_lines[:3]), err=True)
    if res.miner.state_warning:
        click.echo(f"warning: {res.miner.state_warning}", err=True)
    tmpl = res.miner.templates()
    if fmt == "csv":
        out = sys.stdout
        write_csv(out, res.ids, tmpl)
        out.flush()
        return 0

    counts = Counter(res.ids)
    if fmt == "json":
        import json
        click.echo(json.dumps({"lines": stats.lines, "records": stats.records, "bad_lines": stats.bad_line_count,
                               "templates": [{"id": tid, "count": counts[tid], "template": tmpl[tid]}
                                             for tid, _ in counts.most_common()]}, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(counts)} templates in {stats.records} records ({stats.lines} lines, "
                        f"{stats.bad_line_count} bad)")
    table.add_column("EventId", justify="right")
    table.add_column("Count", justify="right")
    table.add_column("Template", overflow="fold")
    for tid, c in counts.most_common(top):
        table.add_row(f"E{tid}", str(c), tmpl[tid])
    Console().print(table)
    return 0

