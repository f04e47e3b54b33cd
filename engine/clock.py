"""Injectable clocks: real time for the service, simulated time for generated log sets.

The simulated clock lets a batch of a few hundred requests span an hour or two of *log* time at a
realistic request rate (the analyzer works on 60 s windows), while the audio is computed at full
speed. Log records (``engine.logs``) and fault labels (``engine.faults``) read the same clock.
"""
from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta, timezone

__all__ = ["Clock", "RealClock", "SimulatedClock", "make_clock"]


class Clock:
    """``now()`` gives an aware UTC datetime; ``request_gap()`` is called before each request."""

    simulated = False

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def request_gap(self) -> None:
        """Advance to the next request's arrival (simulated clocks only)."""

    def spend(self, seconds: float) -> None:
        """Account for ``seconds`` of work or waiting (simulated clocks only)."""


class RealClock(Clock):
    """Wall-clock time."""


class SimulatedClock(Clock):
    """Time that moves only when told: Poisson request arrivals at ``rate_per_min``, plus work.

    Parameters
    ----------
    start : datetime | str
        Start time (ISO 8601, with time zone).
    rate_per_min : float
        Mean request arrivals per minute.
    seed : int
        Seed of the inter-arrival times.
    """

    simulated = True

    def __init__(self, start: datetime | str = "2026-11-20T09:00:00+00:00", *, rate_per_min: float = 4.0,
                 seed: int = 0):
        if isinstance(start, str):
            start = datetime.fromisoformat(start)
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        self._now = start.astimezone(timezone.utc)
        self.rate_per_min = rate_per_min
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def spend(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=max(0.0, float(seconds)))

    def request_gap(self) -> None:
        self.spend(self._rng.expovariate(self.rate_per_min / 60.0))


def make_clock(kind: str = "real", *, start: str | None = None, rate_per_min: float = 4.0, seed: int = 0) -> Clock:
    if kind == "simulated":
        return SimulatedClock(start or "2026-11-20T09:00:00+00:00", rate_per_min=rate_per_min, seed=seed)
    return RealClock()


def monotonic() -> float:
    return time.perf_counter()
