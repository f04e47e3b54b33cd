"""ttsops.procinfo: a process's own peak RSS, also in the child of a large parent (where Linux's
ru_maxrss reports the parent's peak)."""
from __future__ import annotations

import subprocess
import sys

from ttsops.procinfo import peak_rss_mb, rss_mb

PARENT = """
import subprocess, sys
big = bytearray(300 * 2 ** 20)
big[::4096] = b"1" * len(range(0, len(big), 4096))     # touch every page: 300 MiB resident
child = "import resource; from ttsops.procinfo import peak_rss_mb; " \\
        "print(peak_rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout)
"""


def test_peak_rss_is_the_process_own():
    own, maxrss = map(float, subprocess.run([sys.executable, "-c", PARENT], capture_output=True, text=True,
                                            check=True).stdout.split())
    assert 1.0 < own < 150.0, own          # the child's own peak (an interpreter, a small import)
    assert maxrss >= own                   # ru_maxrss: the parent's 300 MiB where Linux carries it over
    assert 1.0 < rss_mb() <= peak_rss_mb() + 0.1     # now is at most the peak
