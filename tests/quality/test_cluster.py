"""tts-quality on a Dask LocalCluster(n_workers=2): the same scores, manifests and verdicts as one
process, from the library and from the three commands; a task the cluster cannot run becomes that
pair's error row, the rest of the run goes on."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from quality.cluster import current, map_ordered, on_cluster  # noqa: E402
from quality.reference import build_reference  # noqa: E402
from quality.regress import regress  # noqa: E402
from quality.score import clean_row, match_dirs, score_pairs  # noqa: E402
from ttsops.cluster import ClusterSpec, connect  # noqa: E402

pytestmark = pytest.mark.xdist_group("dask")

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    {"name": "en_a", "input_text": "Please join the meeting at three o'clock.", "speaker": "en_male_1"},
    {"name": "zh_b", "input_text": "今天天气晴朗,最高气温二十五度。", "speaker": "zh_female_1", "emotion": "happy"},
    {"name": "bad_c", "input_text": "Hello there.", "speaker": "en_male_1", "duration_ratio": 9.0},
    {"name": "mix_d", "input_text": "你好,世界。Hello, world.", "speaker": "zh_female_2", "emotion": "sad"},
]


@pytest.fixture(scope="module")
def client():
    with connect(ClusterSpec(workers=2)) as c:
        yield c


@pytest.fixture(scope="module")
def texts(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cluster-texts") / "texts.jsonl"
    p.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in TEXTS) + "{not json\n", encoding="utf-8")
    return p


def _strip(man: dict) -> dict:
    """A manifest without what differs between any two builds (time, request ids)."""
    man = json.loads(json.dumps(man))
    man.pop("created", None)
    man["texts"] = Path(man["texts"]).name
    for u in man["utterances"]:
        u.pop("request_id", None)
    return man


@pytest.fixture(scope="module")
def built(tmp_path_factory, texts, client):
    d = tmp_path_factory.mktemp("cluster-built")
    one = build_reference(texts, d / "one", jobs=1)
    with on_cluster(client):
        many = build_reference(texts, d / "many", jobs=1)
    from quality.degrade import degrade_dir

    degrade_dir(d / "one", d / "noisy", "noise_30db")
    return d, one, many


def test_reference_build_on_the_cluster_is_the_same_set(built):
    d, one, many = built
    assert _strip(many) == _strip(one)
    assert [u["name"] for u in one["utterances"]] == ["en_a", "zh_b", "mix_d"]
    assert [e["line"] for e in one["errors"]] == [3, 5]          # the bad ratio, the bad JSON line
    assert sorted(p.name for p in (d / "many").glob("*.wav")) == sorted(p.name for p in (d / "one").glob("*.wav"))
    for u in one["utterances"]:
        assert (d / "many" / u["file"]).read_bytes() == (d / "one" / u["file"]).read_bytes()


def test_sampling_set_on_the_cluster_is_the_same_set(tmp_path, texts, client):
    one = build_reference(texts, tmp_path / "one", sampling=True, renders=3, temperature=0.8)
    with on_cluster(client):
        many = build_reference(texts, tmp_path / "many", sampling=True, renders=3, temperature=0.8)
    assert _strip(many) == _strip(one) and len(one["utterances"]) == 9
    # the failing text's renders are not left behind on either path
    assert not list((tmp_path / "many").glob("bad_c*")) and not list((tmp_path / "one").glob("bad_c*"))


def _same_rows(a: list[dict], b: list[dict]) -> None:
    """The same rows as reported (6 decimals), and raw floats equal but for the last bits (separate
    processes: numpy's vectorised sums in ESTOI depend on the arrays' memory alignment)."""
    assert [clean_row(r) for r in a] == [clean_row(r) for r in b]
    for ra, rb in zip(a, b):
        for k, v in ra.items():
            if isinstance(v, float) and v == v:
                assert v == pytest.approx(rb[k], rel=1e-12, abs=1e-12), (ra["name"], k)


def test_scores_on_the_cluster_equal_one_process(built, client):
    d, _, _ = built
    pairs = match_dirs(d / "one", d / "noisy")
    local = score_pairs(pairs, jobs=1, progress=False)
    lines: list[str] = []
    with on_cluster(client, log=lines.append) as run:
        remote = score_pairs(pairs, jobs=1, progress=False)
        assert current() is run
    assert current() is None
    _same_rows(remote, local)
    assert all(r["error"] is None and r["pesq_wb"] > 1 for r in local)
    assert sum(int(ln.split(" did ")[1].split()[0]) for ln in lines if " did " in ln) == len(pairs)


def test_regress_on_the_cluster_gives_the_same_verdicts(built, client):
    d, _, _ = built
    local = regress(d / "one", d / "noisy", jobs=1, progress=False).to_json()
    with on_cluster(client):
        remote = regress(d / "one", d / "noisy", jobs=1, progress=False).to_json()
    for doc in (local, remote):
        doc.pop("created", None)
    assert remote == local and local["verdict"] == "regression"


def test_resynthesis_on_the_cluster_is_the_same_candidate(built, client, tmp_path):
    from quality.reference import resynthesize_set

    d, one, _ = built
    local = resynthesize_set(d / "one", tmp_path / "local")
    with on_cluster(client):
        remote = resynthesize_set(d / "one", tmp_path / "remote")
    assert remote == local == {"cross_engine": False, "backend": "espeak"}
    names = sorted(p.name for p in (tmp_path / "local").glob("*.wav"))
    assert names == sorted(u["file"] for u in one["utterances"])
    for n in names:
        assert (tmp_path / "remote" / n).read_bytes() == (tmp_path / "local" / n).read_bytes()


def _die_on_b(arg: str) -> str:
    if arg == "b":
        os._exit(3)  # the worker process dies mid-task
    return arg.upper()


def test_a_task_that_kills_its_workers_is_that_items_error(tmp_path):
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with connect(ClusterSpec(workers=2)) as c, on_cluster(c) as run:
            out = map_ordered(_die_on_b, ["a", "b", "c"], run, lost=lambda a, exc: f"lost {a}: {type(exc).__name__}")
    assert out == ["A", "lost b: KilledWorker", "C"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("TTSOPS_DASK_SCHEDULER", None)
    return subprocess.run([sys.executable, "-m", "quality.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


def test_commands_take_workers(built, tmp_path):
    d, one, _ = built
    r = _cli("reference", "build", str(ROOT / "data" / "samples" / "reference_texts.jsonl"), "--out", str(tmp_path / "refs"), "--workers", "2", "--no-variability", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "LocalCluster of 2 worker process(es)" in r.stderr and " did " in r.stderr
    man = json.loads((tmp_path / "refs" / "manifest.json").read_text(encoding="utf-8"))
    assert len(man["utterances"]) == 12 and not man["errors"]
    s = _cli("score", str(d / "one"), str(d / "noisy"), "--format", "json", "--workers", "2", "-q", cwd=tmp_path)
    assert s.returncode == 0, s.stderr
    rows = json.loads(s.stdout)
    assert [r["name"] for r in rows] == ["en_a", "mix_d", "zh_b"] and s.stderr == ""
    g = _cli("regress", "--baseline", str(d / "one"), "--candidate", str(d / "noisy"), "--format", "json", "--workers", "2",
             cwd=tmp_path)
    assert g.returncode == 1 and json.loads(g.stdout)["verdict"] == "regression", g.stderr
    both = _cli("score", str(d / "one"), str(d / "noisy"), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1",
                cwd=tmp_path)
    assert both.returncode == 2 and "Traceback" not in both.stderr and "--scheduler and --workers" in both.stderr
