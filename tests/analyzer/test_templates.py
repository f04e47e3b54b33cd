"""Template mining: Loghub-2k GA floors (one config), config validation, state stability, kill-safety,
the `templates` CSV contract, cached == uncached. (State safety: test_template_state.py; token
classes and linear time: test_template_tokens.py.)"""
from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from analyzer.commands.templates import mine_paths, templates
from analyzer.read import ReadStats
from analyzer.templates import (FilePersistence, MemoryPersistence, TemplateConfig, TemplateMiner)
from analyzer.templates.evaluate import grouping_scores, parsing_accuracy, score
from analyzer.templates.cover import covers as merge_covers
from ttsops.errors import ConfigError

# measured with TemplateConfig() (benchmarks/bench_templates.py: GA 1.000 0.980 1.000 0.995 0.998
# 0.963 1.000 1.000); floors a little under. HDFS is the easy set, Android and Hadoop the hard ones.
GA_FLOOR = {"HDFS": 0.995, "Hadoop": 0.975, "Spark": 0.99, "Zookeeper": 0.985, "HPC": 0.99,
            "Android": 0.95, "Apache": 0.99, "OpenSSH": 0.99}


def _truth(d, name):
    with open(d / name / f"{name}_2k.log_structured_corrected.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["EventId"] for r in rows], [r["EventTemplate"] for r in rows]


@pytest.mark.parametrize("name", sorted(GA_FLOOR))
def test_loghub_grouping_accuracy(shared_data, name):
    d = shared_data / "loghub2k"
    fmt = json.loads((d / "formats.json").read_text())[name]["log_format"]
    truth, _ = _truth(d, name)
    res = mine_paths([str(d / name / f"{name}_2k.log")], log_format=fmt, stats=ReadStats())
    assert len(res.ids) == len(truth)
    assert grouping_scores(list(res.ids), truth)[0] >= GA_FLOOR[name]


def test_hdfs_and_android_all_measures(shared_data):
    """GA, FGA and PA on the easy and the hardest shared set, through the CLI's CSV."""
    d = shared_data / "loghub2k"
    formats = json.loads((d / "formats.json").read_text())
    floors = {"HDFS": (0.995, 0.99, 0.45), "Android": (0.95, 0.83, 0.75)}
    for name, (ga_min, fga_min, pa_min) in floors.items():
        r = CliRunner().invoke(templates, [str(d / name / f"{name}_2k.log"), "--log-format",
                                           formats[name]["log_format"], "--format", "csv"])
        assert r.exit_code == 0, r.output
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        tids, ttpl = _truth(d, name)
        s = score([x["EventId"] for x in rows], [x["EventTemplate"] for x in rows], tids, ttpl)
        assert s["ga"] >= ga_min and s["fga"] >= fga_min and s["pa"] >= pa_min, (name, s)


def test_measures_on_known_cases():
    assert grouping_scores([1, 1, 2, 3], ["a", "a", "b", "b"]) == (0.5, pytest.approx(0.4))
    assert grouping_scores([1, 1, 2, 2], ["a", "a", "b", "b"]) == (1.0, 1.0)
    assert parsing_accuracy(["x <*>", "y"], ["x <*>", "y <*>"]) == 0.5
    with pytest.raises(ValueError):
        grouping_scores([1], [1, 2])


def test_csv_contract(shared_data):
    d = shared_data / "loghub2k"
    fmt = json.loads((d / "formats.json").read_text())["Apache"]["log_format"]
    r = CliRunner().invoke(templates, [str(d / "Apache" / "Apache_2k.log"), "--log-format", fmt, "--format", "csv"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == ["LineId", "EventId", "EventTemplate"]
    assert [int(x["LineId"]) for x in rows] == list(range(1, 2001))
    assert all(x["EventId"].startswith("E") for x in rows)


def test_table_and_json_formats(tmp_path):
    p = tmp_path / "a.log"
    p.write_text("".join(f"2024-06-15 10:00:00 INFO user {i} logged in\n" for i in range(5)) + "2024-06-15 10:00:01 ERROR disk full\n")
    r = CliRunner().invoke(templates, [str(p)])
    assert r.exit_code == 0 and "logged in" in r.output
    r = CliRunner().invoke(templates, [str(p), "--format", "json"])
    data = json.loads(r.stdout)
    assert data["templates"][0]["count"] == 5


def test_templates_says_nothing_of_times_it_does_not_read(tmp_path):
    """``templates`` skips time parsing (speed): a timestamped log gets no 'no timestamps' warning."""
    p = tmp_path / "a.log"
    p.write_text("".join(f"2024-06-15 10:00:0{i},123 - root - INFO - user {i} logged in\n" for i in range(5)))
    r = CliRunner().invoke(templates, [str(p)])
    assert r.exit_code == 0 and "logged in" in r.output and "timestamps" not in r.output


def test_config_validation_and_toml(tmp_path):
    for bad in ({"sim_th": 0}, {"sim_th": float("nan")}, {"sim_th": "0.5"}, {"depth": 2}, {"depth": 4.0},
                {"max_children": 0}, {"split_max_values": -1}, {"merge_runs": "yes"},
                {"masking": (("X", "("),)}, {"masking": (("X", "(?P<a>1)"),)}, {"masking": (("X", "a*"),)}):
        with pytest.raises(ConfigError):
            TemplateConfig(**bad)
    with pytest.raises(ConfigError):
        TemplateConfig.from_dict({"nope": 1})
    t = tmp_path / "c.toml"
    t.write_text('[templates]\nsim_th = 0.6\nmasking = [["NUM", "\\\\d+"]]\n')
    cfg = TemplateConfig.from_toml(t)
    assert cfg.sim_th == 0.6 and cfg.masking == (("NUM", r"\d+"),)


def test_masking_single_pass_examples():
    m = TemplateMiner()
    s = m.mask("req-8f3a2b1c took 12.5ms on 10.0.0.1:8080 file /var/log/app.log "
               "uuid 123e4567-e89b-12d3-a456-426614174000 shape (1, 80, 400) 0xdeadbeef n=42")
    assert s == "<*> took <*> on <*>:<*> file <*> uuid <*> shape (<*>) <*> n=<*>"


def test_state_keeps_ids_stable(tmp_path):
    msgs = [f"user {i} logged in from 10.0.0.{i}" for i in range(20)] + ["disk full on /dev/sda1"] * 3
    m1 = TemplateMiner(state_dir=tmp_path)
    ids1 = [m1.add(x).template_id for x in msgs]
    m1.save()
    m2 = TemplateMiner(state_dir=tmp_path)
    assert m2.templates() == m1.templates()
    ids2 = [m2.add(x).template_id for x in reversed(msgs)]
    assert ids2 == list(reversed(ids1))
    assert not m2.add("user 99 logged in from 10.0.0.99").is_new
    # other settings: the state is not reused, with a warning
    m3 = TemplateMiner(TemplateConfig(sim_th=0.7), state_dir=tmp_path)
    assert m3.state_warning and len(m3) == 0


def test_state_corrupt_file_is_a_warning(tmp_path):
    (tmp_path / "templates.state").write_bytes(b"garbage")
    m = TemplateMiner(state_dir=tmp_path)
    assert m.state_warning and m.add("x 1").template_id == 1


def test_memory_persistence_roundtrip():
    p = MemoryPersistence()
    m = TemplateMiner(persistence=p)
    m.add("a b 1")
    m.save()
    assert TemplateMiner(persistence=p).templates() == m.templates()


_KILL_CHILD = """
import sys, itertools
sys.path.insert(0, {root!r})
from analyzer.templates import TemplateMiner, TemplateConfig
m = TemplateMiner(TemplateConfig(), state_dir={state!r})
print("ready", flush=True)
for i in itertools.count():
    m.add(f"event kind{{i % 5000}} value {{i}} at node-{{i % 7}}")
    if i % 50 == 0:
        m.save()
"""


def test_state_survives_sigkill(tmp_path, repo_root):
    state = tmp_path / "state"
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-c", _KILL_CHILD.format(root=str(repo_root), state=str(state))],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.4 + 0.2 * attempt)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        m = TemplateMiner(state_dir=state)
        assert m.state_warning is None, m.state_warning
        assert len(m) > 0
        assert (state / "templates.state").exists()  # a kill mid-write leaves at most a stray temp file


def test_atomic_write_leaves_old_state_on_failure(tmp_path, monkeypatch):
    fp = FilePersistence(tmp_path / "s.bin")
    fp.save_state(b"old")

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        fp.save_state(b"new")
    assert fp.load_state() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["s.bin"]


def test_cached_equals_uncached(shared_data):
    path = shared_data / "loghub2k" / "HDFS" / "HDFS_2k.log"
    fmt = "<Date> <Time> <Pid> <Level> <Component>: <Content>"
    cached = list(mine_paths([str(path)], log_format=fmt, stats=ReadStats()).ids)
    from analyzer.read import logformat_regex
    rx, _ = logformat_regex(fmt)
    m = TemplateMiner(TemplateConfig(cache_size=0))
    pairs = []
    for line in open(path, encoding="utf-8"):
        masked = m.mask(rx.match(line.rstrip("\n")).group("Content"))
        pairs.append((masked, m.add_masked_cluster(masked)[1]))
    uncached = [m.resolve(x, c) for x, c in pairs]
    assert len(set(zip(cached, uncached))) == len(set(cached)) == len(set(uncached))



@pytest.mark.parametrize("cache_size", [200_000, 3])
def test_fast_line_path_equals_the_general_one(shared_data, tmp_path, cache_size):
    """The ``--log-format`` hot loop (digit-shape memo, batches of a block) gives the ids, counts and
    bad lines of the general reader, with blank, foreign, NUL, non-ASCII and CRLF lines among real
    ones, shapes repeated inside a batch and a memo small enough to be cleared all the time."""
    from analyzer.commands.templates import iter_messages

    fmt = "<Date> <Time> <Pid> <Level> <Component>: <Content>"
    real = (shared_data / "loghub2k" / "HDFS" / "HDFS_2k.log").read_bytes().splitlines()
    junk = [b"", b"not a line of this format", b"081109 203615 148 INFO dfs.X: nul \x00 inside",
            "081109 203615 148 INFO dfs.X: caf\u00e9 ouvert 12".encode(), b"\xff\xfe broken utf-8",
            b"081109 203615 148 INFO dfs.X: crlf line 7\r"]
    lines = []
    for rep in range(3):
        for i, line in enumerate(real):
            lines.append(line)
            if i % 97 == rep:
                lines.append(junk[(i + rep) % len(junk)])
    path = tmp_path / "mixed.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    config = TemplateConfig(cache_size=cache_size)
    fast_stats = ReadStats()
    fast = mine_paths([str(path)], log_format=fmt, stats=fast_stats, config=config)
    slow_stats = ReadStats()
    miner = TemplateMiner(config)
    masked = [miner.mask(m) for m in iter_messages([str(path)], log_format=fmt, stats=slow_stats)]
    slow = miner.resolve_all(masked, [miner.add_masked_cluster(m)[1] for m in masked])
    assert list(fast.ids) == list(slow) and len(slow) == slow_stats.records
    assert (fast_stats.lines, fast_stats.records) == (slow_stats.lines, slow_stats.records)
    assert fast_stats.lines == len(lines) and len(slow) < len(lines) - 30
    assert [(b.line, b.reason) for b in fast_stats.bad_lines] == [(b.line, b.reason) for b in slow_stats.bad_lines]
    assert fast_stats.bad_line_count >= 3 * 10


def _mine_all(lines, config=None):
    """(ids, id -> template) of ``lines`` mined and resolved the way ``templates --format csv`` does."""
    miner = TemplateMiner(config)
    masked = [miner.mask(x) for x in lines]
    return miner.resolve_all(masked, [miner.add_masked_cluster(m)[1] for m in masked]), miner.templates()


def test_two_values_of_several_words_in_one_message_are_one_template():
    """Two variables whose values are 1-3 words each are one template. Runs that all end with the
    same word (``Lopez of`` / ``Maria Lopez of``) must not turn variable: that word is the constant
    after the value, and swallowing it (``Deleting block <*> reason manual request``) splits the event."""
    import random

    rng = random.Random(7)
    owners = ["ops team", "Ana Maria Lopez", "build", "qa night shift", "release", "Li Wei"]
    reasons = ["disk quota exceeded", "expired", "cold storage", "superseded", "manual request"]
    lines = [f"Deleting block blk_{rng.randint(1, 10**9)} of {rng.choice(owners)} reason {rng.choice(reasons)}"
             for _ in range(400)]
    ids, tm = _mine_all(lines)
    assert {tm[i] for i in ids} == {"Deleting block <*> of <*> reason <*>"}
    assert len(set(ids)) == 1


def test_a_value_of_several_words_does_not_swallow_the_constant_next_to_it():
    """Users of one or two words before ``from``: each event is one group, and ``invalid user``,
    ``from`` and ``port`` stay constants of its template."""
    import random

    rng = random.Random(3)
    users = ["guest", "test user", "oracle", "web admin", "ftp", "pi", "mail relay", "nagios", "db backup",
             "build bot", "site owner"]
    lines, truth = [], []
    for _ in range(600):
        ip = ".".join(str(rng.randint(1, 254)) for _ in range(4))
        user, port = rng.choice(users), rng.randint(1, 65535)
        failed = rng.random() < 0.5
        truth.append(failed)
        lines.append(f"Failed password for invalid user {user} from {ip} port {port} ssh2" if failed
                     else f"Accepted password for {user} from {ip} port {port} ssh2")
    ids, tm = _mine_all(lines)
    assert grouping_scores(ids, truth)[0] == 1.0
    assert all(" from <*> port <*> ssh2" in tm[i] and "invalid user" in tm[i] for i, f in zip(ids, truth) if f)
    _texts_cover_their_lines(lines, ids, tm)


def test_a_message_that_a_value_of_several_words_shifted_joins_its_event():
    """Three values of 1-3 words each: within one Drain length, some messages have ``port`` a
    position earlier, and the cluster they share reads ``for <*> <*> <*> <*> port``. Each such
    message is an instance of the event's own template, which has more constant tokens and more
    lines: it is realigned there (two templates before, 555 / 45 lines)."""
    import random

    rng = random.Random(2)
    vocab = ["".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))
             for _ in range(150)]

    def phrase():
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 3)))

    lines = [f"Failed password for {phrase()} from {phrase()} port {phrase()} ssh2" for _ in range(600)]
    ids, tm = _mine_all(lines)
    assert {tm[i] for i in ids} == {"Failed password for <*> from <*> port <*> ssh2"}
    _texts_cover_their_lines(lines, ids, tm)
    miner = TemplateMiner()               # streaming: realigned once the event's template is known
    streamed = [miner.add(x).template_id for x in lines]
    miner.fold()
    finals = [miner.canonical(i) for i in streamed]
    assert max(finals.count(i) for i in set(finals)) >= 590


