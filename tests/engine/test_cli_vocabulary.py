"""One flag vocabulary for `tts-engine` (issue 15): --format (with --json kept), -o/--output,
--no-progress, --color auto|always|never with NO_COLOR, -q, --log-format, --sentry-dsn, and a
TTSOPS_* variable for every option that matters in a container, each listed in docs/engine.md."""
from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest

from engine.cli import SUBCOMMANDS, cli
from engine.commands._options import ENV, use_color
from ttsops.cli import run_main

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def commands() -> dict[str, click.Command]:
    ctx = click.Context(cli)
    return {name: cli.get_command(ctx, name) for name in SUBCOMMANDS}


def opts(cmd: click.Command) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}


def run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        run_main(cli, list(args), prog_name="tts-engine")
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


@pytest.mark.parametrize("name,expected", [
    ("backends", {"--format", "--json", "-o", "--output", "-q", "--color"}),
    ("health", {"--format", "--json", "-o", "--output", "-q", "--color", "--wait"}),
    ("doctor", {"--format", "--json", "-o", "--output", "-q", "--color"}),
    ("synth", {"--format", "-o", "--output", "-q", "--log-format", "--sentry-dsn"}),
    ("batch", {"--format", "-o", "--output", "--out", "-q", "--progress", "--no-progress", "--color",
               "--log-format", "--sentry-dsn"}),
    ("serve", {"--log-format", "--sentry-dsn"}),
    ("supervise", {"--format", "-q", "--log-format", "--sentry-dsn"}),
])
def test_each_command_speaks_the_vocabulary(name: str, expected: set[str]) -> None:
    assert expected <= opts(commands()[name])


def test_every_environment_variable_is_an_option_and_documented() -> None:
    doc = (ROOT / "docs" / "engine.md").read_text(encoding="utf-8")
    table = {m.group(2): m.group(1) for m in re.finditer(r"^\| `(--[a-z-]+)`[^|]*\| `([A-Z_]+)` \|", doc, re.M)}
    used: dict[str, set[str]] = {}
    for name, cmd in commands().items():
        for p in cmd.params:
            if getattr(p, "envvar", None):
                assert p.envvar in ENV.values(), (name, p.name, p.envvar)
                used.setdefault(p.envvar, set()).add(p.opts[0])
    assert set(used) == set(ENV.values())                                # no variable without an option
    for var, options in used.items():
        assert var in table, f"{var} is not in docs/engine.md's table"
        assert table[var] in options, (var, table[var], options)


def test_json_alias_and_format_give_the_same_object(capsys: pytest.CaptureFixture) -> None:
    a = run(capsys, "backends", "--json")
    b = run(capsys, "backends", "--format", "json")
    assert a[0] == b[0] == 0 and json.loads(a[1]) == json.loads(b[1]) and "espeak" in a[1]


def test_quiet_output_file_and_exit_codes(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, out, err = run(capsys, "health", "-q", "--log-dir", str(tmp_path / "logs"))
    assert code == 0 and out == "" and err == ""
    code, out, _ = run(capsys, "health", "--url", "http://127.0.0.1:1", "--format", "json", "-o",
                       str(tmp_path / "h.json"), "--log-dir", str(tmp_path / "logs"))
    doc = json.loads((tmp_path / "h.json").read_text())
    assert code == 1 and out == "" and doc["ok"] is False and doc["target"] == "http://127.0.0.1:1"
    code, out, _ = run(capsys, "backends", "-q")
    assert code == 0 and out == ""


def test_environment_fills_the_options(capsys: pytest.CaptureFixture, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTSOPS_HEALTH_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("TTSOPS_LOG_DIR", str(tmp_path / "from-env"))
    code, out, _ = run(capsys, "health")
    assert code == 1 and "http://127.0.0.1:1" in out
    assert (tmp_path / "from-env" / "health.log").stat().st_size > 0
    monkeypatch.setenv("TTSOPS_LOG_FORMAT", "xml")
    code, _, err = run(capsys, "synth", "hi", "-o", str(tmp_path / "x.wav"))
    assert code == 2 and "'xml'" in err


def test_color(capsys: pytest.CaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    logs = ["--log-dir", str(tmp_path / "logs")]
    assert ANSI.search(run(capsys, "health", "--color", "always", *logs)[1])
    assert not ANSI.search(run(capsys, "health", "--color", "never", *logs)[1])
    assert not ANSI.search(run(capsys, "health", *logs)[1])              # auto: not a terminal here

    class Tty:
        def isatty(self) -> bool:
            return True
    assert use_color("auto", Tty()) and use_color("always", None) and not use_color("never", Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color("auto", Tty()) and use_color("always", Tty())
    monkeypatch.setenv("NO_COLOR", "")                                   # empty: as if unset (no-color.org)
    assert use_color("auto", Tty())


def test_json_logs_and_audio_on_stdout_do_not_mix(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, out, err = run(capsys, "synth", "hi", "-o", "-", "--log-format", "json", "--log-dir", str(tmp_path))
    assert code == 2 and out == "" and "--log-format json" in err


def test_synth_json_summary(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "synth", "Hello.", "-o", str(tmp_path / "a.wav"), "--format", "json",
                       "--log-dir", str(tmp_path / "logs"))
    doc = json.loads(out)
    assert code == 0 and doc["output"] == str(tmp_path / "a.wav") and doc["audio_seconds"] > 0.3
    assert run(capsys, "synth", "Hello.", "-o", str(tmp_path / "b.wav"), "-q", "--log-dir", str(tmp_path))[1] == ""
