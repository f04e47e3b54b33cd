"""The Markdown report (for tickets and post-mortems)."""
from __future__ import annotations

from typing import Any

from analyzer.report._common import pct, request_list, short_file, ts, when

__all__ = ["render"]


def _esc(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(result: Any, *, max_incidents: int = 50) -> str:
    s = result.summary
    n = len(result.incidents)
    out = [f"# tts-analyze report: {n} incident{'s' if n != 1 else ''}", ""]
    out += ["| lines | records | bad lines | templates | new templates | errors | error rate | anomalous windows |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {s.lines} | {s.records} | {s.bad_lines} | {s.templates} | {s.new_templates} | {s.errors} | "
            f"{pct(s.error_rate)} | {s.anomalous_windows}/{s.windows} |", ""]
    if s.start is not None:
        out += [f"Logs from {ts(s.start)} to {ts(s.end)} UTC, {s.files} file(s), window {result.window}.", ""]
    if not n:
        out += ["No incidents found.", ""]
    for inc in result.incidents[:max_incidents]:
        rc = inc.root_cause
        out += [f"## {inc.id} · {inc.severity.upper()} · `{rc.kb_id}` {rc.title}", "",
                f"- **When:** {when(inc)}",
                f"- **Volume:** {inc.records} records, {inc.errors} errors",
                f"- **Requests:** {request_list(inc, 8)}",
                f"- **Cause:** {rc.cause}" if rc.cause else "",
                f"- **Fix:** {rc.fix}", ""]
        if rc.template and rc.kb_id == "unrecognised":
            out += [f"Template: `{rc.template}`", ""]
        if rc.evidence:
            out += ["Evidence:", "", "```"]
            out += [f"{short_file(e.file)}:{e.line}  {e.text}" for e in rc.evidence[:6]]
            out += ["```", ""]
        if inc.symptoms:
            out += ["| symptom | count | first seen |", "|---|---:|---|"]
            out += [f"| `{sy.kb_id}` {_esc(sy.title if sy.kb_id != 'unrecognised' else sy.template or '')} | "
                    f"{sy.count} | {ts(sy.first)} |" for sy in inc.symptoms]
            out.append("")
    if result.exception_groups:
        out += ["## Exception groups", "", "| count | type | kb_id | first seen | last seen | stack |",
                "|---:|---|---|---|---|---|"]
        out += [f"| {g.count} | {_esc(g.error_type)} | {g.kb_id} | {ts(g.first_seen)} | {ts(g.last_seen)} | "
                f"{_esc(' > '.join(g.frames)) or '-'} |" for g in result.exception_groups[:20]]
        out.append("")
    if getattr(result, "trends", None):
        out += ["## Trends", ""] + [f"- `{t['kind']}` {t['start']} → {t['end']}: {t['message']}" for t in result.trends]
        out.append("")
    if result.bad_lines:
        out += [f"## Bad lines ({s.bad_lines})", ""]
        out += [f"- `{short_file(b.file)}:{b.line}` {b.reason}" for b in result.bad_lines]
        out.append("")
    if result.sessions is not None:
        bad = [x for x in result.sessions if x["anomalous"]]
        out += [f"## Sessions: {len(result.sessions)}, anomalous {len(bad)}", ""]
        out += [f"- `{x['id']}` score {x['score']:.3f}" for x in bad[:20]]
        out.append("")
    return "\n".join(line for line in out if line is not None) + "\n"
