"""Plain-text line headers: a timestamp and/or a level in front of the message, in the spellings the
servers people run TTS behind write. One function, :func:`parse_text`, returns a headered
:class:`Record` or ``None`` (a plain line: the assembler decides whether it continues a record).

Recognised, by first character (so a line costs one or two regex matches):

* ISO 8601 / ``2024-06-15 14:22:03,102`` timestamps (``2024/06/15 14:22:03``: Go's log package,
  nginx's error log), bracketed or not, then an optional level in many decorations: Python logging
  (``ts - name - LEVEL - msg``, ``ts LEVEL [name] msg``), loguru's default (``ts | LEVEL | mod:fn:1 - msg``),
  ``ts [LEVEL] msg`` (log4j's padded ``[INFO ]``: TorchServe), tracing/TGI (``ts ERROR target: msg``),
  Spring Boot (``ts  INFO 1 --- [main] o.s.b.App : msg``), Flask (``[ts] WARNING in app: msg``), Celery
  (``[ts: ERROR/ForkPoolWorker-1] msg``: the process a field), Triton's ``--log-format=ISO8601``
  (``2024-06-15T14:22:05Z E 1 model_lifecycle.cc:638] msg``);
* gunicorn ``[2024-06-15 14:22:03 +0800] [1234] [ERROR] msg`` (the offset kept);
* onnxruntime ``[E:onnxruntime:Default, file.cc:12 Fn] msg``, PyTorch c10/NCCL ``[E ProcessGroupNCCL.cpp:475]``
  and ``[E1203 10:11:12.123 1234 file.cpp:12]``, glog ``E1203 10:11:12.123456  1234 file.cc:12] msg``
  (klog's structured ``] "msg" key=value`` read by :mod:`analyzer.read.logfmt`);
* TensorRT: ``[06/15/2024-14:22:03] [TRT] [E] msg`` (its Python logger), ``[06/15/2024-14:22:03] [E] [TRT] msg``
  (trtexec), ``[TRT] [E] msg`` without a time, TensorRT 7's ``[TensorRT] ERROR: msg``;
* level first: uvicorn ``INFO:     msg``, Python's default ``ERROR:root:msg``, ``[WARNING] msg``, vLLM
  ``INFO 12-01 10:11:12 [engine.py:12] msg``; a level word must be followed by ``:``, ``|``, ``-``,
  brackets, two spaces or a word that is not in capitals, so ``ERROR DETAILS below`` in a banner is
  not a level;
* syslog ``Jun 15 14:22:03 host prog[123]: msg``, Apache ``[Sun Dec 04 04:47:44 2005] [error] msg``,
  common log format ``host - - [15/Jun/2024:14:22:03 +0000] "GET ..."``.
"""
from __future__ import annotations

import re
from datetime import datetime

from analyzer.read.logfmt import klog_message
from analyzer.read.times import UTC, norm_level, parse_time
from analyzer.records import Record

__all__ = ["parse_text", "LEVEL_WORD"]

LEVEL_WORD = (r"TRACE|DEBUG|INFO|NOTICE|SUCCESS|WARNING|WARN|ERROR|ERR|CRITICAL|CRIT|FATAL|SEVERE|"
              r"EMERG|ALERT|PANIC|EXCEPTION")
_ISO = r"\d{4}(?:-\d{2}-|/\d{2}/)\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}|\s?UTC)?"
# 1: timestamp (ISO, bracketed or not), then optional level in many decorations, then the message
_TEXT_RE = re.compile(
    r"^\[?(?P<ts>" + _ISO + r")\]?"
    r"(?:\s*[|\-:]?\s*\[?(?P<level>" + LEVEL_WORD + r")\b"   # ts LEVEL / ts | LEVEL | / ts [LEVEL ]
    r"(?:/(?P<process>[\w.\-]+)\] ?)?"                           # Celery: [ts: LEVEL/ForkPoolWorker-1] msg
    r" *+\]?\s*(?:[|:]\s*|-\s+)?"
    r"(?:(?:(?P<channel>[\w.\-]+)\s*\|\s*)?(?P<src>[\w.<>\-]+:[\w.<>\-]+:\d+) - "  # loguru default [extra |] name:function:line -
    r"|(?P<pid>\d+) --- (?:\[[^\]\n]*+\] )?\[ *+(?P<thread>[^\]\n]*+)\] (?P<jlogger>\S+) +: "  # Spring Boot: pid --- [thread] logger :
    r"|in (?P<module>[\w.]+): "  # Flask's default: [ts] LEVEL in module: msg
    r"|\[(?P<blogger>[\w.\-]+)\] )?"  # Python logging: ts LEVEL [name] msg
    r"|\s+-\s+(?P<logger>[\w.$\-]+)\s+-\s+(?P<level2>" + LEVEL_WORD + r")\b\s+-\s+"  # python: ts - name - LEVEL - m
    r"|\s*)"
    r"(?P<msg>.*)$", re.S | re.I)
_GUNICORN_RE = re.compile(r"^\[(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d+)? [+-]\d{4})\] \[(?P<pid>\d+)\] "
                          r"\[(?P<level>[A-Z]+)\] (?P<msg>.*)$", re.S)
