"""`tts-engine synth -o` writes where the user pointed and never replaces what is not a regular file
(issue 14 severe defect 4: as root, `-o /dev/full` used to replace the device with a WAV)."""
from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import soundfile as sf

from engine.synth import OutputError, write_wav_output

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _synth(out: str, tmp_path: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", "synth", "你好。", "-o", out,
                           "--log-dir", str(tmp_path / "logs")], capture_output=True, env=ENV, timeout=60,
                          cwd=tmp_path, **kw)


def _one_error(r: subprocess.CompletedProcess) -> str:
    err = r.stderr.decode().strip().splitlines()
    assert r.returncode == 2 and len(err) == 1 and err[0].startswith("error: "), r.stderr
    return err[0]


@pytest.mark.parametrize("device", ["/dev/full", "/dev/null"])
def test_devices_are_written_through_never_replaced(device: str, tmp_path: Path) -> None:
    if not os.path.exists(device):
        pytest.skip(f"{device} missing")
    before = os.stat(device)
    r = _synth(device, tmp_path)
    after = os.lstat(device)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino
    if device == "/dev/full":
        assert "No space left on device" in _one_error(r) and device in r.stderr.decode()
    else:
        assert r.returncode == 0 and r.stdout.decode().startswith("/dev/null: ")


def test_dash_means_stdout(tmp_path: Path) -> None:
    r = _synth("-", tmp_path)
    assert r.returncode == 0, r.stderr
    y, sr = sf.read(io.BytesIO(r.stdout))
    assert sr == 22050 and len(y) / sr > 0.3
    assert "<stdout>: " in r.stderr.decode() and not (tmp_path / "-").exists()


def test_fifo_gets_the_wav_and_stays_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = _synth(str(fifo), tmp_path)
    reader.join(timeout=30)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    y, sr = sf.read(io.BytesIO(got[0]))
    assert sr == 22050 and len(y) > 1000


def test_symlink_out_of_its_folder_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "elsewhere" / "passwd"
    victim.parent.mkdir()
    victim.write_text("root:x:0:0\n")
    (tmp_path / "out").mkdir()
    link = tmp_path / "out" / "x.wav"
    link.symlink_to(victim)
    msg = _one_error(_synth(str(link), tmp_path))
    assert "is a symlink to" in msg and "outside" in msg and "refusing to follow it" in msg
    assert victim.read_text() == "root:x:0:0\n" and link.is_symlink()


def test_symlink_inside_its_folder_is_followed(tmp_path: Path) -> None:
    (tmp_path / "takes").mkdir()
    link = tmp_path / "latest.wav"
    link.symlink_to(tmp_path / "takes" / "take1.wav")
    r = _synth(str(link), tmp_path)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and sf.info(tmp_path / "takes" / "take1.wav").frames > 1000


def test_regular_file_is_replaced_atomically_and_others_refused(tmp_path: Path) -> None:
    target = tmp_path / "x.wav"
    target.write_bytes(b"old")
    os.link(target, tmp_path / "hardlink")            # replaced by rename: the other name keeps the old bytes
    assert _synth(str(target), tmp_path).returncode == 0
    assert sf.info(target).frames > 1000 and (tmp_path / "hardlink").read_bytes() == b"old"
    import socket
    sock_path = tmp_path / "s.wav"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock_path))
    try:
        with pytest.raises(OutputError, match="not a regular file"):
            write_wav_output(sock_path, b"RIFF", 0)
    finally:
        s.close()
    with pytest.raises(OutputError, match="is a directory"):
        write_wav_output(tmp_path, b"RIFF", 0)
    assert not list(tmp_path.glob(".*.tmp"))


def test_planted_temp_name_is_not_written_through(tmp_path: Path) -> None:
    """The temp file is opened O_EXCL|O_NOFOLLOW: a link planted under its name cannot redirect it."""
    victim = tmp_path / "victim"
    victim.write_text("keep")
    target = tmp_path / "x.wav"
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.wav.tmp")
    tmp.symlink_to(victim)
    with pytest.raises(OutputError):
        write_wav_output(target, b"RIFFdata", 0)
    assert victim.read_text() == "keep"
