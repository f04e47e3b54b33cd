"""Template state as plain data: where it lives (two-method ABC) and how it reads (JSON, checked).

The state is one JSON object: Drain's clusters and prefix tree, the merge layer's statistics, the
template ids with the tokens each was made of, and counts. Nothing in it is ever executed or used to
build an object of a type it names (the old jsonpickle state could run code planted in the file).
Reading checks every part's type; a file that is not our state (another program's, an older format,
truncated, tampered with) raises :class:`StateError`, and the miner moves it aside
(:meth:`StatePersistence.set_aside`) instead of overwriting it.
"""
from __future__ import annotations

import json
import os
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ttsops.errors import ConfigError

from .cover import CoverIndex
from .merge import MAX_SEGMENT

if TYPE_CHECKING:
    from .miner import TemplateMiner

__all__ = ["StatePersistence", "FilePersistence", "MemoryPersistence", "StateError", "STATE_FILE",
           "STATE_FORMAT", "STATE_VERSION", "MAX_STATE_BYTES", "encode_state", "decode_state"]

STATE_FILE = "templates.state"
STATE_FORMAT = "ttsops-templates"
STATE_VERSION = 8   # also the tokenization (tokens.glue, value lists): a state cut another way is not reused
                    # (4: ids folded into a template that covered them, token counts)
MAX_STATE_BYTES = 1 << 30


class StateError(Exception):
    """A state blob that is not a usable template state. ``kind``: ``corrupt`` or ``other-settings``."""

    def __init__(self, message: str, kind: str = "corrupt"):
        super().__init__(message)
        self.kind = kind


# ------------------------------------------------------------------------------------------------
class StatePersistence(ABC):
    """Where the miner's state lives. Two methods; implementations must make ``save_state`` atomic."""

    @abstractmethod
    def save_state(self, state: bytes) -> None: ...

    @abstractmethod
    def load_state(self) -> bytes | None: ...

    def set_aside(self, kind: str) -> str | None:
        """Keep an unusable state out of the way (it is not overwritten); returns where it went."""
        return None

    def describe(self) -> str:
        return f"({type(self).__name__})"


class MemoryPersistence(StatePersistence):
    def __init__(self) -> None:
        self.state: bytes | None = None
        self.aside: list[bytes] = []

    def save_state(self, state: bytes) -> None:
        self.state = bytes(state)

    def load_state(self) -> bytes | None:
        return self.state

    def set_aside(self, kind: str) -> str | None:
        if self.state is None:
            return None
        self.aside.append(self.state)
        self.state = None
        return f"memory aside #{len(self.aside)}"


