"""Folding whole templates: the covering fold and free-text rests (batch, over every template seen).

* **covering fold** (:func:`fold_covered`) - a template that a template of more distinct messages
  covers, each ``<*>`` standing for one token or a run of up to :data:`~.merge.MAX_SEGMENT` plain
  words (a free-text rest of any length where that template's messages already have several
  lengths), is that template: a message with two values of several words, or a sentence, that no
  family turned on its own. The idea is LILAC's: match against known templates with bounded
  variables.
* **free-text rests** (:func:`free_tails`) - templates equal up to a rest of plain words, far too
  many distinct rests of several lengths after one prefix: each message a sentence of its own
  (``cancelPeek: <a sentence>``), that no Drain length lines up and no template covers yet.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

from .merge import is_field

__all__ = ["CoverIndex", "covers", "fold_covered", "free_tails", "spans"]


@lru_cache(maxsize=4096)
def _token_matcher(token: str) -> Any:
    """``token == x`` for a plain token; for one holding ``<*>`` (``uid=<*>``), a full match with each
    ``<*>`` as one or more characters (the token is one token of the key, so no backtracking across
    tokens)."""
    if "<*>" not in token:
        return token.__eq__
    return re.compile("[^ ]+?".join(map(re.escape, token.split("<*>")))).fullmatch


def covers(general: Sequence[str], key: Sequence[str], max_run: int | None = None, free_tail: bool = False) -> bool:
    """True when template tokens ``key`` are an instance of ``general``: each ``<*>`` token of
    ``general`` stands for one or more tokens, a token holding ``<*>`` (``uid=<*>``) for one token of
    that shape. With ``max_run``: a ``<*>`` stands for one token, or for a run of at most ``max_run``
    plain words (no mask in it: a run holding one is another template's structure, not a value);
    with ``free_tail`` too, a ``<*>`` that ends ``general`` stands for any rest (free text) with no
    ``key=value`` field in it (``rhost=<*>`` and ``rhost=<*> user=<*>`` are two templates).
    Token-level dynamic programming: O(len(general) x len(key) x run), no backtracking."""
    if max_run is None:
        return spans(general, key) is not None
    n = len(key)
    reach = [True] + [False] * n          # reach[j]: general[:i] can produce key[:j]
    last = len(general) - 1
    for i, t in enumerate(general):
        new = [False] * (n + 1)
        if t == "<*>":
            if free_tail and i == last:      # a rest of any length, but no field in it
                start = next((j for j in range(n) if reach[j]), n)
                if start < n and not any(is_field(x) for x in key[start + 1:]):
                    new[n] = True
                    if start + 1 < n:
                        new[start + 1] = True
                elif start < n:
                    new[start + 1] = True
            else:
                for j in range(n):
                    if not reach[j]:
                        continue
                    new[j + 1] = True
                    for e in range(j + 2, min(n, j + max_run) + 1):
                        if "<" in key[e - 1] or "<" in key[j]:
                            break
                        new[e] = True
        else:
            same = _token_matcher(t)
            for j in range(1, n + 1):
                new[j] = reach[j - 1] and same(key[j - 1])
        if not any(new):
            return False
        reach = new
    return reach[-1]


def spans(general: Sequence[str], key: Sequence[str]) -> list[tuple[str, ...]] | None:
    """What each ``<*>`` token of ``general`` stands for in template tokens ``key`` (one or more
    tokens each, as :func:`covers` without ``max_run``), or None when ``general`` does not cover
    ``key``. Of several alignments, the one whose later ``<*>`` take the fewest tokens."""
    n = len(key)
    reach = [[True] + [False] * n]       # reach[i][j]: general[:i] can produce key[:j]
    for t in general:
        prev = reach[-1]
        new = [False] * (n + 1)
        if t == "<*>":
            seen = False
            for j in range(1, n + 1):
                seen = seen or prev[j - 1]
                new[j] = seen
        else:
            same = _token_matcher(t)
            for j in range(1, n + 1):
                new[j] = prev[j - 1] and same(key[j - 1])
        reach.append(new)
    if not reach[-1][n]:
        return None
    out: list[tuple[str, ...]] = []
    j = n
    for i in range(len(general) - 1, -1, -1):
        if general[i] == "<*>":
            s = j - 1
            while not reach[i][s]:
                s -= 1
            out.append(tuple(key[s:j]))
            j = s
        else:
            j -= 1
    out.reverse()
    return out


class CoverIndex:
    """Templates that may cover others, by first token: a variable and two constant tokens, or one
    constant before a ``<*>`` that ends the template (``phonemes: <*>``, a free-text rest when the
    template's messages have several lengths). :meth:`target` is the fold rule of
    :func:`fold_covered`; the miner keeps one as templates appear, for ids handed out streaming."""

    def __init__(self, max_run: int):
        self.max_run = max_run
        self.keys: dict[int, tuple[str, ...]] = {}
        self.fixed: dict[int, int] = {}
        self.by_first: dict[str, list[int]] = {}

    def add(self, pid: int, toks: tuple[str, ...]) -> None:
        fixed = sum("<" not in t for t in toks)
        if "<*>" in toks and (fixed >= 2 or (fixed and toks[-1] == "<*>")) and pid not in self.keys:
            self.keys[pid] = toks
            self.fixed[pid] = fixed
            self.by_first.setdefault(toks[0] if toks[0] != "<*>" else "", []).append(pid)

    def discard(self, pids: Iterable[int]) -> None:
        """Forget templates (folded into others: no longer targets)."""
        gone = {p for p in pids if p in self.keys}
        if not gone:
            return
        for p in gone:
            toks = self.keys.pop(p)
            del self.fixed[p]
            self.by_first[toks[0] if toks[0] != "<*>" else ""].remove(p)

    def order(self, counts: Mapping[int, int]) -> None:
        """Sort each bucket by count, most first (batch: :meth:`target` then stops early)."""
        for ids in self.by_first.values():
            ids.sort(key=lambda g: -counts[g])

    def target(self, pid: int, toks: tuple[str, ...], counts: Mapping[int, int], n: int,
               spans: Iterable[int] | set[int], ordered: bool = False) -> int | None:
        """The template that ``toks`` (template ``pid``, seen ``n`` times) folds into: one that covers
        it and was seen more than ``n`` times (``counts``); of several, the one with the most
        constant tokens, then the most messages, then the smallest id."""
        best: tuple[int, int, int] | None = None
        max_run = self.max_run
        for bucket in (self.by_first.get(toks[0], ()), self.by_first.get("", ())):
            for g in bucket:
                c = counts.get(g, 0)
                if c <= n:
                    if ordered:
                        break
                    continue
                if g == pid:
                    continue
                gt = self.keys[g]
                free = gt[-1] == "<*>" and g in spans
                fixed = self.fixed[g]
                if (fixed < 2 and not free) or not (len(gt) <= len(toks) and (
                        free or len(toks) <= len(gt) + (max_run - 1) * gt.count("<*>"))):
                    continue
                rank = (fixed, c, -g)
                if (best is None or rank > best) and covers(gt, toks, max_run, free):
                    best = rank
        return None if best is None else -best[2]


def fold_covered(keys: Mapping[int, tuple[str, ...]], counts: Mapping[int, int], max_run: int,
                 spans: frozenset[int] | set[int] = frozenset()) -> dict[int, int]:
    """Templates to fold: id -> the id of a template that covers it (:func:`covers` with runs of at
    most ``max_run`` words) and was seen in more distinct messages. The message with two values of
    several words that no segment family turned (``PacketResponder ann lee for block x y z
    terminating`` beside ``PacketResponder <*> for block <*> terminating``) is an instance of the
    template its siblings made; so is a variable first word on a message of its own. A template in
    ``spans`` (its messages have several lengths: a value there spans words) ending in ``<*>`` takes
    a rest of any length there (``Text normalized: <*>`` and a sentence of twelve words). A target
    needs two constant tokens (one, before such a rest: ``phonemes: <*>``); see
    :meth:`CoverIndex.target` for the choice among several. Candidates are found by first token,
    count and length, so this is near linear in templates."""
    index = CoverIndex(max_run)
    for pid, toks in keys.items():
        index.add(pid, toks)
    if not index.keys:
        return {}
    index.order(counts)
    into: dict[int, int] = {}
    for pid, toks in keys.items():
        g = index.target(pid, toks, counts, counts[pid], spans, ordered=True)
        if g is not None:
            into[pid] = g
    for pid in list(into):          # a target that folds too: to the end of the chain
        seen = {pid}
        while into[pid] in into and into[pid] not in seen:
            seen.add(into[pid])
            into[pid] = into[into[pid]]
    return into


def _plain_rest(toks: Sequence[str]) -> int:
    """Where the rest of plain tokens (no mask, no ``key=value`` field) that ends ``toks`` starts."""
    j = len(toks)
    while j > 0 and "<" not in toks[j - 1] and not is_field(toks[j - 1]):
        j -= 1
    return j


def free_tails(keys: Mapping[int, Sequence[str]], many: int,
               counts: Mapping[int, int] | None = None) -> dict[int, tuple[str, ...]]:
    """Templates that end in free text: id -> the prefix its sentence follows. After one prefix
    (holding a constant token), more than ``many`` templates whose rests are plain words of several
    lengths *and were each seen once* (``counts``: lines per template): each message a sentence of
    its own, which no Drain length lines up and no template covers yet (``cancelPeek: <a
    sentence>``). Event messages that share a label repeat (``ACPI: Interpreter enabled`` at every
    boot, event names a handful at a time) and are not counted; the templates that do repeat after
    a prefix that qualifies get it too. The longest such prefix wins. Prefixes are counted one length
    at a time, by running hash, and only those of templates whose shorter prefix had more than
    ``many``: no prefix is copied, and the work after the first lengths is on the templates that
    share one."""
    live = []
    for pid, toks in keys.items():
        start = _plain_rest(toks)
        if start < len(toks):
            live.append((pid, toks, max(start, 1), 0, counts is None or counts.get(pid, 0) <= 1, False))
    out: dict[int, tuple[str, ...]] = {}
    d = 0
    while live:
        d += 1
        total: dict[int, int] = {}
        step = []
        for pid, toks, start, h, once, const in live:
            if d < len(toks):             # a prefix leaves a rest
                t = toks[d - 1]
                h = hash((h, t))
                if once:
                    total[h] = total.get(h, 0) + 1
                step.append((pid, toks, start, h, once, const or "<" not in t))
        live = [x for x in step if total.get(x[3], 0) > many]
        stats: dict[int, list] = {}      # prefix hash -> [templates, first rest length, several lengths]
        for _pid, toks, start, h, once, const in live:
            if once and d >= start and const:
                s = stats.get(h)
                if s is None:
                    stats[h] = [1, len(toks) - d, False]
                else:
                    s[0] += 1
                    s[2] = s[2] or s[1] != len(toks) - d
        for pid, toks, _start, h, _once, _const in live:
            s = stats.get(h)
            if s is not None and s[0] > many and s[2]:
                out[pid] = tuple(toks[:d])
    return out
