"""This process's own memory figures, read the way that survives ``exec``."""
from __future__ import annotations

import os
import re

__all__ = ["rss_mb", "peak_rss_mb"]

_HWM = re.compile(rb"VmHWM:\s+(\d+) kB")


def rss_mb() -> float:
    """Resident set size of this process now, MiB (``/proc/self/statm``); NaN where /proc is absent."""
    try:
        with open("/proc/self/statm", "rb") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except (OSError, ValueError, IndexError):
        return float("nan")


def peak_rss_mb() -> float:
    """Peak resident set size of this process, MiB: ``VmHWM`` of ``/proc/self/status``. Not
    ``getrusage().ru_maxrss`` where /proc has it: Linux carries ru_maxrss over ``exec`` from the
    forking parent, so a child of a large process (a benchmark's measuring child, a service started
    by a supervisor) would report its parent's peak."""
    try:
        with open("/proc/self/status", "rb") as f:
            m = _HWM.search(f.read())
        if m is not None:
            return round(int(m.group(1)) / 1024.0, 1)
    except OSError:
        pass
    import resource  # not Linux: the best the platform offers

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
