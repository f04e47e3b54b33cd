"""Batch synthesis from a JSONL task file (:mod:`engine.tasks`): task isolation, atomic outputs,
manifest, failed.jsonl, resume, one runner per folder.

Input: one JSON object a line (blank lines are skipped)::

    {"input_text": "你好", "name": "greeting", "speaker": "zh_female_1", "emotion": "happy",
     "duration_ratio": 1.0, "prompt_audio": "refs/a.wav", "backend": "espeak", "seed": 0}

GLM-TTS batch files are read as they are (``output_name``, ``prompt_text``, ``sample_rate``: see
:data:`engine.tasks.FIELD_MAP`). A bad line fails that task only.

Output folder::

    OUT/<name>.wav        16-bit WAV, written to a temp file, fsync'd, then renamed (never truncated)
    OUT/manifest.jsonl    one line per finished task: name, path, sha256, duration, sample_rate,
                          line, request_id, params, fingerprint, source; appended and fsync'd after
                          its WAV is in place
    OUT/failed.jsonl      the lines of the tasks that failed, to feed back as a retry batch; a line
                          without a name gets the name the task had (``"name": "task-5"``), so the
                          retry of line 5 writes task-5.wav, whatever its line in failed.jsonl
    OUT/.batch.lock       held (flock) while a run writes the folder: a second run refuses

Resume (default): a task is skipped when its manifest entry has the same *fingerprint* (a sha256 of
its text and every setting that changes the audio, prompt audio content included) and its WAV the
recorded sha256. A task changed under the same name is made again. An unnamed task whose default
name is taken by a different finished task of *another* tasks file (a hand-fixed line of
failed.jsonl) fails with a message instead of overwriting it. A WAV without a manifest entry
(killed between rename and append) is made again (byte-identical, the engine is deterministic).
A SIGKILL at any point therefore never loses, duplicates or truncates an output.

A full or read-only output folder stops the run: the finished tasks stay in the manifest, the
failed and not-yet-run ones go to failed.jsonl (when it can still be written), and the error is
one line with exit 2.
"""
from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from engine.config import EngineConfig
from engine.tasks import (FIELD_MAP, MAX_LINE_BYTES, NAME_RE, TASK_FIELDS, Task, iter_tasks, retry_line, sha256_file,
                          task_fingerprint)
from ttsops.errors import InputError, TtsopsError

__all__ = ["Task", "BatchSummary", "iter_tasks", "run_batch", "MAX_LINE_BYTES", "TASK_FIELDS", "FIELD_MAP",
           "task_fingerprint", "TaskError", "make_output", "attempt"]


def _line_error(line: int, message: str, fix: str | None = None) -> InputError:
    return InputError(message, where=f"line {line}", fix=fix)


