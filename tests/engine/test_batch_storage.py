"""Batch output folder under hostile conditions: a second runner, a full disk, a read-only folder,
a symlink or a pipe planted where a WAV goes."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.batch import run_batch
from engine.config import EngineConfig
from ttsops.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
CFG = EngineConfig(log_dir=None)
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _tasks(path: Path, n: int, emotion: str = "neutral") -> Path:
    path.write_text("".join(json.dumps({"input_text": f"这是第{i}个用来测试的句子。", "name": f"t{i:02d}",
                                        "emotion": emotion}, ensure_ascii=False) + "\n" for i in range(1, n + 1)),
                    encoding="utf-8")
    return path


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine.cli", *args]


def test_second_runner_on_the_same_folder_refuses(tmp_path: Path) -> None:
    tasks = _tasks(tmp_path / "tasks.jsonl", 40, emotion="happy")
    out = tmp_path / "out"
    first = subprocess.Popen(_cli("batch", str(tasks), "--out", str(out), "-q"), env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not list(out.glob("t*.wav")) and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.02)
        second = subprocess.run(_cli("batch", str(tasks), "--out", str(out), "-q"), env=ENV,
                                capture_output=True, text=True, timeout=60)
        assert first.poll() is None, "the first run ended before the second one started: make it longer"
        assert second.returncode == 2, second.stderr
        err = second.stderr.strip().splitlines()
        assert len(err) == 1 and "output folder is in use by another batch run" in err[0]
        assert f"pid {first.pid}" in err[0] and "Traceback" not in second.stderr
    finally:
        rc = first.wait(timeout=120)
    assert rc == 0, first.stderr.read()
    names = [json.loads(x)["name"] for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(names) == [f"t{i:02d}" for i in range(1, 41)]       # the first run was not disturbed
    assert run_batch(tasks, out, config=CFG).resumed == 40                # the lock is free again


def test_lock_held_in_process_names_the_holder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out / ".batch.lock", os.O_RDWR | os.O_CREAT)
    os.write(fd, b"pid 999999, tasks other.jsonl, since 2026-11-20 09:00:00")
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(InputError, match=r"in use by another batch run \(pid 999999, tasks other.jsonl"):
            run_batch(_tasks(tmp_path / "t.jsonl", 1), out, config=CFG)
    finally:
        os.close(fd)
    assert not (out / "manifest.jsonl").exists()


def test_symlink_and_fifo_planted_in_the_output_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / "t01.wav").symlink_to(victim)
    os.mkfifo(out / "t02.wav")
    (tmp_path / "sub").mkdir()
    t0 = time.monotonic()
    res = run_batch(_tasks(tmp_path / "t.jsonl", 3), out, config=CFG)
    assert time.monotonic() - t0 < 30                      # the pipe did not block the run
    assert (res.succeeded, res.failed) == (1, 2)
    assert victim.read_text() == "precious" and (out / "t01.wav").is_symlink()
    reasons = dict(res.failures)
    assert "is a symlink to" in reasons[1] and "refusing to follow it" in reasons[1]
    assert "exists and is not a regular file" in reasons[2]
    assert len((out / "failed.jsonl").read_text().splitlines()) == 2


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    r = subprocess.run(["unshare", "-rm", "sh", "-c", 'd=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs "$d" '
                        '&& umount "$d"; s=$?; rmdir "$d"; exit $s'], capture_output=True)
    return r.returncode == 0


needs_tmpfs = pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs unshare -rm and tmpfs mounts")


def _in_small_fs(tmp_path: Path, size_kb: int, script: str) -> subprocess.CompletedProcess:
    """Run ``script`` (sh) with ``$OUT`` a fresh tmpfs of ``size_kb`` in a private mount namespace;
    the mount and its files vanish when it ends, so the script reports what it needs on stdout."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    full = f'mount -t tmpfs -o size={size_kb}k tmpfs "$OUT" && {script}'
    return subprocess.run(["unshare", "-rm", "sh", "-c", full], capture_output=True, text=True, timeout=240,
                          env={**ENV, "OUT": str(out), "TASKS": str(tmp_path / "tasks.jsonl"),
                               "PY": sys.executable, "LOGS": str(tmp_path / "logs")})


@needs_tmpfs
def test_disk_full_stops_with_one_line_and_consistent_files(tmp_path: Path) -> None:
    _tasks(tmp_path / "tasks.jsonl", 12)
    r = _in_small_fs(tmp_path, 300, '"$PY" -m engine.cli batch "$TASKS" --out "$OUT" --log-dir "$LOGS"; '
                     'echo "rc=$?"; echo "--manifest"; cat "$OUT/manifest.jsonl"; echo "--failed"; '
                     'cat "$OUT/failed.jsonl"; echo "--files"; ls -a "$OUT"')
    stdout = r.stdout
    assert "rc=2" in stdout, stdout + r.stderr
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("error: ") and "No space left on device" in err[0], r.stderr
    assert "Traceback" not in r.stderr
    manifest = stdout.split("--manifest\n")[1].split("--failed\n")[0].splitlines()
    failed = stdout.split("--failed\n")[1].split("--files\n")[0].splitlines()
    files = stdout.split("--files\n")[1].split()
    done = [json.loads(x)["name"] for x in manifest]
    left = [json.loads(x)["name"] for x in failed]
    assert done and left and sorted(done + left) == [f"t{i:02d}" for i in range(1, 13)]   # nothing lost
    assert f"{len(done)} task(s) done are in manifest.jsonl" in err[0]
    assert sorted(f for f in files if f.endswith(".wav")) == sorted(f"{n}.wav" for n in done)
    assert not [f for f in files if f.endswith(".tmp")]
    assert f"Batch stopped: {len(done)}/12 tasks succeeded" in stdout


@needs_tmpfs
def test_read_only_output_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    _tasks(tmp_path / "tasks.jsonl", 3)
    r = _in_small_fs(tmp_path, 4096, '"$PY" -m engine.cli batch "$TASKS" --out "$OUT" --log-dir "$LOGS" -q; '
                     'sum1=$(cat "$OUT/manifest.jsonl" | sha256sum); mount -o remount,ro "$OUT"; '
                     '"$PY" -m engine.cli batch "$TASKS" --out "$OUT" --log-dir "$LOGS" --no-resume; echo "rc=$?"; '
                     'sum2=$(cat "$OUT/manifest.jsonl" | sha256sum); [ "$sum1" = "$sum2" ] && echo same-manifest')
    assert "rc=2" in r.stdout and "same-manifest" in r.stdout, r.stdout + r.stderr
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert err == [f"error: {tmp_path / 'out'}: cannot write the output folder: Read-only file system (fix: free "
                   "space or make the folder writable, then rerun the same command (finished tasks are skipped))"]
