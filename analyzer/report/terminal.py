"""The terminal report (rich): incidents (real failures first, in the order they happened), each with its time or line span, counts, affected
request ids, the root cause with evidence lines (file:line), its symptoms and the KB fix; then
exception groups, new templates, bad lines and the summary."""
from __future__ import annotations

import io
from typing import Any

from analyzer.report._common import SEVERITY_STYLE, pct, request_list, short_file, ts, when

__all__ = ["render", "print_report"]


def _build(result: Any, *, max_incidents: int = 20, max_groups: int = 8, notes: bool = True) -> list[Any]:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    s = result.summary
    out: list[Any] = []
    head = Text()
    n = len(result.incidents)
    head.append("tts-analyze: ", style="bold")
    head.append(f"{n} incident{'s' if n != 1 else ''}", style="bold red" if n else "bold green")
    head.append(f" in {s.records:,} records from {s.files} file{'s' if s.files != 1 else ''}")
    if s.start is not None:
        head.append(f", {ts(s.start)} → {ts(s.end)} UTC")
    out.append(head)
    out.append(Text(f"lines {s.lines:,} · records {s.records:,} · bad lines {s.bad_lines:,} · templates "
                    f"{s.templates:,} ({s.new_templates:,} new) · errors {s.errors:,} ({pct(s.error_rate)}) · "
                    f"warnings {s.warnings:,} · anomalous windows {s.anomalous_windows}/{s.windows} "
                    f"({result.window})", style="dim"))
    for inc in result.incidents[:max_incidents]:
        rc = inc.root_cause
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row("when", when(inc))
        grid.add_row("volume", f"{inc.records:,} record{'s' if inc.records != 1 else ''}, {inc.errors:,} "
                     f"error{'s' if inc.errors != 1 else ''}"
                     + (f", window score {inc.score:.1f}" if inc.score is not None else ""))
        grid.add_row("requests", request_list(inc))
        ev = Text()
        for i, e in enumerate(rc.evidence[:6]):
            if i:
                ev.append("\n")
            ev.append(f"{short_file(e.file)}:{e.line}", style="cyan")
            ev.append("  " + e.text)
        grid.add_row("evidence", ev if rc.evidence else Text("-"))
        if rc.template and rc.kb_id == "unrecognised":
            grid.add_row("template", Text(rc.template, style="magenta"))
        if inc.symptoms:
            sy = Text()
            for i, sym in enumerate(inc.symptoms[:8]):
                if i:
                    sy.append("\n")
                sy.append(f"{sym.kb_id}", style="yellow")
                sy.append(f" ×{sym.count}  {sym.title if sym.kb_id != 'unrecognised' else (sym.template or '')}"
                          f"  (from {ts(sym.first, date=False)})")
            grid.add_row("symptoms", sy)
        if rc.cause:
            grid.add_row("cause", rc.cause)
        grid.add_row("fix", Text(rc.fix, style="green"))
        title = Text()
        title.append(f" {inc.severity.upper()} ", style=SEVERITY_STYLE.get(inc.severity, ""))
        title.append(f" {inc.id}  ")
        title.append(rc.kb_id, style="bold")
        title.append(f" — {rc.title} ")
        out.append(Panel(grid, title=title, title_align="left", expand=True))
    if n > max_incidents:
        out.append(Text(f"… {n - max_incidents} more incidents (use --format json for all)", style="dim"))
    if not n:
        out.append(Text("No incidents found.", style="green"))
    groups = [g for g in result.exception_groups][:max_groups]
    if groups:
        t = Table(title="Exception groups (type + normalised stack)", title_justify="left")
        t.add_column("count", justify="right", no_wrap=True)
        t.add_column("type", no_wrap=True, max_width=34)
        t.add_column("kb_id", overflow="fold", max_width=24)
        t.add_column("first", no_wrap=True)
        t.add_column("last", no_wrap=True)
        t.add_column("innermost frame", overflow="fold")
        t.add_column("requests", overflow="fold")
        for g in groups:
            reqs = (g.request_ids[0] + (f" +{len(g.request_ids) - 1}" if len(g.request_ids) > 1 else "")
                    if g.request_ids else "-")
            t.add_row(str(g.count), g.error_type.rsplit(".", 1)[-1], g.kb_id, ts(g.first_seen, date=False),
                      ts(g.last_seen, date=False), g.frames[-1] if g.frames else "-", reqs)
        out.append(t)
    if result.new_templates and s.new_templates != s.templates:
        t = Table(title=f"New templates ({s.new_templates})", title_justify="left")
        t.add_column("id")
        t.add_column("first seen")
        t.add_column("template", overflow="fold")
        for nt in result.new_templates[:10]:
            t.add_row(str(nt["id"]), nt["first_seen"] or "-", nt["template"])
        out.append(t)
    if result.bad_lines:
        t = Table(title=f"Bad lines ({s.bad_lines}, first {len(result.bad_lines)})", title_justify="left")
        t.add_column("where")
        t.add_column("reason")
        t.add_column("text", overflow="fold")
        for b in result.bad_lines:
            t.add_row(f"{short_file(b.file)}:{b.line}", b.reason, b.text[:80])
        out.append(t)
    for tr in getattr(result, "trends", [])[:5]:
        out.append(Text(f"trend: {tr['kind']} {tr['start']} → {tr['end']}: {tr['message']}", style="yellow"))
    if result.sessions is not None:
        bad = [x for x in result.sessions if x["anomalous"]]
        out.append(Text(f"sessions: {len(result.sessions):,}, anomalous {len(bad):,}"
                        + (": " + ", ".join(x["id"] for x in bad[:5]) + (" …" if len(bad) > 5 else "") if bad else "")))
    for w in result.warnings[:5] if notes else ():
        out.append(Text(f"note: {w}", style="dim"))
    return [Group(*out)]


def print_report(result: Any, console: Any = None, **kw: Any) -> None:
    """Print the report to a rich console (default: stdout)."""
    from rich.console import Console

    console = console or Console()
    for part in _build(result, **kw):
        console.print(part)


def render(result: Any, *, width: int = 110, color: bool = False, **kw: Any) -> str:
    """The report as text (ANSI colours when ``color``)."""
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, color_system="standard" if color else None,
                      highlight=False)
    print_report(result, console, **kw)
    return buf.getvalue()
