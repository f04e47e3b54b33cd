"""The client's half of a distributed run: piece results -> the state one process would have had.

1. **Order.** ``read_records`` merges files with ``heapq.merge`` on ``(time or epoch, file, position)``.
   Popping the smallest head of streams that are not sorted yields each record right after the one
   before it in its file when its time is earlier, i.e. the run's order is a stable sort on the
   running maximum of each file's times, then file, then position: one ``numpy.lexsort``, exact.
2. **Templates.** The distinct masked messages of all pieces get global numbers; the one miner
   replays the run's sequence of masked messages (``add_masked_match``: a dict hit for all but
   new shapes), so template ids, merges, splits and "new" are those of one process, whatever the
   partitioning. Warning/error records are accounted at their place in that sequence (KB episodes,
   exception groups, with their run position for records without a time).
3. **Windows.** Each piece's windows are keyed by its masked-message numbers; each number becomes
   the template id the replay gave its records. Counts add, request id sets unite, latency and RTF
   values join, so distinct requests and quantiles are exact. Should one masked message have got
   template ids that fold to different final ids (the miner re-mined it after a merge into a cluster
   that generalizes differently), the pieces holding it are read again with each record's id given
   (:func:`~analyzer.dist.piece.read_piece` ``override``): exact in every case.
4. **The rest.** Counters add, first/last times are min/max, each file's last record (stalls) and
   reading statistics are taken in file order; line numbers are offset by the lines of the pieces
   before.
"""
from __future__ import annotations

from array import array
from datetime import datetime, timedelta
from typing import Any, Iterable

import numpy as np

from analyzer.dist.piece import EPOCH, NO_TIME, PieceResult
from analyzer.read.stats import FileFacts, ReadStats

__all__ = ["RunMerger"]


def _dt(us: int) -> datetime | None:
    return None if us == NO_TIME else EPOCH + timedelta(microseconds=int(us))


