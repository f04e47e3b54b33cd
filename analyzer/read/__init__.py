"""Reading logs: paths -> a stream of :class:`~analyzer.records.Record`, whatever wrote them.

Inputs: files, folders (recursive, symlink loops detected), globs, ``-`` for stdin; plain or gzip
(by magic bytes). Formats are recognised with no flag, per file and per line:

* envelopes (:mod:`analyzer.read.envelopes`): Docker json-file, Kubernetes CRI (partials rejoined),
  journald ``-o json`` / ``-o export``, OpenTelemetry JSON, ECS JSON, ``docker compose`` prefixes,
  Markdown-quoted pastes; their inner text is read like any line;
* application JSON (:mod:`analyzer.read.jsonlog`): loguru ``serialize=True``, structlog, logstash, ...;
* plain-text headers (:mod:`analyzer.read.text`): Python logging, loguru's default, uvicorn,
  gunicorn, glog/c10/NCCL, onnxruntime, vLLM, syslog, Apache, common log format; or a logparser
  header format given with ``--log-format`` (:mod:`analyzer.read.logformat`);
* console output: ANSI colours, tqdm ``\\r`` bars, CRLF, Windows paths, ``[rank0]:`` prefixes.

Tracebacks are joined into one record, bare ones too, and a record without a level gets one from its
content (:mod:`analyzer.read.assemble`). Bad input (undecodable bytes, NUL bytes, malformed JSON,
over-long lines) is counted in :class:`ReadStats`, never fatal; :func:`read_records` raises
:class:`~ttsops.errors.InputError` only when nothing at all could be read.
"""
from __future__ import annotations

from analyzer.read.assemble import MAX_JOINED_BYTES, MAX_JOINED_LINES, Assembler
from analyzer.read.frame import load_logs
from analyzer.read.lines import MAX_LINE_BYTES, decode_line, iter_raw_batches, iter_raw_lines
from analyzer.read.logformat import logformat_regex
from analyzer.read.parser import LineParser
from analyzer.read.paths import LOG_SUFFIXES, NOT_LOGS, expand_paths
from analyzer.read.reader import FileReader, iter_file_records, read_records
from analyzer.read.stats import FileFacts, ReadStats
from analyzer.read.times import norm_level, parse_time

__all__ = [
    "ReadStats", "FileFacts", "read_records", "iter_file_records", "iter_raw_lines", "iter_raw_batches",
    "decode_line",
    "expand_paths", "load_logs", "LineParser", "FileReader", "Assembler", "logformat_regex", "parse_time",
    "norm_level", "MAX_LINE_BYTES", "MAX_JOINED_LINES", "MAX_JOINED_BYTES", "LOG_SUFFIXES", "NOT_LOGS",
]
