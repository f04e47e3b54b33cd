"""Sentry-like exception grouping, privacy first.

An error record (a Python traceback in ``Record.traceback``, or an ``error_type`` /
``exception_type`` field) is fingerprinted by its exception type plus its *normalised* stack:
each frame becomes ``module:function`` (the file path cut to its package-relative module, no line
numbers, no source text), so the same failure from different requests, hosts, virtualenvs or
versions that moved lines falls in one group, and a different call path makes another.

Each group keeps: fingerprint, type, normalised frames, count, first/last seen, the first few request
ids, counts of a few low-cardinality context fields (back-end, speaker, emotion, event, logger) and
where it was first seen (file:line). It never stores message text, exception values, the input text
or audio: those may hold user content. Memory is bounded (``max_groups``; later new groups are counted
in ``overflow``).

    grouper = ErrorGrouper()
    for rec in read_records(paths):
        grouper.add(rec)                      # None when the record is not an error
    grouper.top(10); grouper.to_dicts()
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

__all__ = ["ErrorGroup", "ErrorGrouper", "normalise_traceback", "fingerprint", "module_of"]

_FRAME_RE = re.compile(r'^\s*File "(?P<path>[^"]+)", line \d+, in (?P<func>\S+)', re.M)
_EXC_RE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Fault|Failure|"
                     r"Iteration|KeyError|StopIteration)?)(?::|$)")
_GENERIC_TYPE_RE = re.compile(r"^[A-Za-z_][\w.]*$")
_SITE_RE = re.compile(r".*/(?:site-packages|dist-packages|lib/python\d\.\d+)/")
_ADDR_RE = re.compile(r"0x[0-9a-fA-F]+")
CONTEXT_FIELDS = ("backend", "speaker", "emotion", "event", "logger", "function", "error_type")
_ERROR_TYPE_FIELDS = ("error_type", "exception_type", "exc_type")


def module_of(path: str) -> str:
    """``/venv/lib/python3.11/site-packages/torch/nn/modules/module.py`` -> ``torch.nn.modules.module``;
    ``/srv/app/engine/synth.py`` -> ``engine.synth`` (the last two parts when no package root is known);
    ``<frozen runpy>`` -> ``<frozen runpy>``."""
    p = path.replace("\\", "/")
    if p.startswith("<"):
        return _ADDR_RE.sub("0x?", p)
    m = _SITE_RE.match(p)
    if m:
        p = p[m.end():]
    else:
        parts = [x for x in p.split("/") if x]
        p = "/".join(parts[-2:])
    if p.endswith(".py"):
        p = p[:-3]
    return p.replace("/", ".").removesuffix(".__init__")


_NORM_CACHE: dict[str, tuple[str | None, tuple[str, ...]]] = {}


def normalise_traceback(tb: str) -> tuple[str | None, list[str]]:
    """(exception type of the root exception, ``module:function`` frames of its stack, outermost first).
    With chained exceptions ("During handling ...", "The above exception was the direct cause"), the
    first traceback is the root: what handling it raised later is a consequence, as in the incidents.
    Remembered per traceback text (bounded): a recurring error logs the same traceback again."""
    if not tb:
        return None, []
    hit = _NORM_CACHE.get(tb)
    if hit is None:
        etype, frames = _normalise_traceback(tb)
        if len(_NORM_CACHE) >= 1024:
            _NORM_CACHE.clear()
        hit = _NORM_CACHE[tb] = (etype, tuple(frames))
    return hit[0], list(hit[1])


def _normalise_traceback(tb: str) -> tuple[str | None, list[str]]:
    blocks = re.split(r"\n(?:During handling of the above exception|The above exception was the direct cause)[^\n]*\n",
                      tb)
    root = next((b for b in blocks if b.strip()), blocks[0])
    frames = [f"{module_of(m.group('path'))}:{m.group('func')}" for m in _FRAME_RE.finditer(root)]
    etype = None
    for line in reversed(root.strip().splitlines()):
        s = line.strip()
        if not s or s.startswith(("File ", "^", "~")) or line.startswith((" ", "\t")):
            continue
        m = _EXC_RE.match(s)
        if m and _GENERIC_TYPE_RE.match(m.group("type")):
            etype = m.group("type")
            break
    return etype, frames


def fingerprint(error_type: str, frames: Iterable[str], max_frames: int = 12, cause: str | None = None) -> str:
    """The group key: the exception's class name (``ttsops.errors.InputError`` and a bare ``InputError``
    field are one class), its last ``max_frames`` frames and, when known, its root cause."""
    frames = list(frames)[-max_frames:]
    key = error_type.rsplit(".", 1)[-1] + "\n" + (cause or "") + "\n" + "\n".join(frames)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


@dataclass
class ErrorGroup:
    fingerprint: str
    error_type: str
    frames: list[str]
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    request_ids: list[str] = field(default_factory=list)
    context: dict[str, dict[str, int]] = field(default_factory=dict)
    first_location: str | None = None
    template_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "error_type": self.error_type, "frames": list(self.frames),
                "count": self.count,
                "first_seen": self.first_seen.isoformat() if self.first_seen else None,
                "last_seen": self.last_seen.isoformat() if self.last_seen else None,
                "request_ids": list(self.request_ids), "context": {k: dict(v) for k, v in self.context.items()},
                "first_location": self.first_location, "template_id": self.template_id}


class ErrorGrouper:
    """Bounded, privacy-preserving exception groups (see the module docstring)."""

    def __init__(self, *, max_groups: int = 1000, max_request_ids: int = 10, request_field: str = "request_id",
                 context_fields: Iterable[str] = CONTEXT_FIELDS, max_context_values: int = 20,
                 include_error_level: bool = False):
        self.max_groups = max_groups
        self.max_request_ids = max_request_ids
        self.request_field = request_field
        self.context_fields = tuple(context_fields)
        self.max_context_values = max_context_values
        self.include_error_level = include_error_level
        self.groups: dict[str, ErrorGroup] = {}
        self.overflow = 0

    def add(self, record: Any, template_id: int | None = None, *, cause: str | None = None) -> ErrorGroup | None:
        """Group one record. Returns its group, or None when it is not an exception (no traceback,
        no error type field; with ``include_error_level`` an ERROR record with a ``template_id`` groups
        by ``level:template``). ``cause`` (a KB id) splits one exception class raised for different
        reasons into one group per root cause."""
        fields = getattr(record, "fields", None) or {}
        tb = getattr(record, "traceback", None)
        if not isinstance(tb, str):
            tb = fields.get("traceback") if isinstance(fields.get("traceback"), str) else None
        etype, frames = normalise_traceback(tb) if tb else (None, [])
        for k in _ERROR_TYPE_FIELDS:
            v = fields.get(k)
            if isinstance(v, str) and _GENERIC_TYPE_RE.match(v):
                etype = etype or v
                break
        if etype is None:
            if not (self.include_error_level and template_id is not None
                    and getattr(record, "level", None) in ("ERROR", "CRITICAL")):
                return None
            etype = f"{record.level}:template-{template_id}"
        fp = fingerprint(etype, frames, cause=cause)
        g = self.groups.get(fp)
        if g is None:
            if len(self.groups) >= self.max_groups:
                self.overflow += 1
                return None
            loc = f"{getattr(record, 'file', '?')}:{getattr(record, 'line', '?')}"
            g = self.groups[fp] = ErrorGroup(fp, etype, frames[-12:], first_location=loc, template_id=template_id)
        g.count += 1
        if len(etype) > len(g.error_type):  # the qualified name (``torch.OutOfMemoryError``) when one is seen
            g.error_type = etype
        t = getattr(record, "time", None)
        if t is not None:
            if g.first_seen is None or t < g.first_seen:
                g.first_seen = t
            if g.last_seen is None or t > g.last_seen:
                g.last_seen = t
        rid = fields.get(self.request_field)
        if rid is not None and len(g.request_ids) < self.max_request_ids:
            rid = str(rid)[:80]
            if rid not in g.request_ids:
                g.request_ids.append(rid)
        for k in self.context_fields:
            v = fields.get(k)
            if isinstance(v, (int, float, bool)) or (isinstance(v, str) and len(v) <= 64):
                counts = g.context.setdefault(k, {})
                key = str(v)
                if key in counts or len(counts) < self.max_context_values:
                    counts[key] = counts.get(key, 0) + 1
        return g

    def top(self, n: int | None = None) -> list[ErrorGroup]:
        out = sorted(self.groups.values(),
                     key=lambda g: (-g.count, g.first_seen.timestamp() if g.first_seen else float("inf")))
        return out if n is None else out[:n]

    def to_dicts(self, n: int | None = None) -> list[dict[str, Any]]:
        return [g.to_dict() for g in self.top(n)]