def test_messages_whose_run_holds_a_constant_of_the_event_join_it():
    """Host and port of 1-2 words each: a segment family made ``x port y`` of some lengths one
    ``<*>`` (``from <*> ssh2``), beside the event's own ``from <*> port <*> ssh2``. Those messages
    hold ``port`` where the event has it, in more than ``k`` distinct runs, so they move there as a
    group (two templates before)."""
    import random

    rng = random.Random(2)
    vocab = ["".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))
             for _ in range(60)]

    def phrase():
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 2)))

    lines = [f"Failed password for {rng.choice(['root', 'ftp', 'uucp', 'sshd'])} from {phrase()} port {phrase()} ssh2"
             for _ in range(400)]
    ids, tm = _mine_all(lines)
    assert len(set(ids)) == 1
    _texts_cover_their_lines(lines, ids, tm)


def test_a_first_value_of_several_words_is_one_variable_before_words_enough():
    """A user of one to three words that starts the line, before three words of the event: one
    template, as a one-word user is (five before). Before one word, a first word names the event."""
    users = ["ann", "bo lee", "cy van dam", "dee", "ed mo", "fay de la", "gus"]
    lines = [f"{users[i % 7]} Served block blk_{i * 7919} to /10.0.{i % 5}.{i % 11}" for i in range(140)]
    lines += [f"{w} (command {i})" for i in range(30) for w in ("boot", "wait", "halt", "run", "exit")]
    ids, tm = _mine_all(lines)
    assert {tm[i] for i in ids[:140]} == {"<*> Served block <*> to <*>"}
    assert len({tm[i] for i in ids[140:]}) == 5
    _texts_cover_their_lines(lines, ids, tm)


