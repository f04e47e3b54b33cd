"""analyze(): the library entry point on synthetic engine-like logs with known incidents."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyzer.config import AnalyzeConfig
from analyzer.pipeline import analyze
from ttsops.errors import ConfigError, InputError

from incident_logs import write_scenario


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    d = tmp_path_factory.mktemp("scenario")
    labels = write_scenario(d)
    return d, labels


def test_finds_each_labelled_incident_with_its_cause(scenario) -> None:
    folder, labels = scenario
    result = analyze([folder])
    got = {i.root_cause.kb_id for i in result.incidents}
    assert got == {lab["fault"] for lab in labels}
    oom = next(i for i in result.incidents if i.root_cause.kb_id == "cuda_oom")
    assert {s.kb_id for s in oom.symptoms} == {"silent_output", "request_timeout"}
    assert oom.severity == "critical" and oom.anomalous_window
    assert result.exit_code == 1
    s = result.summary
    assert s.records == s.lines == 1872 and s.files == 2 and s.bad_lines == 0  # labels.jsonl is not a log
    assert 0 < s.error_rate < 0.05 and s.templates >= 5
    assert result.timeline and any(r["anomalous"] for r in result.timeline)
    assert {g.kb_id for g in result.exception_groups} >= {"cuda_oom", "missing_shared_library"}


def test_clean_logs_have_no_incidents(tmp_path: Path) -> None:
    write_scenario(tmp_path, faults=False)
    result = analyze([tmp_path])
    assert result.incidents == [] and result.exit_code == 0


def test_baseline_and_state(tmp_path: Path, scenario) -> None:
    folder, _ = scenario
    base = tmp_path / "base"
    write_scenario(base, faults=False)
    state = tmp_path / "state"
    cfg = AnalyzeConfig(baseline=[str(base)], state_dir=str(state))
    r1 = analyze([folder], cfg)
    assert {i.root_cause.kb_id for i in r1.incidents} == {"cuda_oom", "missing_shared_library", "invalid_text"}
    assert r1.summary.new_templates < r1.summary.templates  # baseline templates are not new
    r2 = analyze([folder], cfg)
    assert r2.summary.new_templates == 0                     # state remembers them
    assert (state).is_dir()


def test_sessions(scenario) -> None:
    folder, _ = scenario
    result = analyze([folder], AnalyzeConfig(sessions=r"req-\d+"))
    assert result.sessions and {"id", "score", "anomalous"} <= set(result.sessions[0])
    assert len({s["id"] for s in result.sessions}) == len(result.sessions)
    assert "sessions" in result.to_dict()


def test_config_from_toml(tmp_path: Path) -> None:
    p = tmp_path / "a.toml"
    p.write_text('[analyze]\nwindow = "5min"\nsessions = ""\n[incidents]\nepisode_gap = 30\n'
                 '[alerts]\nresolve_after = 3\n', encoding="utf-8")
    cfg = AnalyzeConfig.from_toml(p, window=None)
    assert cfg.window == "5min" and cfg.sessions is None
    assert cfg.incidents.episode_gap == 30 and cfg.alerts.resolve_after == 3
    assert AnalyzeConfig.from_toml(p, window="30s").window == "30s"
    p.write_text("[analyze]\nwindoww = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="windoww"):
        AnalyzeConfig.from_toml(p)
    with pytest.raises(ConfigError, match="window"):
        AnalyzeConfig(window="soon")


def test_unreadable_input_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        analyze([tmp_path / "missing"])


def test_to_dict_is_json(scenario) -> None:
    folder, _ = scenario
    json.dumps(analyze([folder]).to_dict())
