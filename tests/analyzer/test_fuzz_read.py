"""Fuzz pass (hypothesis, bounded) over what tts-analyze reads: any mix of log shapes, envelopes,
tracebacks, control bytes and broken JSON never raises, never loses a line's accounting, and every
incident points at a real line of the input."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.pipeline import analyze
from analyzer.read import ReadStats, read_records

PIECES = [
    "2024-06-15 14:22:03,102 [ERROR] boom", "INFO:     started", "Traceback (most recent call last):",
    '  File "/x/y.py", line 3, in f', "    x = y()", "RuntimeError: CUDA out of memory", "Killed",
    "During handling of the above exception, another exception occurred:", "", "   ", "\t",
    '{"log": "Traceback (most recent call last):\\n", "stream": "stderr", "time": "2024-06-15T14:22:03Z"}',
    '{"record": {"message": "x", "level": {"name": "ERROR"}, "time": {"timestamp": 1.5e9}}}',
    '{"broken": ', "2024-06-15T14:22:03.1Z stdout P part", "2024-06-15T14:22:03.1Z stderr F end",
    "> quoted", "tts-1  | compose", "\x1b[31mred\x1b[0m", "50%|█████     |\r100%|██████████|", "```",
    "[rank0]: torch.OutOfMemoryError: x", "ValueError      Traceback (most recent call last)",
    "__CURSOR=s=1", "MESSAGE=hi", "Segmentation fault (core dumped)", "非法指令 (核心已转储)",
    "[E:onnxruntime:Default, x.cc:1 F] Failed to load library libonnxruntime_providers_cuda.so",
    "[Errno 98] Address already in use", "0001-01-01 00:00:00 ERROR ancient",
]
line = st.one_of(st.sampled_from(PIECES), st.text(max_size=40),
                 st.binary(max_size=30).map(lambda b: b.decode("latin-1")))


@settings(max_examples=int(__import__("os").environ.get("TTSOPS_FUZZ_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(line, min_size=1, max_size=25), st.sampled_from(["\n", "\r\n"]))
def test_any_mix_reads_and_analyzes(lines: list[str], eol: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "fuzz.log"
        p.write_bytes(eol.join(lines).encode("utf-8", "surrogatepass"))
        stats = ReadStats()
        recs = list(read_records([p], stats=stats))
        n_lines = len(p.read_bytes().split(b"\n"))
        assert stats.lines <= n_lines and len(recs) <= stats.lines
        assert all(1 <= r.line <= n_lines for r in recs)
        result = analyze([str(p)])
        doc = result.to_dict()
        json.dumps(doc)  # the report is always serialisable
        for inc in result.incidents:
            assert 1 <= inc.first_line <= inc.last_line <= n_lines
            assert all(1 <= e.line <= n_lines for e in inc.root_cause.evidence)
