"""Batch synthesis from a JSONL file: task isolation, atomic outputs, manifest, failed.jsonl, resume.

Input: one JSON object a line (blank lines are skipped)::

    {"input_text": "你好", "name": "greeting", "speaker": "zh_female_1", "emotion": "happy",
     "duration_ratio": 1.0, "prompt_audio": "refs/a.wav", "backend": "espeak", "seed": 0}

GLM-TTS batch files are read as they are: ``output_name`` is ``name``, ``prompt_text`` (the
transcript of the prompt audio) is kept in the manifest, ``sample_rate`` resamples that task's WAV
(:data:`FIELD_MAP` is the one table of accepted keys). Only ``input_text`` is required; ``name``
defaults to ``task-<N>`` (N = line number). A bad line (not UTF-8, not JSON, not an object, an
unknown key, a missing or wrong field, an unknown speaker/emotion/backend, prompt audio missing or
outside the tasks file's folder) fails that task only.

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
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from engine.config import EngineConfig
from ttsops.errors import InputError, TtsopsError

__all__ = ["Task", "BatchSummary", "iter_tasks", "run_batch", "MAX_LINE_BYTES", "TASK_FIELDS", "FIELD_MAP",
           "task_fingerprint"]

MAX_LINE_BYTES = 1_000_000
#: every accepted task key -> the :class:`Task` attribute it sets: ours and GLM-TTS's names, one table
FIELD_MAP: dict[str, str] = {
    "input_text": "input_text",
    "name": "name", "output_name": "name",        # GLM-TTS: output_name
    "speaker": "speaker",
    "emotion": "emotion",
    "duration_ratio": "duration_ratio",
    "prompt_audio": "prompt_audio",
    "prompt_text": "prompt_text",                 # GLM-TTS: the prompt audio's transcript
    "backend": "backend",
    "seed": "seed",
    "sample_rate": "sample_rate",                 # GLM-TTS: output sample rate of this task
}
TASK_FIELDS = tuple(FIELD_MAP)
SAMPLE_RATE_RANGE = (8000, 96000)
_NAME_RE = re.compile(r"^[A-Za-z0-9\u4e00-\u9fff][A-Za-z0-9_.\-\u4e00-\u9fff]{0,127}$")


@dataclass
class Task:
    line: int
    name: str
    input_text: str
    speaker: str | None = None
    emotion: str | None = None
    duration_ratio: float = 1.0
    prompt_audio: Path | None = None
    backend: str | None = None
    seed: int | None = None
    raw: bytes = b""
    prompt_text: str | None = None
    sample_rate: int | None = None
    named: bool = True      #: False: ``name`` is the default ``task-<line>``

    def params(self) -> dict[str, Any]:
        return {"speaker": self.speaker, "emotion": self.emotion or "neutral", "duration_ratio": self.duration_ratio,
                "prompt_audio": str(self.prompt_audio) if self.prompt_audio else None, "backend": self.backend,
                "seed": self.seed, "sample_rate": self.sample_rate, "prompt_text": self.prompt_text}


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


def _line_error(line: int, message: str, fix: str | None = None) -> InputError:
    return InputError(message, where=f"line {line}", fix=fix)


def _read_lines(fh: Any) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, bytes)``; ``None`` for a line over MAX_LINE_BYTES (the rest is skipped)."""
    n = 0
    while True:
        chunk = fh.readline(MAX_LINE_BYTES + 1)
        if not chunk:
            return
        n += 1
        if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
            while True:  # drain the rest of the long line in bounded pieces
                more = fh.readline(MAX_LINE_BYTES)
                if not more or more.endswith(b"\n"):
                    break
            yield n, None
            continue
        yield n, chunk


