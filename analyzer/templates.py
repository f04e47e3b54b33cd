"""Log templates: Drain3's ``TemplateMiner`` behind one config object, one masking pass and a cache.

Pipeline for one message::

    message --(one compiled alternation regex: typed variable masks)--> masked
    masked  --(cache: masked -> cluster id; hit = done)--> Drain3 tree search only for unseen masked text
    cluster --(variable-position merge: templates equal but for variable-looking slots)--> template id

* :class:`TemplateConfig` holds every setting (masking rules as data, Drain3's depth/sim_th/
  max_children/extra delimiters, cache size, merge); validated on creation; ``from_toml``.
* :class:`StatePersistence` is a two-method ABC (``save_state(bytes)`` / ``load_state() -> bytes |
  None``); :class:`FilePersistence` writes atomically (temp file + fsync + ``os.replace``) so a kill
  mid-write leaves the previous state intact; :class:`MemoryPersistence` for tests. With
  ``state_dir`` the miner reloads its clusters so template ids stay stable between runs.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zlib
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple

from ttsops.errors import ConfigError

__all__ = ["TemplateConfig", "TemplateMiner", "TemplateMatch", "Masker", "StatePersistence",
           "FilePersistence", "MemoryPersistence", "DEFAULT_MASKING", "STATE_FILE"]

STATE_FILE = "templates.state"
STATE_VERSION = 1

# Variable masks, tried left to right at each position (the first alternative that matches wins).
# Inner groups must be non-capturing. Every token that contains a digit ends up masked (``num``/
# ``id`` catch-alls), so the masked text depends only on the *shape* of such tokens.
_W = r"A-Za-z0-9_"
DEFAULT_MASKING: tuple[tuple[str, str], ...] = (
    ("UUID", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    ("REQ", r"\b(?:req|request|trace|span|task|job)[-_][0-9A-Za-z]{4,}\b"),
    ("IP", r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?![\w.])"),
    ("SHAPE", r"(?:torch\.Size\(|\()\[?\d+(?:,\s*\d+)+\]?\)|\[\d+(?:,\s*\d+)+\]"),
    ("QUOTED", r'(?<![\w"])"[^"\n]{0,200}"'),
    ("KV", r"(?<=[\w\]]=)(?![<\s])[^\s,;)\]}=]+"),
    ("HEX", r"\b\d[xX][0-9a-fA-F]+\b|(?<![\w\-])(?=[a-fA-F]*\d)[0-9a-fA-F]{8,}(?![\w\-])"),
    ("DURATION", r"(?<![\w.])[-+]?\d+(?:\.\d+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds|min|mins|minutes|h|hr|hours)(?![\w.])"),
    ("SIZE", r"(?<![\w.])\d+(?:\.\d+)?\s?(?:[KMGTP]i?B|bytes|B|kB|[KMG])(?![\w.])"),
    ("PATH", r"(?<![\w.~/])(?:~|\.{1,2})?(?:/[\w.\-@+%]+){2,}/?"),
    ("NUM", r"(?<![\w.\-])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?%?(?![\w.\-])"),
    # any other token holding a digit, except short names like eth0, ssh2, sda1 (constants more often)
    ("ID", r"(?<![\w.\-/])(?![A-Za-z]{1,12}\d{1,2}(?![\w.\-/+]))[\w.\-/+]*\d[\w.\-/+]*"),
)


def _gen(items: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(tuple(x) if isinstance(x, list) else x for x in items)


@dataclass(frozen=True)
class TemplateConfig:
    """Every template-mining setting, validated on creation.

    masking : ``(NAME, regex)`` rules; NAME becomes ``<NAME>`` in templates (``typed_masks``) or all
        masks become ``<*>``. Compiled into ONE alternation regex with named groups.
    sim_th, depth, max_children, max_clusters, extra_delimiters : Drain3's settings.
    cache_size : masked messages remembered -> cluster id (Drain's tree search runs only on a miss).
    merge_variables : merge clusters whose templates are the same length and differ only where both
        sides hold a variable-looking token (a mask, ``<*>``, or a token seen with many values).
    """

    masking: tuple[tuple[str, str], ...] = DEFAULT_MASKING
    typed_masks: bool = False
    sim_th: float = 0.5
    depth: int = 4
    max_children: int = 100
    max_clusters: int | None = None
    extra_delimiters: tuple[str, ...] = ()
    cache_size: int = 200_000
    merge_variables: bool = True
    split_max_values: int = 3   # a slot with at most this many plain words is constant (0: off)
    snapshot_every: int = 0   # save state every N new clusters (0: only on save())

    def __post_init__(self) -> None:
        object.__setattr__(self, "masking", tuple(tuple(m) for m in self.masking))
        object.__setattr__(self, "extra_delimiters", tuple(self.extra_delimiters))
        if not 0.0 < float(self.sim_th) <= 1.0:
            raise ConfigError(f"sim_th must be in (0, 1], got {self.sim_th}", where="templates.sim_th")
        if int(self.depth) < 3:
            raise ConfigError(f"depth must be >= 3, got {self.depth}", where="templates.depth")
        if int(self.max_children) < 1:
            raise ConfigError(f"max_children must be >= 1, got {self.max_children}",
                              where="templates.max_children")
        if self.max_clusters is not None and int(self.max_clusters) < 1:
            raise ConfigError("max_clusters must be >= 1 or None", where="templates.max_clusters")
        if int(self.split_max_values) < 0:
            raise ConfigError("split_max_values must be >= 0", where="templates.split_max_values")
        if int(self.cache_size) < 0:
            raise ConfigError("cache_size must be >= 0", where="templates.cache_size")
        names: set[str] = set()
        for i, rule in enumerate(self.masking):
            if len(rule) != 2:
                raise ConfigError(f"masking rule {i} must be (NAME, regex), got {rule!r}", where="templates.masking")
            name, pattern = rule
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", str(name)) or name in names:
                raise ConfigError(f"masking rule {i}: name {name!r} must be a unique identifier",
                                  where="templates.masking")
            names.add(name)
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"masking rule {name}: bad regex ({exc})", where="templates.masking") from None
            if compiled.groupindex:
                raise ConfigError(f"masking rule {name}: use (?:...) instead of named groups",
                                  where="templates.masking")
            if compiled.match(""):
                raise ConfigError(f"masking rule {name}: matches the empty string", where="templates.masking")

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TemplateConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown template settings: {', '.join(sorted(unknown))}", where="[templates]")
        kw = dict(data)
        if "masking" in kw:
            m = kw["masking"]
            if isinstance(m, Mapping):
                m = list(m.items())
            kw["masking"] = tuple((r["name"], r["pattern"]) if isinstance(r, Mapping) else tuple(r) for r in m)
        if "extra_delimiters" in kw:
            kw["extra_delimiters"] = tuple(kw["extra_delimiters"])
        return cls(**kw)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str], section: str = "templates") -> "TemplateConfig":
        from ttsops.config import load_toml

        data = load_toml(path)
        return cls.from_dict(data.get(section, data))

    def with_(self, **kw: Any) -> "TemplateConfig":
        return replace(self, **kw)

    def fingerprint(self) -> str:
        """Hash of the settings that change template assignment (state from another config is not reused)."""
        d = asdict(self)
        for k in ("cache_size", "snapshot_every"):
            d.pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------------
DIGITS_TO_ONE = bytes.maketrans(b"0123456789", b"1111111111")
_QUANT_RE = re.compile(r"\{\d+(?:,\d*)?\}|0-9|\\\d")


def digit_blind(patterns: Iterable[str]) -> bool:
    """True when no pattern tells one ASCII digit from another (no digit literals outside ``{m,n}``
    quantifiers and ``0-9`` ranges). Then masking ``s`` and ``s`` with every digit replaced by ``1``
    match the same spans, so a masked result holding no digit can be reused for every message of the
    same *digit shape* - the exact memo behind :meth:`Masker.mask`."""
    return not any(re.search(r"[0-9]", _QUANT_RE.sub("", p)) for p in patterns)


class Masker:
    """All masking rules as ONE compiled alternation with named groups: one pass over the text.

    Memo (exact): messages that differ only in their ASCII digits are masked identically whenever
    the masked text keeps no digit (every digit was inside a mask), so the result is remembered under
    the digit shape (``message`` with each digit -> ``1``; a fast bytes.translate) and the regex runs
    once per shape. Enabled only when the rules are :func:`digit_blind`; bounded (``memo_size``)."""

    def __init__(self, rules: Iterable[tuple[str, str]], typed: bool = False, memo_size: int = 100_000):
        rules = list(rules)
        self.names = [n for n, _ in rules]
        self.replacement = {n: (f"<{n}>" if typed else "<*>") for n in self.names}
        if rules:
            self.regex: re.Pattern[str] | None = re.compile("|".join(f"(?P<{n}>{p})" for n, p in rules))
        else:
            self.regex = None
        repl = self.replacement
        if not typed:
            self._sub = (lambda s: self.regex.sub("<*>", s)) if self.regex is not None else (lambda s: s)
        elif self.regex is not None:
            sub = self.regex.sub
            self._sub = lambda s: sub(lambda m: repl[m.lastgroup], s)  # type: ignore[index]
        else:
            self._sub = lambda s: s
        self.memo_size = memo_size if (self.regex is not None and digit_blind(p for _, p in rules)) else 0
        self._memo: dict[bytes, str] = {}

    def mask_uncached(self, text: str) -> str:
        return self._sub(text)

    def mask(self, text: str) -> str:
        if not self.memo_size:
            return self._sub(text)
        try:
            key = text.encode("utf-8").translate(DIGITS_TO_ONE)
        except UnicodeEncodeError:  # lone surrogates
            return self._sub(text)
        out = self._memo.get(key)
        if out is None:
            out = self._sub(text)
            if not _HAS_DIGIT(out):
                if len(self._memo) >= self.memo_size:
                    self._memo.clear()
                self._memo[key] = out
        return out


_HAS_DIGIT = re.compile(r"[0-9]").search


class TemplateMatch(NamedTuple):
    template_id: int
    template: str
    is_new: bool


# ------------------------------------------------------------------------------------------------
class StatePersistence(ABC):
    """Where the miner's state lives. Two methods; implementations must make ``save_state`` atomic."""

    @abstractmethod
    def save_state(self, state: bytes) -> None: ...

    @abstractmethod
    def load_state(self) -> bytes | None: ...


class MemoryPersistence(StatePersistence):
    def __init__(self) -> None:
        self.state: bytes | None = None

    def save_state(self, state: bytes) -> None:
        self.state = bytes(state)

    def load_state(self) -> bytes | None:
        return self.state


class FilePersistence(StatePersistence):
    """One file; written to a temp file in the same folder, fsynced, then ``os.replace``d."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def save_state(self, state: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(state)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        try:  # make the rename durable
            dfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass

    def load_state(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"cannot read template state ({exc.strerror or exc})", where=str(self.path)) from None


# ------------------------------------------------------------------------------------------------
_VARIABLE_TOKEN = re.compile(r"^<[A-Za-z*]+>$|\d")
_SPLIT_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")
_NOT_SPLIT = frozenset({"true", "false", "null", "nil", "True", "False", "None", "TRUE", "FALSE", "NULL"})


class TemplateMiner:
    """Drain3 template mining with one-pass masking, a masked-message cache and two refinements.

    * merge: Drain clusters whose templates differ only where both hold variable-looking tokens
      (masks, ``<*>``, digits) are one template;
    * split: inside a template, a slot that only ever held a few plain words (at most
      ``config.split_max_values``, e.g. ``Failed password`` / ``Failed none``) is constant, so
      each word is its own template (Brain-style frequency reasoning, one rule for every log).

    ``add(message)`` -> :class:`TemplateMatch`; ids are stable across runs with ``state_dir`` (or
    ``persistence``) and the same config. Streaming ids are decided with what was seen so far;
    :meth:`resolve` gives the final id of a masked message with everything seen (batch use).
    """

    def __init__(self, config: TemplateConfig | None = None, *, state_dir: str | os.PathLike[str] | None = None,
                 persistence: StatePersistence | None = None):
        import drain3
        from drain3.template_miner_config import TemplateMinerConfig

        self.config = config or TemplateConfig()
        cfg = TemplateMinerConfig()
        cfg.drain_sim_th = float(self.config.sim_th)
        cfg.drain_depth = int(self.config.depth)
        cfg.drain_max_children = int(self.config.max_children)
        cfg.drain_max_clusters = self.config.max_clusters
        cfg.drain_extra_delimiters = list(self.config.extra_delimiters)
        cfg.masking_instructions = []      # we mask ourselves, once
        cfg.parametrize_numeric_tokens = True
        cfg.profiling_enabled = False
        cfg.snapshot_interval_minutes = 10 ** 9
        self._tm = drain3.TemplateMiner(persistence_handler=None, config=cfg)
        self.drain = self._tm.drain
        self.masker = Masker(self.config.masking, self.config.typed_masks,
                             memo_size=self.config.cache_size)
        self._k = int(self.config.split_max_values)
        self._cache: dict[str, tuple[int, int]] = {}      # masked -> (public id, drain cluster id)
        self._alias: dict[int, int] = {}                  # drain cluster id -> canonical drain id
        self._members: dict[int, set[int]] = {}           # canonical -> merged drain ids
        self._sig_index: dict[tuple, int] = {}            # merge signature -> canonical id
        self._posvals: dict[int, list[set[str] | None]] = {}  # canonical -> per slot: words seen / None = variable
        self._pub: dict[tuple, int] = {}                  # (canonical, split key) -> public id
        self._pub_info: dict[int, tuple[int, tuple]] = {}
        self._counts: dict[int, int] = {}
        self._tmpl_cache: dict[int, str] = {}
        self._new_since_save = 0
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
        masked = self.masker.mask(message)
        hit = self._cache.get(masked)
        if hit is not None:
            pid = hit[0]
            self._counts[pid] += 1
            t = self._tmpl_cache.get(pid)
            return TemplateMatch(pid, t if t is not None else self.template(pid), False)
        pid, _cid, is_new = self._add_masked(masked)
        return TemplateMatch(pid, self.template(pid), is_new)

    def add_masked(self, masked: str) -> int:
        """Fast path for bulk callers: an already-masked message -> template id."""
        hit = self._cache.get(masked)
        if hit is not None:
            self._counts[hit[0]] += 1
            return hit[0]
        return self._add_masked(masked)[0]

    def add_masked_cluster(self, masked: str) -> tuple[int, int]:
        """Like :meth:`add_masked`, also returning Drain's cluster id (for :meth:`resolve`)."""
        hit = self._cache.get(masked)
        if hit is not None:
            self._counts[hit[0]] += 1
            return hit
        pid, cid, _ = self._add_masked(masked)
        return pid, cid

    def _add_masked(self, masked: str) -> tuple[int, int, bool]:
        cluster, change = self.drain.add_log_message(masked)
        cid = cluster.cluster_id
        if change != "none":
            self._invalidate(self._alias.get(cid, cid))
            if self.config.merge_variables:
                self._update_merge(cluster)
        canon = self._alias.get(cid, cid)
        tokens = masked.split() if not self.config.extra_delimiters else self.drain.get_content_as_tokens(masked)
        if self._k and self._observe(canon, tokens):
            self._cache.clear()
        pid, is_new = self._public(canon, self._key(canon, tokens))
        if self.config.cache_size:
            if len(self._cache) >= self.config.cache_size:
                for k in list(self._cache)[: max(1, self.config.cache_size // 2)]:
                    del self._cache[k]
            self._cache[masked] = (pid, cid)
        self._counts[pid] = self._counts.get(pid, 0) + 1
        if is_new:
            self._new_since_save += 1
            if self.config.snapshot_every and self._new_since_save >= self.config.snapshot_every:
                self.save()
        return pid, cid, is_new

    # -- split slots ---------------------------------------------------------------------------
    def _observe(self, canon: int, tokens: list[str]) -> bool:
        """Record the words in each slot; True when a slot just turned variable (ids change)."""
        pv = self._posvals.get(canon)
        if pv is None or len(pv) != len(tokens):
            if pv is not None:  # a canonical of another length: keep slots conservative
                return False
            pv = self._posvals[canon] = [set() for _ in tokens]
        flipped = False
        k = self._k
        for i, w in enumerate(tokens):
            vals = pv[i]
            if vals is None or w in vals:
                continue
            if len(vals) >= k or w in _NOT_SPLIT or not _SPLIT_WORD.fullmatch(w):
                pv[i] = None
                flipped = flipped or bool(vals)
                continue
            vals.add(w)
        return flipped

    def _key(self, canon: int, tokens: list[str]) -> tuple:
        pv = self._posvals.get(canon)
        if not pv or len(pv) != len(tokens):
            return ()
        # every slot still constant-like, even with one word so far: an id handed out early then
        # folds exactly into the final one (canonical) when a slot later turns out variable
        return tuple((i, tokens[i]) for i, vals in enumerate(pv) if vals is not None)

    def _public(self, canon: int, key: tuple) -> tuple[int, bool]:
        pid = self._pub.get((canon, key))
        if pid is not None:
            return pid, False
        pid = len(self._pub_info) + 1
        self._pub[(canon, key)] = pid
        self._pub_info[pid] = (canon, key)
        return pid, True

    def resolve(self, masked: str, cluster_id: int) -> int:
        """Final template id of a masked message mined earlier into Drain cluster ``cluster_id``,
        with every merge and split decided on all the data seen (batch use: ``templates --format csv``)."""
        canon = self._alias.get(cluster_id, cluster_id)
        tokens = masked.split() if not self.config.extra_delimiters else self.drain.get_content_as_tokens(masked)
        return self._public(canon, self._key(canon, tokens))[0]

    # -- merging -----------------------------------------------------------------------------
    @staticmethod
    def _signature(tokens: Iterable[str]) -> tuple:
        return tuple("<*>" if _VARIABLE_TOKEN.search(t) else t for t in tokens)

    def _update_merge(self, cluster: Any) -> None:
        sig = self._signature(cluster.log_template_tokens)
        cid = cluster.cluster_id
        canon = self._sig_index.get(sig)
        cur = self._alias.get(cid, cid)
        if canon is None:
            self._sig_index[sig] = cur
            return
        if canon == cur:
            return
        keep, drop = min(canon, cur), max(canon, cur)
        moved = self._members.pop(drop, set()) | {drop}
        for k in moved:
            self._alias[k] = keep
        self._members.setdefault(keep, set()).update(moved)
        for s, v in list(self._sig_index.items()):
            if v == drop:
                self._sig_index[s] = keep
        self._sig_index[sig] = keep
        a, b = self._posvals.get(keep), self._posvals.pop(drop, None)
        if b is not None:
            if a is None:
                self._posvals[keep] = b
            elif len(a) == len(b):
                for i, (x, y) in enumerate(zip(a, b)):
                    if x is None or y is None or len(x | y) > self._k:
                        a[i] = None
                    else:
                        a[i] = x | y
        self._invalidate(keep)
        self._invalidate(drop)
        self._cache.clear()

    def _invalidate(self, canon: int) -> None:
        if self._tmpl_cache:
            for pid, (c, _k) in self._pub_info.items():
                if self._alias.get(c, c) == canon or c == canon:
                    self._tmpl_cache.pop(pid, None)

    def canonical(self, template_id: int) -> int:
        """The id that template ``template_id`` has become after later merges and splits (itself
        when nothing changed): use it to fold ids handed out while streaming."""
        info = self._pub_info.get(template_id)
        if info is None:
            return template_id
        c, key = info
        canon = self._alias.get(c, c)
        pv = self._posvals.get(canon)
        if pv:
            key = tuple((i, w) for i, w in key if i < len(pv) and pv[i] is not None)
        else:
            key = ()
        if canon == c and key == info[1]:
            return template_id
        return self._public(canon, key)[0]

    def _canon_tokens(self, canon: int) -> list[str]:
        c = self.drain.id_to_cluster.get(canon)
        if c is None:
            return []
        toks = list(c.log_template_tokens)
        for m in sorted(self._members.get(canon, ())):
            other = self.drain.id_to_cluster.get(m)
            if other is None or len(other.log_template_tokens) != len(toks):
                continue
            toks = [a if a == b else "<*>" for a, b in zip(toks, other.log_template_tokens)]
        return toks

    def template(self, pid: int) -> str:
        """Current text of template ``pid``."""
        t = self._tmpl_cache.get(pid)
        if t is None:
            info = self._pub_info.get(pid)
            if info is None:
                return ""
            canon, key = info
            toks = self._canon_tokens(self._alias.get(canon, canon))
            for i, w in key:
                if i < len(toks):
                    toks[i] = w
            t = " ".join(toks)
            self._tmpl_cache[pid] = t
        return t

    # -- queries -----------------------------------------------------------------------------
    def templates(self) -> dict[int, str]:
        """Every template id ever given out -> its current text."""
        return {pid: self.template(pid) for pid in sorted(self._pub_info)}

    def counts(self) -> dict[int, int]:
        return dict(self._counts)

    def __len__(self) -> int:
        return len(self._pub_info)

    # -- persistence -------------------------------------------------------------------------
    def state_bytes(self) -> bytes:
        import jsonpickle
        payload = {
            "version": STATE_VERSION,
            "config": self.config.fingerprint(),
            "drain": jsonpickle.dumps(self.drain, keys=True),
            "alias": {str(k): v for k, v in self._alias.items()},
            "posvals": {str(k): [sorted(v) if v is not None else None for v in pv] for k, pv in self._posvals.items()},
            "pub": [[pid, c, [list(x) for x in key]] for pid, (c, key) in self._pub_info.items()],
            "counts": {str(k): v for k, v in self._counts.items()},
        }
        return zlib.compress(json.dumps(payload).encode("utf-8"), 6)

    def save(self) -> None:
        """Write the state (atomically) when the miner has a state_dir / persistence."""
        if self.persistence is None:
            return
        self.persistence.save_state(self.state_bytes())
        self._new_since_save = 0

    def _load(self) -> None:
        import jsonpickle
        assert self.persistence is not None
        blob = self.persistence.load_state()
        if not blob:
            return
        try:
            payload = json.loads(zlib.decompress(blob).decode("utf-8"))
            if payload.get("version") != STATE_VERSION:
                raise ValueError(f"state version {payload.get('version')}")
            if payload.get("config") != self.config.fingerprint():
                self.state_warning = "template state was made with other settings; starting fresh"
                return
            loaded = jsonpickle.loads(payload["drain"], keys=True)
            id_to_cluster = {int(k): v for k, v in loaded.id_to_cluster.items()}
            alias = {int(k): int(v) for k, v in payload.get("alias", {}).items()}
            posvals = {int(k): [set(v) if v is not None else None for v in pv]
                       for k, pv in payload.get("posvals", {}).items()}
            pub_info = {int(pid): (int(c), tuple((int(i), str(w)) for i, w in key))
                        for pid, c, key in payload.get("pub", [])}
            counts = {int(k): int(v) for k, v in payload.get("counts", {}).items()}
        except Exception as exc:  # noqa: BLE001 - a bad state file must not stop the analysis
            self.state_warning = f"template state unreadable ({type(exc).__name__}: {exc}); starting fresh"
            return
        if self.config.max_clusters:
            from cachetools import LRUCache
            cache: Any = LRUCache(maxsize=self.config.max_clusters)
            cache.update(id_to_cluster)
            id_to_cluster = cache
        self.drain.id_to_cluster = id_to_cluster
        self.drain.clusters_counter = loaded.clusters_counter
        self.drain.root_node = loaded.root_node
        self._alias = alias
        self._members = {}
        for k, v in alias.items():
            self._members.setdefault(v, set()).add(k)
        self._posvals = posvals
        self._pub_info = pub_info
        self._pub = {(c, key): pid for pid, (c, key) in pub_info.items()}
        self._counts = counts
        for pid in pub_info:
            self._counts.setdefault(pid, 0)
        self._sig_index = {}
        for cid, c in self.drain.id_to_cluster.items():
            self._sig_index.setdefault(self._signature(c.log_template_tokens), alias.get(cid, cid))
