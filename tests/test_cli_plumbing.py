"""The shared CLI plumbing: lazy subcommands, default command, one-line errors and exit codes."""
from __future__ import annotations

import subprocess
import sys

import click
import pytest

from ttsops.cli import LazyGroup, run_main
from ttsops.errors import InputError


@click.group(cls=LazyGroup, default_command="run")
def grp() -> None:
    pass


@grp.command()
@click.argument("paths", nargs=-1)
@click.option("--fail", is_flag=True)
def run(paths: tuple[str, ...], fail: bool) -> int:
    if fail:
        raise InputError("bad value", where="x.log:3", fix="use a good one")
    click.echo("ran " + ",".join(paths))
    return 1 if paths else 0


@grp.command()
def other() -> None:
    click.echo("other")


def test_default_command_is_used_for_paths(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_main(grp, ["a.log", "b.log"])
    assert exc.value.code == 1
    assert "ran a.log,b.log" in capsys.readouterr().out


def test_named_subcommand_wins(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_main(grp, ["other"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == "other"


def test_toolkit_error_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_main(grp, ["--fail"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: x.log:3: bad value (fix: use a good one)"
    assert "Traceback" not in err


@pytest.mark.parametrize("prog", ["engine", "analyzer", "quality"])
def test_help_is_fast_and_imports_no_heavy_package(prog: str) -> None:
    code = (f"import sys; from {prog}.cli import cli; "
            "from click.testing import CliRunner; r = CliRunner().invoke(cli, ['--help']); "
            "assert r.exit_code == 0, r.output; "
            "heavy = {'torch', 'sklearn', 'pesq', 'pyworld', 'onnxruntime', 'modelscope', 'drain3'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
