"""Template state safety: plain JSON only, nothing in a state file runs, a bad state is kept aside
(never overwritten), ids stay stable across runs of both the `templates` command and `analyze`."""
from __future__ import annotations

import json
import zlib

import pytest
from click.testing import CliRunner

from analyzer.commands.templates import mine_paths, templates
from analyzer.read import ReadStats
from analyzer.templates import MemoryPersistence, TemplateConfig, TemplateMiner
from analyzer.templates.persistence import STATE_VERSION

MSGS = ([f"user u{i} logged in from 10.0.0.{i}" for i in range(12)] + ["disk full on /dev/sda1"] * 3
        + [f"Failed {w} for invalid user x{i} from 10.1.1.{i} port {100 + i} ssh2"
           for i, w in enumerate(["password", "none"] * 4)])


def _planted_jsonpickle(marker) -> dict:
    """What jsonpickle turns into ``os.system('touch MARKER')`` when it decodes the object."""
    return {"py/reduce": [{"py/function": "os.system"}, {"py/tuple": [f"touch {marker}"]}]}


def test_state_is_plain_json(tmp_path):
    m = TemplateMiner(state_dir=tmp_path)
    for x in MSGS:
        m.add(x)
    m.save()
    data = json.loads((tmp_path / "templates.state").read_text(encoding="utf-8"))
    assert data["format"] == "ttsops-templates" and data["version"] == STATE_VERSION == 8
    assert "py/" not in (tmp_path / "templates.state").read_text(encoding="utf-8")
    assert {tuple(r[2]) for r in data["ids"]} and len(data["ids"]) == len(m)


def test_planted_jsonpickle_payload_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    payload = _planted_jsonpickle(marker)
    jsonpickle = pytest.importorskip("jsonpickle")
    jsonpickle.decode(json.dumps(payload))          # the payload is live: decoding it creates the file
    assert marker.exists()
    marker.unlink()
    state = tmp_path / "state"
    state.mkdir()
    fp = TemplateConfig().fingerprint()
    # the old format (zlib + jsonpickle inside) and one dressed as the new format
    old = {"version": 1, "config": fp, "drain": json.dumps(payload), "alias": {}, "posvals": {}, "pub": [],
           "counts": {}}
    new = {"format": "ttsops-templates", "version": STATE_VERSION, "config": fp,
           "drain": {"counter": 0, "clusters": [], "tree": payload}, "merge": payload, "ids": [],
           "texts": [], "counts": []}
    for blob in (zlib.compress(json.dumps(old).encode()), json.dumps(new).encode()):
        (state / "templates.state").write_bytes(blob)
        m = TemplateMiner(state_dir=state)
        assert not marker.exists()
        assert m.state_warning and str(state / "templates.state") in m.state_warning
        assert len(m) == 0 and m.add("x 1").template_id == 1
    kept = sorted(p.name for p in state.iterdir())
    assert kept == ["templates.state.corrupt-1", "templates.state.corrupt-2"]
    assert (state / "templates.state.corrupt-2").read_bytes() == json.dumps(new).encode()


@pytest.mark.parametrize("blob", [
    b"garbage", b"", b"\xff\xfe\x00", b"[1, 2, 3]", b'{"format": "ttsops-templates"}',
    b'{"format": "ttsops-templates", "version": VERSION, "config": "CONFIG", "drain": 5}',
    b"[" * 100_000 + b"]" * 100_000,
])
def test_corrupt_or_foreign_state_is_kept_aside_not_overwritten(tmp_path, blob):
    blob = blob.replace(b"CONFIG", TemplateConfig().fingerprint().encode()).replace(b"VERSION", b"%d" % STATE_VERSION)
    (tmp_path / "templates.state").write_bytes(blob)
    m = TemplateMiner(state_dir=tmp_path)
    if not blob:                       # an empty file is no state at all: fresh, nothing to keep
        assert m.state_warning is None
        return
    assert m.state_warning and "kept as" in m.state_warning
    aside = tmp_path / "templates.state.corrupt-1"
    assert aside.read_bytes() == blob
    m.add("hello 1")
    m.save()                           # the new state goes to a fresh file; the bad one stays aside
    assert aside.read_bytes() == blob and TemplateMiner(state_dir=tmp_path).templates() == m.templates()


def test_tampered_parts_are_refused(tmp_path):
    """Each part of a valid state, broken in turn (types, a cycle in the merge links), is refused."""
    m = TemplateMiner(state_dir=tmp_path)
    for x in MSGS:
        m.add(x)
    m.save()
    good = json.loads((tmp_path / "templates.state").read_text())
    breaks = [
        lambda d: d["drain"]["clusters"][0].__setitem__(2, "not a list"),
        lambda d: d["drain"].__setitem__("tree", [[1], {"a": [[2], {"b": [[3], {"c": [[4], {"d": [[], {}]}]}]}]}]),
        lambda d: d["merge"].__setitem__("parent", [[1, 2], [2, 1]]),
        lambda d: d["ids"].append([99, 1, ["x"]]),
        lambda d: d["texts"].__setitem__(0, [1, 2, 3]),
        lambda d: d["counts"].append(["1", 2]),
        lambda d: d.pop("merge"),
        lambda d: d["folded"].append([1, 999]),          # folded into a template that does not exist
        lambda d: d["lengths"].append([1, 3, "yes"]),
    ]
    for i, brk in enumerate(breaks, 1):
        d = json.loads(json.dumps(good))
        brk(d)
        (tmp_path / "templates.state").write_text(json.dumps(d))
        m2 = TemplateMiner(state_dir=tmp_path)
        assert m2.state_warning and len(m2) == 0, i
        assert (tmp_path / f"templates.state.corrupt-{i}").exists()