_SYSLOG_RE = re.compile(
    r"^(?P<ts>(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{1,2}\s+\d{2}:\d{2}:\d{2})\s+"
    r"(?P<host>[\w.\-]+)\s+(?P<prog>[^\s:\[]+)(?:\[(?P<pid>\d+)\])?:\s?(?P<msg>.*)$", re.S)
_BRACKET_RE = re.compile(r"^\[(?P<ts>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}(?:\.\d+)? \d{4})\]\s*"
                         r"(?:\[(?P<level>\w+)\]\s*)?(?P<msg>.*)$", re.S)
_CLF_RE = re.compile(r'^(?P<host>\S+) \S+ \S+ \[(?P<ts>\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] (?P<msg>".*)$',
                     re.S)
# level first; a single space is a separator only before a word that is not in capitals
_LEVEL_ONLY_RE = re.compile(
    r"^(?:\[(?P<blevel>" + LEVEL_WORD + r")\]\s*"
    r"|(?P<level>" + LEVEL_WORD + r")(?::(?P<logger>[\w.]+):|\s*[:|]\s*|\s+-\s+|\s{2,}|\s(?![A-Z]{2,}\b)))"
    r"(?P<msg>.*)$", re.S)
# vLLM: ``INFO 12-01 10:11:12 [engine.py:12] msg`` / ``WARNING 12-01 10:11:12 engine.py:12] msg``
_VLLM_RE = re.compile(r"^(?P<level>" + LEVEL_WORD + r") (?P<md>\d\d-\d\d) (?P<hms>\d\d:\d\d:\d\d)(?:\.\d+)? "
                      r"\[?(?P<src>[\w.\-]+:\d+)\]? (?P<msg>.*)$", re.S)
# glog (``E1203 10:11:12.123456  1234 file.cc:12] msg``) and c10 (``[E1203 10:11:12.1 1234 f.cpp:12] msg``)
_GLOG_RE = re.compile(r"^\[?(?P<level>[IWEF])(?P<md>\d{4}) (?P<hms>\d\d:\d\d:\d\d)(?P<frac>\.\d+)?\s+"
                      r"(?:\d+\s+)?(?P<src>[\w.\-/]+:\d+)\]\s?(?P<msg>.*)$", re.S)
# c10 without a time (``[E ProcessGroupNCCL.cpp:475] msg``) and onnxruntime (``[E:onnxruntime:Default, f.cc:12 Fn] msg``)
_BRACKET_LETTER_RE = re.compile(r"^\[(?P<level>[VIWEF])(?: (?P<src>[\w.\-/]+:\d+)|:(?P<logger>[\w.]+):[^\]\n]*)\]\s?"
                                r"(?P<msg>.*)$", re.S)
_LETTER_LEVEL = {"V": "DEBUG", "I": "INFO", "W": "WARNING", "E": "ERROR", "F": "CRITICAL"}
# Triton's ISO8601 format, after the timestamp: ``E 1 model_lifecycle.cc:638] msg`` (level letter, pid, source)
_TRITON_RE = re.compile(r"^(?P<level>[IWEF]) \d+ (?P<src>[\w.\-/]+:\d+)\] (?P<msg>.*)$", re.S)
# TensorRT's loggers: the time (``[06/15/2024-14:22:03]``) and/or ``[TRT]``, the severity letter
_TRT_RE = re.compile(r"^(?:\[(?P<ts>\d\d/\d\d/\d{4})-(?P<hms>\d\d:\d\d:\d\d)\] (?P<trt>\[TRT\] )?|(?P<trt0>\[TRT\] ))"
                     r"\[(?P<level>[VIWEF])\] (?P<trt2>\[TRT\] )?(?P<msg>.*)$", re.S)
_TRT7_RE = re.compile(r"^\[TensorRT\] (?P<level>VERBOSE|INFO|WARNING|ERROR|INTERNAL_ERROR): (?P<msg>.*)$", re.S)


def _this_year(md: str, hms: str, frac: str | None = None) -> datetime | None:
    """A time with month-day but no year (glog, vLLM): this year's."""
    try:
        month, day = (int(md[:2]), int(md[-2:]))
        h, m, s = (int(x) for x in hms.split(":"))
        us = int((frac or ".0")[1:7].ljust(6, "0"))
        return datetime(datetime.now(UTC).year, month, day, h, m, s, us, tzinfo=UTC)
    except ValueError:
        return None


def _glog(m: re.Match[str], text: str, name: str, n: int, parse_times: bool) -> Record:
    time = _this_year(m.group("md"), m.group("hms"), m.group("frac")) if parse_times else None
    msg, fields = m.group("msg"), {"source": m.group("src")}
    if msg[:1] == '"':   # klog's structured form: ``"Synced" pod="default/tts-0"``
        structured = klog_message(msg)
        if structured is not None:
            msg = structured[0]
            fields.update((k, v) for k, v in structured[1].items() if k != "source")
    return Record(time, _LETTER_LEVEL[m.group("level")], msg, name, n, fields, text)


