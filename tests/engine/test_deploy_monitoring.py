"""The shipped Prometheus rules and Grafana dashboard (deploy/) against what really exists: every
metric an alert or a panel reads is in a live service's /metrics or in a real `tts-quality regress
--prom` textfile, with the labels and label values the expressions match. promtool checks the
rules, their unit tests and the example config where it is installed (Debian: `apt-get install
prometheus`); the pure-Python checks always run."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from _promql import parse, problems, series_index  # noqa: E402
from _service_helpers import ThreadServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "tts-dashboard.json"

pytestmark = pytest.mark.xdist_group("deploy-monitoring")


@pytest.fixture(scope="module")
def service_metrics(tmp_path_factory) -> str:
    """/metrics of a live service (the real engine) after one request to each synthesis endpoint."""
    from engine.service import ServiceSettings, ServiceState
    d = tmp_path_factory.mktemp("scrape")
    state = ServiceState(ServiceSettings(log_dir=d / "logs"))
    with ThreadServer(state) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        assert c.post("/api/tts", json={"text": "Hello."}).status_code == 200
        assert c.post("/tts", json={"text": "你好。", "lang": "zh"}).status_code == 200
        return c.get("/metrics").text


@pytest.fixture(scope="module")
def quality_metrics(tmp_path_factory) -> str:
    """The node_exporter textfile of a real quality run that finds a regression (pitch raised)."""
    d = tmp_path_factory.mktemp("quality-prom")
    (d / "t.jsonl").write_text('{"name": "a", "input_text": "Please join the meeting at three.", '
                               '"speaker": "en_male_1"}\n', encoding="utf-8")
    exe = Path(sys.executable).with_name("tts-quality")
    env = {**os.environ, "NO_COLOR": "1"}
    for args in (["reference", "build", str(d / "t.jsonl"), "--out", str(d / "refs"), "--no-variability", "-j", "1"],
                 ["degrade", str(d / "refs"), str(d / "bad"), "--kind", "pitch_up_1st"]):
        r = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300, env=env)
        assert r.returncode == 0, r.stderr
    r = subprocess.run([str(exe), "regress", "--baseline", str(d / "refs"), "--candidate", str(d / "bad"), "-j", "1",
                        "--prom", str(d / "q.prom")], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 1, r.stderr
    return (d / "q.prom").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def index(service_metrics: str, quality_metrics: str) -> dict:
    return {**series_index(service_metrics), **series_index(quality_metrics)}


def rules() -> list[dict]:
    doc = yaml.safe_load((PROM / "tts-rules.yml").read_text(encoding="utf-8"))
    return [r for g in doc["groups"] for r in g["rules"]]


def dashboard_exprs() -> list[tuple[str, str]]:
    """(where, expr) for every panel target, annotation and templating query of the dashboard."""
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    out: list[tuple[str, str]] = []

    def walk(panels: list[dict]) -> None:
        for p in panels:
            for t in p.get("targets", []):
                out.append((f"panel {p['title']!r} {t['refId']}", t["expr"]))
            walk(p.get("panels", []))
    walk(doc["panels"])
    for a in doc["annotations"]["list"]:
        if "expr" in a:
            out.append((f"annotation {a['name']!r}", a["expr"]))
    for v in doc["templating"]["list"]:
        if v["type"] == "query":
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", v["definition"])
            assert m, v["definition"]
            out.append((f"variable ${v['name']}", m.group(1)))
    return out


# -- the checks that always run ------------------------------------------------------------------
def test_the_validator_catches_what_is_wrong(index) -> None:
    assert problems('rate(tts_rtf_bucket[5m])', index) == ["tts_rtf_bucket: no such metric"]
    assert "matches no series" in problems('tts_requests_total{status="999"}', index)[0]
    assert "no label 'verdict'" in problems('tts_requests_total{verdict="x"}', index)[0]
    assert "grouping label 'speaker'" in problems('sum by (speaker) (rate(tts_requests_total[5m]))', index)[0]
    assert problems('sum by (status) (rate(tts_requests_total{status=~"5..", job="x"}[5m]))', index) == []
    p = parse('histogram_quantile(0.9, sum by (le) (rate(a_bucket{x="1"}[$__rate_interval]))) / on (job) b > 4e9')
    assert [s.name for s in p.selectors] == ["a_bucket", "b"] and p.grouping == {"le", "job"}


def test_every_alert_reads_metrics_that_exist(index) -> None:
    found = rules()
    assert len(found) >= 12 and {r["alert"] for r in found} >= {"TTSEngineDown", "TTSHighErrorRate",
                                                                 "TTSQualityRegression", "TTSQualityStale"}
    for r in found:
        assert problems(r["expr"], index) == [], r["alert"]
        assert r["labels"]["severity"] in ("critical", "warning") and r["annotations"]["summary"]


def test_every_dashboard_query_reads_metrics_that_exist(index) -> None:
    exprs = dashboard_exprs()
    assert len(exprs) >= 20
    for where, expr in exprs:
        assert problems(expr, index) == [], where
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids)) and doc["uid"] and doc["schemaVersion"] >= 36
    for p in doc["panels"]:                      # inside the 24-column grid, no two panels on one cell
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24
    cells = [(p["gridPos"]["x"] + dx, p["gridPos"]["y"] + dy) for p in doc["panels"]
             for dx in range(p["gridPos"]["w"]) for dy in range(p["gridPos"]["h"])]
    assert len(cells) == len(set(cells))
    used = {s.name for _, e in exprs for s in parse(e).selectors}
    assert {n for n in used if n.startswith("tts_quality")} >= {"tts_quality_regression", "tts_quality_utterances"}
    assert used >= {"tts_backend_ready", "tts_real_time_factor_ratio_bucket", "tts_requests_in_flight",
                    "process_resident_memory_bytes"}


def test_service_metrics_are_named_by_the_rules(service_metrics: str) -> None:
    """Prometheus' naming rules on our own series: units as suffixes, _total only on counters."""
    from prometheus_client.parser import text_string_to_metric_families
    fams = {f.name: f for f in text_string_to_metric_families(service_metrics)}
    ours = {n: f for n, f in fams.items() if n.startswith("tts_")}
    assert "tts_rtf" not in ours and "tts_in_flight" not in ours
    for name, fam in ours.items():
        assert re.fullmatch(r"tts_[a-z_]+", name), name
        if fam.type == "histogram":
            assert name.endswith(("_seconds", "_ratio", "_bytes")), name
        if fam.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in fam.samples), name
    build = [s for s in fams["tts_build_info"].samples]
    assert len(build) == 1 and build[0].labels["backend"] == "espeak"


# -- promtool, where it is installed --------------------------------------------------------------
promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(promtool is None, reason="promtool not installed (Debian: apt-get install "
                                    "prometheus); the pure-Python checks above still ran")


@needs_promtool
def test_promtool_checks_rules_config_and_rule_unit_tests(tmp_path: Path) -> None:
    for args in (["check", "rules", "tts-rules.yml"], ["check", "config", "prometheus.yml"],
                 ["test", "rules", "tts-rules.test.yml"]):
        r = subprocess.run([promtool, *args], cwd=PROM, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    # and the unit tests can fail: a 1% error rate must not raise TTSHighErrorRate
    shutil.copy(PROM / "tts-rules.yml", tmp_path / "tts-rules.yml")
    text = (PROM / "tts-rules.test.yml").read_text(encoding="utf-8").replace("0+6x30", "0+1x30")
    (tmp_path / "t.yml").write_text(text, encoding="utf-8")
    r = subprocess.run([promtool, "test", "rules", "t.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "TTSHighErrorRate" in r.stdout + r.stderr


@needs_promtool
def test_promtool_accepts_the_live_exposition(service_metrics: str, quality_metrics: str) -> None:
    for text in (service_metrics, quality_metrics):
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
