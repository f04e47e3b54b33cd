"""The knowledge base: known TTS failures as data (``kb.yaml``), matched against error records.

Each entry has an ``id`` (a stable slug shared with the engine's fault labels and the JSON report),
a ``title``, regex ``patterns`` (general signatures: exception types, library error strings, errno
names), optional ``events`` (regexes on the structured ``event`` field) and ``stalls`` (a file whose
last record matches stalled there), a ``role`` (``cause`` or ``symptom``), a ``rank`` (lower = more
upstream), a base ``severity``, ``follows`` (the causes a symptom usually comes from), the ``cause``
and the ``fix``.

A record is matched in parts (:func:`record_parts`): its message, then each exception of its
traceback, the root of a chain first; in the first part any entry matches, the first entry in file
order wins, and the line that matched is kept as evidence (:meth:`KnowledgeBase.explain_record`).

>>> kb = load_kb()
>>> kb.match("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB").id
'cuda_oom'
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from ttsops.errors import ConfigError

__all__ = ["KBEntry", "KnowledgeBase", "load_kb", "DEFAULT_KB_PATH", "SEVERITIES", "UNRECOGNISED"]

DEFAULT_KB_PATH = Path(__file__).with_name("kb.yaml")
SEVERITIES = ("low", "medium", "high", "critical")  # ascending
ROLES = ("cause", "symptom", "degradation")
UNRECOGNISED = "unrecognised"
_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
_REQUIRED = ("id", "title", "role", "severity", "patterns", "cause", "fix")
_KNOWN = set(_REQUIRED) | {"rank", "follows", "events", "stalls", "examples"}

#: the KB reads this much of each part of a record (a traceback block is put exception line first):
#: matching costs ~10 us a KB over all patterns, so a 1 MiB line is bounded to ~0.1 s, not 10 s
TEXT_CAP = 8192

#: a record with no level is only looked up in the KB when it holds one of these words (cheap, and a
#: known signature in a plain ``print`` line is then an error too); the KB test checks every example
#: of every entry passes it
FAILURE_WORDS = re.compile(
    r"error|fail|exception|fatal|abort|fault|crash|panic|denied|refused|not found|no such|missing|cannot|"
    r"can't|can not|could not|couldn't|unable|invalid|illegal|corrupt|mismatch|timed? ?out|timeout|killed|"
    r"dumped|out of memory|no space|in use|not installed|not available|unavailable|unsupported|not supported|"
    r"must be|must match|must have|should be|expect(?:s|ed)?\b|exceed|too (?:long|short|large|small)|insufficient|does not|doesn't|"
    r"not recogni|unknown|unexpected|undefined|\bnan\b|non-finite|underflow|underrun|saturated|silent|"
    r"\bsig[a-z]{3,4}\b|\b137\b|缺少|找不到|不存在|错误|失败|异常|报错|请下载|无法|未找到|超时|拒绝|已放弃|"
    r"\boom\b|bad_alloc|all zeros|below|empty|too old|not in (?:the )?available|incompatible|conflict|not a zip|"
    r"not ready|longer than|out of range|near zero|degenerate|unterminated|extra data|regression|usage high|"
    r"not given|已杀死|核心已转储|段错误|非法指令|占用|空间不足|权限|只允许", re.I)


@dataclass(frozen=True)
class KBEntry:
    """One known failure. ``patterns``/``events`` are compiled, case-insensitive."""

    id: str
    title: str
    role: str
    severity: str
    cause: str
    fix: str
    rank: int = 0
    patterns: tuple[re.Pattern[str], ...] = ()
    events: tuple[re.Pattern[str], ...] = ()
    stalls: tuple[re.Pattern[str], ...] = ()
    follows: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()

    @property
    def severity_level(self) -> int:
        """0 (low) .. 3 (critical)."""
        return SEVERITIES.index(self.severity)

    def matches(self, text: str, event: str | None = None) -> bool:
        return self.search(text, event) is not None

    def search(self, text: str, event: str | None = None) -> int | None:
        """Where in ``text`` the earliest pattern hit starts (0 for an ``event`` hit), else None."""
        if event and any(p.search(event) for p in self.events):
            return 0
        best = None
        for p in self.patterns:
            m = p.search(text)
            if m is not None and (best is None or m.start() < best):
                best = m.start()
        return best

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "role": self.role, "rank": self.rank,
                "severity": self.severity, "follows": list(self.follows), "cause": self.cause,
                "fix": self.fix, "patterns": [p.pattern for p in self.patterns]}


class KnowledgeBase:
    """Ordered entries; :meth:`match` returns the first that matches (``None`` when none does).

    Parameters
    ----------
    entries : the entries in priority order. One must be ``unrecognised`` (added when missing).
    """

    def __init__(self, entries: Iterable[KBEntry]):
        self.entries: list[KBEntry] = list(entries)
        self.by_id: dict[str, KBEntry] = {e.id: e for e in self.entries}
        if UNRECOGNISED not in self.by_id:
            fallback = KBEntry(UNRECOGNISED, "Unrecognised error", "cause", "medium",
                               "An error the knowledge base does not know yet.",
                               "Read the evidence lines; add an entry to analyzer/kb.yaml if it recurs.",
                               rank=9)
            self.entries.append(fallback)
            self.by_id[UNRECOGNISED] = fallback
        self._matchable = [e for e in self.entries if e.patterns or e.events]
        self._stallable = [e for e in self.entries if e.stalls]
        self._cache: dict[tuple[str, str | None], tuple[KBEntry | None, int]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, kb_id: str) -> KBEntry:
        return self.by_id[kb_id]

    @property
    def unrecognised(self) -> KBEntry:
        return self.by_id[UNRECOGNISED]

    def match(self, text: str, event: str | None = None) -> KBEntry | None:
        """The first entry whose patterns match ``text`` (or whose events match ``event``)."""
        return self._match(text, event)[0]

    def _match(self, text: str, event: str | None) -> tuple[KBEntry | None, int]:
        if len(text) > TEXT_CAP:
            text = text[:TEXT_CAP]
        key = (text, event)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        found: tuple[KBEntry | None, int] = (None, -1)
        for entry in self._matchable:
            pos = entry.search(text, event)
            if pos is not None:
                found = (entry, pos)
                break
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[key] = found
        return found

    def match_record(self, record: Any) -> KBEntry | None:
        """Match an :class:`analyzer.records.Record` (see :meth:`explain_record`)."""
        return self.explain_record(record)[0]

    def explain_record(self, record: Any) -> tuple[KBEntry | None, str | None]:
        """The entry a record matches and the line of its text that matched: its parts in order
        (:func:`record_parts`), the first part any entry matches decides."""
        event = _event(record)
        for part in record_parts(record):
            entry, pos = self._match(part, event)
            if entry is not None:
                if pos < 0 or pos >= len(part):
                    return entry, None
                start = part.rfind("\n", 0, pos) + 1
                end = part.find("\n", pos)
                return entry, part[start:end if end >= 0 else len(part)].strip() or None
            event = None  # an event names the record, not each part again
        return None, None

    def promotable(self, record: Any) -> KBEntry | None:
        """For a record without a level: the entry its text matches, when it holds a failure word."""
        text = (record.message or "")[:TEXT_CAP]
        if not FAILURE_WORDS.search(text):
            raw = record.raw or ""
            if "\n" not in raw or not FAILURE_WORDS.search(raw[:TEXT_CAP]):
                return None
        return self.match_record(record)

    def stalled(self, record: Any) -> KBEntry | None:
        """The entry whose ``stalls`` match ``record`` (a file's last record), else None."""
        text = (record.message or "").strip()
        for entry in self._stallable:
            if any(p.search(text) for p in entry.stalls):
                return entry
        return None


def record_parts(record: Any) -> list[str]:
    """The texts the KB looks at, in order: the message with its continuation lines and the
    ``error_type``/``error``/``err`` (Go's)/``exception`` fields, then each exception block of the traceback, the
    root of a chain first (exception line and message before the frames, so the evidence is the
    exception line when both match)."""
    fields: Mapping[str, Any] = getattr(record, "fields", None) or {}
    tb = getattr(record, "traceback", None) or fields.get("traceback")
    head = [record.message or ""]
    raw = getattr(record, "raw", "") or ""
    if not tb and "\n" in raw:
        head.append(raw[raw.index("\n") + 1:])
    for key in ("error_type", "error", "err", "exception"):
        val = fields.get(key)
        if val and isinstance(val, (str, int, float)):
            head.append(str(val))
        elif isinstance(val, dict):  # loguru's exception object
            head.append(" ".join(str(v) for k, v in val.items() if k in ("type", "value") and v))
    parts = ["\n".join(head)]
    if tb and isinstance(tb, str):
        parts.extend(_traceback_blocks(tb))
    return parts


_CHAIN_SPLIT = re.compile(r"\n(?:During handling of the above exception|The above exception was the direct cause)[^\n]*\n")


def _traceback_blocks(tb: str) -> list[str]:
    out = []
    for block in _CHAIN_SPLIT.split(tb):
        lines = block.split("\n")
        # the exception line is the first line at column 0 that is neither the header, a frame, nor
        # the source line right after a frame (pasted tracebacks often lost their indentation)
        i = None
        for j, line in enumerate(lines):
            if not line or line[0].isspace() or line.startswith(("Traceback", "File ")):
                continue
            if j and lines[j - 1].startswith("File "):
                continue
            i = j
            break
        out.append(block if i is None else "\n".join(lines[i:] + lines[:i]))
    return out


def record_text(record: Any) -> str:
    """All the text the KB looks at, in one string (:func:`record_parts` joined)."""
    return "\n".join(record_parts(record))


def _event(record: Any) -> str | None:
    fields = getattr(record, "fields", None) or {}
    ev = fields.get("event")
    return str(ev) if ev is not None else None


def _compile(where: str, key: str, values: Any) -> tuple[re.Pattern[str], ...]:
    if values is None:
        return ()
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"`{key}` must be a list of strings", where=where)
    out = []
    for v in values:
        try:
            out.append(re.compile(v, re.IGNORECASE))
        except re.error as exc:
            raise ConfigError(f"`{key}` regex {v!r} does not compile: {exc}",
                              where=where, fix="escape regex metacharacters") from exc
    return tuple(out)