def test_the_last_field_value_of_several_words_is_one_variable():
    """``rhost=`` ends the message and its value is 1-3 words: Drain cuts it by length, and each
    length keeps its last word as a constant (three values or fewer: ``rhost=<*> fose``). Five
    distinct rests after the key, not all starting with the same token, are its value (five
    templates before). Words after a field that every rest shares are the message's own."""
    import random

    rng = random.Random(1)
    hosts = ["natezo cefecu", "wadukagi nukihe godifowe", "puca", "ginicise jeje", "kowumabe fose"]
    lines = [f"authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={rng.choice(hosts)}"
             for _ in range(300)]
    ids, tm = _mine_all(lines)
    assert {tm[i] for i in ids} == {"authentication failure; logname= uid=<*> euid=<*> tty=ssh ruser= rhost=<*>"}
    lines = [f"batch count={rng.randint(1, 99)} items {rng.choice(['done', 'left'])}" for _ in range(200)]
    ids, tm = _mine_all(lines)
    assert {tm[i] for i in ids} == {"batch count=<*> items done", "batch count=<*> items left"}


def test_the_value_after_a_spaced_key_is_a_variable_once_it_changes():
    """``callingPackage = x`` (a spaced assignment, as Android writes it) is a ``key=value``: two
    values there are a variable, as after ``key=``; three plain words elsewhere stay constants."""
    lines = [f"getAllCellInfo is blocked by permission manager . callingPackage = {p}"
             for p in ("buwocipu", "zibuho", "kekunuge") * 3]
    lines += [f"Failed {w} for {u}" for w in ("password", "none", "publickey") for u in ("ann", "bob", "cy", "dan")]
    ids, tm = _mine_all(lines)
    assert {tm[i] for i in ids[:9]} == {"getAllCellInfo is blocked by permission manager . callingPackage = <*>"}
    assert {tm[i] for i in ids[9:]} == {"Failed password for <*>", "Failed none for <*>", "Failed publickey for <*>"}


