"""Where the work runs: in this process (default), a Dask ``LocalCluster`` of N processes
(``--workers N``) or an existing Dask cluster (``--scheduler ADDRESS`` / ``TTSOPS_DASK_SCHEDULER``).

One helper for every command (``tts-analyze``, ``tts-engine batch``, ``tts-quality``): the click
options (:func:`cluster_options`), the choice (:class:`ClusterSpec`) and the client
(:func:`connect`). Dask is an optional extra (``pip install 'ttsops[dask]'``) imported only here,
and only when one of the options is given, so the single-process path never loads it.

>>> spec = ClusterSpec(workers=2)                          # doctest: +SKIP
>>> with connect(spec) as client:                          # doctest: +SKIP
...     client.submit(sum, [1, 2]).result()
3
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import click

from ttsops.errors import ConfigError

__all__ = ["ClusterSpec", "cluster_options", "connect", "check_resources", "worker_name", "parse_resources",
           "ENV_SCHEDULER", "INSTALL_HINT", "tune_worker_malloc"]

ENV_SCHEDULER = "TTSOPS_DASK_SCHEDULER"
INSTALL_HINT = "pip install 'ttsops[dask]'"


@dataclass(frozen=True)
class ClusterSpec:
    """``scheduler``: address of a running Dask scheduler (``tcp://host:8786``); ``workers``: size
    of a LocalCluster started for the run (one single-threaded process each); ``resources``: Dask
    resources each LocalCluster worker offers (``{"GPU": 1}``). Neither address nor size: in-process."""

    scheduler: str | None = None
    workers: int | None = None
    resources: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.scheduler and self.workers:
            raise ConfigError("--scheduler and --workers both given", where="--workers",
                              fix="--scheduler ADDRESS uses a running cluster; --workers N starts one here: give one")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--workers {self.workers} must be >= 1", where="--workers")
        if self.resources and not self.distributed:
            raise ConfigError("--resources needs --workers N or --scheduler ADDRESS", where="--resources")

    @property
    def distributed(self) -> bool:
        return bool(self.scheduler) or self.workers is not None

    def describe(self) -> str:
        if self.scheduler:
            return f"Dask scheduler {self.scheduler}"
        if self.workers is not None:
            return f"LocalCluster of {self.workers} worker process(es)"
        return "one process"


def parse_resources(text: str | None) -> tuple[tuple[str, float], ...]:
    """``"GPU=1,MEM=2"`` -> ``(("GPU", 1.0), ("MEM", 2.0))`` (Dask's ``--resources`` syntax)."""
    if not text:
        return ()
    out = []
    for part in text.replace(" ", ",").split(","):
        if not part:
            continue
        name, sep, value = part.partition("=")
        try:
            amount = float(value)
        except ValueError:
            amount = -1.0
        if not sep or not name or amount <= 0:
            raise ConfigError(f"bad resource {part!r}", where="--resources", fix="NAME=AMOUNT, e.g. GPU=1")
        out.append((name, amount))
    return tuple(out)


def cluster_options(*, resources: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--scheduler``/``--workers`` (and ``--resources`` where tasks can ask for them) on a click
    command; the command receives one ``cluster: ClusterSpec`` argument instead."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        import functools

        @functools.wraps(f)
        def wrapper(*args: Any, scheduler: str | None, workers: int | None, **kw: Any) -> Any:
            res = parse_resources(kw.pop("resources", None))
            return f(*args, cluster=ClusterSpec(scheduler=scheduler or None, workers=workers, resources=res), **kw)

        if resources:
            wrapper = click.option(
                "--resources", default=None, metavar="NAME=N",
                help="Dask resources each task needs (e.g. GPU=1: only workers started with "
                     "'dask worker ... --resources GPU=1' take them; with --workers each local worker has them).")(wrapper)
        wrapper = click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
                               help="Run on a Dask LocalCluster of N worker processes (needs the dask extra).")(wrapper)
        wrapper = click.option("--scheduler", envvar=ENV_SCHEDULER, default=None, metavar="ADDRESS",
                               help=f"Run on an existing Dask cluster, e.g. tcp://host:8786 (also ${ENV_SCHEDULER}).")(wrapper)
        return wrapper

    return decorate


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError(f"--scheduler/--workers need Dask, which is not installed ({exc.name})",
                          fix=INSTALL_HINT) from None
    return distributed


@contextlib.contextmanager
def connect(spec: ClusterSpec) -> Iterator[Any]:
    """A ``distributed.Client`` for ``spec`` (a LocalCluster started and stopped around the block)."""
    distributed = _import_distributed()
    if spec.scheduler:
        try:
            client = distributed.Client(spec.scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler {spec.scheduler}: {exc}", where="--scheduler",
                              fix="start one with 'dask scheduler' and workers with 'dask worker ADDRESS'") from None
        with client:
            yield client
        return
    import dask

    # one single-threaded process per worker: the work is pure Python (the GIL), memory per worker
    # stays that of its task; everything (scheduler, dashboard on a free port) on 127.0.0.1
    with dask.config.set({"distributed.admin.tick.limit": "30s"}):  # no "event loop unresponsive" noise under load
        cluster = distributed.LocalCluster(n_workers=spec.workers, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                           resources=dict(spec.resources) or None,
                                           silence_logs=50)
        try:
            with distributed.Client(cluster) as client:
                yield client
        finally:
            cluster.close()


def check_resources(client: Any, resources: dict[str, float] | None) -> None:
    """Fail at once, instead of waiting forever, when no worker offers ``resources``."""
    if not resources:
        return
    workers = client.scheduler_info().get("workers", {}).values()
    if not any(all(w.get("resources", {}).get(k, 0) >= v for k, v in resources.items()) for w in workers):
        need = ",".join(f"{k}={v:g}" for k, v in resources.items())
        raise ConfigError(f"no worker of the cluster offers {need}", where="--resources",
                          fix=f"start workers with 'dask worker ADDRESS --resources {need}', or drop --resources")


_MALLOC_TUNED = False


def tune_worker_malloc() -> None:
    """Called by each of our tasks on a worker (once per process does the work).

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (to hand freed memory back to
    the OS). Setting that also pins glibc's mmap threshold at 128 KiB, so every numpy array above it
    is a fresh ``mmap`` with page faults and a ``munmap`` when freed: measured here, allocating and
    summing a 1.6 MB array 12x slower in a worker than in a plain process, and audio scoring and
    synthesis (many such temporaries) 1.4-2x slower. This puts the mmap threshold back at 32 MiB
    (glibc's own ceiling) and trims only past 64 MiB free; memory per worker stays bounded by its
    task. glibc (Linux) only: elsewhere nothing happens."""
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 64 << 20)


def worker_name() -> str:
    """The address of the Dask worker running the calling task (``"local"`` outside a worker)."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "local"
