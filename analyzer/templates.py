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
from dataclasses import asdict, dataclass, field, fields, replace
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
    ("HEX", r"\b0[xX][0-9a-fA-F]+\b|(?<![\w\-])(?=[a-fA-F]*\d)[0-9a-fA-F]{8,}(?![\w\-])"),
    ("DURATION", r"(?<![\w.])[-+]?\d+(?:\.\d+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds|min|mins|minutes|h|hr|hours)(?![\w.])"),
    ("SIZE", r"(?<![\w.])\d+(?:\.\d+)?\s?(?:[KMGTP]i?B|bytes|B|kB|[KMG])(?![\w.])"),
    ("PATH", r"(?<![\w.~/])(?:~|\.{1,2})?(?:/[\w.\-@+%]+){2,}/?"),
    ("NUM", r"(?<![\w.\-])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?%?(?![\w.])"),
    ("ID", r"(?<![\w.\-/])[\w.\-/+]*\d[\w.\-/+]*"),
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
    sim_th: float = 0.4
    depth: int = 4
    max_children: int = 100
    max_clusters: int | None = None
    extra_delimiters: tuple[str, ...] = ()
    cache_size: int = 200_000
    merge_variables: bool = True
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
        try:
            import tomllib
        except ModuleNotFoundError:  # pragma: no cover - python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read template config ({exc})", where=os.fspath(path)) from None
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
class Masker:
    """All masking rules as ONE compiled alternation with named groups: one pass over the text."""

    def __init__(self, rules: Iterable[tuple[str, str]], typed: bool = False):
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

    def mask(self, text: str) -> str:
        return self._sub(text)


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


