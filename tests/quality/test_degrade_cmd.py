"""`degrade` command (module quality.commands.degrade; registered in quality/cli.py by the lead)."""
from __future__ import annotations

import numpy as np
import soundfile as sf
from click.testing import CliRunner
from signals import speechlike

from quality.commands.degrade import degrade


def test_degrade_only_named(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    for n in ("a", "b"):
        sf.write(str(src / f"{n}.wav"), speechlike(sr=16000, dur=1.0), 16000, subtype="PCM_16")
    r = CliRunner().invoke(degrade, [str(src), str(out), "--kind", "clip_50pct", "--only", "a"])
    assert r.exit_code == 0, r.output
    a0, _ = sf.read(str(src / "a.wav"))
    a1, _ = sf.read(str(out / "a.wav"))
    b0, _ = sf.read(str(src / "b.wav"))
    b1, _ = sf.read(str(out / "b.wav"))
    assert np.abs(a1).max() < 0.6 * np.abs(a0).max() and np.array_equal(b0, b1)


def test_degrade_missing_source(tmp_path):
    r = CliRunner().invoke(degrade, [str(tmp_path / "nope"), str(tmp_path / "out")])
    assert r.exit_code != 0
