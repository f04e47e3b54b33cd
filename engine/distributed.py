"""``tts-engine batch --workers N`` / ``--scheduler ADDRESS``: a batch's audio made on Dask workers,
each with one warm engine; the client keeps every guarantee of :mod:`engine.batch`.

Who does what:

* the client (this process) holds the folder lock, reads the tasks, decides what is done already
  (fingerprints, resume), writes ``manifest.jsonl`` and ``failed.jsonl``: one writer, as before;
* a worker synthesizes a task with its engine (built once per worker process and kept warm, its
  logs in ``LOG_DIR/worker-<host>-<port>/``) and writes ``OUT/<name>.wav`` atomically (temp file,
  fsync, rename), so workers must see OUT at the same path (a shared folder);
* a task a dying worker was running is rerun by Dask on another worker (its WAV is rewritten whole,
  byte-identical: the engine is deterministic); the client appends the manifest entry when the
  result arrives, once, so every task ends exactly once: in the manifest or in failed.jsonl. A
  task whose workers keep dying (``distributed.scheduler.allowed-failures``) fails with that reason.

GPU workers: start them with ``dask worker ADDRESS --resources GPU=1`` and give ``--resources
GPU=1``: each task then holds one GPU slot, so a GPU worker runs one task at a time.
"""
from __future__ import annotations

import hashlib
import pickle
import re
from pathlib import Path
from typing import Any

from engine.batch import TaskError, Task, _Run, attempt
from engine.config import EngineConfig

__all__ = ["ClusterMaker", "make_on_worker"]

#: engines kept warm in this (worker) process, by configuration
_ENGINES: dict[str, Any] = {}


def _worker_log_dir(cfg: EngineConfig, worker: str) -> Path | None:
    if cfg.log_dir is None:
        return None
    return Path(cfg.log_dir) / ("worker-" + re.sub(r"[^A-Za-z0-9.]+", "-", worker.split("://")[-1]).strip("-"))


def _warm_engine(cfg: EngineConfig, worker: str) -> Any:
    """This worker's engine for ``cfg``, built on its first task (models load once per worker)."""
    key = hashlib.sha256(pickle.dumps(cfg)).hexdigest()
    engine = _ENGINES.get(key)
    if engine is None:
        from engine.synth import Engine

        engine = _ENGINES[key] = Engine(cfg.with_(log_dir=_worker_log_dir(cfg, worker)))
    return engine


def make_on_worker(task: Task, out: str, cfg: EngineConfig) -> tuple[dict[str, Any] | None, TaskError | None, str, float]:
    """One task on a Dask worker: ``(output, error, worker address, CPU seconds)``."""
    import time

    from ttsops.cluster import tune_worker_malloc, worker_name

    c0 = time.process_time()
    tune_worker_malloc()
    worker = worker_name()
    output, error = attempt(_warm_engine(cfg, worker), task, Path(out))
    return output, error, worker, time.process_time() - c0


class ClusterMaker:
    """Where :func:`engine.batch.run_batch` makes audio on a Dask cluster (``maker=``): at most
    ``window`` tasks in flight (default four a worker thread), results taken as they finish."""

    def __init__(self, run: _Run, client: Any, *, resources: dict[str, float] | None = None,
                 window: int | None = None):
        from distributed import as_completed

        from engine.logs import EngineLogs

        from ttsops.cluster import check_resources

        self.run, self.client = run, client
        self.resources = resources or None
        check_resources(client, self.resources)
        threads = max(1, sum(client.nthreads().values()))
        self.window = window or 4 * threads
        self.pending: dict[Any, tuple[Task, str, str]] = {}
        #: CPU seconds spent making audio, per worker
        self.cpu: dict[str, float] = {}
        self.done_iter = as_completed()
        cfg = run.cfg
        self.logs = EngineLogs(cfg.log_dir, stderr=cfg.log_stderr, inference_rotation=cfg.inference_rotation,
                               inference_retention=cfg.inference_retention)
        self.cfg = cfg
        self.logs.inference.bind(event="batch_cluster", workers=threads).info(
            f"Batch on a Dask cluster: {threads} worker thread(s) at {client.scheduler.address}"
            + (f", resources {self.resources}" if self.resources else ""))

    def submit(self, task: Task, fp: str, state: str) -> None:
        fut = self.client.submit(make_on_worker, task, str(self.run.out), self.cfg, pure=False,
                                 resources=self.resources, key=f"tts-task-{task.line}-{task.name}-{id(self):x}")
        self.pending[fut] = (task, fp, state)
        self.done_iter.add(fut)
        while len(self.pending) >= self.window:
            self._take()

    def _take(self) -> None:
        fut = next(self.done_iter)
        task, fp, state = self.pending.pop(fut)
        try:
            output, error, worker, cpu = fut.result()
            self.cpu[worker] = self.cpu.get(worker, 0.0) + cpu
        except Exception as exc:  # noqa: BLE001 - KilledWorker, a lost scheduler: this task fails, the run goes on
            output, error, worker = None, TaskError(f"line {task.line}: not made on the cluster: "
                                                    f"{type(exc).__name__}: {exc}"), None
        fut.release()
        self.run.made(task, fp, state, output, error, worker)

    def drain(self) -> None:
        while self.pending:
            self._take()

    def close(self) -> None:
        """Cancel what is still in flight (a run stopped by an error) and close the client's logs."""
        for fut in list(self.pending):
            fut.cancel()
        self.pending.clear()
        self.logs.close()
