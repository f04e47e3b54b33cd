"""One piece of a distributed run, read on a Dask worker: what the client needs to finish the run as
one process would have, and nothing per record that it does not need.

The worker runs the very loop of the single process (:meth:`analyzer.pipeline.Analyzer.run`) over
its records, with three recorders in place of the order-dependent parts:

* :class:`MaskRecorder` instead of the template miner: it masks each message (the costly part of
  mining) and numbers the distinct masked messages; the client replays them in the run's order
  through the one real miner, so ids, merges and "new" come out as in one process;
* :class:`CandidateRecorder` instead of the KB episodes and exception groups: warning/error records
  are kept whole, for the client to account in the run's order;
* window features are built here (template ids = local masked-message numbers, windows kept open so
  request ids can be united across pieces) and merged on the client.

Per record the result carries 16 bytes (masked-message number, time in microseconds, line).
"""
from __future__ import annotations

import time
from array import array
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Any, Iterator, Sequence

from analyzer.config import AnalyzeConfig
from analyzer.dist.partition import Piece
from analyzer.features import SessionFeatures
from analyzer.kb import KnowledgeBase
from analyzer.read.lines import iter_raw_lines
from analyzer.read.parser import LineParser
from analyzer.read.reader import FileReader, reader_records
from analyzer.read.stats import FileFacts, ReadStats
from analyzer.records import Record
from analyzer.templates import TemplateMatch

__all__ = ["PieceResult", "read_pieces", "read_piece", "NO_TIME", "EPOCH", "to_us"]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
NO_TIME = -(1 << 63)   # the time column of a record without a time


def to_us(t: datetime) -> int:
    """Exact microseconds since the epoch (the order of datetimes, kept exactly)."""
    return (t - EPOCH) // _US


class MaskRecorder:
    """Stands in for the miner on a worker: ``add(message)`` masks, numbers the distinct masked
    messages and records each record's number; ``override`` gives final template ids instead (the
    client's rare second pass, see :mod:`analyzer.dist.merge`)."""

    def __init__(self, masker: Any, override: Sequence[int] | None = None):
        self.mask = masker.mask
        self.numbers: dict[str, int] = {}
        self.ids = array("i")
        self.override = override

    def add(self, message: str) -> TemplateMatch:
        masked = self.mask(message)
        i = self.numbers.get(masked)
        if i is None:
            i = self.numbers[masked] = len(self.numbers)
        if self.override is not None:
            i = self.override[len(self.ids)]
        self.ids.append(i)
        return TemplateMatch(i, "", False)

    @staticmethod
    def canonical(template_id: int) -> int:
        return template_id


class CandidateRecorder:
    """Stands in for :class:`~analyzer.incidents.HitCollector`: keeps ``(position, record)``."""

    def __init__(self) -> None:
        self.kept: list[tuple[int, Record]] = []

    def add(self, rec: Record, template_id: int | None = None, template: str | None = None, *,
            seq: int | None = None) -> None:
        self.kept.append((seq - 1, rec))
        return None


class SessionRecorder(SessionFeatures):
    """Session features of a piece, also noting where in the piece each session id came first
    (``first_at``: the run's order of session ids is rebuilt from it on the client)."""

    def __init__(self, id_regex: str):
        super().__init__(id_regex)
        self.first_at: dict[str, int] = {}
        self.n = 0

    def add(self, record: Any, template_id: int) -> None:
        before = len(self._seqs)
        super().add(record, template_id)
        new = len(self._seqs) - before
        if new:
            for sid in islice(reversed(self._seqs), new):
                self.first_at[sid] = self.n
        self.n += 1


class _NoGroups:
    """Exception groups are built on the client, from the kept records."""

    def add(self, *_a: Any, **_k: Any) -> None:
        return None


@dataclass
class PieceResult:
    """What one piece sends back (plain data: arrays, strings, records, windows)."""

    piece: Piece
    masked: list[str]                       # distinct masked messages, by local number
    ids: bytes                              # int32 per record: local number (or final id with override)
    times: bytes                            # int64 per record: microseconds, NO_TIME for none
    lines: bytes                            # int32 per record: line in the piece (1-based)
    candidates: list[tuple[int, Record]]    # (position in the piece, record) of warnings/errors
    windows: Any                            # WindowFeatures keyed by local number
    sessions: SessionRecorder | None = None  # with --sessions: template numbers per session id
    records: int = 0
    errors: int = 0
    warnings: int = 0
    first_time: datetime | None = None
    last_time: datetime | None = None
    last: tuple[Record, int] | None = None  # the piece's last record and its position
    stats: ReadStats = field(default_factory=ReadStats)
    facts: FileFacts = field(default_factory=FileFacts)
    worker: str = "local"
    seconds: float = 0.0
    cpu: float = 0.0                        # CPU seconds of the worker process on this piece
    overridden: bool = False


def _masker(config: AnalyzeConfig) -> Any:
    from analyzer.templates import Masker, TemplateConfig

    c = TemplateConfig.from_dict(config.templates) if config.templates else TemplateConfig()
    return Masker(c.masking, c.typed_masks, memo_size=c.cache_size)


def read_piece(piece: Piece, config: AnalyzeConfig, kb: KnowledgeBase, *,
               override: Sequence[int] | None = None) -> PieceResult:
    """Read and mine one piece (see the module doc)."""
    from analyzer.pipeline import Analyzer
    from ttsops.cluster import tune_worker_malloc, worker_name

    t0, c0 = time.perf_counter(), time.process_time()
    tune_worker_malloc()
    stats = ReadStats()
    recorder = MaskRecorder(_masker(config), override)
    cands = CandidateRecorder()
    sessions = SessionRecorder(config.sessions) if config.sessions else None
    an = Analyzer(config, kb=kb, miner=recorder, hits=cands, exceptions=_NoGroups(), sessions=sessions,
                  keep_windows_open=True)
    parser = LineParser(config.log_format)
    reader = FileReader(piece.path, parser, stats)
    if piece.start > 0:
        reader.settle()  # a later piece of a file whose head has no per-file envelope (partition.py)
    times, lines = array("q"), array("i")

    def tap(records: Iterator[Record]) -> Iterator[Record]:
        t_add, l_add = times.append, lines.append
        for rec in records:
            t = rec.time
            t_add(NO_TIME if t is None else (t - EPOCH) // _US)
            l_add(rec.line)
            yield rec

    an.run(tap(reader_records(reader, iter_raw_lines(piece.path, stats, piece.path, span=piece.span), stats)))
    last = an._last_by_file.get(piece.path)
    return PieceResult(
        piece=piece, masked=list(recorder.numbers), ids=recorder.ids.tobytes(), times=times.tobytes(),
        lines=lines.tobytes(), candidates=cands.kept, windows=an.windows, sessions=sessions, records=an.records,
        errors=an.errors, warnings=an.warnings_n, first_time=an.first_time, last_time=an.last_time,
        last=(last[0], last[1] - 1) if last is not None else None, stats=stats, facts=reader.facts,
        worker=worker_name(), seconds=time.perf_counter() - t0, cpu=time.process_time() - c0,
        overridden=override is not None)


def read_pieces(pieces: Sequence[Piece], config: AnalyzeConfig, kb: KnowledgeBase) -> list[PieceResult]:
    """One Dask task: several small pieces (each read on its own, as its file would be)."""
    return [read_piece(p, config, kb) for p in pieces]