def _entry(raw: Any, index: int, source: str) -> KBEntry:
    if not isinstance(raw, dict):
        raise ConfigError(f"entry #{index} is not a mapping", where=source)
    entry_id = raw.get("id")
    name = entry_id if isinstance(entry_id, str) else f"#{index}"
    where = f"{source}: kb entry {name!r}"
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise ConfigError(f"missing key(s) {', '.join(missing)}", where=where)
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)}", where=where,
                          fix=f"use only {', '.join(sorted(_KNOWN))}")
    if not isinstance(entry_id, str) or not _SLUG.match(entry_id):
        raise ConfigError(f"id {entry_id!r} is not a slug", where=where, fix="use lower_snake_case")
    if raw["role"] not in ROLES:
        raise ConfigError(f"role {raw['role']!r} is not one of {', '.join(ROLES)}", where=where)
    if raw["severity"] not in SEVERITIES:
        raise ConfigError(f"severity {raw['severity']!r} is not one of {', '.join(SEVERITIES)}", where=where)
    rank = raw.get("rank", 0)
    if not isinstance(rank, int) or not 0 <= rank <= 9:
        raise ConfigError(f"rank {rank!r} must be an integer 0..9", where=where)
    for key in ("title", "cause", "fix"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise ConfigError(f"`{key}` must be a non-empty string", where=where)
    follows = raw.get("follows") or []
    if not isinstance(follows, list) or not all(isinstance(f, str) for f in follows):
        raise ConfigError("`follows` must be a list of kb ids", where=where)
    examples = raw.get("examples") or []
    if not isinstance(examples, list) or not all(isinstance(x, str) for x in examples):
        raise ConfigError("`examples` must be a list of strings", where=where)
    return KBEntry(id=entry_id, title=raw["title"].strip(), role=raw["role"], severity=raw["severity"],
                   cause=" ".join(raw["cause"].split()), fix=" ".join(raw["fix"].split()), rank=rank,
                   patterns=_compile(where, "patterns", raw["patterns"]),
                   events=_compile(where, "events", raw.get("events")),
                   stalls=_compile(where, "stalls", raw.get("stalls")),
                   follows=tuple(follows), examples=tuple(examples))


def parse_kb(data: Any, source: str = "kb") -> KnowledgeBase:
    """Validate a parsed YAML document (``{"entries": [...]}``) into a :class:`KnowledgeBase`."""
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise ConfigError("expected a mapping with an `entries` list", where=source)
    entries = [_entry(raw, i, source) for i, raw in enumerate(data["entries"], 1)]
    seen: set[str] = set()
    for e in entries:
        if e.id in seen:
            raise ConfigError(f"duplicate id {e.id!r}", where=f"{source}: kb entry {e.id!r}")
        seen.add(e.id)
    for e in entries:
        unknown = [f for f in e.follows if f not in seen]
        if unknown:
            raise ConfigError(f"`follows` names unknown id(s) {', '.join(unknown)}",
                              where=f"{source}: kb entry {e.id!r}")
    return KnowledgeBase(entries)


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float) -> KnowledgeBase:
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read knowledge base: {exc.strerror or exc}", where=path) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}".replace("\n", " "), where=path) from exc
    return parse_kb(data, source=path)


def load_kb(path: str | Path | None = None) -> KnowledgeBase:
    """Load and validate a knowledge base (default: the packaged ``analyzer/kb.yaml``).

    Raises :class:`ttsops.errors.ConfigError` naming the entry at fault.
    """
    p = Path(path) if path is not None else DEFAULT_KB_PATH
    try:
        mtime = p.stat().st_mtime
    except OSError as exc:
        raise ConfigError(f"knowledge base not found: {exc.strerror or exc}", where=str(p)) from exc
    return _load_cached(str(p), mtime)