def _pam_lines(n=500, seed=5):
    """PAM's ``rhost=<ip>  user=<name>`` beside ``rhost=<host>``, both values sentences at times."""
    import random

    rng = random.Random(seed)
    vocab = ["".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))
             for _ in range(200)]
    lines, truth = [], []
    for _ in range(n):
        ip = ".".join(str(rng.randint(1, 254)) for _ in range(4))
        say = " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 12)))
        both = rng.random() < 0.7
        truth.append(both)
        lines.append(f"authentication failure; logname= uid=0 tty=ssh ruser= rhost={ip}  user={say}" if both
                     else f"authentication failure; logname= uid=0 tty=ssh ruser= rhost={say}")
    return lines, truth


def test_a_field_some_messages_have_is_structure_beside_free_text():
    """One Drain length holds both kinds of ``_pam_lines``: ``user=`` stands where the other kind has
    a word of its sentence, and the position turns variable. The cut key is kept there (a field is
    structure, not a value), so the two events stay two; a key that moves within one length (a value
    of several words before it) is a value's part and reads ``<*>``."""
    lines, truth = _pam_lines()
    ids, tm = _mine_all(lines)
    assert grouping_scores(ids, truth)[0] == 1.0
    assert {tm[i] for i in ids} == {"authentication failure; logname= uid=<*> tty=ssh ruser= rhost=<*>",
                                    "authentication failure; logname= uid=<*> tty=ssh ruser= rhost=<*> user=<*>"}


def test_keyed_slots_reload_from_state():
    """A position that keeps a field key among variable values is saved and read back as such."""
    lines, _ = _pam_lines(200)
    p = MemoryPersistence()
    m = TemplateMiner(persistence=p)
    for x in lines:
        m.add(x)
    assert any(type(v) is tuple for pv in m.merger.slots.values() for v in pv)
    m.save()
    again = TemplateMiner(persistence=p)
    assert again.merger.slots == m.merger.slots
    assert [again.add(x).template_id for x in lines] == [m.add(x).template_id for x in lines]


def _session_lines(with_field: bool, n: int = 300, seed: int = 7) -> list[str]:
    """PAM-style lines: two users open and close sessions (too few to be variables by the counts);
    ``with_field``: authentication failures name users in a ``user=`` field, one of them ``news``."""
    import random

    rng = random.Random(seed)
    lines = []
    for i in range(n):
        k = i % 5
        if k == 0:
            lines.append(f"session opened for user {rng.choice(['cyrus', 'news'])} by (uid=0)")
        elif k == 1:
            lines.append(f"session closed for user {rng.choice(['cyrus', 'news'])}")
        elif k == 2:
            lines.append(f"DHCP{rng.choice(['ACK', 'OFFER'])} on 10.0.0.{rng.randint(1, 99)} to "
                         f"00:11:43:e3:ba:{rng.randint(10, 99)} via eth1")
        elif k == 3:
            lines.append(f"Link {rng.choice(['error', 'ok'])} on port {rng.randint(1, 48)}")
        elif with_field:
            lines.append(f"authentication failure; uid=0 rhost=10.1.2.{rng.randint(1, 99)} "
                         f"user={rng.choice(['root', 'news', 'test', 'guest'])}")
        else:
            lines.append(f"authentication failure; uid=0 rhost=10.1.2.{rng.randint(1, 99)}")
    return lines