class TemplateMiner:
    """Drain3 template mining with one-pass masking, a masked-message cache and variable merging.

    ``add(message)`` returns :class:`TemplateMatch` (``template_id`` stable across runs when
    ``state_dir`` or ``persistence`` is given and the config is unchanged).
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
        self.masker = Masker(self.config.masking, self.config.typed_masks)
        self._cache: dict[str, int] = {}
        self._alias: dict[int, int] = {}         # drain cluster id -> canonical template id
        self._sig_index: dict[tuple, int] = {}    # merge signature -> canonical id
        self._counts: dict[int, int] = {}
        self._members: dict[int, set[int]] = {}   # canonical id -> merged drain ids (only when merged)
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
        masked = self.masker.mask(message)
        cid = self._cache.get(masked)
        if cid is not None:
            canon = self._alias.get(cid, cid)
            self._counts[canon] = self._counts.get(canon, 0) + 1
            return TemplateMatch(canon, self._template(canon), False)
        return self._add_masked(masked)

    def add_masked(self, masked: str) -> int:
        """Fast path for bulk callers: an already-masked message -> canonical template id."""
        cid = self._cache.get(masked)
        if cid is None:
            return self._add_masked(masked).template_id
        canon = self._alias.get(cid, cid)
        self._counts[canon] = self._counts.get(canon, 0) + 1
        return canon

    def _add_masked(self, masked: str) -> TemplateMatch:
        cluster, change = self.drain.add_log_message(masked)
        cid = cluster.cluster_id
        is_new = change == "cluster_created"
        if change != "none":
            self._tmpl_cache.pop(self._alias.get(cid, cid), None)
            if self.config.merge_variables:
                self._update_merge(cluster)
        if self.config.cache_size:
            if len(self._cache) >= self.config.cache_size:
                for k in list(self._cache)[: max(1, self.config.cache_size // 2)]:
                    del self._cache[k]
            self._cache[masked] = cid
        canon = self._alias.get(cid, cid)
        self._counts[canon] = self._counts.get(canon, 0) + 1
        if is_new:
            self._new_since_save += 1
            if self.config.snapshot_every and self._new_since_save >= self.config.snapshot_every:
                self.save()
        return TemplateMatch(canon, self._template(canon), is_new and canon == cid)

    # -- merging -----------------------------------------------------------------------------
    @staticmethod
    def _signature(tokens: Iterable[str]) -> tuple:
        return tuple("<*>" if _VARIABLE_TOKEN.search(t) else t for t in tokens)

    def _update_merge(self, cluster: Any) -> None:
        sig = self._signature(cluster.log_template_tokens)
        cid = cluster.cluster_id
        canon = self._sig_index.get(sig)
        if canon is None:
            self._sig_index[sig] = self._alias.get(cid, cid)
        elif canon != self._alias.get(cid, cid):
            old = self._alias.get(cid, cid)
            keep, drop = min(canon, old), max(canon, old)
            moved = self._members.pop(drop, set()) | {drop}
            for k in moved:
                self._alias[k] = keep
            self._members.setdefault(keep, set()).update(moved)
            self._tmpl_cache.pop(keep, None)
            self._tmpl_cache.pop(drop, None)
            self._sig_index[sig] = keep
            for s, v in list(self._sig_index.items()):
                if v == drop:
                    self._sig_index[s] = keep
            if drop in self._counts:
                self._counts[keep] = self._counts.get(keep, 0) + self._counts.pop(drop)

    def canonical(self, cluster_id: int) -> int:
        return self._alias.get(cluster_id, cluster_id)

    def _template(self, canon: int) -> str:
        t = self._tmpl_cache.get(canon)
        if t is None:
            c = self.drain.id_to_cluster.get(canon)
            members = self._members.get(canon)
            if c is None:
                t = ""
            elif not members:
                t = c.get_template()
            else:
                t = self._merged_template(canon, sorted(members))
            self._tmpl_cache[canon] = t
        return t

    def _merged_template(self, canon: int, members: list[int]) -> str:
        toks = list(self.drain.id_to_cluster[canon].log_template_tokens)
        for m in members:
            other = self.drain.id_to_cluster.get(m)
            if other is None or len(other.log_template_tokens) != len(toks):
                continue
            toks = [a if a == b else "<*>" for a, b in zip(toks, other.log_template_tokens)]
        return " ".join(toks)

    # -- queries -----------------------------------------------------------------------------
    def templates(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for cid in sorted(self.drain.id_to_cluster.keys()):
            canon = self._alias.get(cid, cid)
            if canon not in out:
                out[canon] = self._template(canon)
        return out

    def counts(self) -> dict[int, int]:
        return dict(self._counts)

    def __len__(self) -> int:
        return len(self.templates())

    # -- persistence -------------------------------------------------------------------------
    def state_bytes(self) -> bytes:
        import jsonpickle
        payload = {
            "version": STATE_VERSION,
            "config": self.config.fingerprint(),
            "drain": jsonpickle.dumps(self.drain, keys=True),
            "alias": {str(k): v for k, v in self._alias.items()},
            "counts": {str(k): v for k, v in self._counts.items()},
        }
        return zlib.compress(json.dumps(payload).encode("utf-8"), 6)

    def save(self) -> None:
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
        except Exception as exc:  # noqa: BLE001 - a bad state file must not stop the analysis
            self.state_warning = f"template state unreadable ({type(exc).__name__}: {exc}); starting fresh"
            return
        if self.config.max_clusters:
            from cachetools import LRUCache
            cache: Any = LRUCache(maxsize=self.config.max_clusters)
            cache.update(loaded.id_to_cluster)
            loaded.id_to_cluster = cache
        else:
            # jsonpickle restores keys as str when keys=True is not honoured by an older state
            loaded.id_to_cluster = {int(k): v for k, v in loaded.id_to_cluster.items()}
        self.drain.id_to_cluster = loaded.id_to_cluster
        self.drain.clusters_counter = loaded.clusters_counter
        self.drain.root_node = loaded.root_node
        self._alias = {int(k): int(v) for k, v in payload.get("alias", {}).items()}
        self._members = {}
        for k, v in self._alias.items():
            self._members.setdefault(v, set()).add(k)
        self._counts = {int(k): int(v) for k, v in payload.get("counts", {}).items()}
        self._sig_index = {}
        for cid, c in self.drain.id_to_cluster.items():
            sig = self._signature(c.log_template_tokens)
            canon = self._alias.get(cid, cid)
            self._sig_index.setdefault(sig, canon)
