"""`tts-analyze PATH...` end to end: exit codes 0/1/2, formats, -o, stdin, --help."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from incident_logs import write_scenario
from test_report import check_contract


def tts_analyze(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("tts-analyze")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "analyzer.cli"]
    env = dict(os.environ, COLUMNS="120")
    return subprocess.run(cmd + list(args), input=stdin, capture_output=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    write_scenario(d / "bad")
    write_scenario(d / "good", minutes=5, faults=False)
    return d


def test_incidents_found_exit_1_json(logs: Path) -> None:
    p = tts_analyze(str(logs / "bad"), "--format", "json")
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    check_contract(doc)
    assert {i["root_cause"]["kb_id"] for i in doc["incidents"]} == {"cuda_oom", "missing_shared_library", "invalid_text"}


def test_nothing_found_exit_0_and_terminal(logs: Path) -> None:
    p = tts_analyze(str(logs / "good"), "--no-color")
    assert p.returncode == 0, p.stderr
    assert b"No incidents found" in p.stdout


@pytest.mark.parametrize("args", [["/nonexistent/logs"], ["--window", "soon", "x.log"], ["--format", "pdf", "x"]])
def test_usage_or_unreadable_exit_2(args: list[str], logs: Path) -> None:
    p = tts_analyze(*args)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert b"Traceback" not in p.stderr


def test_output_file_html_and_stdin(logs: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    p = tts_analyze(str(logs / "bad"), "--format", "html", "-o", str(out))
    assert p.returncode == 1 and out.read_text(encoding="utf-8").count("<svg") >= 1
    data = (logs / "bad" / "inference.log").read_bytes()
    p = tts_analyze("-", "--format", "markdown", stdin=data)
    assert p.returncode == 1 and b"cuda_oom" in p.stdout


def test_help_documents_exit_codes() -> None:
    from click.testing import CliRunner

    from analyzer.cli import cli

    r = CliRunner().invoke(cli, ["analyze", "--help"])
    assert r.exit_code == 0
    for s in ("0  nothing found", "1  incidents found", "2  usage error", "--follow", "--webhook", "--sessions"):
        assert s in r.output


def test_color_flags_and_no_color(tmp_path) -> None:
    """One vocabulary: --color auto|always|never (TTSOPS_COLOR), NO_COLOR honoured unless always."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from ttsops.cli import use_color

    assert use_color("never") is False and use_color("always") is True
    old = os.environ.pop("NO_COLOR", None)
    try:
        assert use_color("auto") is None
        os.environ["NO_COLOR"] = "1"
        assert use_color("auto") is False and use_color("always") is True
    finally:
        os.environ.pop("NO_COLOR", None)
        if old is not None:
            os.environ["NO_COLOR"] = old
    p = tmp_path / "paste.log"
    p.write_text("torch.OutOfMemoryError: CUDA out of memory.\n", encoding="utf-8")
    exe = Path(sys.executable).with_name("tts-analyze")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "analyzer.cli"]
    env = {**os.environ, "NO_COLOR": "1"}
    always = subprocess.run(cmd + [str(p), "--color", "always"], capture_output=True, env=env, timeout=120)
    never = subprocess.run(cmd + [str(p), "--color", "never"], capture_output=True, env=env, timeout=120)
    legacy = subprocess.run(cmd + [str(p), "--no-color", "-q"], capture_output=True, env=env, timeout=120)
    assert always.returncode == never.returncode == legacy.returncode == 1
    assert b"\x1b[" in always.stdout and b"\x1b[" not in never.stdout and b"\x1b[" not in legacy.stdout
    assert b"note:" in never.stdout and b"note:" not in legacy.stdout  # -q: the report only
    env["TTSOPS_ANALYZE_FORMAT"] = "json"
    js = subprocess.run(cmd + [str(p)], capture_output=True, env=env, timeout=120)
    assert js.stdout.lstrip().startswith(b"{")
