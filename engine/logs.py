"""Log set-up: the only place that knows the log file names and their rotation.

Files under ``log_dir`` (loguru, ``serialize=True``: one JSON object a line, fields in
``record.extra``):

* ``inference.log``: one record per synthesis event (``synthesis_start`` / ``synthesis_success`` /
  ``synthesis_error``) and batch events; size rotation, gz compression, retention by count.
* ``service.log``: HTTP service events (written by ``engine.service``); rotated daily.
* ``health.log``: health checks and health symptoms (``audio output silent for 8s``).
* ``console.log``: plain text as a terminal shows it: startup banner, library warnings, every
  record of the other files as one line, multi-line Python tracebacks. Optionally also on stderr.

The process's streams are set once by :func:`configure_process_logging` (the CLI does it from
``--log-format`` / ``TTSOPS_LOG_FORMAT`` and ``SENTRY_DSN``): ``text`` keeps the plain console lines
on stderr; ``json`` writes every record of every :class:`EngineLogs` of the process to stdout instead,
one flat JSON object a line (``time``, ``level``, ``message``, then the record's fields at the top
level: what Docker and Kubernetes collect and ``tts-analyze`` reads back); a Sentry reporter
(:mod:`engine.sentry`) gets the errors and the warnings it reports.

Each :class:`EngineLogs` is independent (STYLE rule 13): its handlers only accept records routed
to it, so several engines (tests, a service and a batch) never write into each other's files, and
:meth:`EngineLogs.close` removes exactly its own handlers. Record times come from an injectable
:class:`engine.clock.Clock`, so simulated runs write simulated time.
"""
from __future__ import annotations

import itertools
import json
import sys
import traceback as tb
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from loguru import logger as _root_logger

from engine.clock import Clock, RealClock

__all__ = ["EngineLogs", "CHANNELS", "INFERENCE_KEYS", "CONSOLE_FORMAT", "LOG_FORMATS", "format_warning",
           "configure_process_logging", "process_logging", "json_line"]

CHANNELS = ("inference", "service", "health", "console")
#: keys every inference.log record carries (``null`` where they do not apply, e.g. a batch line that
#: failed to parse has no request): readers can rely on one schema
INFERENCE_KEYS = ("request_id", "event", "backend", "speaker", "emotion", "text_length", "duration_ratio",
                  "audio_seconds", "rtf", "elapsed")
CONSOLE_FORMAT = ("{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {extra[channel]: <9} | "
                  "{name}:{function}:{line} - {message}")
LOG_FORMATS = ("text", "json")
_ids = itertools.count(1)
_raw_ids = itertools.count(1)


@dataclass
class ProcessLogging:
    """What this process's own streams get (one process has one stdout and one Sentry client)."""

    log_format: str = "text"     #: ``text``: console lines on stderr where asked; ``json``: JSON on stdout
    stream: TextIO | None = None  #: where JSON lines go (default: ``sys.stdout`` at write time)
    sentry: Any = None           #: an :class:`engine.sentry.SentryReporter`, or None


_PROCESS = ProcessLogging()


def configure_process_logging(*, log_format: str = "text", stream: TextIO | None = None,
                              sentry: Any = None) -> ProcessLogging:
    """Set the process's log streams for every :class:`EngineLogs` made from now on; returns the
    previous setting (tests restore it)."""
    global _PROCESS
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    previous, _PROCESS = _PROCESS, ProcessLogging(log_format, stream, sentry)
    return previous


def process_logging() -> ProcessLogging:
    """The current process-wide setting."""
    return _PROCESS


_TOP = ("time", "level", "message")


def json_line(record: dict[str, Any]) -> str | None:
    """One loguru record as a flat JSON object (no trailing newline); None for the continuation
    lines of a raw console block (the block is one object, its text the message)."""
    extra = record["extra"]
    message = record["message"]
    raw_index = extra.get("raw_index")
    if raw_index is not None:
        if raw_index:
            return None
        message = extra.get("raw_text", message)
    obj: dict[str, Any] = {"time": record["time"].isoformat(timespec="microseconds"),
                           "level": record["level"].name, "message": message}
    for key, value in extra.items():
        if key in ("raw_index", "raw_text", "raw_block"):
            continue
        obj[f"extra_{key}" if key in _TOP else key] = value
    obj.setdefault("logger", record["name"])
    obj.setdefault("function", record["function"])
    exc = record.get("exception")
    if exc is not None and exc.type is not None and not obj.get("traceback"):
        obj["traceback"] = "".join(tb.format_exception(exc.type, exc.value, exc.traceback))
    return json.dumps(obj, ensure_ascii=False, default=str, allow_nan=True)


def format_warning(message: str, category: str, filename: str, lineno: int) -> str:
    """A warning as Python's ``warnings`` module prints it (two lines: location, then source)."""
    return f"{filename}:{lineno}: {category}: {message}"


