"""follow_records survives rotation by rename and copy-truncate: no record lost or duplicated."""
from __future__ import annotations

import os
import threading
import time

from analyzer.follow import Follower, follow_records
from analyzer.read import ReadStats


def _write(path, start, n):
    with open(path, "a") as f:
        for i in range(start, start + n):
            f.write(f"2024-06-15 10:00:00 INFO message number {i}\n")
        f.flush()


def _numbers(recs):
    return [int(r.message.rsplit(" ", 1)[1]) for r in recs]


def test_rotation_by_rename_no_loss_no_duplicate(tmp_path):
    log = tmp_path / "app.log"
    _write(log, 0, 50)
    f = Follower([str(tmp_path)], flush_after=0.0)
    got = f.poll()
    _write(log, 50, 25)                       # appended before rotation, not yet polled
    os.rename(log, tmp_path / "app.log.1")    # rotate
    _write(log, 75, 30)                       # new file
    got += f.poll()
    _write(tmp_path / "app.log.1", 105, 0)
    _write(log, 105, 10)
    got += f.poll()
    got += f.poll()
    got += f.flush()
    nums = _numbers(got)
    assert sorted(nums) == list(range(115))          # none lost, none twice
    assert [n for n in nums if n < 75] == list(range(75))       # each file in its own order
    assert [n for n in nums if n >= 75] == list(range(75, 115))


def test_copytruncate(tmp_path):
    log = tmp_path / "svc.log"
    _write(log, 0, 10)
    stats = ReadStats()
    f = Follower([str(log)], stats=stats, flush_after=0.0)
    got = f.poll()
    os.truncate(log, 0)
    _write(log, 10, 5)
    got += f.poll() + f.poll() + f.flush()
    assert _numbers(got) == list(range(15))
    assert any("shrank" in w for w in stats.warnings)


def test_copytruncate_refilled_past_the_old_offset(tmp_path):
    """Truncated and written again beyond the old size before the next poll: the file never
    shrank as far as sizes go, its first bytes tell (the head fingerprint)."""
    log = tmp_path / "svc.log"
    _write(log, 0, 3)
    stats = ReadStats()
    f = Follower([str(log)], stats=stats, flush_after=0.0)
    got = f.poll()
    with open(log, "w") as fh:  # same inode: copy-truncate, then the service goes on writing
        for i in range(3, 13):
            fh.write(f"2024-06-15 10:00:01 INFO message number {i}\n")
    got += f.poll() + f.poll() + f.flush()
    assert _numbers(got) == list(range(13))
    assert any("rewritten in place" in w for w in stats.warnings)
    assert f.new_warnings() and not f.new_warnings()  # each warning handed out once


def test_follow_reads_docker_json_file_lines(tmp_path):
    import json

    log = tmp_path / "c-json.log"
    lines = ["2024-06-15 10:00:00,001 ERROR synth failed\n", "Traceback (most recent call last):\n",
             '  File "x.py", line 1, in f\n', "ValueError: bad\n"]
    log.write_text("".join(json.dumps({"log": x, "stream": "stderr", "time": "2024-06-15T10:00:00.1Z"}) + "\n"
                           for x in lines))
    f = Follower([str(log)], flush_after=0.0)
    got = f.poll() + f.flush()
    assert len(got) == 1 and got[0].level == "ERROR" and got[0].traceback.endswith("ValueError: bad")
    assert got[0].fields["stream"] == "stderr"


def test_generator_in_a_thread_with_traceback(tmp_path):
    log = tmp_path / "console.log"
    log.write_text("")
    stop = threading.Event()
    out = []

    def consume():
        for rec in follow_records([str(log)], poll_interval=0.05, flush_after=0.2, stop=stop.is_set):
            out.append(rec)

    t = threading.Thread(target=consume)
    t.start()
    with open(log, "a") as fh:
        fh.write("2024-06-15 10:00:00 ERROR failed\nTraceback (most recent call last):\n")
        fh.flush()
        time.sleep(0.1)
        fh.write('  File "x.py", line 1, in f\nValueError: bad\n')
        fh.flush()
    time.sleep(0.6)
    stop.set()
    t.join(5)
    assert not t.is_alive()
    assert len(out) == 1 and out[0].traceback.endswith("ValueError: bad")


def test_start_at_end(tmp_path):
    log = tmp_path / "a.log"
    _write(log, 0, 5)
    f = Follower([str(log)], from_start=False, flush_after=0.0)
    assert f.poll() == []
    _write(log, 5, 2)
    assert _numbers(f.poll() + f.flush()) == [5, 6]
