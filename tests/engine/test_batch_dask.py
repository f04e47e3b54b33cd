"""tts-engine batch on a Dask LocalCluster(n_workers=2): the outputs of one process, and a worker
killed mid-run (SIGKILL) loses, duplicates and truncates nothing: every task ends exactly once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf

from engine.batch import run_batch
from engine.config import EngineConfig
from engine.distributed import ClusterMaker
from ttsops.cluster import ClusterSpec, connect

pytestmark = pytest.mark.xdist_group("dask")

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["你好，今天的天气很好。", "Hello, this is a test of the batch runner.", "早上好，我们开始吧。",
         "Good morning, everyone.", "谢谢你的耐心等待。", "Thank you for waiting."]
SPEAKERS = ["zh_female_1", "en_male_1", "zh_male_1", "en_female_2", "zh_female_2", "en_male_2"]


@pytest.fixture(scope="module")
def client():
    with connect(ClusterSpec(workers=2)) as c:
        yield c


def _tasks(path: Path, n: int, *, bad: bool = True) -> list[str]:
    names = [f"t{i:03d}" for i in range(n)]
    lines = [json.dumps({"input_text": TEXTS[i % 6] * (1 + i % 3), "name": name, "speaker": SPEAKERS[i % 6]},
                        ensure_ascii=False) for i, name in enumerate(names)]
    if bad:
        lines.insert(3, '{"input_text": "x", "speaker": "nobody"}')            # refused before synthesis
        lines.insert(7, json.dumps({"input_text": "长" * 5000, "name": "toolong"}))  # refused by the engine
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return names


def _manifest(out: Path) -> dict[str, dict]:
    entries: dict[str, dict] = {}
    for raw in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        e = json.loads(raw)
        assert e["name"] not in entries, f"{e['name']} twice in the manifest"
        entries[e["name"]] = e
    return entries


def _cfg(out: Path) -> EngineConfig:
    return EngineConfig().with_(log_dir=out / "logs")


def test_same_outputs_as_one_process(tmp_path: Path, client) -> None:
    tasks = tmp_path / "tasks.jsonl"
    names = _tasks(tasks, 24)
    one, many = tmp_path / "one", tmp_path / "many"
    s1 = run_batch(tasks, one, config=_cfg(one))
    lines: list[str] = []
    s2 = run_batch(tasks, many, config=_cfg(many), echo=lines.append, maker=lambda run: ClusterMaker(run, client))
    assert (s1.total, s1.succeeded, s1.failed) == (s2.total, s2.succeeded, s2.failed) == (26, 24, 2)
    m1, m2 = _manifest(one), _manifest(many)
    assert sorted(m1) == sorted(m2) == sorted(names)
    for name in names:
        a, b = m1[name], m2[name]
        assert (a["sha256"], a["fingerprint"], a["duration"], a["line"]) == \
            (b["sha256"], b["fingerprint"], b["duration"], b["line"])
        assert (one / f"{name}.wav").read_bytes() == (many / f"{name}.wav").read_bytes()
    f1 = sorted((one / "failed.jsonl").read_text(encoding="utf-8").splitlines())
    f2 = sorted((many / "failed.jsonl").read_text(encoding="utf-8").splitlines())
    assert f1 == f2 and len(f2) == 2
    # which worker made what: the echoed lines, the client's log and one log folder per worker
    assert sum(" on tcp://127.0.0.1:" in ln for ln in lines) == 24
    workers = {json.loads(r)["record"]["extra"].get("worker") for r in
               (many / "logs" / "inference.log").read_text(encoding="utf-8").splitlines()} - {None}
    assert len(workers) == 2
    assert len(list((many / "logs").glob("worker-127.0.0.1-*"))) == 2
    # resume keeps its guarantee: nothing is made again
    s3 = run_batch(tasks, many, config=_cfg(many), maker=lambda run: ClusterMaker(run, client))
    assert s3.resumed == 24 and _manifest(many) == m2


def test_worker_killed_mid_run_every_task_ends_once(tmp_path: Path, client) -> None:
    tasks = tmp_path / "tasks.jsonl"
    names = _tasks(tasks, 60, bad=False)
    ref = tmp_path / "ref"
    run_batch(tasks, ref, config=_cfg(ref))
    out = tmp_path / "out"
    pids_before = client.run(os.getpid)
    box: dict = {}

    def go() -> None:
        try:
            box["summary"] = run_batch(tasks, out, config=_cfg(out), maker=lambda run: ClusterMaker(run, client))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            box["error"] = exc

    th = threading.Thread(target=go)
    th.start()
    deadline = time.monotonic() + 120
    # both workers busy (each has built its engine on a task) and some outputs written
    while (len(list(out.glob("t*.wav"))) < 6 or not all(client.run(_engine_for, str(out)).values())) \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    victim = sorted(pids_before.values())[0]
    os.kill(victim, signal.SIGKILL)
    th.join(timeout=240)
    assert not th.is_alive() and "error" not in box, box.get("error")
    s = box["summary"]
    assert (s.total, s.succeeded, s.failed) == (60, 60, 0)
    m = _manifest(out)
    assert sorted(m) == sorted(names)
    for name in names:
        wav = out / f"{name}.wav"
        info = sf.info(wav)
        assert wav.stat().st_size == 44 + 2 * info.frames
        assert wav.read_bytes() == (ref / f"{name}.wav").read_bytes()
    assert (out / "failed.jsonl").read_text() == ""
    assert not list(out.glob(".*.wav.tmp"))
    assert victim not in client.run(os.getpid).values()  # the worker did die (its nanny started another)


def _engine_for(out: str) -> bool:
    """Whether this worker has built its engine for the run writing into ``out``."""
    import engine.distributed as d

    return any(str(e.config.log_dir).startswith(out) for e in d._ENGINES.values())


def test_cli_workers(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    _tasks(tasks, 6, bad=False)
    r = subprocess.run([sys.executable, "-m", "engine.cli", "batch", str(tasks), "--out", str(tmp_path / "out"),
                        "--workers", "2", "--resources", "GPU=1"], capture_output=True, text=True, timeout=300,
                       cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(" on tcp://127.0.0.1:") == 6 and "Batch completed: 6/6 tasks succeeded" in r.stdout


def test_resources_no_worker_offers_them_one_line_error(tmp_path: Path, client) -> None:
    from ttsops.errors import ConfigError

    tasks = tmp_path / "tasks.jsonl"
    _tasks(tasks, 2, bad=False)
    with pytest.raises(ConfigError, match="no worker of the cluster offers GPU=1"):
        run_batch(tasks, tmp_path / "out", config=_cfg(tmp_path / "out"),
                  maker=lambda run: ClusterMaker(run, client, resources={"GPU": 1}))
