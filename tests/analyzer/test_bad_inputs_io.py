"""Bad-input corpus for analyzer reading: each case gets a BadLine, a warning or a clear one-line error,
never a traceback, and the good lines around it are still read."""
from __future__ import annotations

import gzip
import os
import subprocess
import sys

import pytest

from analyzer.read import ReadStats, read_records
from ttsops.errors import InputError

GOOD = b"2024-06-15 10:00:00 INFO good line one\n"
GOOD2 = b"2024-06-15 10:00:01 ERROR good line two\n"


def _read(paths):
    stats = ReadStats()
    recs = list(read_records([str(p) for p in paths], stats=stats))
    return recs, stats


def _msgs(recs):
    return [r.message for r in recs]


CASES = {
    "binary_line": GOOD + bytes(range(256)) + b"\n" + GOOD2,
    "nul_bytes_only": GOOD + b"\x00" * 64 + b"\n" + GOOD2,
    "nul_inside_text": GOOD + b"2024-06-15 10:00:00 INFO half\x00text\n" + GOOD2,
    "invalid_utf8": GOOD + b"2024-06-15 10:00:00 INFO caf\xe9 \xff\xfe\n" + GOOD2,
    "latin1_mixed_encoding": GOOD + "2024-06-15 10:00:00 INFO Größe überschritten\n".encode("latin-1") + GOOD2,
    "utf16_line": GOOD + "hello".encode("utf-16") + b"\n" + GOOD2,
    "crlf": GOOD.replace(b"\n", b"\r\n") + GOOD2.replace(b"\n", b"\r\n"),
    "malformed_json": GOOD + b'{"message": "cut in the mid\n' + GOOD2,
    "json_not_object": GOOD + b"[1, 2, 3]\n" + GOOD2,
    "json_deeply_nested": GOOD + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"\n" + GOOD2,
    "control_chars": GOOD + b"\x1b[31m\x07\x08\x01\x02\x03\x04\x05\x06\x0e\x0f\x10\n" + GOOD2,
    "blank_and_whitespace": GOOD + b"\n   \n\t\n" + GOOD2,
    "no_trailing_newline": GOOD + GOOD2.rstrip(b"\n"),
    "bom": b"\xef\xbb\xbf" + GOOD + GOOD2,
    "loguru_missing_fields": GOOD + b'{"record": {"message": "m"}}\n' + GOOD2,
    "huge_traceback_without_end": GOOD2 + b"Traceback (most recent call last):\n" + b"  frame\n" * 5000 + GOOD,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_line_cases(tmp_path, name):
    p = tmp_path / f"{name}.log"
    p.write_bytes(CASES[name])
    recs, stats = _read([p])
    msgs = " | ".join(_msgs(recs))
    assert "good line one" in msgs and "good line two" in msgs, (name, msgs[:300])
    if name in ("binary_line", "nul_bytes_only", "invalid_utf8", "latin1_mixed_encoding", "malformed_json",
                "control_chars", "nul_inside_text"):
        assert stats.bad_line_count >= 1, name
        assert stats.bad_lines[0].file == str(p) and stats.bad_lines[0].line == 2
    assert len(stats.bad_lines) <= stats.max_bad_lines


def test_ten_megabyte_single_line(tmp_path):
    p = tmp_path / "big.log"
    p.write_bytes(GOOD + b"2024-06-15 10:00:00 INFO " + b"x" * (10 * 1024 * 1024) + b"\n" + GOOD2)
    recs, stats = _read([p])
    assert "good line two" in _msgs(recs)
    assert any("longer than" in b.reason for b in stats.bad_lines)
    assert max(len(r.raw) for r in recs) <= 1 << 21


def test_truncated_and_corrupt_gz(tmp_path):
    blob = gzip.compress(GOOD * 2000)
    (tmp_path / "a.log.1.gz").write_bytes(blob[: len(blob) // 3])
    (tmp_path / "b.log.gz").write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    (tmp_path / "c.log").write_bytes(GOOD2)
    recs, stats = _read([tmp_path])
    assert "good line two" in _msgs(recs) and "good line one" in _msgs(recs)
    assert sum("truncated or corrupt" in w for w in stats.warnings) == 2


def test_empty_files(tmp_path):
    (tmp_path / "empty.log").write_bytes(b"")
    (tmp_path / "empty.log.gz").write_bytes(gzip.compress(b""))
    (tmp_path / "ok.log").write_bytes(GOOD)
    recs, stats = _read([tmp_path])
    assert _msgs(recs) == ["good line one"] and len(stats.files) == 3


def test_directory_loop(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.log").write_bytes(GOOD)
    os.symlink(tmp_path, tmp_path / "sub" / "loop")
    recs, stats = _read([tmp_path])
    assert _msgs(recs) == ["good line one"]
    assert any("loop" in w for w in stats.warnings)


def test_unreadable_file(tmp_path):
    bad = tmp_path / "secret.log"
    bad.write_bytes(GOOD2)
    bad.chmod(0)
    (tmp_path / "ok.log").write_bytes(GOOD)
    recs, stats = _read([tmp_path])
    assert "good line one" in _msgs(recs)
    if os.geteuid() != 0:  # root reads anything: the permission case only bites as a user
        assert any("cannot open" in w for w in stats.warnings)


def test_fifo_missing_and_dir_as_file(tmp_path):
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    (tmp_path / "ok.log").write_bytes(GOOD)
    (tmp_path / "folder.log").mkdir()
    stats = ReadStats()
    recs = list(read_records([str(fifo), str(tmp_path / "missing.log"), str(tmp_path / "ok.log"),
                              str(tmp_path / "folder.log"), str(tmp_path / "nomatch*.log")], stats=stats))
    assert _msgs(recs) == ["good line one"]
    joined = " ".join(stats.warnings)
    assert "not a regular file" in joined and "no such file" in joined and "no file matches" in joined


def test_broken_symlink(tmp_path):
    os.symlink(tmp_path / "nowhere.log", tmp_path / "dangling.log")
    (tmp_path / "ok.log").write_bytes(GOOD)
    recs, stats = _read([tmp_path])
    assert _msgs(recs) == ["good line one"] and any("broken symlink" in w for w in stats.warnings)


def test_nothing_readable_is_one_clear_error(tmp_path):
    with pytest.raises(InputError) as exc:
        list(read_records([str(tmp_path / "missing.log")]))
    assert "missing.log" in str(exc.value) and "\n" not in str(exc.value)


def test_bad_log_format_is_a_clear_error(tmp_path):
    (tmp_path / "a.log").write_bytes(GOOD)
    for fmt in ("<Date> <Time>", "<Date> <Date> <Content>", "<Da te> <Content>", "(<Content>"):
        with pytest.raises(InputError):
            list(read_records([str(tmp_path / "a.log")], log_format=fmt))


def test_cli_exit_2_and_no_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "analyzer.cli", "templates", str(tmp_path / "missing.log")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and r.stderr.strip().startswith("error:")


def test_cli_bad_lines_are_reported_not_fatal(tmp_path):
    p = tmp_path / "a.log"
    p.write_bytes(GOOD + b"\xff\xfe\x00\x00\x01\x02\x03\x04\x05\n" + GOOD2)
    r = subprocess.run([sys.executable, "-m", "analyzer.cli", "templates", str(p), "--format", "csv"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"{p}:2" in r.stderr and len(r.stdout.strip().splitlines()) == 3
