"""tts-quality on a Dask cluster (``--workers N`` / ``--scheduler ADDRESS``): scoring and analysis of
audio files, and the synthesis of reference and candidate sets, as Dask tasks.

The commands open a client (:func:`ttsops.cluster.connect`) and run their library call inside
``with on_cluster(client):``; :func:`quality.score.run_parallel` and the set builders in
:mod:`quality.reference` then send their per-file work to the workers instead of a local process
pool. Nothing else changes: the same per-file function runs, results come back in input order, so
scores and verdicts are those of one process (a test checks them row by row).

* Each worker process warms its imports and models (pesq, pystoi, pyworld, DNSMOS, the speaker
  encoder) once, on its first task, and keeps BLAS at one thread, as the local pool's workers do.
* Synthesis tasks use one engine per worker process (per back-end), built on its first task and
  kept warm. Workers write WAV files where the client names them: give workers the same folders (a
  shared file system), as for ``tts-engine batch`` on a cluster.
* Items go in chunks (:func:`chunk_size`: up to 8 a task, ~16 tasks a worker thread), at most four
  tasks per worker thread in flight; a task whose worker died is retried by Dask on
  another, and one that keeps killing workers comes back as that pair's error row, not a crash.
* When done, one line per worker says what it did (``log``): items and CPU seconds.
"""
from __future__ import annotations

import contextlib
import contextvars
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

__all__ = ["ClusterRun", "on_cluster", "running_on", "current", "map_ordered", "chunk_size"]

_CURRENT: contextvars.ContextVar["ClusterRun | None"] = contextvars.ContextVar("ttsops_quality_cluster",
                                                                               default=None)


@dataclass
class ClusterRun:
    """The client this block's work goes to, and what each worker did (``tally``: worker address ->
    [items, CPU seconds] of the map in progress; ``history``: ``(label, tally)`` of each map done)."""

    client: Any
    log: Callable[[str], None] = lambda _line: None
    tally: dict[str, list[float]] = field(default_factory=dict)
    history: list[tuple[str, dict[str, list[float]]]] = field(default_factory=list)

    def account(self, worker: str, cpu: float, items: int = 1) -> None:
        t = self.tally.setdefault(worker, [0, 0.0])
        t[0] += items
        t[1] += cpu

    def summary_lines(self, label: str) -> list[str]:
        return [f"{label}: worker {w} did {int(n)} item(s), {cpu:.1f} s CPU" for w, (n, cpu) in sorted(self.tally.items())]


@contextlib.contextmanager
def on_cluster(client: Any, *, log: Callable[[str], None] | None = None) -> Iterator[ClusterRun]:
    """Within the block, tts-quality's per-file work runs on ``client``'s cluster."""
    run = ClusterRun(client, log or (lambda _line: None))
    token = _CURRENT.set(run)
    try:
        yield run
    finally:
        _CURRENT.reset(token)


@contextlib.contextmanager
def running_on(spec: Any, *, log: Callable[[str], None] | None = None) -> Iterator[ClusterRun | None]:
    """The commands' block: for a distributed :class:`ttsops.cluster.ClusterSpec`, a client (a
    LocalCluster started for the block, or the scheduler's) and :func:`on_cluster`; else nothing."""
    if not spec.distributed:
        yield None
        return
    from ttsops.cluster import connect  # noqa: PLC0415

    with connect(spec) as client, on_cluster(client, log=log) as run:
        if log is not None:
            log(f"tts-quality on {spec.describe()}: {sum(client.nthreads().values())} worker thread(s)")
        yield run


def current() -> ClusterRun | None:
    """The cluster of the enclosing :func:`on_cluster` block, or None (work stays in this process)."""
    return _CURRENT.get()


#: metric sets whose imports and models this (worker) process has warmed
_WARMED: set[tuple[str, ...]] = set()


def _warm(config: Any) -> None:
    key = tuple(sorted(config.metrics)) if config is not None else ()
    if key in _WARMED:
        return
    from quality.score import _warm_imports, _worker_init  # noqa: PLC0415

    if config is not None:
        _warm_imports(config)
    _worker_init()  # one BLAS thread (and one torch thread) in this worker, for its life
    _WARMED.add(key)


def _task(fn: Callable[[Any], Any], chunk: Sequence[Any], config: Any) -> tuple[str, list[Any], float]:
    """One task on a worker: ``(worker address, [fn(a) for a in chunk], CPU seconds)``."""
    from ttsops.cluster import tune_worker_malloc, worker_name  # noqa: PLC0415

    c0 = time.process_time()
    tune_worker_malloc()
    _warm(config)
    results = [fn(a) for a in chunk]
    return worker_name(), results, time.process_time() - c0


def chunk_size(n: int, threads: int) -> int:
    """Items a task: about 16 tasks a worker thread (balanced to within a task at the end), at most
    8 items, so the scheduler's few ms a task stay small beside a pair's ~0.1 s."""
    return max(1, min(8, n // (16 * max(1, threads))))


def map_ordered(fn: Callable[[Any], Any], args: Sequence[Any], run: ClusterRun, *, config: Any = None,
                advance: Callable[[], None] = lambda: None, lost: Callable[[Any, BaseException], Any],
                label: str = "tasks", window: int | None = None, chunk: int | None = None) -> list[Any]:
    """``[fn(a) for a in args]`` on the cluster, in input order, ``chunk`` items a task (default
    :func:`chunk_size`). ``fn`` must be importable by the workers (a module-level function);
    ``lost(a, exc)`` gives the result of an item the cluster could not run (its workers kept dying,
    the scheduler went away)."""
    from distributed import as_completed  # noqa: PLC0415

    client = run.client
    threads = max(1, sum(client.nthreads().values()))
    window = window or 4 * threads
    size = chunk or chunk_size(len(args), threads)
    out: list[Any] = [None] * len(args)
    pending: dict[Any, int] = {}
    done = as_completed()
    stamp = f"{id(args):x}-{time.monotonic_ns():x}"

    def take() -> None:
        fut = next(done)
        i = pending.pop(fut)
        items = args[i:i + size]
        try:
            worker, results, cpu = fut.result()
            run.account(worker, cpu, len(items))
        except Exception as exc:  # noqa: BLE001 - KilledWorker, a lost scheduler: these items' errors, the rest goes on
            results = [lost(a, exc) for a in items]
        fut.release()
        out[i:i + len(items)] = results
        for _ in items:
            advance()

    for i in range(0, len(args), size):
        fut = client.submit(_task, fn, list(args[i:i + size]), config, pure=False,
                            key=f"tts-quality-{label}-{i}-{stamp}")
        pending[fut] = i
        done.add(fut)
        while len(pending) >= window:
            take()
    while pending:
        take()
    for line in run.summary_lines(label):
        run.log(line)
    run.history.append((label, run.tally))
    run.tally = {}
    return out
