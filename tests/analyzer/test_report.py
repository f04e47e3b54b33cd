"""Report renderers: JSON contract keys and types, terminal content, markdown, HTML with the plot."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyzer.config import AnalyzeConfig
from analyzer.pipeline import analyze
from analyzer.report import FORMATS, render

from incident_logs import write_scenario


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("report")
    write_scenario(d)
    return analyze([d], AnalyzeConfig(sessions=r"req-\d+"))


def check_contract(doc: dict) -> None:
    """The machine-readable contract of issue 3 (other tools read it: keep it stable)."""
    s = doc["summary"]
    for key in ("lines", "records", "bad_lines", "templates", "new_templates"):
        assert isinstance(s[key], int) and s[key] >= 0, key
    assert isinstance(s["error_rate"], float) and 0 <= s["error_rate"] <= 1
    assert isinstance(doc["incidents"], list)
    for inc in doc["incidents"]:
        assert isinstance(inc["id"], str) and inc["id"]
        if inc["time_known"]:
            assert isinstance(inc["start"], str) and isinstance(inc["end"], str) and inc["start"] <= inc["end"]
        else:
            assert inc["start"] is None and inc["end"] is None
        assert inc["location"]["first_line"] <= inc["location"]["last_line"]
        assert inc["severity"] in ("critical", "high", "medium", "low")
        rc = inc["root_cause"]
        assert isinstance(rc["kb_id"], str) and isinstance(rc["title"], str) and isinstance(rc["fix"], str)
        assert isinstance(rc["evidence"], list)
        for ev in rc["evidence"]:
            assert isinstance(ev["file"], str) and isinstance(ev["line"], int) and isinstance(ev["text"], str)
        assert isinstance(inc["symptoms"], list)
        assert isinstance(inc["request_ids"], list) and all(isinstance(r, str) for r in inc["request_ids"])
    assert isinstance(doc["bad_lines"], list)
    for b in doc["bad_lines"]:
        assert isinstance(b["file"], str) and isinstance(b["line"], int)
    if "sessions" in doc:
        for x in doc["sessions"]:
            assert isinstance(x["id"], str) and isinstance(x["score"], float) and isinstance(x["anomalous"], bool)


def test_json_contract(result) -> None:
    doc = json.loads(render(result, "json"))
    check_contract(doc)
    assert len(doc["incidents"]) == 3 and "sessions" in doc
    assert doc["incidents"][0]["root_cause"]["evidence"][0]["line"] > 0


def test_terminal_report(result) -> None:
    text = render(result, "terminal", width=120)
    for needle in ("3 incidents", "INC-001", "cuda_oom", "CUDA out of memory", "inference.log:", "silent_output",
                   "request_timeout", "fix", "req-00301", "Exception groups", "missing_shared_library"):
        assert needle in text, needle
    # ranked by severity: the low invalid_text incident comes last
    assert text.index("invalid_text —") > text.index("cuda_oom —")


def test_markdown(result) -> None:
    md = render(result, "markdown")
    assert md.startswith("# tts-analyze report: 3 incidents")
    assert "`cuda_oom`" in md and "| symptom | count | first seen |" in md and "```" in md


def test_html_has_the_timeline_plot(result, tmp_path: Path) -> None:
    html = render(result, "html")
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "</svg>" in html
    assert "Timeline" in html and "cuda_oom" in html and "INC-001" in html
    assert set(FORMATS) == {"terminal", "json", "markdown", "html"}


def test_empty_result_renders(tmp_path: Path) -> None:
    write_scenario(tmp_path, minutes=2, faults=False)
    r = analyze([tmp_path])
    for fmt in FORMATS:
        out = render(r, fmt)
        assert out
    assert "No incidents" in render(r, "terminal")


def test_json_report_matches_the_published_schema(result, tmp_path: Path) -> None:
    import jsonschema

    from analyzer.schemas import load_schema

    schema = load_schema("report")
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(render(result, "json")), schema)
    # and a console paste (no times: start/end null) too
    p = tmp_path / "paste.log"
    p.write_text("Traceback (most recent call last):\n  File \"a.py\", line 1, in f\nKeyError: 'x'\n", encoding="utf-8")
    doc = json.loads(render(analyze([str(p)]), "json"))
    jsonschema.validate(doc, schema)
    assert doc["schema"] == schema["properties"]["schema"]["const"]
    bad = dict(doc, incidents=[dict(doc["incidents"][0], severity="urgent")])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_html_incidents_in_time_order_with_anchors(result) -> None:
    import re

    page = render(result, "html")
    ids = re.findall(r"<div class='inc' id='(INC-\d+)'>", page)
    by_time = [i.id for i in sorted(result.incidents, key=lambda i: i.order)]
    assert ids == by_time and len(ids) == len(result.incidents)
    for inc_id in ids:  # the timeline links each incident's band and label to its section
        assert f'xlink:href="#{inc_id}"' in page or f'href="#{inc_id}"' in page
        assert f"<a href='#{inc_id}'>" in page
    assert "white-space:pre-wrap" in page  # evidence lines wrap


def test_exception_groups_one_per_exception_and_cause() -> None:
    from pathlib import Path as P

    samples = P(__file__).resolve().parents[2] / "data" / "samples" / "logs"
    groups = analyze([str(samples)]).exception_groups
    keys = [(g.error_type.rsplit(".", 1)[-1], tuple(g.frames), g.kb_id) for g in groups]
    assert len(keys) == len(set(keys))
    assert all("," not in g.kb_id for g in groups)  # one root cause per group
    by_cause = {}
    for g in groups:  # a frames-less copy of a failure (an access log's error_type) is folded in
        by_cause.setdefault((g.error_type.rsplit(".", 1)[-1], g.kb_id), []).append(g)
    assert all(len(v) == 1 or all(x.frames for x in v) for v in by_cause.values())