def test_a_word_seen_as_a_field_value_makes_its_position_a_variable():
    """Two users at one place are two templates by the counts (two event words would be the same
    shape: ``DHCPACK`` / ``DHCPOFFER``). Once ``user=news`` shows ``news`` is a value, the user
    positions are variables; the event words, never seen as values, stay apart."""
    ids, tm = _mine_all(_session_lines(with_field=False))
    assert {tm[i] for i in ids[::5]} == {"session opened for user cyrus by (uid=<*>)",
                                         "session opened for user news by (uid=<*>)"}
    ids, tm = _mine_all(_session_lines(with_field=True))
    assert {tm[i] for i in ids[::5]} == {"session opened for user <*> by (uid=<*>)"}
    assert {tm[i] for i in ids[1::5]} == {"session closed for user <*>"}
    assert {tm[i] for i in ids[2::5]} == {"DHCPACK on <*> to <*> via eth1", "DHCPOFFER on <*> to <*> via eth1"}
    assert {tm[i] for i in ids[3::5]} == {"Link error on port <*>", "Link ok on port <*>"}
    assert {tm[i] for i in ids[4::5]} == {"authentication failure; uid=<*> rhost=<*> user=<*>"}


def test_value_words_come_from_one_word_field_values_only():
    """The first word of a field's phrase (``rhost=none of them``) and the words a position takes
    more than ``k`` of (an event's states) are not taken as values of other places."""
    states = ["NEW", "SCHEDULED", "RUNNING", "SUCCEEDED", "KILLED"]
    lines = [f"job_{i} Job Transitioned from {states[i % 5]} to {states[(i + 1) % 5]}" for i in range(100)]
    lines += [f"task_{i} Task Transitioned from {'NEW' if i % 2 else 'RUNNING'} to SCHEDULED" for i in range(60)]
    lines += [f"peer {i} rhost=none of them left" for i in range(30)]
    lines += [f"Failed {'none' if i % 4 else 'password'} for user{i}" for i in range(60)]
    ids, tm = _mine_all(lines)
    assert len({tm[i] for i in ids[100:160]}) == 2
    assert {tm[i] for i in ids[190:]} == {"Failed none for <*>", "Failed password for <*>"}


def test_words_that_differ_by_a_number_only_are_one_variable():
    """``eth0`` / ``eth1`` at one place: one kind of thing, numbered (two templates by the counts
    before). Words with digits of different shapes (``md5`` / ``sha1``) and one such word alone
    (``ssh2``) stay constants."""
    lines = [f"DHCPACK on 10.0.0.{i % 90} to 00:11:43:e3:ba:{10 + i % 80} via eth{i % 2}" for i in range(60)]
    lines += [f"checksum {'md5' if i % 2 else 'sha1'} ok for part {i}" for i in range(40)]
    lines += [f"Accepted publickey for u{i % 7}x from 10.1.1.{i} port {1024 + i} ssh2" for i in range(40)]
    ids, tm = _mine_all(lines)
    assert {tm[i] for i in ids[:60]} == {"DHCPACK on <*> to <*> via <*>"}
    assert {tm[i] for i in ids[60:100]} == {"checksum md5 ok for part <*>", "checksum sha1 ok for part <*>"}
    assert {tm[i] for i in ids[100:]} == {"Accepted publickey for <*> from <*> port <*> ssh2"}


def test_a_list_of_values_is_one_value_whatever_its_length():
    """A request forwarded once or twice (``10.0.0.9,10.0.0.1``) is one event: before, the chain's
    length made its own template (``<*>,<*> "GET ..."``). A list with a word in it keeps its parts."""
    lines = [f'10.0.0.{i % 50} "GET /v2/{i:032x}/servers HTTP/1.1" status: 200 len: {900 + i} time: 0.{i}'
             for i in range(40)]
    lines += [f'10.1.2.{i % 30},10.0.0.1 "GET /meta/{i}.json HTTP/1.1" status: 200 len: 967 time: 0.{i}'
              for i in range(20)]
    lines += [f'Thread[worker-{i},5,main] exited' for i in range(10)]
    ids, tm = _mine_all(lines)
    assert {tm[i] for i in ids[:60]} == {'<*> "GET <*> <*>" status: <*> len: <*> time: <*>'}
    assert {tm[i] for i in ids[60:]} == {"Thread[<*>,<*>,main] exited"}


def test_value_words_reload_from_state():
    """What a field showed to be a value before a save still counts after it."""
    lines = _session_lines(with_field=True)
    p = MemoryPersistence()
    m = TemplateMiner(persistence=p)
    for x in lines[4::5]:
        m.add(x)
    assert "news" in m.merger.values
    m.save()
    again = TemplateMiner(persistence=p)
    assert again.merger.values == m.merger.values
    for x in lines:
        again.add(x)
    assert {again.add(x).template for x in lines[::5]} == {"session opened for user <*> by (uid=<*>)"}


def test_a_sentence_after_one_prefix_is_one_template():
    """``cancelPeek: <a sentence>``, every sentence its own length and words: no Drain cluster and
    no covering template lines them up; far too many rests after one prefix make ``cancelPeek: <*>``,
    in batch and streaming (ids folded by ``fold()``). Event names after one prefix, a few of
    several lengths (``Transitioned to RUNNING``), stay constants."""
    import random

    rng = random.Random(11)
    vocab = ["".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))
             for _ in range(300)]
    states = ["RUNNING", "FAIL CONTAINER CLEANUP", "SUCCESS CONTAINER CLEANUP done"]
    lines, truth = [], []
    for _ in range(120):
        if rng.random() < 0.2:
            lines.append("cancelPeek: " + " ".join(rng.choice(vocab) for _ in range(rng.randint(2, 15))))
            truth.append("peek")
        else:
            st = rng.choice(states)
            lines.append(f"Transitioned to {st}")
            truth.append(st)
    ids, tm = _mine_all(lines)
    assert grouping_scores(ids, truth)[0] == 1.0
    assert {tm[i] for i, t in zip(ids, truth) if t == "peek"} == {"cancelPeek: <*>"}
    assert {tm[i] for i, t in zip(ids, truth) if t != "peek"} == {f"Transitioned to {st}" for st in states}
    m = TemplateMiner()
    streamed = [m.add(x).template_id for x in lines]
    m.fold()
    assert grouping_scores([m.canonical(i) for i in streamed], truth)[0] == 1.0


