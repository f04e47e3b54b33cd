"""Lines -> records: multi-line records joined, tracebacks kept whole, levels inferred where a service
wrote none.

One :class:`Assembler` a file, fed line by line (the batch reader and ``--follow`` share it):

* a headered line (a time, a level or a ``--log-format`` match) starts a record; indented lines,
  traceback lines and exception lines join it, and so do lines re-prefixed with the same header
  (a traceback logged line by line);
* a header-less line is classified (:mod:`analyzer.read.classify`). ``Traceback (most recent call
  last):`` or a bare ``File "...", line N`` frame opens a **traceback block** that takes its frames,
  its exception line and the message lines after it, and a chain ("During handling of the above
  exception" / "The above exception was the direct cause"); an IPython/Colab traceback opens one that
  ends at its exception line. Indented lines continue any record; anything else starts a plain one;
* a Go panic or runtime ``fatal error:``, a Rust panic, or a stack dump's head (``goroutine 1
  [running]:``, ``stack backtrace:``) opens a **panic block** that takes the dump: goroutine headers,
  Go frames at column 0 with their tab-indented file lines, ``[signal SIGSEGV: ...]``, ``exit status
  2``, Rust's message line and ``note: run with `RUST_BACKTRACE=1```, a crash line after it. A
  headered record takes a dump that follows it the same way (glog's ``Check failed`` and its
  ``*** Check failure stack trace: ***``, Go's ``http: panic serving ...`` and its goroutines);
* when a record ends, a traceback block's message becomes its **root exception line** (the first
  exception of the chain; the later ones are what handling it caused), and a record with no level gets
  one from its content: a traceback or an exception line is an ERROR (``*Warning`` a WARNING), a crash
  line (``Segmentation fault``, ``Killed``, ``Aborted (core dumped)``, ...) CRITICAL, a Go panic
  CRITICAL (an unrecovered panic ended the process), a Rust panic ERROR (it unwinds one thread; with
  a crash line after it CRITICAL). A panic block becomes the record's ``traceback``; a Rust panic's
  message joins its ``panicked at file:line:col:`` line, its thread and location become fields. Such
  records are marked ``inferred``.

Memory: one pending record, capped at ``MAX_JOINED_LINES`` lines / ``MAX_JOINED_BYTES``.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from analyzer.read import classify as K
from analyzer.read.envelopes.base import Inner
from analyzer.read.stats import FileFacts
from analyzer.records import Record

__all__ = ["Assembler", "MAX_JOINED_LINES", "MAX_JOINED_BYTES", "root_exception", "never_continues", "TB_START"]

MAX_JOINED_LINES = 2000          # a record never absorbs more continuation lines than this
MAX_JOINED_BYTES = 1 << 20
MAX_MESSAGE_LINES = 60           # lines after an exception line taken as its message
MAX_IPYTHON_LINES = 500          # an IPython traceback that never reaches its exception line ends here
TB_START = K.TB_START_TEXT
_TB_BODY_RE = re.compile(r"^(?:\s|Traceback \(most recent call last\)|During handling of the above exception|"
                         r"The above exception was the direct cause|\^|~)")

_NORMAL, _TB, _IPY, _MSG, _PANIC = 0, 1, 2, 3, 4
_TB_FIRST = frozenset(" \t\r\nTD^~")  # first characters _TB_BODY_RE can match
# header-less lines that join a headered record (the old reader's continuation rule)
_JOIN_HEADERED = frozenset({K.INDENT, K.FRAME, K.TB_START, K.CHAIN, K.EXC, K.STACK})


MAX_STARTS = 4096                # distinct record beginnings remembered a file
# a bare exception line after a record of these levels is a record of its own (stderr interleaved
# with a service's log), unless the record introduces it (``... failed:``)
_QUIET = frozenset({"INFO", "DEBUG", "TRACE", "NOTICE", "WARNING"})
_DIGITS = re.compile(r"\d+")
_WORDISH = re.compile(r"[\w.:%\-]*")


def line_lead(text: str) -> str:
    """How a line begins: its first two words, digits as ``0``. A column-0 line after an exception
    that begins like a record this file wrote on its own (``Generating:  5%|...``, ``Loading model
    ...``) is that service's next line, not more of the exception's message (``CUDA kernel errors
    might be asynchronously reported ...``): a plain stdout log is not swallowed after a crash."""
    words = text.split(None, 2)
    if len(words) > 1:
        words[1] = _WORDISH.match(words[1]).group()   # ``67%|██████`` -> ``67%``
    return _DIGITS.sub("0", " ".join(words[:2]))


def never_continues(msg: str) -> bool:
    """Whether a headered line with message ``msg`` starts a new record whatever is pending: a headered
    line joins the record before only as a same-header traceback continuation (a traceback body
    line, a blank or an exception line: :meth:`Assembler.record`). Where a file may be cut."""
    return bool(msg.strip()) and _TB_BODY_RE.match(msg) is None and K.line_kind(msg) != K.EXC


def root_exception(tb: str) -> str | None:
    """The first exception line of a (possibly chained) traceback text: the root cause."""
    seen_frame = False
    for line in tb.split("\n"):
        if not line or line[0] in " \t":
            seen_frame = seen_frame or line.lstrip().startswith("File ")
            continue
        k = K.line_kind(line)
        if k == K.EXC or (seen_frame and k in (K.OTHER, K.ERROR_LINE)):
            return line
    return None


class Assembler:
    """Joins the lines of one file into records, appended to ``out`` as they complete."""

    __slots__ = ("name", "out", "facts", "pending", "headered", "prefix", "in_tb", "extra", "extra_bytes",
                 "mode", "seen_exc", "blanks", "msg_lines", "last_kind", "exc_at", "ipy_name", "last_time",
                 "has_format", "n", "nums", "starts", "stack_at", "want_msg", "panic_msg", "crashed")

    def __init__(self, name: str, out: list[Record], facts: FileFacts, *, has_format: bool = False):
        self.name = name
        self.out = out
        self.facts = facts
        self.has_format = has_format
        self.pending: Record | None = None
        self.headered = False
        self.prefix: str | None = None  # the pending record's headered line
        self.in_tb = False
        self.extra: list[str] | None = None
        self.extra_bytes = 0
        self.mode = _NORMAL
        self.seen_exc = False
        self.blanks = 0
        self.msg_lines = 0
        self.last_kind = K.OTHER
        self.exc_at: list[int] = []
        self.ipy_name: str | None = None
        self.last_time: datetime | None = None
        self.n = 0                       # the file line being fed
        self.nums: list[int] | None = None   # the file line of each joined line (parallel to extra)
        self.starts: set[str] = set()    # how header-less records of this file begin (:func:`line_lead`)
        # a panic block: where the dump starts in ``extra`` (-1: at the record's own line), whether the
        # next line is a Rust panic's message, that message's index in ``extra``, a crash line taken
        self.stack_at = -1
        self.want_msg = False
        self.panic_msg = -1
        self.crashed = False

    # -- feeding ------------------------------------------------------------------------------
    def record(self, rec: Record, text: str) -> None:
        """A headered line, parsed into ``rec``."""
        self.n = rec.line
        msg = rec.message
        if self.pending is not None:
            if self.headered and (self.in_tb or msg[:1] in _TB_FIRST) and self._same_header_continuation(msg) \
                    and self._room():
                prefix = text[: len(text) - len(msg)] if text.endswith(msg) else None
                if prefix is not None and prefix == self._pending_prefix():
                    self._append(msg)
                    self.in_tb = self.in_tb or msg.startswith(TB_START)
                    return
            self._emit()
        self._start(rec, True, text)
        self.in_tb = rec.traceback is not None or (msg[:1] == "T" and msg.startswith(TB_START))

    def _pending_prefix(self) -> str | None:
        """The header in front of the pending record's message (its line re-prefixes continue it)."""
        t, m = self.prefix, self.pending.message if self.pending is not None else ""
        return t[: len(t) - len(m)] if m and t is not None and t.endswith(m) else None

    def plain(self, n: int, text: str, meta: Inner | None = None) -> None:
        """A line without a header (``meta``: what its envelope knew)."""
        self.n = n
        k = K.line_kind(text)
        if k == K.BLANK:
            if self.pending is not None and self.extra is not None:
                self.blanks += 1
            return
        if k == K.FENCE:
            return
        p = self.pending
        # an envelope entry that is a whole record, or has a level of its own and reads as plain text,
        # is a new record, not the message of the one before
        fresh = meta is not None and (meta.starts or (meta.level is not None and k == K.OTHER))
        if p is not None and not fresh and self._room():
            if self.mode != _NORMAL:
                if self._absorb_block(k, text):
                    return
            elif self.headered:
                if k in _JOIN_HEADERED and not (k == K.EXC and self.extra is None and p.level in _QUIET
                                                and not p.message.rstrip().endswith(":")):
                    i = self._append(text)
                    self.in_tb = self.in_tb or k == K.TB_START
                    if k == K.STACK:   # glog's check-failure stack, Go's goroutines after a logged panic
                        self._open_panic(i, False)
                    return
            elif k == K.INDENT:
                self._append(text)
                return
        if p is not None:
            self._emit()
        rec = Record(None, None, text, self.name, n, {}, text)
        if meta is not None:
            rec.time, rec.level = meta.time, meta.level
            if meta.fields:
                rec.fields = dict(meta.fields)
            rec.traceback = meta.traceback
        self._start(rec, False, None)
        if (k == K.OTHER or k == K.EXC) and len(self.starts) < MAX_STARTS:
            self.starts.add(line_lead(text))
        if k == K.TB_START or k == K.FRAME:
            self.mode, self.seen_exc, self.msg_lines, self.exc_at = _TB, False, 0, []
        elif k == K.IPY_START:
            self.mode, self.seen_exc, self.msg_lines, self.exc_at = _IPY, False, 0, []
            self.ipy_name = K.ipython_name(text)
        elif k == K.EXC:
            # an exception line alone: its message may go on below
            self.mode, self.seen_exc, self.msg_lines, self.exc_at = _MSG, True, 0, []
        elif k == K.PANIC or k == K.STACK:
            rust = K.rust_panic(text) if k == K.PANIC else None
            self._open_panic(-1, rust is not None and rust[2] is None)
        self.last_kind = k

    def unformatted(self, n: int, text: str) -> bool:
        """A line that does not match ``--log-format``: joins the pending record (``False``: none)."""
        self.n = n
        if self.pending is None or not self._room():
            return False
        self._append(text)
        return True

    def flush(self) -> None:
        if self.pending is not None:
            self._emit()

    # -- blocks -------------------------------------------------------------------------------
    def _open_panic(self, stack_at: int, want_msg: bool) -> None:
        self.mode, self.msg_lines = _PANIC, 0
        self.stack_at, self.want_msg, self.panic_msg, self.crashed = stack_at, want_msg, -1, False

    def _absorb_panic(self, k: int, text: str) -> bool:
        """Whether a panic block takes this line: the dump's frames and headers, a Rust panic's message
        (the lines after ``panicked at file:line:col:`` up to its note), the crash line it ended in."""
        if self.blanks > 1 or k == K.PANIC or k == K.TB_START or k == K.IPY_START:
            return False
        if self.want_msg:
            self.want_msg = False
            if k != K.STACK and not self.blanks:
                self.panic_msg = self._append(text)
                return True
        if k == K.STACK:
            self.msg_lines = MAX_MESSAGE_LINES   # a Rust panic's message is over
        elif k == K.CRASH:
            self.crashed = True
        elif k != K.INDENT and k != K.FRAME and not K.panic_body(text):
            return self._rust_message(text)
        self._append(text)
        return True

    def _rust_message(self, text: str) -> bool:
        """A column-0 line that goes on with a Rust panic's message (joined by the caller)."""
        if self.panic_msg < 0 or self.blanks or self.msg_lines >= MAX_MESSAGE_LINES or line_lead(text) in self.starts:
            return False
        self.msg_lines += 1
        self._append(text)
        return True

    def _absorb_block(self, k: int, text: str) -> bool:
        """Whether a traceback block takes this line (``False``: the line starts a new record)."""
        if self.mode == _PANIC:
            return self._absorb_panic(k, text)
        if self.mode == _IPY and not self.seen_exc:
            if k == K.EXC and self.ipy_name and (K.exception_name(text) or "").endswith(self.ipy_name.rsplit(".", 1)[-1]):
                self.seen_exc = True
                self.exc_at.append(self._append(text))
                return True
            if len(self.extra or ()) >= MAX_IPYTHON_LINES or k in (K.TB_START, K.CRASH):
                return False
            self._append(text)
            return True
        if not self.seen_exc:
            if k == K.INDENT or k == K.FRAME or k == K.CHAIN:
                self._append(text)
            elif k == K.TB_START:
                if self.last_kind != K.CHAIN:
                    return False  # a new traceback: the one before was cut short
                self._append(text)
            elif k == K.OTHER and self.last_kind == K.FRAME:
                self._append(text)  # a pasted traceback that lost its indentation: the frame's source line
                k = K.INDENT
            elif k in (K.EXC, K.OTHER, K.ERROR_LINE, K.WARN_LINE):
                # in a traceback, the first line at column 0 after the frames is the exception line
                self.seen_exc = True
                self.msg_lines = 0
                self.exc_at.append(self._append(text))
            else:
                return False
            self.last_kind = k
            return True
        if k == K.CHAIN and self.mode != _MSG:
            self.seen_exc = False
        elif k == K.INDENT:
            if self.msg_lines >= MAX_MESSAGE_LINES:
                return False
            self.msg_lines += 1
        elif k == K.OTHER:
            if self.blanks >= (1 if self.mode == _MSG else 2) or self.msg_lines >= MAX_MESSAGE_LINES \
                    or line_lead(text) in self.starts:
                return False
            self.msg_lines += 1
        elif k == K.EXC:
            if self.blanks or self.msg_lines >= MAX_MESSAGE_LINES or line_lead(text) in self.starts:
                return False
            self.msg_lines += 1
        else:  # a frame or a new traceback without a chain marker, a crash line, an error line
            return False
        self._append(text)
        self.last_kind = k
        return True

    # -- state --------------------------------------------------------------------------------
    def _room(self) -> bool:
        return self.extra is None or (len(self.extra) < MAX_JOINED_LINES and self.extra_bytes < MAX_JOINED_BYTES)

    def _append(self, text: str) -> int:
        """Join ``text`` (after the blank lines seen before it); its index in ``extra``."""
        extra = self.extra
        if extra is None:
            extra = self.extra = []
            self.nums = []
        nums = self.nums
        if self.blanks:
            k = min(self.blanks, 2)
            extra.extend([""] * k)
            nums.extend(range(self.n - k, self.n))
            self.blanks = 0
        extra.append(text)
        nums.append(self.n)
        self.extra_bytes += len(text)
        return len(extra) - 1

    def _same_header_continuation(self, msg: str) -> bool:
        """A line with the pending record's own header that continues its traceback (each traceback
        line re-prefixed with the same timestamp/level/source)."""
        return bool(_TB_BODY_RE.match(msg)) or (self.in_tb and (not msg.strip() or K.line_kind(msg) == K.EXC))

    def _start(self, rec: Record, headered: bool, text: str | None) -> None:
        """``rec`` becomes the pending record (``text``: its headered line, for the prefix check)."""
        facts = self.facts
        facts.records += 1
        if rec.time is None:
            rec.time = self.last_time
        else:
            facts.timed += 1
            self.last_time = rec.time
        if rec.level is not None:
            facts.leveled += 1
        self.pending, self.headered, self.prefix = rec, headered, text
        if self.extra is not None or self.blanks:
            self.extra, self.nums, self.extra_bytes, self.blanks = None, None, 0, 0
        if self.mode != _NORMAL:
            self.mode, self.seen_exc, self.msg_lines, self.exc_at = _NORMAL, False, 0, []

    def _emit(self) -> None:
        rec = self.pending
        extra = self.extra
        self.pending = None
        nums = self.nums
        if nums:
            rec.end_line = nums[-1]
            if nums[0] != rec.line + 1 or nums[-1] != rec.line + len(nums) or any(
                    b != a + 1 for a, b in zip(nums, nums[1:])):
                rec.line_map = (rec.line, *nums)
        else:
            rec.end_line = rec.line
        if self.mode == _TB or self.mode == _IPY:
            self._finish_block(rec, extra or [])
        elif self.mode == _PANIC:
            self._finish_panic(rec, extra or [])
        else:
            if extra:
                joined = "\n".join(extra)
                rec.raw = rec.raw + "\n" + joined
                if rec.traceback is None:
                    if rec.message.startswith(TB_START):
                        rec.traceback = rec.message + "\n" + joined
                        root = root_exception(rec.traceback)
                        if root is not None:  # a record that is only a traceback: its message is the exception
                            rec.message = root
                    else:
                        i = joined.find(TB_START)
                        if i >= 0:
                            rec.traceback = joined[i:]
            if rec.level is None:
                self._infer(rec)
        self.out.append(rec)

    def _finish_block(self, rec: Record, extra: list[str]) -> None:
        first = rec.message
        lines = [first] + extra
        rec.traceback = "\n".join(lines).rstrip("\n")
        rec.raw = rec.raw + ("\n" + "\n".join(extra) if extra else "")
        if self.exc_at:
            root = extra[self.exc_at[0]]
            rec.message = root
            name = K.exception_name(root)
            if name is not None:
                rec.fields.setdefault("exception_type", name)
        else:  # cut short before its exception line: the last frame says where
            last = next((ln.strip() for ln in reversed(lines) if ln.strip()), first)
            rec.message = f"traceback cut short at: {last}"
            rec.fields.setdefault("traceback_truncated", True)
        if rec.level is None:
            rec.level = "ERROR"
            rec.inferred = True
            self.facts.inferred += 1

    def _finish_panic(self, rec: Record, extra: list[str]) -> None:
        first = rec.message
        if extra:
            rec.raw = rec.raw + "\n" + "\n".join(extra)
        dump = extra[self.stack_at:] if self.stack_at >= 0 else [first, *extra]
        if rec.traceback is None and len(dump) > 1:   # ``exit status 1`` alone is no stack
            rec.traceback = "\n".join(dump).rstrip("\n")
        rust = K.rust_panic(first) if self.stack_at < 0 else None
        if rust is not None:
            thread, source, msg = rust
            rec.fields.setdefault("thread", thread)
            if source:
                rec.fields.setdefault("source", source)
            if msg is None and self.panic_msg >= 0:   # ``... panicked at src/main.rs:12:5: <message>``
                rec.message = f"{first} {extra[self.panic_msg]}"
        if rec.level is None:
            kind = K.line_kind(first)
            rec.level = "CRITICAL" if self.crashed else K.inferred_level(kind, first) or "ERROR"
            rec.inferred = True
            self.facts.inferred += 1

    def _infer(self, rec: Record) -> None:
        if rec.traceback:
            rec.level = "ERROR"
        else:
            rec.level = K.inferred_level(K.line_kind(rec.message), rec.message)
            if rec.level is None:
                return
        rec.inferred = True
        self.facts.inferred += 1


def apply_meta(rec: Record, meta: Inner | None) -> Record:
    """An envelope's time, level, fields and stack trace where the record has none of its own."""
    if meta is None:
        return rec
    if rec.time is None:
        rec.time = meta.time
    if rec.level is None:
        rec.level = meta.level
    if meta.fields:
        for k, v in meta.fields.items():
            rec.fields.setdefault(k, v)
    if rec.traceback is None and meta.traceback:
        rec.traceback = meta.traceback
    return rec