@dataclass
class BatchSummary:
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    resumed: int = 0
    redone: int = 0          #: tasks changed since the manifest entry under their name, made again
    not_run: int = 0         #: tasks left when a storage error stopped the run
    out_dir: Path = Path(".")
    manifest: Path = Path("manifest.jsonl")
    failed_path: Path = Path("failed.jsonl")
    failures: list[tuple[int, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def _load_manifest(path: Path, out_dir: Path) -> dict[str, dict[str, Any]]:
    """Valid manifest entries by name whose WAV exists with the recorded sha256; the file is
    rewritten atomically with exactly those (drops a line cut by a kill, duplicates, stale ones)."""
    entries: dict[str, dict[str, Any]] = {}
    if path.exists():
        with open(path, "rb") as fh:
            for raw in fh:
                try:
                    e = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                    continue
                if isinstance(e, dict) and isinstance(e.get("name"), str) and isinstance(e.get("sha256"), str) \
                        and NAME_RE.match(e["name"]):
                    entries[e["name"]] = e
    valid = {}
    for name, e in entries.items():
        wav = out_dir / f"{name}.wav"
        if wav.is_file() and not wav.is_symlink() and sha256_file(wav) == e["sha256"]:
            valid[name] = e
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for e in valid.values():
            fh.write(json.dumps(e, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return valid


def _append_line(fh: Any, obj: dict[str, Any]) -> None:
    fh.write((json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8"))
    fh.flush()
    os.fsync(fh.fileno())


class _FolderLock:
    """``OUT/.batch.lock`` held with ``flock`` for the run (released by the kernel if we die)."""

    def __init__(self, out: Path, tasks: Path):
        self.path = out / ".batch.lock"
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(self.fd)
            raise InputError(f"output folder is in use by another batch run ({holder})", where=str(out),
                             fix="wait for it to finish, or give another --out") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"pid {os.getpid()}, tasks {tasks}, since {time.strftime('%Y-%m-%d %H:%M:%S')}"
                  .encode("utf-8"), 0)

    def release(self) -> None:
        os.close(self.fd)   # closing drops the flock; the file stays (unlinking it would race)


_STORAGE_FIX = "free space or make the folder writable, then rerun the same command (finished tasks are skipped)"


def _storage_error(exc: OSError, out: Path, what: str) -> InputError:
    return InputError(f"cannot write {what}: {exc.strerror or exc}", where=str(out), fix=_STORAGE_FIX)


def run_batch(tasks_path: str | Path, out_dir: str | Path, *, config: EngineConfig | None = None,
              resume: bool = True, engine: Any = None, prompt_root: str | Path | None = None,
              progress: bool = False, echo: Callable[[str], None] | None = None,
              maker: Callable[["_Run"], Any] | None = None) -> BatchSummary:
    """Run every task of ``tasks_path`` into ``out_dir``; see the module doc.

    Parameters
    ----------
    config : EngineConfig
        Engine settings (log_dir, seed, inject...). A task without ``seed`` uses ``config.seed``.
    resume : bool
        Skip tasks already in the manifest with the same fingerprint and an intact WAV (default).
        ``False`` redoes everything.
    engine : Engine, optional
        An engine to use (otherwise one is built from ``config`` and closed at the end).
    prompt_root : path, optional
        Folder relative prompt audio paths are resolved against and must stay under (default: the
        tasks file's folder; give the original folder when re-running ``failed.jsonl``).
    progress : bool
        Show a rich progress bar on stderr.
    echo : callable, optional
        Where the ``[✓]``/``[✗]`` lines and the final line are printed (default: nothing extra).
    maker : callable, optional
        ``maker(run)`` -> where the audio is made: by default here, one task at a time, by the
        run's engine; :class:`engine.distributed.ClusterMaker` sends tasks to Dask workers (this
        process still owns the folder lock, the manifest and failed.jsonl).

    Raises
    ------
    InputError
        The tasks file is unusable, another run holds the folder, or the folder cannot be written
        (full, read-only); after a run has started, the summary so far is the error's ``summary``.
    """
    cfg = config or EngineConfig()
    tasks_path = Path(tasks_path)
    out = Path(out_dir)
    # fail on an unusable input file before creating anything
    stream = iter_tasks(tasks_path, prompt_root=prompt_root)
    first = next(stream, None)
    if first is None:
        raise InputError("no tasks (the file is empty or has only blank lines)", where=str(tasks_path),
                         fix="one JSON object per line with at least input_text")
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = _FolderLock(out, tasks_path)
    except OSError as exc:
        raise _storage_error(exc, out, "the output folder") from None
    try:
        return _Run(cfg, tasks_path, out, resume, engine, echo, maker).run(_chain(first, stream), progress)
    finally:
        lock.release()


class _Run:
    """One locked run over an output folder (the body of :func:`run_batch`)."""

    def __init__(self, cfg: EngineConfig, tasks_path: Path, out: Path, resume: bool, engine: Any,
                 echo: Callable[[str], None] | None, maker: Callable[["_Run"], Any] | None = None):
        self.cfg, self.tasks_path, self.out, self.resume, self.engine = cfg, tasks_path, out, resume, engine
        self.make_maker = maker or _LocalMaker
        self.source = str(tasks_path.resolve())
        self.summary = BatchSummary(out_dir=out, manifest=out / "manifest.jsonl", failed_path=out / "failed.jsonl")
        self.say = echo or (lambda _s: None)
        self.bar: Any = None
        self.stop: InputError | None = None      # set by the first failed write into the folder
        self.failed_fh: Any = None
        self.failed_ok = True
        self.done: dict[str, dict[str, Any]] = {}

    def _open(self) -> tuple[dict[str, dict[str, Any]], Any]:
        """Clear stale temp files, load (or reset) the manifest, open it and failed.jsonl.tmp."""
        s = self.summary
        try:
            self._clear_temps()
            if self.resume:
                done = _load_manifest(s.manifest, self.out)
            else:
                done = {}
                s.manifest.unlink(missing_ok=True)
            manifest_fh = open(s.manifest, "ab")
            self.failed_fh = open(s.failed_path.with_name("failed.jsonl.tmp"), "wb")
        except OSError as exc:
            raise _storage_error(exc, self.out, "the manifest") from None
        return done, manifest_fh

    def _clear_temps(self) -> None:
        """Remove the temp files of WAVs whose writer was killed (never visible as outputs)."""
        for stale in self.out.glob(".*.wav.tmp"):
            stale.unlink(missing_ok=True)

    def run(self, items: Iterator[tuple[int, Any]], progress: bool) -> BatchSummary:
        self.maker = self.make_maker(self)
        try:
            return self._run(items, progress)
        finally:
            self.maker.close()

    def _run(self, items: Iterator[tuple[int, Any]], progress: bool) -> BatchSummary:
        s = self.summary
        done, manifest_fh = self._open()
        self.done = done
        self.manifest_fh = manifest_fh
        failed_tmp = Path(self.failed_fh.name)
        self.log = self.maker.logs.inference.bind(event="batch", tasks_file=str(self.tasks_path))
        seen: set[str] = set()
        if progress:
            self._start_bar()
        self.log.info(f"Batch started: {self.tasks_path} -> {self.out} (resume={'on' if self.resume else 'off'}, "
                      f"{len(done)} finished before)")
        try:
            with manifest_fh, self.failed_fh:
                for line, item in items:
                    s.total += 1
                    if isinstance(item, Task) and item.name in seen:
                        raw_dup = item.raw
                        item = _line_error(line, f"duplicate task name {item.name!r}", "names must be unique")
                        item.raw = raw_dup  # type: ignore[attr-defined]
                    if self.stop is not None:           # the folder refused a write: keep the rest for the retry
                        s.not_run += 1
                        self._keep(item.raw if isinstance(item, Task) else getattr(item, "raw", b""), line)
                    elif isinstance(item, InputError):
                        self._fail(line, item.one_line(), getattr(item, "raw", b"") or b"")
                    else:
                        seen.add(item.name)
                        if self._task(item, done):
                            continue  # handed to the maker: the bar moves when it is made
                    if self.bar is not None:
                        self.bar.update(self.bar_task, advance=1)
                self.maker.drain()
                try:
                    self._clear_temps()   # nothing writes now: a worker killed mid-write left its temp file
                except OSError:
                    pass                  # a read-only folder: the next run clears them
                self._finish_failed()
            if self.failed_ok:
                os.replace(failed_tmp, s.failed_path)
        finally:
            if self.bar is not None:
                self.bar.stop()
            failed_tmp.unlink(missing_ok=True)
            final = self._final_line()
            self.log.bind(event="batch_completed", total=s.total, succeeded=s.succeeded, failed=s.failed,
                          resumed=s.resumed, not_run=s.not_run).info(final)
        self.say(final)
        if self.stop is not None:
            left = "failed.jsonl lists the other tasks" if self.failed_ok else "failed.jsonl could not be updated"
            self.stop.message += f"; {s.succeeded} task(s) done are in manifest.jsonl, {left}"
            self.stop.summary = s  # type: ignore[attr-defined]
            raise self.stop
        return s

    def _final_line(self) -> str:
        s = self.summary
        if self.stop is not None:
            return f"Batch stopped: {s.succeeded}/{s.total} tasks succeeded, {s.failed} failed, {s.not_run} not run"
        extra = f" ({s.resumed} resumed from an earlier run)" if s.resumed else ""
        return f"Batch completed: {s.succeeded}/{s.total} tasks succeeded" + extra

    def _keep(self, raw: bytes, line: int) -> None:
        """Append a line to failed.jsonl.tmp; a refused write leaves the old failed.jsonl in place."""
        if not raw or not self.failed_ok:
            return
        holder = self.done.get(f"task-{line}")       # the default name must not point at another file's task
        may_name = holder is None or holder.get("source") == self.source
        try:
            self.failed_fh.write(retry_line(raw.rstrip(b"\r\n"), line, may_name=may_name) + b"\n")
        except OSError as exc:
            self._failed_broken(exc)

    def _finish_failed(self) -> None:
        if self.failed_ok:
            try:
                self.failed_fh.flush()
                os.fsync(self.failed_fh.fileno())
            except OSError as exc:
                self._failed_broken(exc)

    def _failed_broken(self, exc: OSError) -> None:
        self.failed_ok = False
        if self.stop is None:
            self.stop = _storage_error(exc, self.out, "failed.jsonl")

    def _start_bar(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        self.bar = Progress(TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            transient=True, console=_stderr_console())
        self.bar.start()
        self.bar_task = self.bar.add_task("batch", total=None)

    def report(self, line: str) -> None:
        if self.bar is not None:
            self.bar.console.print(line, markup=False, highlight=False)
        else:
            self.say(line)

    def _resumable(self, task: Task, entry: dict[str, Any] | None, fp: str) -> str:
        """``"new"``, ``"done"`` (skip), ``"changed"`` (redo) or ``"taken"`` (refuse: the default
        name of an unnamed task holds a different task of another tasks file)."""
        if entry is None:
            return "new"
        if entry.get("fingerprint") == fp:
            return "done"
        if not task.named and entry.get("source") != self.source:
            return "taken"
        return "changed"

    def _task(self, task: Task, done: dict[str, dict[str, Any]]) -> bool:
        """Skip, refuse or hand the task to the maker (``True``)."""
        s, line = self.summary, task.line
        try:
            fp = task_fingerprint(task, self.cfg)
        except OSError as exc:   # the prompt audio vanished or cannot be read
            self._fail(line, f"line {line}: cannot read prompt audio: {exc.strerror or exc}", task.raw)
            return False
        entry = done.get(task.name)
        state = self._resumable(task, entry, fp)
        if state == "done":
            s.succeeded += 1
            s.resumed += 1
            self.log.bind(event="batch_task", task=line, name=task.name, status="resumed").info(
                f"[✓] Task {line} succeeded: {task.name} (already done)")
            return False
        if state == "taken":
            src = f"{entry.get('source') or 'an earlier run'} line {entry.get('line')}" if entry else ""
            self._fail(line, f"line {line}: default name {task.name!r} already holds a different finished "
                       f"task ({src}); not overwritten (fix: give this task a \"name\")", task.raw)
            return False
        self.maker.submit(task, fp, state)
        return True

    def made(self, task: Task, fp: str, state: str, output: dict[str, Any] | None, error: "TaskError | None",
             worker: str | None = None) -> None:
        """A task's audio is made (``output``: its WAV, in place) or failed (``error``): its manifest
        entry or failure, in this process only (``worker``: who made it, for the log)."""
        from engine.synth import OutputError

        s, line = self.summary, task.line
        if self.bar is not None:
            self.bar.update(self.bar_task, advance=1)
        if error is None:
            assert output is not None
            try:
                _append_line(self.manifest_fh, {
                    "name": task.name, "path": output["path"], "sha256": output["sha256"],
                    "duration": output["duration"], "sample_rate": output["sample_rate"], "line": line,
                    "request_id": output["request_id"], "params": task.params(), "fingerprint": fp,
                    "source": self.source})
            except OSError as exc:   # the WAV without its entry is made again on resume
                error = TaskError.of(task, OutputError(f"cannot write the manifest: {exc.strerror or exc}",
                                                       where=str(s.manifest), errno=exc.errno))
        if error is not None:
            self._fail(line, error.reason, task.raw, worker)
            if error.errno is not None and self.stop is None:
                # the system refused (full, read-only): every later write would too
                self.stop = InputError(f"{error.message.removeprefix('cannot write the WAV: ')} writing "
                                       f"{Path(error.where or '').name}", where=str(self.out), fix=_STORAGE_FIX)
            return
        s.succeeded += 1
        s.redone += state == "changed"
        how = " (changed since the last run: made again)" if state == "changed" else ""
        by = f" on {worker}" if worker else ""
        log = self.log.bind(event="batch_task", task=line, name=task.name, status="succeeded",
                            request_id=output["request_id"])
        (log.bind(worker=worker) if worker else log).info(f"[✓] Task {line} succeeded: {task.name}{how}{by}")
        self.report(f"[✓] Task {line} succeeded: {task.name}{how}{by}")

    def _fail(self, line: int, reason: str, raw: bytes, worker: str | None = None) -> None:
        s = self.summary
        s.failed += 1
        s.failures.append((line, reason))
        msg = f"[✗] Task {line} failed: {reason}" + (f" (on {worker})" if worker else "")
        log = self.log.bind(event="batch_task", task=line, status="failed", reason=reason)
        (log.bind(worker=worker) if worker else log).error(msg)
        self.report(msg)
        self._keep(raw, line)


@dataclass
class TaskError:
    """Why a task's audio was not made, as plain data (it crosses from a Dask worker): ``reason``
    is the failure line; ``errno`` is set when the system refused a write (full, read-only)."""

    reason: str
    message: str = ""
    where: str | None = None
    errno: int | None = None

    @classmethod
    def of(cls, task: Task, exc: TtsopsError) -> "TaskError":
        from engine.synth import OutputError

        if isinstance(exc, OutputError):
            return cls(f"line {task.line}: {exc.one_line()}", exc.message, exc.where, exc.errno)
        return cls(exc.one_line(), exc.message, exc.where)


def make_output(engine: Any, task: Task, out: Path) -> dict[str, Any]:
    """Synthesize ``task`` and write ``OUT/<name>.wav`` atomically (wherever ``engine`` runs):
    what its manifest entry records about the audio."""
    from engine.synth import SynthRequest, write_wav_output

    res = engine.synthesize(SynthRequest(
        text=task.input_text, speaker=task.speaker, emotion=task.emotion,
        duration_ratio=task.duration_ratio, seed=task.seed, backend=task.backend,
        ref_audio=task.prompt_audio, temperature=task.temperature))
    audio, rate = res.audio, res.sample_rate
    if task.sample_rate is not None and task.sample_rate != rate:
        audio, rate = _resample(audio, rate, task.sample_rate), task.sample_rate
    wav = write_wav_output(out / f"{task.name}.wav", audio, rate, special_ok=False)
    return {"path": wav.name, "sha256": sha256_file(wav), "duration": round(len(audio) / rate, 4),
            "sample_rate": rate, "request_id": res.request_id}


def attempt(engine: Any, task: Task, out: Path) -> tuple[dict[str, Any] | None, TaskError | None]:
    """:func:`make_output`, its failure as a :class:`TaskError` (one task never stops the others)."""
    try:
        return make_output(engine, task, out), None
    except TtsopsError as exc:
        return None, TaskError.of(task, exc)


class _LocalMaker:
    """Tasks made here, one at a time, by the run's engine (built and closed here unless given)."""

    def __init__(self, run: _Run):
        self.run = run
        self.own = run.engine is None
        if self.own:
            from engine.synth import Engine
            run.engine = Engine(run.cfg)
        self.logs = run.engine.logs

    def submit(self, task: Task, fp: str, state: str) -> None:
        self.run.made(task, fp, state, *attempt(self.run.engine, task, self.run.out))

    def drain(self) -> None:
        """Nothing is in flight here."""

    def close(self) -> None:
        if self.own:
            self.run.engine.close()


def _resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling (scipy), for a task's ``sample_rate``."""
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(rate), int(target))
    y = resample_poly(np.asarray(audio, dtype=np.float64), target // g, rate // g)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def _chain(first: tuple[int, Any], rest: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    yield first
    yield from rest


def _stderr_console():  # noqa: ANN202
    from rich.console import Console
    return Console(file=sys.stderr)
