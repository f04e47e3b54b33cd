"""``tts-analyze --workers N`` / ``--scheduler ADDRESS``: the analysis on a Dask cluster, with the
result of one process.

* :mod:`.partition` - the input cut into pieces: files, and large files by byte ranges cut where a
  new record starts;
* :mod:`.piece` - one piece read and mined on a worker (the single process's loop, with recorders
  for the order-dependent parts);
* :mod:`.merge` - the client: the run's record order, the one miner replayed over it, windows and
  counters merged; then detection and incidents run on the client as in one process.

Workers must see the log files at the same paths (a shared or copied folder). See
docs/distributed.md for the method, the measured speed-up and the projection to many workers.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Sequence

from analyzer.config import AnalyzeConfig
from analyzer.kb import KnowledgeBase
from analyzer.pipeline import AnalysisResult, Analyzer, _baseline_features, _quiet_frame
from ttsops.errors import InputError

__all__ = ["analyze_on_cluster", "piece_size"]

MIN_PIECE = 1 << 20
MAX_PIECE = 128 << 20


def piece_size(total_bytes: int, workers: int) -> int:
    """About four pieces a worker (for balance), each between 1 MB and 128 MB."""
    return int(min(MAX_PIECE, max(MIN_PIECE, total_bytes // max(1, 4 * workers))))


def _groups(pieces: list[Any], sizes: dict[str, int], limit: int) -> list[list[Any]]:
    """Consecutive pieces in tasks of at most ``limit`` bytes (small files share a task)."""
    out: list[list[Any]] = []
    cur: list[Any] = []
    acc = 0
    for p in pieces:
        n = (p.end if p.end is not None else sizes.get(p.path, 0)) - p.start
        if cur and acc + n > limit:
            out.append(cur)
            cur, acc = [], 0
        cur.append(p)
        acc += n
    if cur:
        out.append(cur)
    return out


def analyze_on_cluster(paths: Sequence[str | os.PathLike[str]] | str, config: AnalyzeConfig | None, client: Any, *,
                       kb: KnowledgeBase | None = None, piece_bytes: int | None = None,
                       log: Callable[[str], None] | None = None, progress: bool = False,
                       timings: dict[str, float] | None = None) -> AnalysisResult:
    """:func:`analyzer.pipeline.analyze` on the Dask cluster of ``client`` (same result).

    ``piece_bytes``: the size pieces are cut to (default :func:`piece_size`); ``log``: where the
    lines saying which worker read what go; ``timings``: filled with the seconds of each phase
    (plan, read, replay, finish, result) and the sizes (pieces, tasks, records, worker seconds)."""
    from distributed import as_completed

    from analyzer.dist.merge import RunMerger
    from analyzer.dist.partition import plan_pieces
    from analyzer.dist.piece import read_piece, read_pieces
    from analyzer.read import ReadStats, expand_paths

    config = config or AnalyzeConfig()
    say = log or (lambda _s: None)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if "-" in paths:
        raise InputError("stdin cannot be read by a cluster", where="-", fix="give files, or drop --workers/--scheduler")
    stats = ReadStats()
    files = expand_paths(paths, stats)
    if not files:
        detail = "; ".join(stats.warnings[:3]) or "no log files found"
        raise InputError(f"nothing to read ({detail})", where=", ".join(paths)[:200],
                         fix="give log files, folders, globs or - for stdin")
    an = Analyzer(config, kb=kb)
    baseline = None
    if config.baseline:  # read here, with the run's miner, before the run (as one process does)
        baseline = _baseline_features(config.baseline, config, an.miner)
        an.new_templates.clear()
    sizes = {}
    for f in files:
        try:
            sizes[f] = os.path.getsize(f)
        except OSError:
            sizes[f] = 0
    workers = max(1, sum(client.nthreads().values()))
    limit = piece_bytes or piece_size(sum(sizes.values()), workers)
    t0, c0 = time.perf_counter(), time.process_time()
    pieces = plan_pieces(files, piece_bytes=limit, log_format=config.log_format)
    groups = _groups(pieces, sizes, limit)
    t_plan0 = time.perf_counter()
    t_plan, c_plan = t_plan0 - t0, time.process_time() - c0
    say(f"dask: {len(pieces)} piece(s) of <= {limit / 1e6:.1f} MB in {len(groups)} task(s) on {workers} worker(s) "
        f"(planned in {t_plan:.2f}s)")
    # config and KB go with each task (tens of KB; a broadcast scatter can hang in Dask's replication)
    kb = an.kb
    futures = [client.submit(read_pieces, g, config, kb, pure=False) for g in groups]
    bar = _Bar(sum(sizes.values()), progress)
    results = []
    per_worker: dict[str, float] = {}
    cpu_worker: dict[str, float] = {}
    try:
        for fut in as_completed(futures):
            for r in fut.result():
                results.append(r)
                per_worker[r.worker] = per_worker.get(r.worker, 0.0) + r.seconds
                cpu_worker[r.worker] = cpu_worker.get(r.worker, 0.0) + r.cpu
                say(f"dask: {r.worker} read {r.piece.label()}: {r.stats.lines} lines, {r.records} records "
                    f"in {r.seconds:.2f}s")
                bar.advance(r.stats.bytes)
            fut.release()
    finally:
        bar.done()
    t1, c1 = time.perf_counter(), time.process_time()
    merger = RunMerger(an, results, stats)
    merger.replay()
    t2 = time.perf_counter()
    redo = merger.redo()
    if redo:
        say(f"dask: {len(redo)} piece(s) read again with their template ids (a message whose ids fold apart)")
        again = {k: client.submit(read_piece, merger.results[k].piece, config, kb, override=ids, pure=False)
                 for k, ids in redo.items()}
        for k, fut in again.items():
            merger.replace(k, fut.result())
    merger.finish()
    t3 = time.perf_counter()
    say(f"dask: merged {len(results)} piece(s) on the client in {time.perf_counter() - t1:.2f}s "
        f"(worker time: {', '.join(f'{w} {s:.1f}s' for w, s in sorted(per_worker.items()))})")
    if not stats.files:
        detail = "; ".join(stats.warnings[:3])
        raise InputError(f"no input could be read ({detail})", where=", ".join(paths)[:200])
    baseline_frame = _quiet_frame(baseline) if baseline is not None else None
    result = an.result(stats=stats, baseline_frame=baseline_frame)
    if config.state_dir is not None:
        an.miner.save()
    if timings is not None:
        timings.update(plan=t_plan, read=t1 - t_plan0, replay=t2 - t1, finish=t3 - t2,
                       result=time.perf_counter() - t3, pieces=len(pieces), tasks=len(groups),
                       records=an.records, worker=sum(per_worker.values()), reread=len(redo),
                       worker_cpu=sum(cpu_worker.values()), busiest_worker_cpu=max(cpu_worker.values(), default=0.0),
                       client_cpu=time.process_time() - c1 + c_plan)
    return result


class _Bar:
    """A rich progress bar on stderr (bytes of finished pieces), only on a terminal."""

    def __init__(self, total: int, enabled: bool):
        self.prog = None
        if not enabled or not sys.stderr.isatty():
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

        self.prog = Progress(TextColumn("analyzing on the cluster"), BarColumn(), TransferSpeedColumn(),
                             TimeRemainingColumn(), console=Console(stderr=True), transient=True)
        self.task = self.prog.add_task("read", total=total)
        self.prog.start()

    def advance(self, n: int) -> None:
        if self.prog is not None:
            self.prog.update(self.task, advance=n)

    def done(self) -> None:
        if self.prog is not None:
            self.prog.stop()