class FilePersistence(StatePersistence):
    """One file; written to a temp file in the same folder, fsynced, then ``os.replace``d."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def describe(self) -> str:
        return str(self.path)

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
            if not self.path.is_file():
                if self.path.exists():
                    raise ConfigError("template state is not a regular file", where=str(self.path),
                                      fix="remove it or point --state at another folder")
                return None
            size = self.path.stat().st_size
            if size > MAX_STATE_BYTES:
                raise ConfigError(f"template state is {size} bytes (more than {MAX_STATE_BYTES})",
                                  where=str(self.path), fix="move it away to start fresh")
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"cannot read template state ({exc.strerror or exc})", where=str(self.path)) from None

    def set_aside(self, kind: str) -> str | None:
        n = 1
        while True:
            dest = self.path.with_name(f"{self.path.name}.{kind}-{n}")
            if not dest.exists():
                break
            n += 1
        try:
            os.link(self.path, dest)  # never replaces an existing file
            os.unlink(self.path)
        except OSError:
            try:
                os.rename(self.path, dest)
            except OSError as exc:
                raise ConfigError(f"template state cannot be used and cannot be moved aside "
                                  f"({exc.strerror or exc})", where=str(self.path),
                                  fix="move it away by hand") from None
        return str(dest)


# ------------------------------------------------------------------------------------------------
def encode_state(miner: "TemplateMiner") -> bytes:
    """The miner's whole state as plain JSON bytes."""
    drain = miner.drain
    clusters = [[c.cluster_id, c.size, list(c.log_template_tokens)] for c in drain.id_to_cluster.values()]

    def node(n: Any) -> list:
        return [list(n.cluster_ids), {k: node(v) for k, v in n.key_to_child_node.items()}]

    payload = {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "config": miner.config.fingerprint(),
        "drain": {"counter": drain.clusters_counter, "clusters": clusters, "tree": node(drain.root_node)},
        "merge": miner.merger.to_data(),
        "segments": miner.segments.to_data(),
        "keys": [[key, pid] for key, pid in miner._keys.items()],
        "ids": [[pid, cid, list(toks)] for pid, (cid, toks) in miner._origin.items()],
        "texts": [[key, text, multi] for key, (text, multi) in miner._text.items()],
        "counts": [[pid, n] for pid, n in miner._counts.items()],
        "folded": [[pid, into] for pid, into in miner._folded.items()],
        "lengths": [[pid, n, pid in miner._spans] for pid, n in miner._lengths.items()],
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class _Check:
    """Type checks for decoding: each failure is a StateError naming the part."""

    def __call__(self, ok: bool, what: str) -> None:
        if not ok:
            raise StateError(f"malformed part {what!r}")

    def ints(self, v: Any) -> int:
        self(isinstance(v, int) and not isinstance(v, bool), "integer")
        return v

    def strs(self, v: Any) -> list[str]:
        self(isinstance(v, list) and all(isinstance(x, str) for x in v), "strings")
        return v

    def list(self, v: Any, what: str) -> list:
        self(isinstance(v, list), what)
        return v

    def pair(self, v: Any, what: str) -> list:
        self(isinstance(v, list) and len(v) == 2, what)
        return v


def decode_state(miner: "TemplateMiner", blob: bytes) -> None:
    """Fill ``miner`` from :func:`encode_state`'s bytes, or raise :class:`StateError` (miner untouched
    only in its config; the caller resets it)."""
    from drain3.drain import LogCluster, Node

    try:
        payload = json.loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise StateError("not a JSON template state (corrupt, or written by another program or an older "
                         "version)") from None
    if not isinstance(payload, dict) or payload.get("format") != STATE_FORMAT:
        raise StateError("not a template state of this program")
    if payload.get("version") != STATE_VERSION:
        raise StateError(f"state version {payload.get('version')!r}, expected {STATE_VERSION}")
    if payload.get("config") != miner.config.fingerprint():
        raise StateError("made with other template settings", kind="other-settings")
    check = _Check()
    try:
        d = payload["drain"]
        check(isinstance(d, dict), "drain")
        clusters = {}
        for row in check.list(d["clusters"], "drain.clusters"):
            check(isinstance(row, list) and len(row) == 3, "drain.clusters")
            cid, size, toks = check.ints(row[0]), check.ints(row[1]), check.strs(row[2])
            c = LogCluster(toks, cid)
            c.size = size
            clusters[cid] = c
        max_depth = miner.drain.max_node_depth   # root, token count, then depth - 3 token levels

        def node(v: Any, depth: int) -> Any:
            check(isinstance(v, list) and len(v) == 2 and isinstance(v[1], dict) and depth <= max_depth,
                  "drain.tree")
            n = Node()
            n.cluster_ids = [check.ints(x) for x in check.list(v[0], "drain.tree")]
            n.key_to_child_node = {k: node(c, depth + 1) for k, c in v[1].items()}
            return n

        root = node(d["tree"], 0)
        counter = check.ints(d["counter"])
        merge = payload["merge"]
        check(isinstance(merge, dict), "merge")
        miner.merger.load_data(merge, check)
        miner.segments.load_data(payload["segments"], check)
        keys = {}
        for pair in check.list(payload["keys"], "keys"):
            key, pid = check.pair(pair, "keys")
            check(isinstance(key, str), "keys")
            keys[key] = check.ints(pid)
        origin = {}
        for row in check.list(payload["ids"], "ids"):
            check(isinstance(row, list) and len(row) == 3, "ids")
            origin[check.ints(row[0])] = (check.ints(row[1]), tuple(check.strs(row[2])))
        check(sorted(origin) == list(range(1, len(origin) + 1)), "ids")
        texts = {}
        for row in check.list(payload["texts"], "texts"):
            check(isinstance(row, list) and len(row) == 3 and isinstance(row[0], str) and isinstance(row[1], str)
                  and isinstance(row[2], bool), "texts")
            texts[row[0]] = [row[1], row[2]]
        counts = {}
        for pair in check.list(payload["counts"], "counts"):
            p, n = check.pair(pair, "counts")
            counts[check.ints(p)] = check.ints(n)
        folded = {}
        for pair in check.list(payload["folded"], "folded"):
            p, into = check.pair(pair, "folded")
            folded[check.ints(p)] = check.ints(into)
        lengths, spans = {}, set()
        for row in check.list(payload["lengths"], "lengths"):
            check(isinstance(row, list) and len(row) == 3 and isinstance(row[2], bool), "lengths")
            lengths[check.ints(row[0])] = check.ints(row[1])
            if row[2]:
                spans.add(row[0])
    except (KeyError, TypeError, AttributeError):
        raise StateError("a part of the template state is missing or of the wrong type") from None
    except RecursionError:
        raise StateError("template state nested too deep") from None
    drain = miner.drain
    if miner.config.max_clusters:
        from cachetools import LRUCache

        cache: Any = LRUCache(maxsize=miner.config.max_clusters)
        cache.update(clusters)
        drain.id_to_cluster = cache
    else:
        drain.id_to_cluster = clusters
    drain.root_node = root
    drain.clusters_counter = counter
    miner._origin = origin
    check(sorted(keys.values()) == sorted(origin) and all(k in texts for k in keys), "keys")
    miner._keys = keys
    miner._pid_key = {pid: key for key, pid in keys.items()}
    miner._text = texts
    miner._counts = {pid: counts.get(pid, 0) for pid in origin}
    check(all(p in origin and g in origin and g not in folded for p, g in folded.items()), "folded")
    miner._folded = folded
    miner._lengths = {pid: n for pid, n in lengths.items() if pid in origin}
    miner._spans = spans & set(origin)
    miner._cover = CoverIndex(MAX_SEGMENT)
    for pid in sorted(origin):
        if pid not in folded:
            miner._cover.add(pid, tuple(miner._pid_key[pid].split(" ")))
