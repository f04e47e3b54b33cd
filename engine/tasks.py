"""Batch task files: one JSON object a line, our key names and GLM-TTS's (:data:`FIELD_MAP`), each
line a :class:`Task` or the :class:`InputError` for that line, and a task's identity (its name, the
fingerprint of what changes its audio, the line ``failed.jsonl`` keeps for its retry). The runner
that writes the outputs is :mod:`engine.batch`.

Only ``input_text`` is required; ``name`` (GLM-TTS: ``output_name``) defaults to ``task-<N>``
(N = line number). A bad line (not UTF-8, not JSON, not an object, an unknown key, a missing or
wrong field, an unknown speaker/emotion/backend, prompt audio missing or outside the tasks file's
folder) is an error for that line only.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from engine.config import EngineConfig
from ttsops.errors import InputError

__all__ = ["Task", "iter_tasks", "task_fingerprint", "retry_line", "sha256_file", "FIELD_MAP", "TASK_FIELDS",
           "MAX_LINE_BYTES", "NAME_RE"]

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
    "temperature": "temperature",                 # sampled prosody (0 = deterministic)
}
TASK_FIELDS = tuple(FIELD_MAP)
SAMPLE_RATE_RANGE = (8000, 96000)
NAME_RE = re.compile(r"^[A-Za-z0-9\u4e00-\u9fff][A-Za-z0-9_.\-\u4e00-\u9fff]{0,127}$")


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
    temperature: float = 0.0

    def params(self) -> dict[str, Any]:
        out = {"speaker": self.speaker, "emotion": self.emotion or "neutral", "duration_ratio": self.duration_ratio,
               "prompt_audio": str(self.prompt_audio) if self.prompt_audio else None, "backend": self.backend,
               "seed": self.seed, "sample_rate": self.sample_rate, "prompt_text": self.prompt_text}
        if self.temperature:  # only when sampling: fingerprints of deterministic tasks stay as they were
            out["temperature"] = self.temperature
        return out


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
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        raise _line_error(line, f"invalid name {f['name']!r}",
                          "letters, digits, '_', '-', '.'; no slashes or '..'; at most 128 characters")
    return name, True


def _parse(line: int, raw: bytes, base: Path, prompt_root: Path) -> Task:
    from engine.backends import REGISTRY
    from engine.prosody import check_duration_ratio, check_emotion, check_temperature
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
        temperature = check_temperature(f.get("temperature", 0.0))
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
                prompt_text=prompt_text, sample_rate=rate, named=named, temperature=temperature)


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
def sha256_file(path: Path) -> str:
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
                  prompt_audio=sha256_file(task.prompt_audio) if task.prompt_audio else None)
    spec = json.dumps({"input_text": task.input_text, **params}, sort_keys=True)   # ASCII: lone surrogates too
    return hashlib.sha256(spec.encode("ascii")).hexdigest()


def retry_line(raw: bytes, line: int, *, may_name: bool = True) -> bytes:
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