class RunMerger:
    """``replay()``, then ``redo()`` -> pieces to read again with ids (usually none), ``replace()``
    their results, then ``finish()``: the client :class:`~analyzer.pipeline.Analyzer` is filled."""

    def __init__(self, an: Any, results: Iterable[PieceResult], stats: ReadStats):
        self.an, self.stats = an, stats
        self.results = sorted(results, key=lambda r: (r.piece.file_idx, r.piece.index))
        self._offset_lines()
        gid_of: dict[str, int] = {}
        self.remaps = []
        for r in self.results:
            self.remaps.append(np.fromiter((gid_of.setdefault(m, len(gid_of)) for m in r.masked),
                                           dtype=np.int64, count=len(r.masked)))
        self.masked = list(gid_of)
        sizes = [len(r.ids) // 4 for r in self.results]
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        n = int(self.starts[-1])
        self.gids = np.empty(n, np.int64)
        self.times = np.empty(n, np.int64)
        for k, r in enumerate(self.results):
            a, b = self.starts[k], self.starts[k + 1]
            self.gids[a:b] = self.remaps[k][np.frombuffer(r.ids, np.int32)] if b > a else 0
            self.times[a:b] = np.frombuffer(r.times, np.int64)
        self.order = self._run_order()
        self.rank = np.empty(n, np.int64)
        self.rank[self.order] = np.arange(n)
        self.pids: np.ndarray | None = None

    # -- 0. line numbers -------------------------------------------------------------------------
    def _offset_lines(self) -> None:
        """Pieces number lines from 1: add the lines of the pieces before, in records and bad lines."""
        offset: dict[int, int] = {}
        for r in self.results:
            off = offset.get(r.piece.file_idx, 0)
            offset[r.piece.file_idx] = off + r.stats.lines
            r.line_offset = off  # type: ignore[attr-defined]
            if not off:
                continue
            seen: set[int] = set()
            for rec in [c[1] for c in r.candidates] + ([r.last[0]] if r.last else []):
                if id(rec) not in seen:
                    seen.add(id(rec))
                    rec.line += off
                    if rec.end_line:
                        rec.end_line += off
                    if rec.line_map is not None:
                        rec.line_map = tuple(n + off for n in rec.line_map)
            for b in r.stats.bad_lines:
                b.line += off

    # -- 1. order -------------------------------------------------------------------------------
    def _run_order(self) -> np.ndarray:
        n = len(self.gids)
        file_idx = np.empty(n, np.int64)
        runmax = np.empty(n, np.int64)
        pos = np.empty(n, np.int64)
        files = sorted({r.piece.file_idx for r in self.results})
        if len(files) <= 1:
            return np.arange(n)
        for f in files:
            ks = [k for k, r in enumerate(self.results) if r.piece.file_idx == f]
            a, b = self.starts[ks[0]], self.starts[ks[-1] + 1]
            key = np.where(self.times[a:b] == NO_TIME, 0, self.times[a:b])  # no time sorts as the epoch
            runmax[a:b] = np.maximum.accumulate(key) if b > a else key
            file_idx[a:b] = f
            pos[a:b] = np.arange(b - a)
        return np.lexsort((pos, file_idx, runmax))

    # -- 2. templates and warning/error records --------------------------------------------------
    def replay(self) -> None:
        an = self.an
        cands = []
        for k, r in enumerate(self.results):
            base = self.starts[k]
            cands += [(int(self.rank[base + pos]), rec) for pos, rec in r.candidates]
        cands.sort(key=lambda c: c[0])
        cranks = [c[0] for c in cands]
        masked = self.masked
        seq = [masked[g] for g in self.gids[self.order].tolist()]
        pids = array("i")
        new_events = []
        ci = 0
        hit = an.hit
        for n0, m in an.miner.add_masked_run(seq, cranks, pids):
            if m.is_new:
                new_events.append((n0, m.template_id, m.template))
            if ci < len(cranks) and cranks[ci] == n0:
                hit(cands[ci][1], m.template_id, m.template, n0 + 1)
                ci += 1
        del seq
        self.pids = np.frombuffer(pids, np.int32)
        flat = self.order
        for n0, tid, template in new_events:
            k = int(np.searchsorted(self.starts, flat[n0], side="right")) - 1
            r = self.results[k]
            line = int(np.frombuffer(r.lines, np.int32)[flat[n0] - self.starts[k]]) + r.line_offset  # type: ignore[attr-defined]
            t = _dt(int(self.times[flat[n0]]))
            an.note_new(tid, template, t, r.piece.path, line)
            an.windows.count_new_template(t)

    # -- 3. windows --------------------------------------------------------------------------------
    def redo(self, *, every_piece: bool = False) -> dict[int, list[int]]:
        """``{result index: template id of each of its records}`` for pieces holding a masked
        message whose template ids fold to different final ids (empty in the common case;
        ``every_piece``: all pieces, the exact path everywhere, for checking it)."""
        assert self.pids is not None
        canon = self.an.miner.canonical
        gid_run = self.gids[self.order]
        pairs = np.unique((gid_run << 32) | self.pids.astype(np.int64))
        final: dict[int, int] = {}
        rep: dict[int, int] = {}
        bad: set[int] = set()
        for p in pairs.tolist():
            gid, pid = p >> 32, p & 0xFFFFFFFF
            f = canon(pid)
            if gid in final and final[gid] != f:
                bad.add(gid)
            final.setdefault(gid, f)
            rep.setdefault(gid, pid)
        self.rep = rep
        if every_piece:
            bad = set(final)
        if not bad:
            return {}
        pid_flat = np.empty_like(self.pids)
        pid_flat[self.order] = self.pids
        out = {}
        bad_arr = np.fromiter(bad, np.int64)
        for k in range(len(self.results)):
            a, b = self.starts[k], self.starts[k + 1]
            if b > a and np.isin(self.gids[a:b], bad_arr).any():
                out[k] = pid_flat[a:b].tolist()
        return out

    def replace(self, k: int, result: PieceResult) -> None:
        """The piece ``k`` read again with its records' template ids (its windows are keyed by them)."""
        result.line_offset = self.results[k].line_offset  # type: ignore[attr-defined]
        self.results[k].windows = result.windows
        self.results[k].sessions = result.sessions
        self.results[k].overridden = True

    def finish(self) -> None:
        an, stats = self.an, self.stats
        rep = getattr(self, "rep", None)
        if rep is None:
            self.redo()
            rep = self.rep
        for k, r in enumerate(self.results):
            w = r.windows
            keys = {t for win in [*w._windows.values(), w._pending] for t in win.templates} | w.error_templates
            if r.overridden:
                tmap = {t: t for t in keys}
            else:
                remap = self.remaps[k]
                tmap = {t: rep[int(remap[t])] for t in keys}
            an.windows.absorb(w, tmap)
            if r.sessions is not None:
                self._absorb_sessions(k, r, tmap)
        if an.sessions is not None:
            # session ids in the order their first record came in the run (the frame's rows)
            an.sessions._seqs = dict(sorted(an.sessions._seqs.items(), key=lambda kv: self._sid_rank[kv[0]]))
        # first time each streamed template id was seen, in the run's order (as WindowFeatures.add keeps it)
        assert self.pids is not None
        uniq, first = np.unique(self.pids, return_index=True)
        t_run = self.times[self.order]
        an.windows.first_seen = {int(p): (float("nan") if t_run[i] == NO_TIME else int(t_run[i]) / 10**6)
                                 for p, i in zip(uniq.tolist(), first.tolist())}
        an.records = sum(r.records for r in self.results)
        an.errors = sum(r.errors for r in self.results)
        an.warnings_n = sum(r.warnings for r in self.results)
        firsts = [r.first_time for r in self.results if r.first_time is not None]
        lasts = [r.last_time for r in self.results if r.last_time is not None]
        an.first_time = min(firsts) if firsts else None
        an.last_time = max(lasts) if lasts else None
        # each file's last record, files in the order their first record came in the run
        last_of: dict[str, tuple[int, Any]] = {}
        first_rank: dict[str, int] = {}
        for k, r in enumerate(self.results):
            a, b = self.starts[k], self.starts[k + 1]
            if b > a:
                first_rank.setdefault(r.piece.path, int(self.rank[a:b].min()))
                first_rank[r.piece.path] = min(first_rank[r.piece.path], int(self.rank[a:b].min()))
            if r.last is not None:
                last_of[r.piece.path] = (int(self.rank[a + r.last[1]]) + 1, r.last[0])
        self._last_rank = {p: v[0] for p, v in last_of.items()}
        an._last_by_file.clear()
        for path in sorted(last_of, key=lambda p: first_rank.get(p, 0)):
            n, rec = last_of[path]
            an._last_by_file[path] = (rec, n)
        self._merge_stats(stats)

    def _absorb_sessions(self, k: int, r: PieceResult, tmap: dict[int, int]) -> None:
        """A piece's template numbers per session id, renamed; each id's first place in the run kept.
        (The counts per session are exact; the order of ids within a session's list is by piece.)"""
        ranks = getattr(self, "_sid_rank", None)
        if ranks is None:
            ranks = self._sid_rank = {}
        seqs = self.an.sessions._seqs
        base = self.starts[k]
        rec = r.sessions
        for sid, ids in rec._seqs.items():
            seqs.setdefault(sid, []).extend(tmap[t] for t in ids)
            at = int(self.rank[base + rec.first_at[sid]])
            if at < ranks.get(sid, 1 << 62):
                ranks[sid] = at

    # -- 4. reading statistics ----------------------------------------------------------------
    def _merge_stats(self, stats: ReadStats) -> None:
        facts: dict[str, FileFacts] = {}
        bad = []
        for r in self.results:
            s = r.stats
            stats.lines += s.lines
            stats.records += s.records
            stats.bytes += s.bytes
            stats.bad_line_count += s.bad_line_count
            bad += [(r.piece.file_idx, b.line, b) for b in s.bad_lines]
            for w in s.warnings:
                stats.warn(w)
            for f in s.files:
                if f not in stats.files:
                    stats.files.append(f)
            stats.unreadable += [u for u in s.unreadable if u not in stats.unreadable]
            ff = facts.setdefault(r.piece.path, FileFacts())
            if ff.envelope == "plain":
                ff.envelope = r.facts.envelope
            ff.records += r.facts.records
            ff.timed += r.facts.timed
            ff.leveled += r.facts.leveled
            ff.inferred += r.facts.inferred
        bad.sort(key=lambda x: (x[0], x[1]))
        stats.bad_lines = [b for _f, _l, b in bad][: stats.max_bad_lines]
        # one process says what it must about a file when the file's last record has been taken
        for path in sorted(facts, key=lambda p: self._last_rank.get(p, -1)):
            if path in stats.files:
                stats.file_done(path, facts[path])
