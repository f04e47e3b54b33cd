"""Batch synthesis from a JSONL file: task isolation, atomic outputs, manifest, failed.jsonl, resume.

Input: one JSON object a line (blank lines are skipped)::

    {"input_text": "你好", "name": "greeting", "speaker": "zh_female_1", "emotion": "happy",
     "duration_ratio": 1.0, "prompt_audio": "refs/a.wav", "backend": "espeak", "seed": 0}

Only ``input_text`` is required; ``name`` defaults to ``task-<N>`` (N = line number). A bad line
(not UTF-8, not JSON, not an object, a missing or wrong field, an unknown speaker/emotion/backend,
prompt audio missing or outside the tasks file's folder) fails that task only.

Output folder::

    OUT/<name>.wav        16-bit WAV, written to a temp file, fsync'd, then renamed (never truncated)
    OUT/manifest.jsonl    one line per finished task: name, path, sha256, duration, sample_rate,
                          line, request_id, params; appended and fsync'd after its WAV is in place
    OUT/failed.jsonl      the original lines of the tasks that failed (feed it back as a retry batch)

Resume (default): tasks whose manifest entry exists and whose WAV has the recorded sha256 are
skipped; a WAV without a manifest entry (killed between rename and append) is made again
(byte-identical, the engine is deterministic). A SIGKILL at any point therefore never loses,
duplicates or truncates an output.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from engine.config import EngineConfig
from ttsops.errors import InputError, TtsopsError

__all__ = ["Task", "BatchSummary", "iter_tasks", "run_batch", "MAX_LINE_BYTES", "TASK_FIELDS"]

MAX_LINE_BYTES = 1_000_000
TASK_FIELDS = ("input_text", "name", "speaker", "emotion", "duration_ratio", "prompt_audio", "backend", "seed",
               "temperature")
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
    temperature: float = 0.0

    def params(self) -> dict[str, Any]:
        return {"speaker": self.speaker, "emotion": self.emotion or "neutral", "duration_ratio": self.duration_ratio,
                "prompt_audio": str(self.prompt_audio) if self.prompt_audio else None, "backend": self.backend,
                "seed": self.seed, "temperature": self.temperature}


@dataclass
class BatchSummary:
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    resumed: int = 0
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


def _parse(line: int, raw: bytes, base: Path, prompt_root: Path) -> Task:
    from engine.backends import REGISTRY
    from engine.prosody import check_duration_ratio, check_emotion, check_temperature
    from engine.speakers import SPEAKERS

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
    if not isinstance(obj, dict):
        raise _line_error(line, f"expected a JSON object, got {type(obj).__name__}")
    if "input_text" not in obj:
        raise _line_error(line, "missing input_text", "add \"input_text\": \"...\"")
    if not isinstance(obj["input_text"], str) or not obj["input_text"].strip():
        raise _line_error(line, "input_text must be a non-empty string")
    name = obj.get("name", f"task-{line}")
    if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
        raise _line_error(line, f"invalid name {name!r}",
                          "letters, digits, '_', '-', '.'; no slashes or '..'; at most 128 characters")
    speaker = obj.get("speaker")
    if speaker is not None and (not isinstance(speaker, str) or speaker not in SPEAKERS):
        raise _line_error(line, f"unknown speaker {speaker!r}", f"choose one of {', '.join(SPEAKERS)}")
    emotion = obj.get("emotion")
    try:
        emotion = check_emotion(emotion)
        ratio = check_duration_ratio(obj.get("duration_ratio", 1.0))
        temperature = check_temperature(obj.get("temperature", 0.0))
    except InputError as exc:
        raise _line_error(line, exc.message, exc.fix) from None
    backend = obj.get("backend")
    if backend is not None and (not isinstance(backend, str) or backend not in REGISTRY):
        raise _line_error(line, f"unknown backend {backend!r}", f"choose one of {', '.join(REGISTRY)}")
    seed = obj.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 32):
        raise _line_error(line, f"seed must be an integer in [0, 2^32), got {seed!r}")
    prompt = obj.get("prompt_audio")
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
    return Task(line, name, obj["input_text"], speaker, emotion, ratio, prompt_path, backend, seed, raw, temperature)


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


def _load_manifest(path: Path, out_dir: Path) -> dict[str, dict[str, Any]]:
    """Valid manifest entries by name whose WAV exists with the recorded sha256; the file is
    rewritten atomically with exactly those (drops a line cut by a kill, duplicates, stale ones)."""
    entries: dict[str, dict[str, Any]] = {}
    if path.exists():
        with open(path, "rb") as fh:
            for raw in fh:
                try:
                    e = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    continue
                if isinstance(e, dict) and isinstance(e.get("name"), str) and isinstance(e.get("sha256"), str):
                    entries[e["name"]] = e
    valid = {}
    for name, e in entries.items():
        wav = out_dir / f"{name}.wav"
        if wav.is_file() and _sha256(wav) == e["sha256"]:
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


def run_batch(tasks_path: str | Path, out_dir: str | Path, *, config: EngineConfig | None = None,
              resume: bool = True, engine: Any = None, prompt_root: str | Path | None = None,
              progress: bool = False, echo: Callable[[str], None] | None = None) -> BatchSummary:
    """Run every task of ``tasks_path`` into ``out_dir``; see the module doc.

    Parameters
    ----------
    config : EngineConfig
        Engine settings (log_dir, seed, inject...). A task without ``seed`` uses ``config.seed``.
    resume : bool
        Skip tasks already in the manifest with an intact WAV (default). ``False`` redoes everything.
    engine : Engine, optional
        An engine to use (otherwise one is built from ``config`` and closed at the end).
    prompt_root : path, optional
        Folder relative prompt audio paths are resolved against and must stay under (default: the
        tasks file's folder; give the original folder when re-running ``failed.jsonl``).
    progress : bool
        Show a rich progress bar on stderr.
    echo : callable, optional
        Where the ``[✓]``/``[✗]`` lines and the final line are printed (default: nothing extra).
    """
    from engine.synth import Engine, SynthRequest, write_wav_atomic

    cfg = config or EngineConfig()
    tasks_path = Path(tasks_path)
    out = Path(out_dir)
    # fail on an unusable input file before creating anything
    stream = iter_tasks(tasks_path, prompt_root=prompt_root)
    first = next(stream, None)
    if first is None:
        raise InputError("no tasks (the file is empty or has only blank lines)", where=str(tasks_path),
                         fix="one JSON object per line with at least input_text")
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".*.wav.tmp"):
        stale.unlink(missing_ok=True)
    summary = BatchSummary(out_dir=out, manifest=out / "manifest.jsonl", failed_path=out / "failed.jsonl")
    if not resume and summary.manifest.exists():
        summary.manifest.unlink()
    done = _load_manifest(summary.manifest, out) if resume else {}
    if not resume:
        summary.manifest.touch()
    own_engine = engine is None
    eng = engine or Engine(cfg)
    log = eng.logs.inference.bind(event="batch", tasks_file=str(tasks_path))
    say = echo or (lambda _s: None)
    failed_tmp = summary.failed_path.with_name("failed.jsonl.tmp")
    seen: set[str] = set()
    bar = None
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        bar = Progress(TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       transient=True, console=_stderr_console())
        bar.start()
        bar_task = bar.add_task("batch", total=None)

    def report(line: str) -> None:
        if bar is not None:
            bar.console.print(line, markup=False, highlight=False)
        else:
            say(line)

    log.info(f"Batch started: {tasks_path} -> {out} (resume={'on' if resume else 'off'}, "
             f"{len(done)} finished before)")
    try:
        with open(summary.manifest, "ab") as manifest_fh, open(failed_tmp, "wb") as failed_fh:
            for line, item in _chain(first, stream):
                summary.total += 1
                if isinstance(item, Task) and item.name in seen:
                    raw_dup = item.raw
                    item = _line_error(line, f"duplicate task name {item.name!r}", "names must be unique")
                    item.raw = raw_dup  # type: ignore[attr-defined]
                if isinstance(item, InputError):
                    reason = item.one_line()
                    raw = getattr(item, "raw", b"") or b""
                    _fail(summary, line, reason, raw, failed_fh, log, report)
                else:
                    task = item
                    seen.add(task.name)
                    if task.name in done:
                        summary.succeeded += 1
                        summary.resumed += 1
                        log.bind(event="batch_task", task=line, name=task.name, status="resumed").info(
                            f"[✓] Task {line} succeeded: {task.name} (already done)")
                    else:
                        try:
                            res = eng.synthesize(SynthRequest(
                                text=task.input_text, speaker=task.speaker, emotion=task.emotion,
                                duration_ratio=task.duration_ratio, seed=task.seed, backend=task.backend,
                                ref_audio=task.prompt_audio, temperature=task.temperature))
                            wav = write_wav_atomic(out / f"{task.name}.wav", res.audio, res.sample_rate)
                            _append_line(manifest_fh, {
                                "name": task.name, "path": wav.name, "sha256": _sha256(wav),
                                "duration": round(res.duration_s, 4), "sample_rate": res.sample_rate,
                                "line": line, "request_id": res.request_id, "params": task.params()})
                        except TtsopsError as exc:
                            _fail(summary, line, exc.one_line(), task.raw, failed_fh, log, report)
                        else:
                            summary.succeeded += 1
                            log.bind(event="batch_task", task=line, name=task.name, status="succeeded",
                                     request_id=res.request_id).info(f"[✓] Task {line} succeeded: {task.name}")
                            report(f"[✓] Task {line} succeeded: {task.name}")
                if bar is not None:
                    bar.update(bar_task, advance=1)
            failed_fh.flush()
            os.fsync(failed_fh.fileno())
        os.replace(failed_tmp, summary.failed_path)
    finally:
        if bar is not None:
            bar.stop()
        failed_tmp.unlink(missing_ok=True)
        final = f"Batch completed: {summary.succeeded}/{summary.total} tasks succeeded"
        extra = f" ({summary.resumed} resumed from an earlier run)" if summary.resumed else ""
        log.bind(event="batch_completed", total=summary.total, succeeded=summary.succeeded,
                 failed=summary.failed, resumed=summary.resumed).info(final + extra)
        if own_engine:
            eng.close()
    say(final + extra)
    return summary


def _chain(first: tuple[int, Any], rest: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    yield first
    yield from rest


def _fail(summary: BatchSummary, line: int, reason: str, raw: bytes, failed_fh: Any, log: Any,
          report: Callable[[str], None]) -> None:
    summary.failed += 1
    summary.failures.append((line, reason))
    msg = f"[✗] Task {line} failed: {reason}"
    log.bind(event="batch_task", task=line, status="failed", reason=reason).error(msg)
    report(msg)
    if raw:
        failed_fh.write(raw if raw.endswith(b"\n") else raw + b"\n")


def _stderr_console():  # noqa: ANN202
    from rich.console import Console
    return Console(file=sys.stderr)

