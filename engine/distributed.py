"""``tts-engine batch --workers N`` / ``--scheduler ADDRESS``: a batch's audio made on Dask workers,
each with one warm engine; the client keeps every guarantee of :mod:`engine.batch`.

Who does what:

* the client (this process) holds the folder lock, reads the tasks, decides what is done already
  (fingerprints, resume), writes ``manifest.jsonl`` and ``failed.jsonl``: one writer, as before;
* a worker synthesizes a task with its engine (built once per worker process and kept warm, its
  logs in ``LOG_DIR/worker-<host>-<port>/``) and writes ``OUT/<name>.wav`` atomically (temp file,
  fsync, rename), so workers must see OUT at the same path (a shared folder);
* tasks go in chunks sized from a task's measured cost (short eSpeak tasks up to 8 together, long
  neural ones alone), so the scheduler's few ms a task do not eat the workers' time;
* a chunk a dying worker was running is rerun by Dask on another worker (its WAVs are rewritten
  whole, byte-identical: the engine is deterministic); the client appends the manifest entries when
  the result arrives, once, so every task ends exactly once: in the manifest or in failed.jsonl. A
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

__all__ = ["ClusterMaker", "make_on_worker", "warm_engine"]

#: engines kept warm in this (worker) process, by configuration
_ENGINES: dict[str, Any] = {}


def _worker_log_dir(cfg: EngineConfig, worker: str) -> Path | None:
    if cfg.log_dir is None:
        return None
    return Path(cfg.log_dir) / ("worker-" + re.sub(r"[^A-Za-z0-9.]+", "-", worker.split("://")[-1]).strip("-"))


def warm_engine(cfg: EngineConfig, worker: str, purpose: str = "") -> Any:
    """This worker's engine for ``cfg`` (and ``purpose``: a caller that needs an engine of its own,
    e.g. tts-quality's fresh re-synthesis, names one), built on its first task: models load once
    per worker."""
    key = hashlib.sha256(pickle.dumps((cfg, purpose))).hexdigest()
    engine = _ENGINES.get(key)
    if engine is None:
        from engine.synth import Engine

        engine = _ENGINES[key] = Engine(cfg.with_(log_dir=_worker_log_dir(cfg, worker)))
    return engine


def make_on_worker(tasks: list[Task], out: str, cfg: EngineConfig) -> list[tuple[dict[str, Any] | None, TaskError | None, str, float]]:
    """A chunk of tasks on a Dask worker: per task ``(output, error, worker address, CPU seconds)``."""
    import time

    from ttsops.cluster import tune_worker_malloc, worker_name

    tune_worker_malloc()
    worker = worker_name()
    engine = warm_engine(cfg, worker)
    done = []
    for task in tasks:
        c0 = time.process_time()
        output, error = attempt(engine, task, Path(out))
        done.append((output, error, worker, time.process_time() - c0))
    return done


#: tasks a chunk: enough that a chunk's work is ~TARGET_CHUNK_S (the scheduler's few ms a task are
#: then small beside it), never more than MAX_CHUNK (the end of the run stays balanced)
TARGET_CHUNK_S = 0.1
MAX_CHUNK = 8


class ClusterMaker:
    """Where :func:`engine.batch.run_batch` makes audio on a Dask cluster (``maker=``): tasks go in
    chunks sized from the measured cost of a task (one at a time until a result says; short tasks,
    such as eSpeak's ~20 ms, up to :data:`MAX_CHUNK` together, seconds-long neural ones alone), at
    most ``window`` chunks in flight (default four a worker thread), results taken as they finish."""

    def __init__(self, run: _Run, client: Any, *, resources: dict[str, float] | None = None,
                 window: int | None = None, chunk: int | None = None):
        from distributed import as_completed

        from engine.logs import EngineLogs

        from ttsops.cluster import check_resources

        self.run, self.client = run, client
        self.resources = resources or None
        check_resources(client, self.resources)
        threads = max(1, sum(client.nthreads().values()))
        self.window = window or 4 * threads
        self.fixed_chunk = chunk
        self.pending: dict[Any, list[tuple[Task, str, str]]] = {}
        self.buffer: list[tuple[Task, str, str]] = []
        #: CPU seconds spent making audio, per worker
        self.cpu: dict[str, float] = {}
        self.tasks_done = 0
        self.done_iter = as_completed()
        cfg = run.cfg
        self.logs = EngineLogs(cfg.log_dir, stderr=cfg.log_stderr, inference_rotation=cfg.inference_rotation,
                               inference_retention=cfg.inference_retention)
        self.cfg = cfg
        self.logs.inference.bind(event="batch_cluster", workers=threads).info(
            f"Batch on a Dask cluster: {threads} worker thread(s) at {client.scheduler.address}"
            + (f", resources {self.resources}" if self.resources else ""))

    def chunk_size(self) -> int:
        if self.fixed_chunk:
            return self.fixed_chunk
        if not self.tasks_done:
            return 1
        per_task = sum(self.cpu.values()) / self.tasks_done
        return max(1, min(MAX_CHUNK, int(TARGET_CHUNK_S / max(per_task, 1e-6))))

    def submit(self, task: Task, fp: str, state: str) -> None:
        self.buffer.append((task, fp, state))
        if len(self.buffer) >= self.chunk_size():
            self._send()
        while len(self.pending) >= self.window:
            self._take()

    def _send(self) -> None:
        if not self.buffer:
            return
        chunk, self.buffer = self.buffer, []
        first = chunk[0][0]
        fut = self.client.submit(make_on_worker, [t for t, _fp, _st in chunk], str(self.run.out), self.cfg,
                                 pure=False, resources=self.resources,
                                 key=f"tts-task-{first.line}-{first.name}-{len(chunk)}-{id(self):x}")
        self.pending[fut] = chunk
        self.done_iter.add(fut)

    def _take(self) -> None:
        fut = next(self.done_iter)
        chunk = self.pending.pop(fut)
        try:
            results = fut.result()
        except Exception as exc:  # noqa: BLE001 - KilledWorker, a lost scheduler: these tasks fail, the run goes on
            results = [(None, TaskError(f"line {task.line}: not made on the cluster: {type(exc).__name__}: {exc}"),
                        None, 0.0) for task, _fp, _st in chunk]
        fut.release()
        for (task, fp, state), (output, error, worker, cpu) in zip(chunk, results):
            if worker is not None:
                self.cpu[worker] = self.cpu.get(worker, 0.0) + cpu
                self.tasks_done += 1
            self.run.made(task, fp, state, output, error, worker)

    def drain(self) -> None:
        self._send()
        while self.pending:
            self._take()

    def close(self) -> None:
        """Cancel what is still in flight (a run stopped by an error) and close the client's logs."""
        for fut in list(self.pending):
            fut.cancel()
        self.pending.clear()
        self.buffer.clear()
        self.logs.close()
