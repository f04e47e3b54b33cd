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
    """No dead pattern: each regex matches at least one of its entry's examples or a known line."""
    extra = {
        "cuda_oom": ["GPU memory usage high: 97% of 24217 MiB", "CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate", "GPU memory exhausted",
                     "RuntimeError: CUDA error: out of memory", "torch.cuda.OutOfMemoryError: boom",
                     "OutOfMemoryError"],
        "device_mismatch": ["UserWarning: map_location not given; loading duration predictor on cpu","Input type (torch.cuda.FloatTensor) and weight type (torch.FloatTensor) should be the same",
                            "Input type (torch.FloatTensor) and weight type (torch.cuda.FloatTensor) should be the same"],
        "missing_shared_library": ["Unable to load any of {libcudnn_cnn.so.9.1.0, libcudnn_cnn.so.9}",
                                   "libcudnn_ops.so.9 not found", "shared library libfoo missing",
                                   "Failed to initialise text frontend (ttsfrd); backend 'modelscope' disabled"],
        "dependency_conflict": ["numpy.core.multiarray failed to import",
                                "numpy.dtype size changed, may indicate binary incompatibility",
                                "A module that was compiled using NumPy 1.x cannot be run in NumPy 2.0.0",
                                "ImportError: cannot import name 'x' from 'y'", "version conflict for numpy"],
        "model_not_found": ["Repo id 'damo/speech_sambert' not found", "Error no file named model.bin found in directory /m",
                            "/models/x.onnx does not exist"],
        "audio_file_not_found": ["/data/a.wav not found", "audio file refs/a.wav does not exist"],
        "invalid_text": ["empty text", "input text is empty"],
        "ref_audio_invalid": ["ref_audio rejected"],
        "duration_ratio_invalid": ["speed factor out of range"],
        "emotion_embedding_zero": ["degenerate emotion embedding"],
        "segfault": ["SIGSEGV in worker", "killed by signal 11", "core dumped"],
        "shape_mismatch": ["mat1 and mat2 shapes cannot be multiplied (1x2 and 3x4)", "cannot reshape array of size 6",
                           "shape [2, 3] is invalid for input of size 7", "operands could not be broadcast together",
                           "shape mismatch", "Got invalid dimensions for input: style"],
        "sample_rate_mismatch": ["sampling rate mismatch", "expected 24000 Hz, got 16000", "sample rate 8000 does not match"],
        "invalid_jsonl": ["invalid JSON", "Unterminated string starting at: line 1", "Extra data: line 2 column 1",
                          "missing required field 'input_text'"],
        "port_in_use": ["port 8080 is already in use", "web UI not loading", "[Errno 98] Address already in use"],
        "stream_underflow": ["audio buffer underrun", "Thread pool saturated: 16/16 workers busy"],
        "silent_output": ["HiFiGAN vocoder produced non-finite samples in 100% of frames", "all-zero waveform", "rms 0.0001 is below threshold "],
        "request_timeout": ["httpx.ReadTimeout", "504 Gateway Timeout", "timeout waiting for synthesis"],
        "model_load_timeout": ["backend 'modelscope' is not ready: model still loading"],
    }
    kb = load_kb()
    for e in kb.entries:
        lines = list(e.examples) + extra.get(e.id, [])
        for p in e.patterns:
            assert any(p.search(x) for x in lines), f"{e.id}: pattern {p.pattern!r} matches no example"


def test_record_fields_are_matched() -> None:
    kb = load_kb()
    rec = Record(None, "ERROR", "synthesis failed for request r1", "x.log", 3,
                 {"error_type": "OutOfMemoryError"})
    assert kb.match_record(rec).id == "cuda_oom"
    rec = Record(None, "ERROR", "worker failed", "x.log", 3, {}, traceback="Traceback...\nOSError: libttsfrd.so: cannot open shared object file")
    assert kb.match_record(rec).id == "missing_shared_library"
    assert kb.match("everything is fine") is None


def _doc(**override):
    entry = {"id": "x_y", "title": "T", "role": "cause", "severity": "high", "patterns": ["boom"], "cause": "c",
             "fix": "f"}
    entry.update(override)
    return {"entries": [entry]}


@pytest.mark.parametrize("override, message", [
    ({"patterns": ["(unclosed"]}, "does not compile"),
    ({"role": "maybe"}, "role"),
    ({"severity": "urgent"}, "severity"),
    ({"id": "Bad Id"}, "slug"),
    ({"follows": ["nope"]}, "unknown id"),
    ({"colour": "red"}, "unknown key"),
    ({"rank": 42}, "rank"),
])
def test_validation_names_the_entry(override: dict, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_kb(_doc(**override), source="my.yaml")
    assert message in str(exc.value)
    assert "my.yaml" in str(exc.value)


def test_missing_key_and_duplicates(tmp_path: Path) -> None:
    doc = _doc()
    del doc["entries"][0]["fix"]
    with pytest.raises(ConfigError, match="x_y.*missing key"):
        parse_kb(doc)
    doc = {"entries": _doc()["entries"] * 2}
    with pytest.raises(ConfigError, match="duplicate"):
        parse_kb(doc)
    bad = tmp_path / "kb.yaml"
    bad.write_text("entries: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_kb(bad)


def test_custom_kb_file_adds_unrecognised(tmp_path: Path) -> None:
    p = tmp_path / "kb.yaml"
    p.write_text(yaml.safe_dump(_doc()), encoding="utf-8")
    kb = load_kb(p)
    assert kb.match("a boom happened").id == "x_y"
    assert kb.unrecognised.id == "unrecognised"


def test_packaged_yaml_is_the_default() -> None:
    assert DEFAULT_KB_PATH.name == "kb.yaml" and DEFAULT_KB_PATH.is_file()
    text = DEFAULT_KB_PATH.read_text(encoding="utf-8")
    assert re.search(r"^entries:", text, re.M)