def test_event_messages_after_one_label_that_repeat_stay_apart():
    """A kernel's boot messages share a label (``ACPI: Interpreter enabled``, ``ACPI: Lid Switch
    [LID]``, ...) and come back at every boot: events, not sentences. Counted as sentences they were
    one ``ACPI: <*>`` (24 events in one template)."""
    events = ["Interpreter enabled", "Using IOAPIC for interrupt routing", "bus type pci registered",
              "Subsystem revision 20040326", "PCI Root Bridge [PCI0] (00:00)", "Power Button (FF) [PWRF]",
              "Sleep Button (CM) [SLPF]", "Processor [CPU0] (supports C1)", "Lid Switch [LID]",
              "Embedded Controller [EC0] (gpe 28)", "AC Adapter [AC] (on-line)", "Fan [FAN] (off)",
              "Battery Slot [BAT0] (battery present)", "System BIOS is requesting _OSI(Linux)",
              "ACPI tables contain no PCI IRQ routing entries", "Checking initramfs image",
              "Disabled because of broken BIOS", "Power Resource [PFAN] (off)", "Local APIC address 0xfee00000"]
    lines, truth = [], []
    for boot in range(3):
        for i, e in enumerate(events):
            lines.append(f"ACPI: {e}")
            truth.append(i)
        lines.append(f"Kernel command line: ro root=LABEL=/ rhgb quiet console=ttyS{boot}")
        truth.append(-1)
    ids, tm = _mine_all(lines)
    assert grouping_scores(ids, truth)[0] == 1.0
    assert tm[ids[0]] == "ACPI: Interpreter enabled"


def _texts_cover_their_lines(lines, ids, tm):
    """Each line is an instance of the text of the template it was given (a template's text is never
    that of another template)."""
    import re

    rx = {i: re.compile(".+?".join(map(re.escape, " ".join(t.split()).split("<*>")))) for i, t in tm.items()}
    wrong = [(line, tm[i]) for line, i in zip(lines, ids) if rx[i].fullmatch(" ".join(line.split())) is None]
    assert not wrong, wrong[:3]


def test_template_texts_cover_their_lines_on_real_logs(shared_data):
    """The same on two shared Loghub sets, through the ``templates`` command's path."""
    for name in ("OpenSSH", "Android"):
        fmt = json.loads((shared_data / "loghub2k" / "formats.json").read_text())[name]["log_format"]
        log = shared_data / "loghub2k" / name / f"{name}_2k.log"
        res = mine_paths([str(log)], log_format=fmt, stats=ReadStats())
        with open(shared_data / "loghub2k" / name / f"{name}_2k.log_structured_corrected.csv", encoding="utf-8",
                  newline="") as f:
            contents = [r["Content"] for r in csv.DictReader(f)]
        _texts_cover_their_lines(contents, list(res.ids), res.miner.templates())


def test_a_first_word_is_a_variable_only_with_words_enough_behind_it():
    """A varying first word backed by three constant words is a variable (a user); backed by one it
    names the event (``boot (command 12)`` / ``wait (command 13)``), as Drain's tree has it."""
    m = TemplateMiner()
    users = ["alice", "bob", "carol", "dave", "erin", "frank"]
    ids = [m.add(f"{u} Served block blk_{i} to /10.0.0.{i}").template_id for i, u in enumerate(users)]
    cmds = [m.add(f"{c} (command {i})").template_id for i, c in enumerate(users)]
    assert len({m.canonical(i) for i in ids}) == 1 and len({m.canonical(i) for i in cmds}) == len(users)
    assert m.templates()[m.canonical(ids[0])] == "<*> Served block <*> to <*>"


def test_a_first_word_with_far_too_many_values_is_a_variable_on_one_word():
    """Event names sharing one short rest come a handful at a time (``boot`` / ``wait`` / ``halt
    (command 12)``); more than ``MANY * k`` first words before the same one word are values (the
    host or user a plain line starts with), and none without a word at all."""
    from analyzer.templates.merge import MANY

    k = TemplateConfig().split_max_values
    names = [f"host{chr(97 + i // 26)}{chr(97 + i % 26)}x" for i in range(MANY * k + 1)]
    m = TemplateMiner()
    ids = [m.add(f"{h} (command {i})").template_id for i, h in enumerate(names)]
    assert len({m.canonical(i) for i in ids}) == 1
    assert m.templates()[m.canonical(ids[0])] == "<*> (command <*>)"
    m = TemplateMiner()
    ids = [m.add(f"{h} (command {i})").template_id for i, h in enumerate(names[:MANY * k])]
    assert len({m.canonical(i) for i in ids}) == MANY * k
    m = TemplateMiner()
    ids = [m.add(f"{h} 17").template_id for i, h in enumerate(names)]
    assert len({m.canonical(i) for i in ids}) == len(names)


