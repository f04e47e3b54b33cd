"""Every README code block marked runnable is executed, so the README stays true.

A block is runnable when the line before its fence is ``<!-- runnable -->`` (exit status 0 expected
from each command) or ``<!-- runnable exit=0,1 -->`` (any listed status accepted). Commands run one
line at a time with ``bash`` in a scratch directory that links the repository's ``data/``, with the
project's console scripts on PATH; later commands see the files earlier ones wrote.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARK = re.compile(r"<!--\s*runnable(?:\s+exit=([\d,]+))?\s*-->")


def runnable_blocks(text: str) -> list[tuple[int, set[int], list[str]]]:
    """(line number, accepted exit codes, commands) for each runnable block."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        m = MARK.search(lines[i])
        if m and i + 1 < len(lines) and lines[i + 1].startswith("```"):
            codes = {int(c) for c in (m.group(1) or "0").split(",")}
            j = i + 2
            cmds: list[str] = []
            while j < len(lines) and not lines[j].startswith("```"):
                cmd = lines[j].split("  # ")[0].strip()
                if cmd and not cmd.startswith("#"):
                    cmds.append(cmd)
                j += 1
            blocks.append((i + 1, codes, cmds))
            i = j
        i += 1
    return blocks


BLOCKS = runnable_blocks((ROOT / "README.md").read_text(encoding="utf-8"))


def test_readme_has_the_two_setup_commands_first() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert first_block, "README must open with a bash block"
    cmds = [ln.split("#")[0].strip() for ln in first_block.group(1).splitlines() if ln.strip()]
    assert cmds == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_readme_blocks_run_in_order(tmp_path: Path) -> None:
    """All runnable blocks, top to bottom, in one scratch directory (later blocks use earlier outputs)."""
    assert BLOCKS, "README has no runnable block"
    (tmp_path / "data").symlink_to(ROOT / "data")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("TTSOPS_NO_PROGRESS", "1")
    for lineno, codes, cmds in BLOCKS:
        for cmd in cmds:
            proc = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=env, capture_output=True,
                                  text=True, timeout=300)
            assert proc.returncode in codes, (
                f"README line {lineno}: `{cmd}` exited {proc.returncode}\n{proc.stdout[-2000:]}\n"
                f"{proc.stderr[-2000:]}")
            assert "Traceback (most recent call last)" not in proc.stderr, proc.stderr[-2000:]


def test_marker_parser_reads_exit_codes() -> None:
    text = "x\n<!-- runnable exit=0,1 -->\n```bash\ntts-analyze logs/  # exits 1 on incidents\n# note\n```\n"
    assert runnable_blocks(text) == [(2, {0, 1}, ["tts-analyze logs/"])]