class EngineLogs:
    """Loguru handlers for one engine / service / batch run.

    Parameters
    ----------
    log_dir : Path or None
        Folder for the files (created); ``None`` writes no files (stderr only if asked).
    clock : Clock, optional
        Source of record times (default: real time).
    stderr : bool or TextIO
        Also write console lines to stderr (or to this stream).
    inference_rotation : str
        loguru rotation for inference.log (``"10 MB"``).
    inference_retention : int
        How many rotated inference logs to keep (compressed ``.gz``).
    streams : ProcessLogging, optional
        The process's stdout format and Sentry reporter (default: :func:`process_logging`). In
        ``json`` format the console lines asked for by ``stderr`` become JSON lines on stdout.
    """

    def __init__(self, log_dir: Path | str | None, *, clock: Clock | None = None,
                 stderr: bool | TextIO = False, inference_rotation: str = "10 MB",
                 inference_retention: int = 10, channels: tuple[str, ...] = CHANNELS,
                 streams: ProcessLogging | None = None):
        remove_default_stderr_handler()
        streams = streams if streams is not None else _PROCESS
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.clock = clock or RealClock()
        self.route = f"ttsops-{next(_ids)}"
        self._handler_ids: list[int] = []
        self._saved_showwarning = None
        route = self.route

        def _only(channel: str | None):
            def _filter(record: dict[str, Any]) -> bool:
                if record.get("_ttsops_route") != route:
                    return False
                return channel is None or record["extra"].get("channel") == channel
            return _filter

        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            common = dict(serialize=True, enqueue=False, backtrace=False, diagnose=False, encoding="utf-8")
            if "inference" in channels:
                self._handler_ids.append(_root_logger.add(
                    self.log_dir / "inference.log", filter=_only("inference"), rotation=inference_rotation,
                    compression="gz", retention=inference_retention, level="DEBUG", **common))
            if "service" in channels:
                self._handler_ids.append(_root_logger.add(
                    self.log_dir / "service.log", filter=_only("service"), rotation="00:00",
                    retention="14 days", level="DEBUG", **common))
            if "health" in channels:
                self._handler_ids.append(_root_logger.add(
                    self.log_dir / "health.log", filter=_only("health"), rotation="00:00",
                    retention="14 days", level="DEBUG", **common))
            self._handler_ids.append(_root_logger.add(
                self.log_dir / "console.log", filter=_only(None), format=CONSOLE_FORMAT, level="DEBUG",
                rotation="50 MB", retention=5, colorize=False, backtrace=False, diagnose=False,
                encoding="utf-8"))
        if streams.log_format == "json":
            out = streams.stream

            def write_json(message: Any) -> None:
                line = json_line(message.record)
                if line is not None:
                    target = out if out is not None else sys.stdout
                    target.write(line + "\n")
                    target.flush()
            self._handler_ids.append(_root_logger.add(write_json, filter=_only(None), level="DEBUG",
                                                      format="{message}", colorize=False, catch=True))
        elif stderr:
            stream = sys.stderr if stderr is True else stderr
            self._handler_ids.append(_root_logger.add(
                stream, filter=_only(None), format=CONSOLE_FORMAT, level="INFO", colorize=False,
                backtrace=False, diagnose=False))
        if streams.sentry is not None:
            self._handler_ids.append(_root_logger.add(streams.sentry.sink, filter=_only(None), level="WARNING",
                                                      format="{message}", colorize=False, catch=True))
        clock_ = self.clock

        def _patch(record: dict[str, Any]) -> None:
            record["_ttsops_route"] = route
            extra = record["extra"]
            if extra.get("channel") == "inference":
                for key in INFERENCE_KEYS:
                    extra.setdefault(key, None)
            if clock_.simulated:
                t = clock_.now()
                record["time"] = type(record["time"]).fromtimestamp(t.timestamp(), t.tzinfo)

        self._logger = _root_logger.patch(_patch)
        self.inference = self._logger.bind(channel="inference")
        self.service = self._logger.bind(channel="service")
        self.health = self._logger.bind(channel="health")
        self.console = self._logger.bind(channel="console")

    def channel(self, name: str):  # noqa: ANN201 - a loguru logger
        """The bound logger of channel ``name``."""
        return self._logger.bind(channel=name)

    def raw_console(self, text: str, level: str = "INFO") -> None:
        """Plain console text (a traceback, a C library's complaint) with no JSON counterpart: one
        console line per line of it; on a JSON stdout the block is one object."""
        block = next(_raw_ids)
        text = text.rstrip("\n")
        for i, line in enumerate(text.splitlines() or [""]):
            extra = {"raw_block": block, "raw_index": i}
            if i == 0:
                extra["raw_text"] = text
            self.console.bind(**extra).opt(depth=1).log(level, line)

    def warning(self, message: str, category: str = "UserWarning", filename: str | None = None,
                lineno: int = 0) -> None:
        """A library warning, formatted like Python's ``warnings`` output, to the console log."""
        self.console.opt(depth=1).warning(format_warning(message, category, filename or "<engine>", lineno))

    def capture_warnings(self) -> None:
        """Route Python ``warnings`` (library deprecations, runtime warnings) to the console log,
        formatted as Python prints them; undone by :meth:`close`. For CLIs: it is process-wide."""
        import warnings

        if self._saved_showwarning is not None:
            return
        self._saved_showwarning = warnings.showwarning
        logs = self

        def _show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202
            logs.console.warning(format_warning(str(message), category.__name__, filename, lineno))

        warnings.showwarning = _show

    def traceback_text(self, exc: BaseException) -> str:
        return "".join(tb.format_exception(type(exc), exc, exc.__traceback__))

    def close(self) -> None:
        """Remove this instance's handlers (files are flushed and closed)."""
        if self._saved_showwarning is not None:
            import warnings
            warnings.showwarning = self._saved_showwarning
            self._saved_showwarning = None
        for hid in self._handler_ids:
            try:
                _root_logger.remove(hid)
            except ValueError:
                pass
        self._handler_ids = []

    def __enter__(self) -> "EngineLogs":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def remove_default_stderr_handler() -> None:
    """loguru starts with a stderr handler that would print every record; CLIs remove it."""
    try:
        _root_logger.remove(0)
    except ValueError:
        pass
