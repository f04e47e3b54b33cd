"""The generalizing layer over Drain's clusters: which positions are variables, which clusters are one.

Drain groups messages of one length under a prefix tree and a similarity threshold. It errs both
ways on logs it was not set up for: a constant word that differs (``Failed password`` / ``Failed
none``) is folded into ``<*>`` when the rest is similar, and a variable word at the front (a user,
a host) puts copies of one template on different branches. This layer corrects both from counts, with
one number ``k``:

* **slots** - per cluster and position, the distinct values seen (at most ``k`` kept). A position
  whose values are at most ``k`` plain words is constant; more, or a mask, and it is a variable. The
  value of ``key=value`` / ``key:value`` (the token after a cut ``key=``, or the value part of a
  whole ``key=value`` token) is a variable as soon as it changes; the key stays. A cut key that
  some messages have where others hold a value's words (``rhost=<ip> user=x`` / ``rhost=a free
  text``, one Drain length) stays too, in those messages only: a field is structure. A key seen at
  two places of one cluster moves with a value of several words before it, and is a value's part.
  Two values that differ by a number only (``eth0`` / ``eth1``) make a variable too.
  A word seen as a one-word field value (``user=news``) is a value anywhere: a position of a few
  words, one of them such a word, is a variable (:meth:`ClusterMerger._note`).
* **signature merge** - clusters whose templates are equal once variable-looking tokens are blanked.
* **family merge** - clusters equal but at one position, more than ``k`` of them (Brain's
  observation: a position whose values vary a lot across a group of otherwise equal messages is a
  variable). At the leading positions Drain's prefix tree branches on, a word names the event
  (``boot (command <*>)`` / ``wait (command <*>)``) unless at least :data:`KEYED_CONTEXT` constant
  words of the rest say the messages are one (``<user> Served block <*> to <*>``); a word that
  labels the message (``name: text``, ``name - text``: a process, a user, a host) needs one, and
  so does a plain word that takes more than ``MANY * k`` values before the same rest (event names
  sharing one short rest come a handful at a time; a host or user a line starts with, by the dozen),
  or one before a long rest, ``2 * KEYED_CONTEXT`` words and values (``<node> Fan speeds ( <*> <*>
  <*> **** <*> <*> )``: so much shared structure is one event).

* **segment families** (:class:`SegmentFamilies`, on template keys, across lengths) - templates
  equal but for a run of 1-3 words: more than ``k`` distinct runs, or a variable in another template
  at that place, and the run is one variable (a value of several words), unless every run starts
  (or ends) with the same word: that word is the constant beside the value, and the family one word
  shorter is the aligned one. A run that starts with a field key (``user=``) counts among such runs
  only, unless the key stands inside another run of the family (it moves: a value's part).

The covering fold and free-text rests, which work on whole templates, are :mod:`.cover`.

Cost: families index each template under each of its positions, O(L^2) per new or changed cluster
or template; templates longer than :data:`MAX_FAMILY_TOKENS` tokens skip both family merges.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping, Union

from .tokens import GLUE, MASK

__all__ = ["ClusterMerger", "SegmentFamilies", "is_variable", "MAX_FAMILY_TOKENS", "MAX_SEGMENT", "MANY"]

MAX_FAMILY_TOKENS = 64
MAX_SEGMENT = 3
KEYED_CONTEXT = 3
MANY = 4    # x k: more first words than this are values on one word of context (2-10 score alike)
MAX_VALUE_WORDS = 1 << 16   # words known to be values (see ClusterMerger.observe): a bounded set
_VAR = re.compile(MASK + r"|\d")
_MASK = re.compile(MASK)
_KEY_ENDS = ("=" + GLUE, ":" + GLUE)
_KV = re.compile(r"([A-Za-z_][\w.\-]*[=:])(.+)")
Slot = Union[set, str, tuple, None]   # see add_to_slot
_NAME_KEY = re.compile(r"[A-Za-z_][A-Za-z_.\-]*[=:]")   # a key that is a name: no digit, no path
_DIGIT = re.compile(r"\d")
_DIGITS = re.compile(r"\d+")
_PLAIN = re.compile(r"[A-Za-z][A-Za-z_\-]*")   # a word a value can be that the token classes leave alone


def kv_key(token: str) -> str | None:
    """``key=`` / ``key:`` of a ``key=value`` or ``key:value`` token, else None."""
    m = _KV.fullmatch(token)
    return m.group(1) if m is not None else None


def blind(token: str) -> str:
    """The token with what is surely variable blanked: a digit or mask -> ``<*>``, ``k=v`` -> ``k=<*>``."""
    if _VAR.search(token) is None:
        m = _KV.fullmatch(token)
        return token if m is None else m.group(1) + "<*>"
    m = _KV.fullmatch(token)
    if m is not None and _VAR.search(m.group(1)) is None:
        return m.group(1) + "<*>"
    return "<*>"


_SEPARATOR = re.compile(r"[-|:>=~*#]+")
_WORDY = re.compile(r"^[^<]*?[A-Za-z]")   # a word before any mask (``out``, ``Old:``, ``flg=<*>``)


def labels(toks: tuple[str, ...], i: int) -> bool:
    """Whether the word at ``i`` labels the message after it (``name: text``, ``name - text``): the
    source or subject of the event (a process, a user, a host), not its name."""
    t = toks[i]
    return (len(t) > 1 and t[-1] == ":") or (i + 1 < len(toks) and _SEPARATOR.fullmatch(toks[i + 1]) is not None)


def is_field(token: str) -> bool:
    """A ``key=value`` / ``key:value`` token, or the cut ``key=`` of one: structure, not free text."""
    return token[-2:] in _KEY_ENDS or kv_key(token) is not None


def is_mask(token: str) -> bool:
    """A token that is one mask (``<*>``, ``<NUM>``) and nothing else."""
    return token[:1] == "<" and _MASK.fullmatch(token) is not None


def holds_mask(token: str) -> bool:
    """A token with a mask in it (``<*>``, ``<*>:``, ``uid=<*>``)."""
    return "<" in token and _MASK.search(token) is not None


def is_variable(token: str) -> bool:
    """A token holding a digit or a mask (``<*>``, ``<NUM>``): a variable whatever the counts say."""
    return _VAR.search(token) is not None


def _is_cut_key(token: str) -> bool:
    """A cut ``key=`` / ``key:`` token whose key is a name (``user=``; not ``f9bc:`` or ``//x.com/a?id=``,
    parts of a value)."""
    return token[-2:] in _KEY_ENDS and _NAME_KEY.fullmatch(token, 0, len(token) - 1) is not None


def _numbered(token: str) -> str:
    """The token with each run of digits as ``0``: values equal so differ by a number only."""
    return _DIGITS.sub("0", token)


def _to_variable(values: Iterable[str], k: int) -> tuple[str, ...] | None:
    """The variable slot a position turns into: the cut ``key=`` tokens among its values (a key is
    structure, not a value), at most ``k`` of them kept (``k + 1``: too many to be structure), or None."""
    keys = tuple(sorted({v for v in values if _is_cut_key(v)}))
    if not keys:
        return None
    return keys if len(keys) <= k else keys[:k + 1]


def _keys_of(slot: Slot) -> tuple[str, ...]:
    if slot is None or type(slot) is str:
        return ()
    if type(slot) is tuple:
        return slot
    return tuple(v for v in slot if _is_cut_key(v))


def add_to_slot(slot: Slot, w: str, k: int) -> Slot:
    """The slot after seeing value ``w``. A slot is the set of plain values seen (constant while at
    most ``k``) or, once variable, the common key (``str``) of ``key=value`` values, the cut ``key=``
    tokens seen there (``tuple``: a field that some messages have at this place and others fill with
    a value's words; the keys among its values when it turned variable, and those seen after, at
    most ``k``) or ``None`` (it turned variable with no key among its values: a value's place); it
    only ever goes from constant to variable."""
    if slot is None:
        return None
    if type(slot) is tuple:
        if w in slot or len(slot) > k or not _is_cut_key(w):
            return slot
        return _to_variable(slot + (w,), k)
    key = kv_key(w)
    if type(slot) is str:
        return slot if key == slot else _to_variable((w,), k)
    if w in slot:
        return slot
    if holds_mask(w) or any(holds_mask(v) for v in slot):
        return _to_variable((*slot, w), k)   # two values, one of them holding a mask (``<*>:``): a variable
    if key is not None and all(kv_key(v) == key for v in slot):
        return key                    # key=value: a variable as soon as the value changes
    if _DIGIT.search(w) is not None and _numbered(w) in {_numbered(v) for v in slot}:
        return _to_variable((*slot, w), k)   # ``eth0`` / ``eth1``: one kind of thing, numbered
    if len(slot) >= k:
        return _to_variable((*slot, w), k)
    return slot | {w}


def merge_slots(x: Slot, y: Slot, k: int) -> Slot:
    """One slot from two clusters' slots at the same position."""
    if x is None or y is None:
        return None
    if type(x) is tuple or type(y) is tuple:
        return _to_variable(_keys_of(x) + _keys_of(y), k)
    if type(y) is str:
        x, y = y, x
    if type(x) is str:
        if y == x if type(y) is str else all(kv_key(v) == x for v in y):
            return x
        return _to_variable(_keys_of(y), k)
    out: Slot = x
    for v in sorted(y):
        out = add_to_slot(out, v, k)
    return out


def _variable_form(token: str, slot: str | None) -> str:
    """How a token reads at a variable position: ``key=<*>`` where the position always held that key,
    a mask stays itself (``<NUM>`` with typed masks), anything else ``<*>``."""
    if slot is not None and kv_key(token) == slot:
        return slot + "<*>"
    if token[:1] == "<" and _MASK.fullmatch(token) is not None:
        return token
    return "<*>"


def _ends_value(tokens: list[str], i: int) -> bool:
    """Whether the field value at ``i`` is one word: the message ends there or another field, a
    mask or punctuation follows (``rhost=none tibami waba``: the first word of a phrase is no value)."""
    if i + 1 >= len(tokens):
        return True
    t = tokens[i + 1]
    return is_field(t) or "<" in t or _WORDY.search(t) is None


def _lone(pv: list, i: int) -> bool:
    """Whether position ``i`` of a cluster's slots varies alone: no neighbour holds several words (a
    run of words that vary together is a value of several words: the segment families' case)."""
    return not any(0 <= j < len(pv) and type(pv[j]) is set and len(pv[j]) > 1 for j in (i - 1, i + 1))


class ClusterMerger:
    """Union-find over Drain cluster ids plus the slot and family statistics (see module doc)."""

    def __init__(self, k: int, *, enabled: bool = True, keyed: int = 0):
        self.k = int(k)
        self.enabled = enabled
        self.keyed = keyed     # leading positions Drain's prefix tree branches on: left to Drain
        self.parent: dict[int, int] = {}                 # cluster id -> parent (absent: itself)
        self.members: dict[int, list[int]] = {}          # root -> merged ids (for k=0 templates)
        self.slots: dict[int, list] = {}                 # root -> per position: a slot (see add_to_slot)
        self.sig: dict[tuple[str, ...], int] = {}        # variable-blind template -> a cluster id
        self.fam: dict[tuple[int, tuple[str, ...]], list] = {}  # (pos, rest) -> [ids, words, has_var]
        self.values: set[str] = set()                    # plain words seen as values (see observe)
        self.pending: dict[str, set[tuple[int, int]]] = {}   # word -> (root, pos) holding it among 2+ words

    # -- union-find ----------------------------------------------------------------------------
    def find(self, cid: int) -> int:
        parent = self.parent
        root = cid
        while root in parent:
            root = parent[root]
        while cid != root:  # path compression
            nxt = parent[cid]
            parent[cid] = root
            cid = nxt
        return root

    def _union(self, a: int, b: int) -> tuple[int, bool]:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra, False
        keep, drop = min(ra, rb), max(ra, rb)
        self.parent[drop] = keep
        self.members.setdefault(keep, []).extend([drop] + self.members.pop(drop, []))
        sa, sb = self.slots.get(keep), self.slots.pop(drop, None)
        if sb is not None:
            if sa is None:
                self.slots[keep] = sb
            elif len(sa) == len(sb):
                for i, (x, y) in enumerate(zip(sa, sb)):
                    sa[i] = merge_slots(x, y, self.k)
        return keep, True

    # -- merges --------------------------------------------------------------------------------
    def register(self, cid: int, template: Iterable[str]) -> bool:
        """A Drain cluster was created or its template changed: index it, merge what it joins.
        True when clusters were merged (ids handed out so far may fold)."""
        if not self.enabled:
            return False
        toks = tuple(template)
        blind_toks = tuple(blind(t) for t in toks)
        merged = False
        other = self.sig.get(blind_toks)
        if other is None:
            self.sig[blind_toks] = cid
        else:
            merged = self._union(other, cid)[1] or merged
        if self.k and 2 <= len(blind_toks) <= MAX_FAMILY_TOKENS:
            k = self.k
            for i, t in enumerate(blind_toks):
                if "<" in t:
                    continue
                rest = blind_toks[:i] + blind_toks[i + 1:]
                limit = k
                if i < self.keyed:
                    words = sum(_WORDY.search(r) is not None for r in rest)
                    if words < (1 if labels(toks, i) else KEYED_CONTEXT):
                        if not words:
                            continue   # Drain's key: a word there names the event...
                        if words + sum(r == "<*>" for r in rest) < 2 * KEYED_CONTEXT:
                            limit = MANY * k   # ...unless words enough back it, or values far too many
                if all(r == "<*>" for r in rest):
                    continue   # nothing constant left to say the messages are alike
                key = (i, rest)
                fam = self.fam.get(key)
                if fam is None:
                    self.fam[key] = [[cid], {t}, False]
                    continue
                if cid not in fam[0]:
                    fam[0].append(cid)
                if len(fam[1]) <= limit:
                    fam[1].add(t)
                if len(fam[1]) > limit and len(fam[0]) > 1:
                    ids = fam[0]
                    for j in ids[1:]:
                        merged = self._union(ids[0], j)[1] or merged
                    fam[0] = [self.find(ids[0])]   # one cluster now; later members merge into it
        return merged

    # -- slots ---------------------------------------------------------------------------------
    def observe(self, root: int, tokens: list[str]) -> bool:
        """Record the values of one message of cluster ``root``; True when a position just turned
        variable (ids handed out so far may fold)."""
        if not self.k:
            return False
        pv = self.slots.get(root)
        if pv is None:
            self.slots[root] = [None if is_mask(w) else {w} for w in tokens]
            return False
        if len(pv) != len(tokens):  # cannot happen for Drain clusters (one length each); stay safe
            return False
        flipped = False
        k = self.k
        values = self.values
        for i, w in enumerate(tokens):
            slot = pv[i]
            if type(slot) is set:
                if w in slot:
                    continue
            elif slot is None:
                if (i and w not in values and tokens[i - 1][-2:] in _KEY_ENDS and _ends_value(tokens, i)
                        and self._note(w)):
                    flipped = True
                continue            # a variable: only a new field key can change it
            elif type(slot) is tuple and w[-2:] not in _KEY_ENDS:
                continue
            field = i and (tokens[i - 1][-2:] in _KEY_ENDS or tokens[i - 1] == "=")
            if field and type(slot) is set:
                new = _to_variable((*slot, w), k)   # after ``key=`` or ``key = ``: variable once it changes
            else:
                new = add_to_slot(slot, w, k)
            if new is slot:         # unchanged (a ``key=value`` slot's key again): nothing to fold
                if type(slot) is str and _ends_value(tokens, i) and self._note(w[len(slot):]):
                    flipped = True
                continue
            if type(new) is set:
                if not values.isdisjoint(new) and _lone(pv, i):
                    new = _to_variable(new, k)   # a word seen as a value elsewhere: values here too
                else:
                    for v in new:
                        self.pending.setdefault(v, set()).add((root, i))
            pv[i] = new
            if type(new) is not set:
                flipped = True
                if type(slot) is set and (field or type(new) is str) and _ends_value(tokens, i):
                    for v in (*slot, w):   # a field's values: ``user=root`` -> ``root``
                        if self._note(v[len(new):] if type(new) is str else v):
                            flipped = True
        return flipped

    def _note(self, w: str) -> bool:
        """Remember plain word ``w`` as a value of a one-word ``key=value`` / ``key= value`` field (not
        the words the counts make values: those can be an event's states, ``from NEW to RUNNING``).
        A position that holds a few words, one of them known as a value, is a variable (``session
        opened for user news`` / ``cyrus``, where ``user=news`` shows that names vary there): the
        counts alone cannot tell two users from two event names. A word that varies with its
        neighbours is left to the segment families (:func:`_lone`). True when a constant position
        of some cluster turned variable by it."""
        if w in self.values or len(self.values) >= MAX_VALUE_WORDS or _PLAIN.fullmatch(w) is None:
            return False
        self.values.add(w)
        spots = self.pending.pop(w, None)
        flipped = False
        for root, i in spots or ():
            pv = self.slots.get(self.find(root))
            if pv is not None and i < len(pv) and type(pv[i]) is set and w in pv[i] and _lone(pv, i):
                pv[i] = _to_variable(pv[i], self.k)
                flipped = True
        return flipped

    def generalize(self, root: int, tokens: Iterable[str]) -> tuple[str, ...]:
        """A message's tokens with every variable position of its cluster written ``<*>`` (``key=<*>``
        where the position always held that key; a field key the position keeps stays itself)."""
        pv = self.slots.get(root)
        toks = tuple(tokens)
        if pv is None or len(pv) != len(toks):
            return toks
        k = self.k
        if not any(type(v) is tuple and len(v) <= k for v in pv):
            return tuple(t if type(v) is set else _variable_form(t, v) for v, t in zip(pv, toks))
        seen: set[str] = set()
        shifted = set()      # a key seen at two places: a value of several words moves it, so not structure
        for v in pv:
            if type(v) is set or type(v) is tuple:
                keys = _keys_of(v)
                shifted.update(seen.intersection(keys))
                seen.update(keys)
        return tuple(t if type(v) is set or (type(v) is tuple and len(v) <= k and t in v and t not in shifted)
                     else _variable_form(t, v if type(v) is str else None) for v, t in zip(pv, toks))

    def template_tokens(self, root: int, clusters: Mapping[int, Any]) -> tuple[str, ...] | None:
        """Drain's templates of ``root`` and its merged clusters, differing positions as ``<*>`` (k=0)."""
        c = clusters.get(root)
        if c is None:
            return None
        toks = list(c.log_template_tokens)
        for m in sorted(self.members.get(root, ())):
            other = clusters.get(m)
            if other is not None and len(other.log_template_tokens) == len(toks):
                toks = [a if a == b else "<*>" for a, b in zip(toks, other.log_template_tokens)]
        return tuple(toks)

    # -- plain data ----------------------------------------------------------------------------
    def to_data(self) -> dict[str, Any]:
        return {
            "parent": [[c, p] for c, p in self.parent.items()],
            "slots": [[r, [sorted(v) if type(v) is set else {"keys": list(v)} if type(v) is tuple else v for v in pv]]
                      for r, pv in self.slots.items()],
            "sig": [[list(s), c] for s, c in self.sig.items()],
            "fam": [[i, list(rest), ids, sorted(words), bool(var)] for (i, rest), (ids, words, var) in self.fam.items()],
            "values": sorted(self.values),
            "pending": [[w, sorted([r, i] for r, i in spots)] for w, spots in self.pending.items()],
        }

    def load_data(self, data: Mapping[str, Any], check: Any) -> None:
        """Fill from :meth:`to_data`'s output; ``check(cond, what)`` raises on a malformed part."""
        ints, strs = check.ints, check.strs
        self.parent = {}
        for pair in check.list(data.get("parent"), "merge.parent"):
            c, p = check.pair(pair, "merge.parent")
            check(ints(p) < ints(c), "merge.parent")   # merges keep the smaller id: no cycles
            self.parent[c] = p
        self.members = {}
        for c in self.parent:
            self.members.setdefault(self.find(c), []).append(c)
        self.slots = {}
        for pair in check.list(data.get("slots"), "merge.slots"):
            r, pv = check.pair(pair, "merge.slots")
            self.slots[ints(r)] = [v if v is None or isinstance(v, str)
                                   else tuple(strs(v.get("keys"))) if isinstance(v, dict) else set(strs(v))
                                   for v in check.list(pv, "merge.slots")]
        self.sig = {}
        for pair in check.list(data.get("sig"), "merge.sig"):
            s, c = check.pair(pair, "merge.sig")
            self.sig[tuple(strs(s))] = ints(c)
        self.fam = {}
        for row in check.list(data.get("fam"), "merge.fam"):
            check(isinstance(row, list) and len(row) == 5, "merge.fam")
            i, rest, ids, words, var = row
            check(isinstance(var, bool), "merge.fam")
            self.fam[(ints(i), tuple(strs(rest)))] = [[ints(x) for x in check.list(ids, "merge.fam")],
                                                     set(strs(words)), var]
        self.values = set(strs(check.list(data.get("values"), "merge.values")))
        self.pending = {}
        for pair in check.list(data.get("pending"), "merge.pending"):
            w, spots = check.pair(pair, "merge.pending")
            self.pending[strs([w])[0]] = {(ints(r), ints(i)) for r, i in
                                          (check.pair(x, "merge.pending") for x in check.list(spots, "merge.pending"))}


def _variable_family(fam: list, k: int, field: str | None = None) -> bool:
    """A segment family is a variable: more than ``k`` runs, or a variable seen at its place, and
    its runs do not all start (or all end) with one word. A word that every run shares is the
    constant next to the value (``X from`` / ``X Y from``): the family one word shorter is the
    aligned one, and this one would swallow the constant."""
    runs = fam[0]
    if field is not None:      # a run that starts with a field key: structure, unless the key moves
        if not any(field in r[1:] for r in runs):
            runs = [r for r in runs if _is_cut_key(r[0])]
            if len(runs) <= k:
                return False
    if not runs or not (fam[1] or len(runs) > k):
        return False
    if len(runs) < 2:
        return True
    return len({r[0] for r in runs}) > 1 and len({r[-1] for r in runs}) > 1


class SegmentFamilies:
    """Templates equal but for a middle run of one to :data:`MAX_SEGMENT` words, of any length: the
    run is a variable (a value of several words: a name with spaces, a free-text reason) when more
    than ``k`` distinct runs stand between the same prefix and suffix, or when another template has a
    variable there (the runs were its values). Drain compares messages of one length only: this is
    the merge across lengths. At the first ``keyed`` positions (Drain's tree key), where a word names
    the event, only before :data:`KEYED_CONTEXT` words of the rest, as in the family merge (``ann lee
    Served block <*> to <*>``: a user of several words; ``boot (command <*>)`` stays). A run may
    also be a field's value and the words after it that end the message (``rhost=<*> fose`` beside
    ``rhost=puca``: the last value of several words, each length with its last word kept); a run
    every one of which starts with that ``<*>`` is not a variable (``count=<*> items done``)."""

    def __init__(self, k: int, *, keyed: int = 0):
        self.k = int(k)
        self.keyed = keyed
        # (prefix, suffix) -> [distinct middle runs (at most k + 1 kept), a variable seen there]
        self.fam: dict[tuple[tuple[str, ...], tuple[str, ...]], list] = {}

    def _segments(self, toks: tuple[str, ...]) -> Iterable[tuple[int, int]]:
        n = len(toks)
        if not self.k or n > MAX_FAMILY_TOKENS or n < 3:
            return
        for i in range(n):
            for j in range(i + 1, min(n, i + MAX_SEGMENT) + 1):
                var = toks[j - 1] == "<*>"
                if "<" in toks[j - 1] and not (var and j == i + 1):
                    break               # a mask inside a run of words: longer runs from i hold it too
                if j > i + 1 and toks[i] == "<*>" and not (j == n and i and _is_cut_key(toks[i - 1])
                                                          and not any(map(_is_cut_key, toks[i + 1:j]))):
                    continue            # a field's value and words: only as the rest that ends the message
                rest = toks[:i] + toks[j:]
                if i >= self.keyed:
                    if sum("<" not in t for t in rest) >= 1:
                        yield i, j
                elif sum(_WORDY.search(t) is not None for t in rest) >= KEYED_CONTEXT:
                    yield i, j

    def register(self, toks: tuple[str, ...]) -> bool:
        """Index a new template (collapsed tokens); True when a family just turned variable."""
        flipped = False
        k = self.k
        for i, j in self._segments(toks):
            key = (toks[:i], toks[j:])
            fam = self.fam.get(key)
            if fam is None:
                fam = self.fam[key] = [set(), False]
            was = _variable_family(fam, k)
            if j == i + 1 and toks[i] == "<*>":
                fam[1] = True
            elif len(fam[0]) <= k:
                fam[0].add(toks[i:j])
            flipped = flipped or (not was and _variable_family(fam, k))
        return flipped

    def generalize(self, toks: tuple[str, ...]) -> tuple[str, ...]:
        """The tokens with each run that is a variable (see class doc) read ``<*>``."""
        if not self.fam:
            return toks
        k = self.k
        changed = True
        while changed:
            changed = False
            for i, j in self._segments(toks):
                if j == i + 1 and toks[i] == "<*>":
                    continue
                fam = self.fam.get((toks[:i], toks[j:]))
                if fam is not None and _variable_family(fam, k, toks[i] if _is_cut_key(toks[i]) else None):
                    left = toks[:i] if not (i and toks[i - 1] == "<*>") else toks[:i - 1]
                    right = toks[j:] if not (j < len(toks) and toks[j] == "<*>") else toks[j + 1:]
                    toks = left + ("<*>",) + right
                    changed = True
                    break
        return toks

    def to_data(self) -> list:
        return [[list(p), list(s), sorted(list(m) for m in mids), var] for (p, s), (mids, var) in self.fam.items()]

    def load_data(self, rows: Any, check: Any) -> None:
        self.fam = {}
        for row in check.list(rows, "segments"):
            check(isinstance(row, list) and len(row) == 4 and isinstance(row[3], bool), "segments")
            p, s, mids, var = row
            self.fam[(tuple(check.strs(p)), tuple(check.strs(s)))] = [
                {tuple(check.strs(m)) for m in check.list(mids, "segments")}, var]
