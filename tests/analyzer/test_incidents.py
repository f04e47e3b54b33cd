"""Incidents: root-cause ordering (earliest upstream signal, not the loudest), symptoms, lone
errors outside anomalous windows, unrecognised errors, exception grouping, bounded memory."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from analyzer.incidents import (ExceptionGroups, HitCollector, IncidentConfig, WindowCounts, build_incidents,
                                spans_from_flags)
from analyzer.kb import load_kb
from analyzer.records import Record

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc)


def rec(sec: float, level: str, msg: str, **fields) -> Record:
    tb = fields.pop("tb", None)
    return Record(T0 + timedelta(seconds=sec), level, msg, "inference.log", int(sec * 10) + 1, fields, msg, tb)


def incidents_of(records, **cfg):
    kb = load_kb()
    hc = HitCollector(kb, IncidentConfig(**cfg))
    for i, r in enumerate(records):
        hc.add(r, template_id=i % 7)
    return build_incidents(hc.episodes, kb, IncidentConfig(**cfg))


def test_oom_then_silent_then_timeouts_is_cuda_oom() -> None:
    records = [rec(0, "INFO", "synthesis ok", request_id="r0")]
    records.append(rec(10, "ERROR", "CUDA out of memory. Tried to allocate 2.00 GiB", request_id="r1"))
    # the symptoms are louder (more records) and come later
    records += [rec(12 + i, "WARNING", f"health L3 failed: silent output (rms=0.0) for request r{i}", request_id=f"r{i}")
                for i in range(2, 30)]
    records += [rec(45 + i, "ERROR", f"request r{i} timed out after 30.0 s", request_id=f"r{i}") for i in range(2, 40)]
    incs = incidents_of(records)
    assert len(incs) == 1
    inc = incs[0]
    assert inc.root_cause.kb_id == "cuda_oom"
    assert [s.kb_id for s in inc.symptoms] == ["silent_output", "request_timeout"]
    assert inc.severity == "critical"
    assert inc.request_count == 39 and inc.request_ids[0] == "r1"
    assert inc.start == T0 + timedelta(seconds=10)
    assert inc.root_cause.evidence[0].file == "inference.log" and inc.root_cause.evidence[0].line == 101


def test_cause_logged_just_after_its_symptom_still_wins() -> None:
    records = [rec(10.0, "WARNING", "silent output for request r1", request_id="r1"),
               rec(10.5, "ERROR", "torch.OutOfMemoryError: CUDA out of memory", request_id="r1")]
    incs = incidents_of(records)
    assert [i.root_cause.kb_id for i in incs] == ["cuda_oom"]
    assert incs[0].symptoms[0].kb_id == "silent_output"


def test_independent_causes_are_separate_incidents() -> None:
    records = [rec(0, "ERROR", "checkpoint not found: /models/a.ckpt"),
               rec(30, "ERROR", "InputError: duration_ratio: 9.0 is out of range [0.5, 2.0]", request_id="q"),
               rec(600, "ERROR", "[Errno 98] Address already in use")]
    incs = incidents_of(records)
    assert sorted(i.root_cause.kb_id for i in incs) == ["duration_ratio_invalid", "model_not_found", "port_in_use"]
    # real failures in the order they happened, whatever their severity
    assert [i.root_cause.kb_id for i in incs] == ["model_not_found", "duration_ratio_invalid", "port_in_use"]
    assert [i.id for i in incs] == ["INC-001", "INC-002", "INC-003"]


def test_symptom_alone_is_its_own_root() -> None:
    incs = incidents_of([rec(5, "ERROR", "request r9 timed out after 30.0 s", request_id="r9")])
    assert incs[0].root_cause.kb_id == "request_timeout"


def test_unrecognised_error_reported_with_template_and_warnings_alone_are_not() -> None:
    kb = load_kb()
    hc = HitCollector(kb)
    hc.add(rec(1, "ERROR", "flux capacitor overheated at 88 mph"), 3, "flux capacitor overheated at <*> mph")
    hc.add(rec(100, "WARNING", "cache warm-up slow"), 4, "cache warm-up slow")
    incs = build_incidents(hc.episodes, kb)
    assert len(incs) == 1
    rc = incs[0].root_cause
    assert rc.kb_id == "unrecognised" and rc.template == "flux capacitor overheated at <*> mph"
    assert "flux capacitor" in rc.title


def test_unrecognised_error_during_an_incident_is_a_symptom() -> None:
    records = [rec(0, "ERROR", "CUDA out of memory"), rec(2, "ERROR", "vocoder returned garbage")]
    incs = incidents_of(records)
    assert len(incs) == 1 and incs[0].symptoms[0].kb_id == "unrecognised"


def test_same_cause_far_apart_makes_two_incidents() -> None:
    records = [rec(0, "ERROR", "CUDA out of memory"), rec(3600, "ERROR", "CUDA out of memory")]
    assert [i.root_cause.kb_id for i in incidents_of(records)] == ["cuda_oom", "cuda_oom"]


def test_traceback_evidence_message_exception_then_frame() -> None:
    tb = ('Traceback (most recent call last):\n  File "/srv/synth.py", line 88, in synthesize\n    x()\n'
          'OSError: libttsfrd.so: cannot open shared object file: No such file or directory')
    incs = incidents_of([rec(0, "ERROR", "backend failed to load", tb=tb)])
    texts = [e.text for e in incs[0].root_cause.evidence]
    assert texts[0] == "backend failed to load"
    assert texts[1].startswith("OSError: libttsfrd.so")  # the line the KB matched
    assert texts[2].startswith('File "/srv/synth.py", line 88')  # where it was raised


def test_memory_is_bounded() -> None:
    kb = load_kb()
    hc = HitCollector(kb, IncidentConfig(max_episodes=50, max_evidence=2, max_request_ids=5))
    for i in range(5000):
        hc.add(rec(i * 120, "ERROR", f"mystery failure {i}"), i, f"mystery failure {i}")
        hc.add(rec(i * 120 + 1, "ERROR", "CUDA out of memory", request_id=f"r{i}"), 10_000)
    assert len(hc.episodes) <= 51
    assert all(len(e.evidence) <= 6 and len(e.request_ids) <= 5 for e in hc.episodes)


def test_exception_groups_fingerprint_by_type_and_stack() -> None:
    kb = load_kb()
    g = ExceptionGroups(kb)
    tb1 = 'Traceback (most recent call last):\n  File "/a/synth.py", line 1, in run\nValueError: bad 1'
    tb2 = 'Traceback (most recent call last):\n  File "/a/synth.py", line 9, in run\nValueError: bad 2'
    tb3 = 'Traceback (most recent call last):\n  File "/a/other.py", line 9, in go\nValueError: bad 2'
    for i, tb in enumerate([tb1, tb2, tb3]):
        g.add(rec(i, "ERROR", "failed", tb=tb, request_id=f"r{i}"), "failed")
    top = g.top()
    assert [x.count for x in top] == [2, 1]
    assert top[0].error_type == "ValueError" and top[0].frames[-1].endswith("run")
    assert top[0].request_ids == ["r0", "r1"]
    d = top[0].to_dict()
    assert "bad 1" not in str(d)  # values (possibly user content) are not stored
    oom = 'Traceback (most recent call last):\n  File "/a/m.py", line 1, in f\ntorch.OutOfMemoryError: CUDA out of memory'
    g.add(rec(5, "ERROR", "failed", tb=oom), "failed")
    assert {x.kb_id for x in g.top()} == {"unrecognised", "cuda_oom"}


def test_spans_and_counts() -> None:
    idx = [T0 + timedelta(minutes=i) for i in range(6)]
    spans = spans_from_flags(idx, [0, 1, 1, 0, 1, 0], [0, 2, 3, 0, 5, 0], 60)
    assert [(s.minute, e.minute, sc) for s, e, sc in spans] == [(1, 3, 3.0), (4, 5, 5.0)]
    wc = WindowCounts(60)
    wc.add(rec(0, "ERROR", "x"))
    wc.add(rec(61, "INFO", "y"))
    assert wc.between(T0, T0 + timedelta(seconds=70)) == (2, 1)
    assert [r["errors"] for r in wc.table()] == [1, 0]