def test_a_first_word_that_labels_the_message_needs_one_word_behind_it():
    """``worker-a: blocked`` / ``gpu0 - reset``: a word ending in ``:`` or before a separator names the
    process or host a line is about; one constant word (or key) behind it is enough."""
    procs = ["alpha", "bravo", "charlie", "delta", "echo"]
    for line in ("{}: blocked", "{} - configured out", "{}: ready=true,policy={},mode=auto"):
        m = TemplateMiner()
        ids = [m.add(line.format(p, i)).template_id for i, p in enumerate(procs)]
        assert len({m.canonical(i) for i in ids}) == 1, line
    m = TemplateMiner()                        # no label: a short message's first word is the event
    ids = [m.add(f"{p} blocked").template_id for p in procs]
    assert len({m.canonical(i) for i in ids}) == len(procs)
    for line in ("{} wait (command {})", "{} boot (command {})"):   # a word and a value behind it: still
        m = TemplateMiner()
        ids = [m.add(line.format(p, 100 + i)).template_id for i, p in enumerate(procs)]
        assert len({m.canonical(i) for i in ids}) == len(procs), line
    # ...but a long rest of structure (two words, five values) says the messages are one: a node names
    # where its fans turn (0.951 -> 0.979 on HPC's first-word stress)
    m = TemplateMiner()
    ids = [m.add(f"{p} Fan speeds ( {3552 + i} 3534 {3375 - i} **** 3515 {3479 + 2 * i} )").template_id
           for i, p in enumerate(procs)]
    assert len({m.canonical(i) for i in ids}) == 1
    assert m.templates()[m.canonical(ids[0])] == "<*> Fan speeds ( <*> <*> <*> **** <*> <*> )"


def test_an_empty_value_is_still_the_template():
    """``rhost=`` written empty on some lines (PAM's ``ruser= rhost=``): one template, not two lengths."""
    m = TemplateMiner()
    lines = [f"authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={h}"
             for h in ("10.0.0.1", "", "host-7.example.org", "", "10.0.0.9")]
    ids = [m.add(x).template_id for x in lines]
    assert len({m.canonical(i) for i in ids}) == 1
    assert m.templates()[m.canonical(ids[0])] == "authentication failure; logname= uid=<*> euid=<*> tty=ssh ruser= rhost=<*>"


def test_an_empty_value_in_parentheses_is_still_the_template():
    """``connection from 10.0.0.1 () at ...`` (a host name looked up and not found, printed empty in
    its parentheses): the same template as ``(host.example.org)``, not a shorter line of its own."""
    m = TemplateMiner()
    lines = [f"connection from 10.0.{i}.4 ({h}) at port {4000 + i}"
             for i, h in enumerate(["", "a.example.org", "", "b.example.org", "c.example.net", ""])]
    ids = [m.add(x).template_id for x in lines]
    assert len({m.canonical(i) for i in ids}) == 1
    assert m.templates()[m.canonical(ids[0])] == "connection from <*> (<*>) at port <*>"


def test_http_request_lines_keep_their_method():
    """uvicorn's default access log (what a FastAPI TTS service prints): the method of the quoted
    request line is the event, so health checks and synthesis requests are different templates."""
    m = TemplateMiner()
    lines = [f'INFO:     127.0.0.1:{5000 + i} - "{verb} {path} HTTP/1.1" 200 OK'
             for i, (verb, path) in enumerate([("POST", "/tts"), ("GET", "/health"), ("POST", "/api/tts"),
                                                ("GET", "/health"), ("GET", "/metrics"), ("POST", "/tts")])]
    ids = [m.add(x).template_id for x in lines]
    ids = [m.canonical(i) for i in ids]
    assert ids[0] == ids[2] == ids[5] and ids[1] == ids[3] == ids[4] and ids[0] != ids[1]
    assert m.templates()[ids[0]] == 'INFO: <*>:<*> - "POST <*> <*>" <*> OK'


def test_a_position_holding_a_mask_is_a_variable_whatever_the_count():
    """Values the token classes mask (``66d56a:``) and values they leave as names (``ffbb69:``, a word
    ending in two digits) at one position: the position is a variable, not three constants."""
    m = TemplateMiner()
    ids = [m.add(f"Received disconnect from {h}: 11: Bye Bye [preauth]").template_id
           for h in ("66d56a", "ffbb69", "cbfd33", "10.0.0.1")]
    assert len({m.canonical(i) for i in ids}) == 1


# The benchmark's stress variants of shared sets (their own ground truth; variables refilled; 3 seeds):
# GA floors below what was measured, above what the method scored before the change each one checks.
STRESS_FLOORS = [
    # phrase: values of 1-3 pseudo-words. 0.930 and 0.945 (0.624 and 0.839 before runs sharing an
    # edge word stopped turning variable; Drain3 default 0.322, 0.166)
    ("phrase", "Hadoop", 0.90), ("phrase", "Spark", 0.92),
    # phrase, key=value fields: 0.767 and 0.798 (0.558 and 0.715 before the words between a key=value
    # and the next key= were the value's; 0.661 for Android before spaced keys, ``uid = a b,tag = c``)
    # and 0.827 with a template that a more common one covers folded into it (0.767 before)
    ("phrase", "Android", 0.79),
    # HDFS 0.972 with a first value of several words a variable before three words (0.932 before)
    ("phrase", "HDFS", 0.95),
    # OpenSSH 0.905 with messages whose run holds the event's constant (``from <*> ssh2`` over ``from
    # x port y ssh2``) moved to it as a group (0.841 before)
    ("phrase", "OpenSSH", 0.88),
    # shape: values of one of 33 shapes (mail, ISO time, list, dict, base64, tqdm bar...). 0.987, 0.974
    # (0.872 and 0.794 before the EMAIL, LIST, ISODATE and HOST classes, single quotes, the mask rule)
    ("shape", "HDFS", 0.96), ("shape", "Android", 0.96),
    # empty: half the key=<*> positions empty on 30% of their lines. 1.000 and 0.966 (0.749 and
    # 0.541 before an empty value was a token of its own)
    ("empty", "OpenSSH", 0.98), ("empty", "Android", 0.95),
    # first word: half the templates after a variable word (``name: text``, ``name - text``, ``name
    # text``). 0.975 and 0.913 (0.699 and 0.624 before a labelling first word needed less context;
    # Drain3 default 0.409, 0.479); HPC 0.941 (0.789 before far too many first words were a variable
    # on one word of context; 0.576 before both)
    ("prefix", "Hadoop", 0.94), ("prefix", "Android", 0.87), ("prefix", "HPC", 0.90),
    # free text: half the templates that end in a variable end in a sentence (1-15 words). 0.955 and
    # 0.899 (0.500 and 0.777 before a template that a more common one covers folded into it);
    # Android 0.927 with sentences after one prefix made one template (0.899 before)
    ("text", "Hadoop", 0.92), ("text", "Android", 0.90),
    # OpenSSH: 0.995 (0.748 before a field key some messages have was kept where others hold words)
    ("text", "OpenSSH", 0.95),
]


