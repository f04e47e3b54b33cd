"""TemplateMiner: Drain's online tree, then a generalizing layer that decides variables from the data.

Pipeline for one message::

    message --(token classes, one pass: tokens.py)--> masked
    masked  --(cache: masked -> template id; a hit is done)--> Drain3 tree search (its online clusters)
    cluster --(merge.py: clusters equal but at variable positions are one; slot statistics)--> template

What the layer decides, with one number ``k`` (``split_max_values``) and no list of words:

* a position that held at most ``k`` distinct plain words is constant: each word is its own template
  (``Failed password`` / ``Failed none``); more than ``k``, or any variable-looking value (a digit, a
  mask), and it is a variable;
* Drain clusters whose templates are equal once variable-looking tokens are blanked are one template,
  and so are clusters that are equal but at one position when more than ``k`` of them differ there, or
  one of them holds a variable there (Drain's prefix tree had put them on different branches);
* with ``merge_runs``, templates with the same constant words in the same order that differ only in
  how many variable tokens stand between them are one template (a variable that spans words), and
  a template that a more common one covers folds into it (values of several words at two places
  at once, a free-text rest): as it appears, and again over everything in :meth:`TemplateMiner.fold`.

Ids are handed out as messages stream in; a later merge or split folds an id into another
(:meth:`TemplateMiner.canonical`), and :meth:`TemplateMiner.resolve_all` gives the final ids of
messages with everything seen (the batch path). With ``state_dir`` the state is saved as plain JSON
(persistence.py) and reloaded, so ids stay stable between runs.
"""
from __future__ import annotations

import os
import re
from array import array
from itertools import repeat
from pathlib import Path
from typing import Any, Iterator, Mapping, NamedTuple, Sequence

from .config import TemplateConfig
from .cover import CoverIndex, covers, fold_covered, free_tails, spans
from .merge import MANY, MAX_SEGMENT, ClusterMerger, SegmentFamilies
from .persistence import STATE_FILE, FilePersistence, StateError, StatePersistence, decode_state, encode_state
from .tokens import MASK, Masker, glue, unglue

__all__ = ["TemplateMiner", "TemplateMatch"]

_VAR_RUN = re.compile(rf"(?:{MASK}|[^\w\s<>])+")


def _shifted(template: Sequence[str], tokens: Sequence[str]) -> bool:
    """Drain aligned this message by position, and a value of several words shifted it: two
    ``<*>`` side by side in its template, a plain word of the message under one of them (``for <*>
    from <*> <*> <*> <*> ssh2`` over ``for root from x port y z ssh2``, where the other messages
    have ``port`` a position later)."""
    return len(template) == len(tokens) and any(
        a == b == "<*>" and ("<" not in x or "<" not in y)
        for a, b, x, y in zip(template, template[1:], tokens, tokens[1:]))


class TemplateMatch(NamedTuple):
    template_id: int
    template: str
    is_new: bool


