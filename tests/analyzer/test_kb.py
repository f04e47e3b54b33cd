"""The knowledge base: loads, validates with errors naming the entry, and every pattern matches a
real example line with the right entry winning."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from analyzer.kb import DEFAULT_KB_PATH, load_kb, parse_kb
from analyzer.records import Record
from ttsops.errors import ConfigError

CONTRACT_SLUGS = {
    "cuda_oom", "device_mismatch", "missing_shared_library", "dependency_conflict", "model_load_timeout",
    "model_not_found", "invalid_text", "ref_audio_invalid", "duration_ratio_invalid", "emotion_embedding_zero",
    "stream_underflow", "silent_output", "audio_file_not_found", "invalid_jsonl", "port_in_use",
    "request_timeout", "segfault", "shape_mismatch", "sample_rate_mismatch", "unrecognised",
}


def test_kb_has_every_contract_slug() -> None:
    kb = load_kb()
    ids = {e.id for e in kb.entries}
    assert CONTRACT_SLUGS <= ids, CONTRACT_SLUGS - ids
    assert "quality_regression" in ids  # tts-quality's JSON log lines become incidents too


@pytest.mark.parametrize("entry_id", sorted({e.id for e in load_kb().entries} - {"unrecognised"}))
def test_each_entry_matches_its_examples(entry_id: str) -> None:
    kb = load_kb()
    entry = kb[entry_id]
    assert entry.examples, f"{entry_id} has no example lines"
    for line in entry.examples:
        hit = kb.match(line)
        assert hit is not None and hit.id == entry_id, f"{line!r} -> {hit and hit.id}"


def test_every_pattern_matches_something() -> None:
    """No dead pattern: each regex matches at least one of its entry's examples."""
    kb = load_kb()
    for e in kb.entries:
        for p in e.patterns:
            assert any(p.search(x) for x in e.examples), f"{e.id}: pattern {p.pattern!r} matches no example"


def test_every_example_is_promotable_without_a_level() -> None:
    """A known failure printed with no level (a console paste) is still found: each example holds a
    failure word, so :meth:`KnowledgeBase.promotable` looks it up."""
    kb = load_kb()
    for e in kb.entries:
        for x in e.examples:
            r = Record(None, None, x, "paste.txt", 1, {}, x)
            hit = kb.promotable(r)
            assert hit is not None and hit.id == e.id, f"{e.id}: {x!r} -> {hit and hit.id}"


def test_plain_lines_are_not_promoted() -> None:
    kb = load_kb()
    for x in ["Loading checkpoint from checkpoints/s2mel.pth", "Downloading model.safetensors: 100%",
              "ref_audio=speaker_a.wav sample_rate=16000", "Running on local URL:  http://127.0.0.1:7860",
              "port 8080", "Processing audio with duration 00:20.434"]:
        assert kb.promotable(Record(None, None, x, "f", 1, {}, x)) is None, x


@pytest.mark.parametrize("unit", ["1.", "a", "a ", "A.", " ", "x:", "é/", "(a", "'", "0 ", "lib", "model "])
def test_patterns_run_in_linear_time(unit: str) -> None:
    """No catastrophic backtracking: every KB pattern over a 128 KiB adversarial line takes about as
    long as a plain scan of it (~1 s for all patterns; quadratic ones took minutes)."""
    import time

    kb = load_kb()
    line = unit * ((1 << 17) // len(unit.encode()))
    t0 = time.perf_counter()
    for e in kb.entries:
        for p in e.patterns + e.stalls:
            p.search(line)
    assert time.perf_counter() - t0 < 30.0


def test_a_huge_error_line_costs_one_capped_lookup() -> None:
    import time

    kb = load_kb()
    line = "ERROR " + "1." * (1 << 19)
    t0 = time.perf_counter()
    assert kb.match_record(Record(None, "ERROR", line, "f", 1, {}, line)) is None
    assert kb.promotable(Record(None, None, line, "f", 1, {}, line)) is None
    assert time.perf_counter() - t0 < 10.0