@pytest.mark.parametrize("kind,name,floor", STRESS_FLOORS)
def test_stress_variant_grouping_accuracy(shared_data, repo_root, kind, name, floor):
    sys.path.insert(0, str(repo_root / "benchmarks"))
    import bench_templates as bt

    one = {name: bt.load_sets(shared_data / "loghub2k")[name]}
    variants = {"phrase": lambda: bt.word_variants(one, phrases=True), "shape": lambda: bt.shape_variants(one),
                "empty": lambda: bt.empty_variants(one), "prefix": lambda: bt.prefix_variants(one),
                "text": lambda: bt.text_variants(one)}[kind]()
    scores = bt.score_ours(variants)
    assert len(scores) == 3
    assert sum(s["ga"] for s in scores.values()) / 3 >= floor


def test_spans_say_what_each_variable_stands_for():
    from analyzer.templates.cover import spans

    assert spans("<*> Transitioned from <*>".split(), "x Transitioned from NEW to DONE".split()) == [
        ("x",), ("NEW", "to", "DONE")]
    assert spans("a <*> b <*>".split(), "a x b y b z".split()) == [("x", "b", "y"), ("z",)]  # later ones shortest
    assert spans("uid=<*> <*>".split(), "uid=0 p q".split()) == [("p", "q")]
    assert spans("a <*> b".split(), "a b".split()) is None


@pytest.mark.parametrize("general,key,covers", [
    ("for <*> from", "for mail relay from", True),
    ("for mail <*> from", "for <*> from", False),
    ("uid=<*> tty=ssh", "uid=<*> tty=ssh", True),
    ("a <*> b <*>", "a x b y z", True),
    ("a <*> b", "a b", False),
    ("<*> closed", "x y", False),
])
def test_an_id_folds_only_into_a_template_that_covers_it(general, key, covers):
    assert merge_covers(general.split(" "), key.split(" ")) is covers


@pytest.mark.parametrize("general,key,free_tail,covers", [
    ("for <*> from", "for ann lee from", False, True),            # a run of plain words
    ("for <*> from", "for a b c d from", False, False),           # longer than a value of a few words
    ("for <*> from", "for invalid user <*> from", False, False),  # a run holding a mask: structure
    ("for <*> from", "for <*> from", False, True),
    ("text: <*>", "text: a b c d e f g", False, False),
    ("text: <*>", "text: a b c d e f g", True, True),             # a free-text rest
    ("text: <*> done", "text: a b c d e f done", True, False),    # only a rest, not a middle
    ("rhost=\x01 <*>", "rhost=\x01 <*> user=\x01 root", True, False),   # a field in the rest: structure
    ("rhost=\x01 <*>", "rhost=\x01 <*> via user:root", True, False),
    ("note: <*>", "note: 3 apples and <*> pears", True, True),
])
def test_bounded_runs_and_a_free_rest(general, key, free_tail, covers):
    assert merge_covers(general.split(" "), key.split(" "), 3, free_tail) is covers


def test_a_template_a_more_common_one_covers_folds_into_it():
    """Batch ids: a message with two values of several words that no segment family turned, a
    sentence longer than a run, a first word on a message of its own are instances of the template
    their siblings made; a structural difference (a mask in the run, a word after the rest) is not."""
    import random

    rng = random.Random(3)
    words = [f"w{a}{b}" for a in "bcdfghjklm" for b in "aeiou"]
    phrase = lambda lo, hi: " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))  # noqa: E731
    lines = [f"PacketResponder {phrase(1, 3)} for block {phrase(1, 3)} terminating" for _ in range(300)]
    lines += [f"Text normalized: {phrase(1, 12)}" for _ in range(300)]
    lines += [f"Connection closed by 10.0.0.{i} port {i}" for i in range(50)]
    lines += ["Connection closed by 10.0.0.9 port 22 [preauth]", "Connection closed by 10.0.0.8 port 23 [preauth]"]
    lines += [f"Failed password for {rng.choice(words)} from 10.1.1.{i}" for i in range(50)]
    lines += [f"Failed password for invalid user {rng.choice(words)} from 10.1.1.{i}" for i in range(5)]
    ids, tm = _mine_all(lines)
    got = [tm[i] for i in ids]
    assert set(got[:300]) == {"PacketResponder <*> for block <*> terminating"}
    assert set(got[300:600]) == {"Text normalized: <*>"}
    assert set(got[600:650]) == {"Connection closed by <*> port <*>"}
    assert set(got[650:652]) == {"Connection closed by <*> port <*> [preauth]"}
    assert set(got[652:702]) == {"Failed password for <*> from <*>"}
    assert set(got[702:]) == {"Failed password for invalid user <*> from <*>"}