class TemplateMiner:
    """Template mining: ``add(message)`` -> :class:`TemplateMatch` (id, current text, is_new).

    ``state_dir`` (or ``persistence``) keeps the state between runs; an unreadable or foreign state
    file is moved aside (``templates.state.corrupt-<n>``) and reported in :attr:`state_warning`, never
    decoded as code and never overwritten.
    """

    def __init__(self, config: TemplateConfig | None = None, *, state_dir: str | os.PathLike[str] | None = None,
                 persistence: StatePersistence | None = None):
        self.config = config or TemplateConfig()
        c = self.config
        self.drain = self._new_drain()
        self.masker = Masker(c.masking, c.typed_masks, memo_size=c.cache_size)
        self._k = c.split_max_values
        self.merger = ClusterMerger(self._k, enabled=c.merge_variables, keyed=c.depth - 3)
        self.segments = SegmentFamilies(self._k, keyed=c.depth - 3)
        self._cache: dict[str, tuple[int, int]] = {}   # masked -> (template id, Drain cluster id)
        self._keys: dict[str, int] = {}                # template key -> id
        self._pid_key: dict[int, str] = {}             # id -> template key (the inverse)
        self._origin: dict[int, tuple[int, tuple[str, ...]]] = {}  # id -> (cluster, tokens it was made of)
        self._text: dict[str, list] = {}               # key -> [first text, several texts seen]
        self._counts: dict[int, int] = {}
        self._folded: dict[int, int] = {}              # id -> the template that covered it as it appeared
        self._lengths: dict[int, int] = {}             # id -> token count of its first message
        self._spans: set[int] = set()                  # ids whose messages have several token counts
        self._cover = CoverIndex(MAX_SEGMENT)          # templates that may cover a new one
        self._tmpl_cache: dict[int, str] = {}
        self._new_since_save = 0
        self._flips = 0                                # segment families turned variable so far
        self._split = (lambda s: s.split()) if not c.extra_delimiters else self.drain.get_content_as_tokens
        if persistence is None and state_dir is not None:
            persistence = FilePersistence(Path(state_dir) / STATE_FILE)
        self.persistence = persistence
        self.state_warning: str | None = None
        if persistence is not None:
            self._load()

    # -- mining ------------------------------------------------------------------------------
    def mask(self, message: str) -> str:
        return self.masker.mask(message)

    def add(self, message: str) -> TemplateMatch:
        """Mine one message (masked here). Returns the template id, its current text, is_new."""
        return self.add_masked_match(self.masker.mask(message))

    def add_masked_match(self, masked: str) -> TemplateMatch:
        """:meth:`add` of a message masked already (by :meth:`mask`, e.g. on a Dask worker)."""
        hit = self._cache.get(masked)
        if hit is not None:
            pid = hit[0]
            self._counts[pid] += 1
            t = self._tmpl_cache.get(pid)
            return TemplateMatch(pid, t if t is not None else self.template(pid), False)
        pid, _cid, is_new = self._add_masked(masked)
        return TemplateMatch(pid, self.template(pid), is_new)

    def add_masked_run(self, masked: Sequence[str], stops: Sequence[int], ids: Any) -> Iterator[tuple[int, TemplateMatch]]:
        """:meth:`add_masked_match` for each message of ``masked`` in order (a replay: the client of a
        distributed run), the template ids appended to ``ids``; yields ``(position, match)`` at the
        positions in ``stops`` (ascending) and wherever a template is new."""
        cache, counts, append = self._cache, self._counts, ids.append
        k, nxt = 0, (stops[0] if len(stops) else -1)
        for i, m in enumerate(masked):
            hit = cache.get(m)
            if hit is not None and i != nxt:
                pid = hit[0]
                counts[pid] += 1
                append(pid)
                continue
            match = self.add_masked_match(m)
            append(match.template_id)
            if i == nxt:
                k += 1
                nxt = stops[k] if k < len(stops) else -1
                yield i, match
            elif match.is_new:
                yield i, match

    def add_masked(self, masked: str) -> int:
        """Fast path for bulk callers: an already-masked message -> template id."""
        return self.add_masked_cluster(masked)[0]

    def add_masked_cluster(self, masked: str) -> tuple[int, int]:
        """Like :meth:`add_masked`, also returning Drain's cluster id (for :meth:`resolve`)."""
        hit = self._cache.get(masked)
        if hit is not None:
            self._counts[hit[0]] += 1
            return hit
        pid, cid, _ = self._add_masked(masked)
        return pid, cid

    def _add_masked(self, masked: str) -> tuple[int, int, bool]:
        glued = glue(masked) if self.config.split_glued else masked
        cluster, change = self.drain.add_log_message(glued)
        cid = cluster.cluster_id
        tokens = self._split(glued)
        changed = False
        if change != "none":
            changed = self.merger.register(cid, cluster.log_template_tokens)
        canon = self.merger.find(cid)
        if self.merger.observe(canon, tokens) or changed:
            self._cache.clear()
            self._tmpl_cache.clear()
        gen = self._tokens_of(canon, tokens)
        pid, is_new = self._id_for(canon, gen)     # made even when realigned: its runs are evidence
        if self.config.merge_runs and _shifted(gen, tokens):
            g = self._realign(pid, self._collapse(tuple(tokens)), self._cover, self._counts)
            if g is not None:
                pid, is_new = g, False
        if self.config.cache_size:
            if len(self._cache) >= self.config.cache_size:
                for key in list(self._cache)[: max(1, self.config.cache_size // 2)]:
                    del self._cache[key]
            self._cache[masked] = (pid, cid)
        self._counts[pid] = self._counts.get(pid, 0) + 1
        if is_new:
            self._new_since_save += 1
            if self.config.snapshot_every and self._new_since_save >= self.config.snapshot_every:
                self.save()
        return pid, cid, is_new

    # -- templates ---------------------------------------------------------------------------
    def _tokens_of(self, canon: int, tokens: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """The template tokens of a message of cluster ``canon`` as things stand."""
        if self._k:
            return self.merger.generalize(canon, tokens)
        return self.merger.template_tokens(canon, self.drain.id_to_cluster) or tuple(tokens)

    def _collapse(self, toks: tuple[str, ...]) -> tuple[str, ...]:
        """Each run of variable tokens (masks and punctuation only, like ``<*>``, ``<*>,``,
        ``(<*>)``) as one ``<*>``."""
        out: list[str] = []
        prev_var = False
        for t in toks:
            var = "<" in t and _VAR_RUN.fullmatch(t) is not None
            if var and prev_var:
                continue
            out.append("<*>" if var else t)
            prev_var = var
        return tuple(out)

    def _key(self, toks: tuple[str, ...]) -> str:
        """The id key: the template text, runs of variable tokens as one ``<*>`` and runs of words
        that the segment families show to vary as ``<*>`` (``merge_runs``)."""
        if not self.config.merge_runs:
            return " ".join(toks)
        return " ".join(self.segments.generalize(self._collapse(toks)))

    def _id_for(self, canon: int, toks: tuple[str, ...]) -> tuple[int, bool]:
        key = self._key(toks)
        text = unglue(" ".join(toks))
        pid = self._keys.get(key)
        if pid is not None:
            entry = self._text[key]
            if not entry[1] and entry[0] != text:
                entry[1] = True
                self._tmpl_cache.clear()
            pid = self._folded.get(pid, pid)
            self._note_length(pid, len(toks))
            return pid, False
        pid = len(self._origin) + 1
        self._keys[key] = pid
        self._pid_key[pid] = key
        self._origin[pid] = (canon, toks)
        self._text[key] = [text, False]
        if self.config.merge_runs:
            collapsed = self._collapse(toks)
            flipped = self.segments.register(collapsed)
            general = tuple(key.split(" "))
            if general != collapsed:   # the generalized form too: a second run's family sees it
                flipped = self.segments.register(general) or flipped
            if flipped:
                self._flips += 1
                self._cache.clear()
                self._tmpl_cache.clear()
            into = self._cover.target(pid, general, self._counts, 1, self._spans)
            if into is not None:       # an instance of a template seen before (a sentence, two phrases)
                self._folded[pid] = into
                self._note_length(into, len(toks))
                return into, False
            self._cover.add(pid, general)
        self._note_length(pid, len(toks))
        return pid, True

    def _note_length(self, pid: int, n: int) -> None:
        """Template ``pid`` got a message of ``n`` tokens: a value there spans words when its
        messages have several lengths (the evidence a free-text rest needs to fold)."""
        if self._lengths.setdefault(pid, n) != n:
            self._spans.add(pid)

    def _realign(self, pid: int, toks: tuple[str, ...], index: CoverIndex, counts: Mapping[int, int]) -> int | None:
        """The template a message (``toks``: its collapsed tokens) of a misaligned template ``pid``
        belongs to: one that covers the message itself (:meth:`CoverIndex.target`) and holds more
        constant tokens than ``pid``'s key does; None when there is none. Seen less often is no objection: the message's own words show
        the target's constants at their places, where the fold of whole templates has only counts."""
        g = index.target(pid, toks, counts, 0, self._spans)
        if g is None or index.fixed[g] <= sum("<" not in t for t in self._pid_key[pid].split(" ")):
            return None
        return g

    def _resolve(self, masked: str, cluster_id: int) -> tuple[int, tuple[list[str], bool] | None]:
        """:meth:`resolve`, with the message's tokens when its alignment may be wrong (see
        :meth:`_realign_all`) and whether it is shifted."""
        canon = self.merger.find(cluster_id)
        glued = glue(masked) if self.config.split_glued else masked
        tokens = self._split(glued)
        gen = self._tokens_of(canon, tokens)
        pid = self._id_for(canon, gen)[0]
        if not self.config.merge_runs:
            return pid, None
        if _shifted(gen, tokens):
            return pid, (tokens, True)
        collapsed = self._collapse(gen)
        if self._pid_key[pid].count(" ") + 1 < len(collapsed):   # a run of its words is one <*>
            return pid, (tokens, False)
        return pid, None

    def resolve(self, masked: str, cluster_id: int) -> int:
        """Final template id of a masked message mined earlier into Drain cluster ``cluster_id``,
        with every merge and split decided on all the data seen (batch use: ``templates --format csv``)."""
        return self._resolve(masked, cluster_id)[0]

    def resolve_all(self, masked: Sequence[str], cluster_ids: Sequence[int], max_passes: int = 8,
                    weights: Sequence[int] | None = None) -> "array[int]":
        """:meth:`resolve` of every distinct masked message, repeated until no segment family turns
        variable during a pass (resolving registers templates, and a run that turns variable can
        make another run's family variable: a message with two values of several words); then a
        template that a more common template covers folds into it (:meth:`fold`; ``weights``: lines
        per message, when ``masked`` holds each distinct message once). A compact ``array('i')``:
        one entry per message of ``masked``."""
        ids: array[int] = array("i")
        misaligned: dict[int, tuple[list[str], bool]] = {}
        for _ in range(max_passes):
            before = self._flips
            ids = array("i")
            misaligned.clear()
            for i, (m, c) in enumerate(zip(masked, cluster_ids)):
                pid, why = self._resolve(m, c)
                ids.append(pid)
                if why is not None:
                    misaligned[i] = why
            if self._flips == before:
                break
        if not self.config.merge_runs:
            return ids
        counts: dict[int, int] = {}
        for pid, w in zip(ids, weights if weights is not None else repeat(1)):
            counts[pid] = counts.get(pid, 0) + w
        into = self.fold(counts)
        if into:
            ids = array("i", (into.get(pid, pid) for pid in ids))
        if misaligned:
            final: dict[int, int] = {}
            for pid, c in counts.items():
                final[into.get(pid, pid)] = final.get(into.get(pid, pid), 0) + c
            self._realign_all(ids, misaligned, final)
        return ids

    def _realign_all(self, ids: "array[int]", misaligned: Mapping[int, tuple[list[str], bool]],
                     counts: Mapping[int, int]) -> None:
        """Batch :meth:`_realign` against the final templates (``counts``: their lines) of the messages
        whose alignment may be wrong (``misaligned``: position -> (tokens, shifted)); ``ids`` is
        changed in place.

        Shifted ones (:func:`_shifted`) move one by one, as while streaming. The others are messages
        whose template made a run of their words one ``<*>`` (a segment family: ``from <*> ssh2``
        over ``from x port y ssh2``, where the event's other messages read ``from <*> port <*>
        ssh2``): the run may hold a constant of the event. They move as a group, from one template to
        one target, when the group's runs (what the template's ``<*>`` of several words stand for,
        :func:`~analyzer.templates.cover.spans`) take more than ``k`` values: fewer (``from NEW to
        UNASSIGNED``, every message the same run) is a few values, an event of its own by the rule of
        a slot."""
        index = CoverIndex(MAX_SEGMENT)
        for pid in counts:
            index.add(pid, tuple(self._pid_key[pid].split(" ")))
        index.order(counts)
        runs: dict[tuple[int, int], tuple[list[int], set]] = {}
        for i, (tokens, shifted) in misaligned.items():
            pid = ids[i]
            toks = self._collapse(tuple(tokens))
            g = self._realign(pid, toks, index, counts)
            if g is None:
                continue
            if shifted:
                ids[i] = g
            else:
                moved, seen = runs.setdefault((pid, g), ([], set()))
                moved.append(i)
                if len(seen) <= self._k:
                    words = spans(self._pid_key[pid].split(" "), toks)
                    seen.add(tuple(r for r in words if len(r) > 1) if words is not None else tuple(tokens))
        for (_, g), (moved, seen) in runs.items():
            if len(seen) > self._k:
                for i in moved:
                    ids[i] = g

    def fold(self, counts: Mapping[int, int] | None = None) -> dict[int, int]:
        """Fold each template that a template seen more often covers into it
        (:func:`~analyzer.templates.cover.fold_covered`: a sentence, two values of several words) and
        remember it, so :meth:`canonical`, :meth:`add` and a saved state follow. Streaming callers
        call it before reading ids out; :meth:`resolve_all` calls it with the lines of its input.
        ``counts``: template id -> lines seen (default: lines so far, per template that is its own
        canonical, with those folded into it). First, templates that end in a sentence of their own
        get the template they share (:meth:`_free_tails`). Returns the folds made now."""
        if not self.config.merge_runs:
            return {}
        if counts is None:
            counts = {}
            for pid in list(self._origin):   # a folded template's lines count for its target
                c = self._folded.get(pid)
                if c is None:
                    c = self.canonical(pid)
                counts[c] = counts.get(c, 0) + self._counts.get(pid, 0)
        keys = {pid: tuple(self._pid_key[pid].split(" ")) for pid in counts}
        counts = self._free_tails(keys, counts)
        into = fold_covered(keys, counts, MAX_SEGMENT, self._spans)
        if into:
            for pid, target in self._folded.items():
                self._folded[pid] = into.get(target, target)
            self._folded.update(into)
            self._cover.discard(into)
            self._cache.clear()
            self._tmpl_cache.clear()
        return into

    def _free_tails(self, keys: dict[int, tuple[str, ...]], counts: Mapping[int, int]) -> Mapping[int, int]:
        """Templates that end in a sentence of their own (:func:`~analyzer.templates.cover.free_tails`,
        more than ``MANY * k`` after one prefix): the template ``prefix <*>`` is made (a rest of any
        length: its messages have several), added to ``keys``, and given their lines, so the
        covering fold folds them into it, and a later sentence at the next fold."""
        tails = free_tails(keys, MANY * self._k, counts) if self._k else {}
        if not tails:
            return counts
        counts = dict(counts)
        made: dict[tuple[str, ...], int] = {}
        for pid, prefix in tails.items():
            gid = made.get(prefix)
            if gid is None:
                gid = made[prefix] = self._id_for(self.merger.find(self._origin[pid][0]), prefix + ("<*>",))[0]
                self._spans.add(gid)
                keys.setdefault(gid, tuple(self._pid_key[gid].split(" ")))
            counts[gid] = counts.get(gid, 0) + counts[pid]
        return counts

    def canonical(self, template_id: int) -> int:
        """The id that template ``template_id`` has become after later merges and splits (itself
        when nothing changed): use it to fold ids handed out while streaming. An id folds only into
        a template that covers its own (``for <*> from`` covers ``for alice from``); when later
        statistics send its first message elsewhere sideways, its key is still a final template
        (``resolve_all`` hands it out) and the id stays."""
        origin = self._origin.get(template_id)
        if origin is None:
            return template_id
        cid, toks = origin
        canon = self.merger.find(cid)
        pid = self._id_for(canon, self._tokens_of(canon, toks))[0]
        if pid == template_id or not covers(self._pid_key[pid].split(" "), self._pid_key[template_id].split(" ")):
            return template_id
        return pid

    def template(self, pid: int) -> str:
        """Current text of template ``pid`` (of the template it folded into, if it did)."""
        t = self._tmpl_cache.get(pid)
        if t is None:
            if pid not in self._origin:
                return ""
            key = self._pid_key[self.canonical(pid)]
            text, several = self._text[key]
            t = unglue(key) if several else text
            self._tmpl_cache[pid] = t
        return t

    # -- queries -----------------------------------------------------------------------------
    def templates(self) -> dict[int, str]:
        """Every template id ever given out -> its current text (an id folded into another reads
        as that one; the ids they fold into are included, even when first named here)."""
        while True:
            n = len(self._origin)
            out = {pid: self.template(pid) for pid in sorted(self._origin)}
            if len(self._origin) == n:
                return out

    def counts(self) -> dict[int, int]:
        return dict(self._counts)

    def __len__(self) -> int:
        return len(self._origin)

    # -- persistence -------------------------------------------------------------------------
    def state_bytes(self) -> bytes:
        """The whole state as plain JSON (UTF-8): Drain's tree and clusters, the merge layer, ids, counts."""
        return encode_state(self)

    def save(self) -> None:
        """Write the state (atomically) when the miner has a state_dir / persistence."""
        if self.persistence is None:
            return
        self.persistence.save_state(self.state_bytes())
        self._new_since_save = 0

    def _load(self) -> None:
        assert self.persistence is not None
        blob = self.persistence.load_state()
        if not blob:
            return
        try:
            decode_state(self, blob)
        except StateError as exc:
            where = self.persistence.set_aside(exc.kind)
            kept = f"; kept as {where}" if where else ""
            self.state_warning = f"template state {self.persistence.describe()} not used: {exc}{kept}; starting fresh"
            self._reset()

    def _new_drain(self) -> Any:
        """Drain3's online tree (only its algorithm: our masking, merging and persistence)."""
        from drain3.drain import Drain

        c = self.config
        return Drain(depth=c.depth, sim_th=float(c.sim_th), max_children=c.max_children,
                     max_clusters=c.max_clusters, extra_delimiters=list(c.extra_delimiters),
                     parametrize_numeric_tokens=True)

    def _reset(self) -> None:
        self.drain = self._new_drain()
        self.merger = ClusterMerger(self._k, enabled=self.config.merge_variables, keyed=self.config.depth - 3)
        self.segments = SegmentFamilies(self._k, keyed=self.config.depth - 3)
        for d in (self._cache, self._keys, self._pid_key, self._origin, self._text, self._counts, self._tmpl_cache,
                  self._folded, self._lengths, self._spans):
            d.clear()
        self._cover = CoverIndex(MAX_SEGMENT)