def _decode(line: int, raw: bytes) -> dict[str, Any]:
    """The line's JSON object; :class:`InputError` for bad UTF-8, bad JSON or a non-object."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _line_error(line, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})",
                          "save the file as UTF-8") from None
    text = text.lstrip("\ufeff") if line == 1 else text
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _line_error(line, f"invalid JSON: {exc.msg} (column {exc.colno})",
                          "one JSON object per line, e.g. {\"input_text\": \"你好\"}") from None
    except RecursionError:
        raise _line_error(line, "invalid JSON: nested too deeply") from None
    if not isinstance(obj, dict):
        raise _line_error(line, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _fields(line: int, obj: dict[str, Any]) -> dict[str, Any]:
    """Map the object's keys through :data:`FIELD_MAP`; unknown keys and conflicting synonyms fail."""
    unknown = [k for k in obj if k not in FIELD_MAP]
    if unknown:
        raise _line_error(line, f"unknown key {unknown[0]!r}" + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1
                                                                  else ""),
                          f"known keys: {', '.join(FIELD_MAP)}")
    out: dict[str, Any] = {}
    given: dict[str, str] = {}
    for key, value in obj.items():
        attr = FIELD_MAP[key]
        if attr in out and out[attr] != value:
            raise _line_error(line, f"{given[attr]!r} and {key!r} both given with different values", "keep one")
        out[attr] = value
        given[attr] = key
    return out


def _name(line: int, f: dict[str, Any]) -> tuple[str, bool]:
    if "name" not in f:
        return f"task-{line}", False
    name = f["name"]
    if isinstance(name, str) and name.lower().endswith(".wav"):
        name = name[:-4]          # GLM-TTS output_name may carry the extension
    if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
        raise _line_error(line, f"invalid name {f['name']!r}",
                          "letters, digits, '_', '-', '.'; no slashes or '..'; at most 128 characters")
    return name, True


def _parse(line: int, raw: bytes, base: Path, prompt_root: Path) -> Task:
    from engine.backends import REGISTRY
    from engine.prosody import check_duration_ratio, check_emotion
    from engine.speakers import SPEAKERS

    f = _fields(line, _decode(line, raw))
    if "input_text" not in f:
        raise _line_error(line, "missing input_text", "add \"input_text\": \"...\"")
    if not isinstance(f["input_text"], str) or not f["input_text"].strip():
        raise _line_error(line, "input_text must be a non-empty string")
    name, named = _name(line, f)
    speaker = f.get("speaker")
    if speaker is not None and (not isinstance(speaker, str) or speaker not in SPEAKERS):
        raise _line_error(line, f"unknown speaker {speaker!r}", f"choose one of {', '.join(SPEAKERS)}")
    ratio = f.get("duration_ratio", 1.0)
    if isinstance(ratio, int) and not isinstance(ratio, bool) and abs(ratio) > 1000:
        ratio = float("inf")      # out of range either way; float() of a 400-digit int would overflow
    try:
        emotion = check_emotion(f.get("emotion"))
        ratio = check_duration_ratio(ratio)
    except InputError as exc:
        raise _line_error(line, exc.message, exc.fix) from None
    backend = f.get("backend")
    if backend is not None and (not isinstance(backend, str) or backend not in REGISTRY):
        raise _line_error(line, f"unknown backend {backend!r}", f"choose one of {', '.join(REGISTRY)}")
    seed = f.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 32):
        raise _line_error(line, f"seed must be an integer in [0, 2^32), got {seed!r}")
    rate = f.get("sample_rate")
    lo, hi = SAMPLE_RATE_RANGE
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int) or not lo <= rate <= hi):
        raise _line_error(line, f"sample_rate must be an integer in [{lo}, {hi}] Hz, got {rate!r}",
                          "e.g. 24000, or leave it out for the back-end's own rate")
    prompt_text = f.get("prompt_text")
    if prompt_text is not None and not isinstance(prompt_text, str):
        raise _line_error(line, f"prompt_text must be a string, got {type(prompt_text).__name__}")
    prompt = f.get("prompt_audio")
    prompt_path = None
    if prompt is not None:
        if not isinstance(prompt, str) or not prompt or "\x00" in prompt:
            raise _line_error(line, f"prompt_audio must be a path string, got {prompt!r}")
        candidate = Path(prompt)
        resolved = (candidate if candidate.is_absolute() else base / candidate).resolve()
        root = prompt_root.resolve()
        if resolved != root and root not in resolved.parents:
            raise _line_error(line, f"prompt_audio {prompt!r} is outside {root} (path traversal rejected)",
                              "keep prompt audio under the tasks file's folder or pass --prompt-root")
        if not resolved.is_file():
            raise _line_error(line, f"prompt audio not found: {prompt}", "fix the path or drop prompt_audio")
        prompt_path = resolved
    return Task(line, name, f["input_text"], speaker, emotion, ratio, prompt_path, backend, seed, raw,
                prompt_text=prompt_text, sample_rate=rate, named=named)


