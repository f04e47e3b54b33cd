"""Just enough PromQL reading to check shipped rules and dashboards against real exposition text:
the selectors of an expression (metric name + label matchers) and the labels it groups by."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|\[[^\]]*\]|\{[^}]*\}|[A-Za-z_:][A-Za-z0-9_:]*'
                    r'|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\S')
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:\\.|[^"\\])*)"')
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
            "offset", "inf", "nan"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
AGGREGATIONS = {"sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
                "count_values", "group", "limitk", "limit_ratio"}
#: series Prometheus makes itself (never in a target's /metrics)
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
#: labels Prometheus attaches at scrape time (never in the exposition text)
TARGET_LABELS = {"job", "instance"}


@dataclass
class Selector:
    name: str
    matchers: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class Parsed:
    selectors: list[Selector]
    grouping: set[str]


def parse(expr: str) -> Parsed:
    """The selectors and grouping labels of ``expr`` (Grafana ``$__interval`` variables allowed)."""
    expr = re.sub(r"\$__(rate_interval|interval|range)", "5m", expr)
    tokens = _TOKEN.findall(expr)
    selectors: list[Selector] = []
    grouping: set[str] = set()
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in GROUPING and nxt == "(":
            j = i + 2
            while j < len(tokens) and tokens[j] != ")":
                if re.fullmatch(r"[A-Za-z_]\w*", tokens[j]):
                    grouping.add(tokens[j])
                j += 1
            i = j + 1
            continue
        if tok in AGGREGATIONS and nxt in ("by", "without"):
            i += 1
            continue
        if re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", tok) and tok not in KEYWORDS and nxt != "(":
            sel = Selector(tok)
            if nxt.startswith("{"):
                sel.matchers = _MATCHER.findall(nxt)
                i += 1
            selectors.append(sel)
        i += 1
    return Parsed(selectors, grouping)


def series_index(exposition: str) -> dict[str, list[dict[str, str]]]:
    """Sample name -> the label sets it has, from Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, list[dict[str, str]]] = {}
    for fam in text_string_to_metric_families(exposition):
        for s in fam.samples:
            out.setdefault(s.name, []).append(dict(s.labels))
    return out


def problems(expr: str, index: dict[str, list[dict[str, str]]]) -> list[str]:
    """What in ``expr`` does not exist in ``index``: unknown metric names, labels a metric does not
    have, ``=``/``=~`` matchers no sample satisfies, grouping labels no selector carries."""
    parsed = parse(expr)
    out: list[str] = []
    carried: set[str] = set(TARGET_LABELS) | {"le"}
    for sel in parsed.selectors:
        if sel.name in SYNTHETIC:
            carried |= {k for k, _, _ in sel.matchers}
            continue
        if sel.name not in index:
            out.append(f"{sel.name}: no such metric")
            continue
        samples = index[sel.name]
        labels = set().union(*samples) if samples else set()
        carried |= labels
        for label, op, value in sel.matchers:
            if label in TARGET_LABELS:
                continue
            if label not in labels:
                out.append(f"{sel.name}: no label {label!r} (has {sorted(labels)})")
            elif "$" not in value and op in ("=", "=~"):
                ok = any((s.get(label) == value) if op == "=" else re.fullmatch(value, s.get(label, "")) is not None
                         for s in samples)
                if not ok:
                    out.append(f"{sel.name}{{{label}{op}\"{value}\"}}: matches no series")
    for label in sorted(parsed.grouping - carried):
        out.append(f"grouping label {label!r} is on none of the selected metrics")
    if not parsed.selectors:
        out.append("no metric selected")
    return out