def _tensorrt(text: str, name: str, n: int, parse_times: bool) -> Record | None:
    """A TensorRT logger line (``[TRT]`` is its logger's name), else None."""
    m = _TRT_RE.match(text)
    if m is not None:
        time = parse_time(f"{m.group('ts')} {m.group('hms')}") if parse_times and m.group("ts") else None
        trt = m.group("trt") or m.group("trt0") or m.group("trt2")
        return Record(time, _LETTER_LEVEL[m.group("level")], m.group("msg"), name, n,
                      {"logger": "TRT"} if trt else {}, text)
    m = _TRT7_RE.match(text)
    if m is not None:
        level = m.group("level")
        return Record(None, "CRITICAL" if level == "INTERNAL_ERROR" else norm_level(level), m.group("msg"), name, n,
                      {"logger": "TensorRT"}, text)
    return None


def parse_text(text: str, name: str, n: int, parse_times: bool = True) -> Record | None:
    """A headered record from ``text``, or ``None`` when the line has no header."""
    c = text[:1]
    if c == "[" and text[11:12] == " " and text[20:22] in (" +", " -"):
        m = _GUNICORN_RE.match(text)
        if m is not None:
            time = parse_time(m.group("ts")) if parse_times else None
            return Record(time, norm_level(m.group("level")), m.group("msg"), name, n,
                          {"pid": int(m.group("pid"))}, text)
    if c == "[" and (text[1:2] == "T" or text[3:4] == "/"):
        rec = _tensorrt(text, name, n, parse_times)
        if rec is not None:
            return rec
    if c.isdigit() or c == "[":
        m = _TEXT_RE.match(text)
        if m is not None:
            level = m.group("level") or m.group("level2")
            logger = m.group("logger") or m.group("module") or m.group("blogger")
            fields = {"logger": logger} if logger else {}
            if m.group("jlogger"):
                fields = {"pid": int(m.group("pid")), "thread": m.group("thread").strip(), "logger": m.group("jlogger")}
            elif m.group("process"):
                fields = {"process": m.group("process")}
            msg = m.group("msg")
            lvl = norm_level(level)
            if lvl is None and msg[:1] == "[":  # ``ts [W:onnxruntime:...] msg``
                b = _BRACKET_LETTER_RE.match(msg)
                if b is not None:
                    lvl = _LETTER_LEVEL[b.group("level")]
            elif lvl is None and msg[1:2] == " " and msg[:1] in "IWEF":   # Triton: ``ts E 1 file.cc:12] msg``
                b = _TRITON_RE.match(msg)
                if b is not None:
                    lvl, msg = _LETTER_LEVEL[b.group("level")], b.group("msg")
                    fields = {"source": b.group("src")}
            ts = m.group("ts")
            if ts[4] == "/":   # Go's log package and nginx: ``2024/06/15 14:22:03``
                ts = ts.replace("/", "-", 2)
            time = parse_time(ts.replace(" UTC", "+00:00")) if parse_times else None
            return Record(time, lvl, msg, name, n, fields, text)
        if c == "[":
            m = _BRACKET_RE.match(text)
            if m is not None:
                time = parse_time(m.group("ts")) if parse_times else None
                return Record(time, norm_level(m.group("level")), m.group("msg"), name, n, {}, text)
            m = _GLOG_RE.match(text)
            if m is not None:
                return _glog(m, text, name, n, parse_times)
            m = _BRACKET_LETTER_RE.match(text)
            if m is not None:
                fields = {"logger": m.group("logger")} if m.group("logger") else {"source": m.group("src")}
                return Record(None, _LETTER_LEVEL[m.group("level")], m.group("msg"), name, n, fields, text)
            m = _LEVEL_ONLY_RE.match(text)
            if m is not None:
                return Record(None, norm_level(m.group("blevel")), m.group("msg"), name, n, {}, text)
        return None
    if c.isalpha() and c.isupper():
        m = _SYSLOG_RE.match(text)
        if m is not None:
            fields: dict = {"host": m.group("host"), "program": m.group("prog")}
            if m.group("pid"):
                fields["pid"] = int(m.group("pid"))
            time = parse_time(m.group("ts")) if parse_times else None
            return Record(time, None, m.group("msg"), name, n, fields, text)
        if c in "IWEF":
            m = _GLOG_RE.match(text)
            if m is not None:
                return _glog(m, text, name, n, parse_times)
        m = _VLLM_RE.match(text)
        if m is not None:
            time = _this_year(m.group("md"), m.group("hms")) if parse_times else None
            return Record(time, norm_level(m.group("level")), m.group("msg"), name, n, {"source": m.group("src")},
                          text)
        m = _LEVEL_ONLY_RE.match(text)
        if m is not None:
            fields = {"logger": m.group("logger")} if m.group("logger") else {}
            return Record(None, norm_level(m.group("level")), m.group("msg"), name, n, fields, text)
        return None
    if c and not c.isspace():
        m = _CLF_RE.match(text)
        if m is not None:
            time = parse_time(m.group("ts")) if parse_times else None
            return Record(time, None, m.group("msg"), name, n, {"host": m.group("host")}, text)
    return None