def iter_tasks(path: str | Path, *, prompt_root: str | Path | None = None) -> Iterator[tuple[int, Task | InputError]]:
    """Stream ``(line number, Task or the InputError for that line)``; blank lines are skipped.

    Raises :class:`InputError` only when the file itself cannot be read.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("tasks file not found", where=str(p))
    if p.is_dir():
        raise InputError("tasks file is a directory", where=str(p), fix="give a .jsonl file")
    root = Path(prompt_root) if prompt_root is not None else p.resolve().parent
    base = root.resolve()  # relative prompt paths are resolved here (a retry of failed.jsonl names the original folder)
    try:
        fh = open(p, "rb")
    except OSError as exc:
        raise InputError(f"cannot read tasks file: {exc.strerror}", where=str(p)) from None
    with fh:
        for line, raw in _read_lines(fh):
            if raw is None:
                yield line, _line_error(line, f"line longer than {MAX_LINE_BYTES} bytes")
                continue
            if not raw.strip():
                continue
            try:
                yield line, _parse(line, raw.rstrip(b"\r\n"), base, root)
            except InputError as exc:
                exc.raw = raw  # type: ignore[attr-defined]
                yield line, exc


# ---------------------------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def task_fingerprint(task: Task, config: EngineConfig) -> str:
    """sha256 of the task's text and every setting that changes its audio (defaults resolved, the
    prompt audio by content): equal fingerprints mean identical output from this engine."""
    from engine.speakers import get_speaker

    params = task.params()
    params.pop("prompt_text", None)       # kept for the record; no back-end here reads it
    params.update(speaker=get_speaker(task.speaker).name, backend=task.backend or config.default_backend,
                  seed=config.seed if task.seed is None else task.seed,
                  prompt_audio=_sha256(task.prompt_audio) if task.prompt_audio else None)
    spec = json.dumps({"input_text": task.input_text, **params}, sort_keys=True)   # ASCII: lone surrogates too
    return hashlib.sha256(spec.encode("ascii")).hexdigest()


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
                        and _NAME_RE.match(e["name"]):
                    entries[e["name"]] = e
    valid = {}
    for name, e in entries.items():
        wav = out_dir / f"{name}.wav"
        if wav.is_file() and not wav.is_symlink() and _sha256(wav) == e["sha256"]:
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


def _retry_line(raw: bytes, line: int, *, may_name: bool = True) -> bytes:
    """The line as failed.jsonl keeps it: unchanged, except that an object without a name gets the
    name its task had (``task-<line>``, when ``may_name``: that name is not another file's task),
    so that a retry keeps the task's identity."""
    if not may_name:
        return raw
    try:
        obj = json.loads(raw.decode("utf-8").lstrip("\ufeff"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return raw
    if not isinstance(obj, dict) or "name" in obj or "output_name" in obj:
        return raw
    named = {"name": f"task-{line}", **obj}
    try:
        return json.dumps(named, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:      # a lone surrogate (\ud800) is only writable escaped
        return json.dumps(named).encode("ascii")


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
              progress: bool = False, echo: Callable[[str], None] | None = None) -> BatchSummary:
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
        return _Run(cfg, tasks_path, out, resume, engine, echo).run(_chain(first, stream), progress)
    finally:
        lock.release()


class _Run:
    """One locked run over an output folder (the body of :func:`run_batch`)."""

    def __init__(self, cfg: EngineConfig, tasks_path: Path, out: Path, resume: bool, engine: Any,
                 echo: Callable[[str], None] | None):
        self.cfg, self.tasks_path, self.out, self.resume, self.engine = cfg, tasks_path, out, resume, engine
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
            for stale in self.out.glob(".*.wav.tmp"):
                stale.unlink(missing_ok=True)
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

    def run(self, items: Iterator[tuple[int, Any]], progress: bool) -> BatchSummary:
        own_engine = self.engine is None
        if own_engine:
            from engine.synth import Engine
            self.engine = Engine(self.cfg)
        try:
            return self._run(items, progress)
        finally:
            if own_engine:
                self.engine.close()

    def _run(self, items: Iterator[tuple[int, Any]], progress: bool) -> BatchSummary:
        s = self.summary
        done, manifest_fh = self._open()
        self.done = done
        failed_tmp = Path(self.failed_fh.name)
        self.log = self.engine.logs.inference.bind(event="batch", tasks_file=str(self.tasks_path))
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
                        self._task(item, done, manifest_fh)
                    if self.bar is not None:
                        self.bar.update(self.bar_task, advance=1)
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
            self.failed_fh.write(_retry_line(raw.rstrip(b"\r\n"), line, may_name=may_name) + b"\n")
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

    def _task(self, task: Task, done: dict[str, dict[str, Any]], manifest_fh: Any) -> None:
        from engine.synth import OutputError, SynthRequest, write_wav_output

        s, line = self.summary, task.line
        try:
            fp = task_fingerprint(task, self.cfg)
        except OSError as exc:   # the prompt audio vanished or cannot be read
            return self._fail(line, f"line {line}: cannot read prompt audio: {exc.strerror or exc}", task.raw)
        entry = done.get(task.name)
        state = self._resumable(task, entry, fp)
        if state == "done":
            s.succeeded += 1
            s.resumed += 1
            self.log.bind(event="batch_task", task=line, name=task.name, status="resumed").info(
                f"[✓] Task {line} succeeded: {task.name} (already done)")
            return
        if state == "taken":
            src = f"{entry.get('source') or 'an earlier run'} line {entry.get('line')}" if entry else ""
            return self._fail(line, f"line {line}: default name {task.name!r} already holds a different finished "
                              f"task ({src}); not overwritten (fix: give this task a \"name\")", task.raw)
        try:
            res = self.engine.synthesize(SynthRequest(
                text=task.input_text, speaker=task.speaker, emotion=task.emotion,
                duration_ratio=task.duration_ratio, seed=task.seed, backend=task.backend,
                ref_audio=task.prompt_audio))
            audio, rate = res.audio, res.sample_rate
            if task.sample_rate is not None and task.sample_rate != rate:
                audio, rate = _resample(audio, rate, task.sample_rate), task.sample_rate
            wav = write_wav_output(self.out / f"{task.name}.wav", audio, rate, special_ok=False)
            try:
                _append_line(manifest_fh, {
                    "name": task.name, "path": wav.name, "sha256": _sha256(wav),
                    "duration": round(len(audio) / rate, 4), "sample_rate": rate, "line": line,
                    "request_id": res.request_id, "params": task.params(), "fingerprint": fp, "source": self.source})
            except OSError as exc:   # the WAV without its entry is made again on resume
                raise OutputError(f"cannot write the manifest: {exc.strerror or exc}", where=str(s.manifest),
                                  errno=exc.errno) from None
        except OutputError as exc:
            self._fail(line, f"line {line}: {exc.one_line()}", task.raw)
            if exc.errno is not None:       # the system refused (full, read-only): every later write would too
                self.stop = InputError(f"{exc.message.removeprefix('cannot write the WAV: ')} writing "
                                       f"{Path(exc.where or '').name}", where=str(self.out), fix=_STORAGE_FIX)
            return
        except TtsopsError as exc:
            return self._fail(line, exc.one_line(), task.raw)
        s.succeeded += 1
        s.redone += state == "changed"
        how = " (changed since the last run: made again)" if state == "changed" else ""
        self.log.bind(event="batch_task", task=line, name=task.name, status="succeeded",
                      request_id=res.request_id).info(f"[✓] Task {line} succeeded: {task.name}{how}")
        self.report(f"[✓] Task {line} succeeded: {task.name}{how}")

    def _fail(self, line: int, reason: str, raw: bytes) -> None:
        s = self.summary
        s.failed += 1
        s.failures.append((line, reason))
        msg = f"[✗] Task {line} failed: {reason}"
        self.log.bind(event="batch_task", task=line, status="failed", reason=reason).error(msg)
        self.report(msg)
        self._keep(raw, line)


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
