"""The HTML report: one self-contained file with a timeline plot (anomaly score and error counts
per window, incidents shaded and linked to their sections), rendered by matplotlib to an inline SVG,
then the incidents in the order they happened, each with an anchor (``report.html#INC-002``)."""
from __future__ import annotations

import html
import io
from typing import Any

from analyzer.report._common import pct, request_list, short_file, ts, when

__all__ = ["render", "timeline_svg"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.5rem} h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0} td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;
vertical-align:top;font-size:.9rem} th{background:#f4f4f4}
.sev{font-weight:bold;padding:.1rem .4rem;border-radius:3px;color:#fff}
.critical{background:#b00020}.high{background:#e65100}.medium{background:#b58900}.low{background:#268bd2}
pre{background:#f7f7f7;padding:.5rem;font-size:.85rem;white-space:pre-wrap;overflow-wrap:anywhere}
nav ol{columns:2;font-size:.9rem} .inc:target{border-color:#1f4e79;box-shadow:0 0 0 2px #1f4e7933}
.inc{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
.dim{color:#777}
"""

_SEV_COLORS = {"critical": "#b00020", "high": "#e65100", "medium": "#b58900", "low": "#268bd2"}


def timeline_svg(result: Any) -> str:
    """The timeline plot as an inline ``<svg>`` string ("" when there are no windows). Each
    incident's band and label link to its section of the report (``#INC-001``)."""
    rows = result.timeline
    if not rows:
        return ""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    times = [r["start"] for r in rows]
    errors = [r["errors"] for r in rows]
    warns = [r["warnings"] for r in rows]
    scores = [max(0.0, float(r["score"])) for r in rows]
    fig, ax = plt.subplots(figsize=(11, 3.6), dpi=100)
    try:
        import pandas as pd

        width = pd.Timedelta(result.window).total_seconds() / 86400 * 0.9
        ax.bar(times, errors, width=width, align="edge", color="#d9534f", label="errors")
        ax.bar(times, warns, width=width, align="edge", bottom=errors, color="#f0ad4e", label="warnings")
        top = max((e + w for e, w in zip(errors, warns)), default=0)
        ax.set_ylim(0, max(1, top) * 1.15)  # headroom: the highest bar is never cut by the frame
        ax.set_ylabel("records / window")
        ax2 = ax.twinx()
        ax2.plot(times, scores, color="#1f4e79", lw=1.5, marker=".", label="anomaly score")
        ax2.axhline(1.0, color="#1f4e79", ls="--", lw=0.8, label="alarm threshold (1)")
        # one wild window must not flatten the rest, and nothing is cut: linear up to 2, log above
        ax2.set_yscale("symlog", linthresh=2.0)
        hi = max(2.0, max(scores, default=0)) * 1.3
        ax2.set_ylim(0, hi)
        ticks = [t for t in (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000) if t <= hi]
        ax2.set_yticks(ticks, [str(t) for t in ticks])
        ax2.set_ylabel("anomaly score (symlog)")
        for inc in sorted(result.incidents, key=lambda i: i.order):
            if inc.start is None:  # no time: not on the time axis
                continue
            band = ax.axvspan(inc.start, max(inc.end, inc.start + pd.Timedelta(result.window) / 4),
                              color=_SEV_COLORS.get(inc.severity, "#999"), alpha=0.15)
            band.set_url(f"#{inc.id}")
            label = ax.annotate(inc.id, (mdates.date2num(inc.start), 1), xycoords=("data", "axes fraction"),
                                fontsize=7, va="top", rotation=90)
            label.set_url(f"#{inc.id}")
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz="UTC"))
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        # the legend sits above the plot, off the data
        ax.legend(h1 + h2, l1 + l2, loc="lower left", bbox_to_anchor=(0.0, 1.02), ncol=4, fontsize=8,
                  frameon=False, borderaxespad=0.0)
        ax.set_title("Timeline (UTC): errors and warnings per window, anomaly score", fontsize=10, pad=22)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
    finally:
        plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


def render(result: Any, *, max_incidents: int = 100) -> str:
    e = html.escape
    s = result.summary
    n = len(result.incidents)
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>tts-analyze: {n} incidents</title><style>{_CSS}</style></head><body>",
             f"<h1>tts-analyze report: {n} incident{'s' if n != 1 else ''}</h1>",
             "<table><tr><th>lines</th><th>records</th><th>bad lines</th><th>templates</th><th>new templates</th>"
             "<th>errors</th><th>error rate</th><th>anomalous windows</th><th>span (UTC)</th></tr>",
             f"<tr><td>{s.lines}</td><td>{s.records}</td><td>{s.bad_lines}</td><td>{s.templates}</td>"
             f"<td>{s.new_templates}</td><td>{s.errors}</td><td>{pct(s.error_rate)}</td>"
             f"<td>{s.anomalous_windows}/{s.windows}</td><td>{e(ts(s.start))} → {e(ts(s.end))}</td></tr></table>"]
    svg = timeline_svg(result)
    if svg:
        parts.append(f"<figure class='timeline'>{svg}</figure>")
    if not n:
        parts.append("<p>No incidents found.</p>")
    shown = sorted(result.incidents[:max_incidents], key=lambda i: (i.order, i.first_line))  # time order
    if shown:
        parts.append("<nav><ol>" + "".join(
            f"<li><a href='#{e(i.id)}'>{e(i.id)}</a> <span class='sev {e(i.severity)}'>{e(i.severity)}</span> "
            f"<code>{e(i.root_cause.kb_id)}</code> <span class='dim'>{e(when(i))}</span></li>" for i in shown)
            + "</ol></nav>")
    for inc in shown:
        rc = inc.root_cause
        parts.append(f"<div class='inc' id='{e(inc.id)}'><h2><span class='sev {e(inc.severity)}'>"
                     f"{e(inc.severity.upper())}</span> "
                     f"{e(inc.id)} · <code>{e(rc.kb_id)}</code> {e(rc.title)}</h2>")
        parts.append(f"<p><b>When</b> {e(when(inc))} · <b>volume</b> {inc.records} records, "
                     f"{inc.errors} errors · <b>requests</b> {e(request_list(inc, 8))}</p>")
        if rc.evidence:
            parts.append("<pre>" + "\n".join(e(f"{short_file(x.file)}:{x.line}  {x.text}") for x in rc.evidence[:6])
                         + "</pre>")
        if rc.template and rc.kb_id == "unrecognised":
            parts.append(f"<p><b>Template</b> <code>{e(rc.template)}</code></p>")
        if inc.symptoms:
            parts.append("<table><tr><th>symptom</th><th>count</th><th>first seen</th></tr>")
            for sy in inc.symptoms:
                label = sy.title if sy.kb_id != "unrecognised" else (sy.template or "")
                parts.append(f"<tr><td><code>{e(sy.kb_id)}</code> {e(label)}</td><td>{sy.count}</td>"
                             f"<td>{e(ts(sy.first))}</td></tr>")
            parts.append("</table>")
        if rc.cause:
            parts.append(f"<p><b>Cause</b> {e(rc.cause)}</p>")
        parts.append(f"<p><b>Fix</b> {e(rc.fix)}</p></div>")
    if result.exception_groups:
        parts.append("<h2>Exception groups</h2><table><tr><th>count</th><th>type</th><th>kb_id</th>"
                     "<th>first seen</th><th>last seen</th><th>stack</th></tr>")
        for g in result.exception_groups[:20]:
            parts.append(f"<tr><td>{g.count}</td><td>{e(g.error_type)}</td><td>{e(g.kb_id)}</td>"
                         f"<td>{e(ts(g.first_seen))}</td><td>{e(ts(g.last_seen))}</td>"
                         f"<td>{e(' > '.join(g.frames)) or '-'}</td></tr>")
        parts.append("</table>")
    if result.bad_lines:
        parts.append(f"<h2>Bad lines ({s.bad_lines})</h2><ul>")
        parts += [f"<li><code>{e(short_file(b.file))}:{b.line}</code> {e(b.reason)}</li>" for b in result.bad_lines]
        parts.append("</ul>")
    parts.append("</body></html>\n")
    return "".join(parts)