def test_other_settings_state_is_kept_aside(tmp_path):
    m = TemplateMiner(state_dir=tmp_path)
    m.add("a b 1")
    m.save()
    before = (tmp_path / "templates.state").read_bytes()
    m2 = TemplateMiner(TemplateConfig(split_max_values=5), state_dir=tmp_path)
    assert m2.state_warning and "other template settings" in m2.state_warning
    assert (tmp_path / "templates.state.other-settings-1").read_bytes() == before


def test_memory_persistence_sets_aside():
    p = MemoryPersistence()
    p.save_state(b"junk")
    m = TemplateMiner(persistence=p)
    assert m.state_warning and p.aside == [b"junk"] and p.state is None


def test_ids_stable_across_runs_and_orders(tmp_path):
    """Same messages, second run in another order and from a reloaded state: same ids, no new ones."""
    m1 = TemplateMiner(state_dir=tmp_path)
    ids1 = [m1.canonical(m1.add(x).template_id) for x in MSGS]
    ids1 = [m1.canonical(t) for t in ids1]
    m1.save()
    m2 = TemplateMiner(state_dir=tmp_path)
    assert m2.state_warning is None and m2.templates() == m1.templates()
    res = [m2.add(x) for x in reversed(MSGS)]
    assert [m2.canonical(r.template_id) for r in res] == list(reversed(ids1))
    assert not any(r.is_new for r in res)
    assert m2.templates() == m1.templates()


def test_cli_state_keeps_ids_and_reports_a_bad_state(shared_data, tmp_path):
    d = shared_data / "loghub2k"
    log = d / "OpenSSH" / "OpenSSH_2k.log"
    fmt = json.loads((d / "formats.json").read_text())["OpenSSH"]["log_format"]
    state = tmp_path / "state"
    args = [str(log), "--log-format", fmt, "--format", "csv", "--state", str(state)]
    first = CliRunner().invoke(templates, args)
    second = CliRunner().invoke(templates, args)
    assert first.exit_code == 0 and second.exit_code == 0
    assert first.stdout == second.stdout
    (state / "templates.state").write_bytes(b"\x00not json")
    third = CliRunner().invoke(templates, args)
    assert third.exit_code == 0 and "templates.state" in third.stderr and "kept as" in third.stderr
    assert (state / "templates.state.corrupt-1").read_bytes() == b"\x00not json"


def test_analyze_path_ids_stable_with_state(shared_data, tmp_path):
    """The analyze pipeline's miner (make_miner): a second run on the same logs hands out no new ids."""
    from analyzer.config import AnalyzeConfig
    from analyzer.pipeline import make_miner

    log = shared_data / "loghub2k" / "Zookeeper" / "Zookeeper_2k.log"
    msgs = [line.split(" - ", 2)[-1] for line in log.read_text(encoding="utf-8").splitlines()]
    cfg = AnalyzeConfig(state_dir=str(tmp_path))
    m1 = make_miner(cfg)
    first = [m1.add(x).template_id for x in msgs]
    final1 = [m1.canonical(t) for t in first]
    m1.save()
    m2 = make_miner(cfg)
    second = [m2.add(x) for x in msgs]
    assert [m2.canonical(r.template_id) for r in second] == final1
    assert not any(r.is_new for r in second)


def test_batch_ids_match_state_reload(shared_data, tmp_path):
    d = shared_data / "loghub2k"
    fmt = json.loads((d / "formats.json").read_text())["HDFS"]["log_format"]
    path = [str(d / "HDFS" / "HDFS_2k.log")]
    a = mine_paths(path, log_format=fmt, state_dir=str(tmp_path), stats=ReadStats())
    b = mine_paths(path, log_format=fmt, state_dir=str(tmp_path), stats=ReadStats())
    assert list(a.ids) == list(b.ids) and len(b.miner) == len(a.miner)


def test_a_state_of_an_earlier_version_is_set_aside_with_a_warning(tmp_path):
    """The version covers the tokenization too: a state cut another way would give other ids."""
    m = TemplateMiner(state_dir=tmp_path)
    m.add("user alice logged in")
    m.save()
    blob = json.loads((tmp_path / "templates.state").read_bytes())
    blob["version"] = STATE_VERSION - 1
    (tmp_path / "templates.state").write_text(json.dumps(blob))
    again = TemplateMiner(state_dir=tmp_path)
    assert again.state_warning and f"state version {STATE_VERSION - 1}" in again.state_warning
    assert len(again) == 0


def test_folds_survive_a_reload(tmp_path):
    """Logged sentences fold into ``Synthesizing text: <*>`` (:meth:`TemplateMiner.fold`); the folds,
    the token counts behind them and the ids come back from the state, and a new sentence of a length
    never seen lands on the same id at once."""
    import random

    rng = random.Random(11)
    words = [f"w{a}{b}" for a in "bcdfghjklmnp" for b in "aeiou"]
    sentence = lambda: " ".join(rng.choice(words) for _ in range(rng.randint(1, 14)))  # noqa: E731
    m = TemplateMiner(state_dir=tmp_path)
    ids = [m.add(f"Synthesizing text: {sentence()}").template_id for _ in range(200)]
    m.fold()
    final = {m.canonical(i) for i in ids}
    assert len(final) == 1 and m.templates()[final.pop()] == "Synthesizing text: <*>"
    before = {i: m.canonical(i) for i in set(ids)}
    m.save()
    m2 = TemplateMiner(state_dir=tmp_path)
    assert m2.state_warning is None
    assert {i: m2.canonical(i) for i in set(ids)} == before
    long = m2.add("Synthesizing text: " + " ".join(words[:30]))
    assert long.template_id in set(before.values()) and not long.is_new
