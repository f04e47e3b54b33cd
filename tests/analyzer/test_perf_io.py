"""The fast reading paths give exactly what the general ones give.

* plain files are read in blocks split at newlines, gzip and stdin line by line: the same bytes,
  read both ways (a .gz copy is the oracle), give the same lines, numbers, cuts and bad lines;
* loguru JSON lines go through orjson on the raw bytes; lines orjson refuses (NaN, lone
  surrogates, invalid UTF-8, control bytes) take the general path and keep its handling;
* numeric strptime formats are parsed by a regex: same datetimes and the same refusals.
"""
from __future__ import annotations

import gzip
import json
import random
from datetime import datetime

import pytest

from analyzer.read import (MAX_LINE_BYTES, LineParser, ReadStats, iter_file_records, iter_raw_batches,
                           iter_raw_lines)
from analyzer.read import times as atimes


def _raw(path):
    st = ReadStats()
    lines = list(iter_raw_lines(str(path), st))
    return lines, [(b.line, b.reason, b.text) for b in st.bad_lines], st.bytes


@pytest.mark.parametrize("tail", [b"", b"\n", b"last line without newline", b"x" * (MAX_LINE_BYTES + 5)])
def test_block_reader_matches_line_reader(tmp_path, tail):
    rng = random.Random(7)
    parts = [b"first\r\n", b"\n", b"a" * (MAX_LINE_BYTES - 1) + b"\n",      # just under the cut
             b"b" * MAX_LINE_BYTES + b"\n",                                # exactly the cut: cut
             b"c" * (3 * MAX_LINE_BYTES + 17) + b"\r\n",                   # spans several blocks
             b"crlf\r\n", b"\r\n"]
    parts += [(b"line %d " % i) + b"y" * rng.randrange(0, 300) + (b"\r\n" if i % 5 == 0 else b"\n")
              for i in range(3000)]
    data = b"".join(parts) + tail
    plain = tmp_path / "a.log"
    plain.write_bytes(data)
    gz = tmp_path / "a.log.gz"
    gz.write_bytes(gzip.compress(data))
    lines_p, bad_p, nbytes = _raw(plain)
    lines_g, bad_g, _ = _raw(gz)
    assert lines_p == lines_g
    assert bad_p == bad_g and len(bad_p) == 2 + (len(tail) > MAX_LINE_BYTES)
    assert nbytes == len(data)
    assert lines_p[0] == (1, b"first") and lines_p[2][1] == b"a" * (MAX_LINE_BYTES - 1)
    assert lines_p[3][1] == b"b" * MAX_LINE_BYTES and lines_p[5] == (6, b"crlf")
    for src in (plain, gz):     # batches (the templates hot loop) are the same lines, numbered on
        batches = list(iter_raw_batches(str(src), ReadStats()))
        assert [(first + k, line) for first, b in batches for k, line in enumerate(b)] == lines_p
        assert len(batches) > (2 if src is plain else 0)


def _loguru_line(message: str, extra: dict, ts: float = 1795165209.391556, level: str = "INFO") -> str:
    rec = {"text": f"... {message}\n", "record": {
        "exception": None, "extra": extra, "function": "synthesize", "level": {"name": level, "no": 20},
        "line": 1, "message": message, "name": "engine.synth",
        "time": {"repr": "2026-11-20 09:00:09.391556+00:00", "timestamp": ts}}}
    return json.dumps(rec, ensure_ascii=False)


def test_loguru_fast_path_and_fallbacks(tmp_path):
    lines = [
        _loguru_line("Synthesis started: 30 chars", {"request_id": "req-1", "rtf": 0.25}),
        _loguru_line("nan rtf", {"request_id": "req-2", "rtf": float("nan")}),      # NaN: stdlib only
        _loguru_line("big int", {"n": 2 ** 70}),                                    # > 64 bit: stdlib only
        '{"record": {"message": "lone \\ud800 surrogate", "level": {"name": "ERROR"}, '
        '"time": {"timestamp": 1795165210.0}}}',
        _loguru_line("warn", {"request_id": "req-3"}, level="WARNING"),
        '{"record": {"message": "broken", ',                                         # malformed
    ]
    p = tmp_path / "inference.log"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    st = ReadStats()
    recs = list(iter_file_records(str(p), stats=st))
    assert [r.message for r in recs] == ["Synthesis started: 30 chars", "nan rtf", "big int",
                                         "lone \ud800 surrogate", "warn"]
    assert [r.level for r in recs] == ["INFO", "INFO", "INFO", "ERROR", "WARNING"]
    assert recs[0].time == datetime.fromtimestamp(1795165209.391556, atimes.UTC)
    assert recs[0].fields["request_id"] == "req-1" and recs[0].fields["logger"] == "engine.synth"
    assert recs[0].fields["function"] == "synthesize" and recs[0].raw == lines[0]
    assert recs[1].fields["rtf"] != recs[1].fields["rtf"]        # NaN kept
    assert recs[2].fields["n"] == 2 ** 70
    assert [(b.line, b.reason) for b in st.bad_lines] == [(6, "malformed JSON")]
    # the general parser (what the fast path replaces) gives the same records
    parser = LineParser(None)
    for line, rec in zip(lines, recs):
        kind, ref = parser.parse(line, str(p), rec.line)
        assert kind == "rec" and (ref.time, ref.level, ref.message, ref.fields, ref.traceback) == \
            (rec.time, rec.level, rec.message, rec.fields, rec.traceback)


def test_json_line_with_control_bytes_keeps_general_handling(tmp_path):
    junk = '{"record": {"message": "x\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f"}}'
    p = tmp_path / "j.log"
    p.write_text(junk + "\n", encoding="utf-8")
    st = ReadStats()
    assert list(iter_file_records(str(p), stats=st)) == []
    assert st.bad_line_count == 1 and "binary" in st.bad_lines[0].reason


@pytest.mark.parametrize("fmt", [f for f, rx in atimes._FAST_FORMATS.items() if rx is not None])
def test_fast_strptime_equals_strptime(fmt):
    rng = random.Random(fmt)
    for _ in range(400):
        dt = datetime(rng.randrange(1970, 2068), rng.randrange(1, 13), rng.randrange(1, 29), rng.randrange(24),
                      rng.randrange(60), rng.randrange(60), rng.randrange(10 ** 6))
        s = dt.strftime(fmt)
        for v in (s, s.replace(" 0", " "), s + "x", s[:-1], " " + s, s.replace(":", " :")):
            try:
                want = datetime.strptime(v, fmt)
            except ValueError:
                want = ValueError
            try:
                got = atimes._strptime(v, fmt)
            except ValueError:
                got = ValueError
            assert got == want, (fmt, v)
