"""What a line without a header is: part of a Python traceback, an exception line, a crash line, or
plain text. Services do not always write a level: a console paste, a bare traceback from
``traceback.print_exc()``, ``Segmentation fault (core dumped)`` from the shell, ``Killed`` from the
kernel's OOM killer. These still are errors, and the assembler uses the kinds below to join
traceback blocks and to give such records an inferred level.

Besides Python's, the crash reports of the runtimes that run next to TTS services: a Go panic or
runtime ``fatal error:`` with its goroutine dump (``goroutine 1 [running]:``, frames, ``exit status
2``), a Rust panic (``thread 'main' panicked at src/main.rs:12:5:``, the message on the next line, or
the older ``panicked at 'msg', src/main.rs:12:5``) with its ``note: run with `RUST_BACKTRACE=1```
or ``stack backtrace:``, and glog's ``*** Check failure stack trace: ***`` after a ``Check failed``.

Every pattern here is linear-time on any line (no nested quantifiers that can backtrack), checked by
a test on a 1 MiB line.
"""
from __future__ import annotations

import re

__all__ = [
    "BLANK", "INDENT", "FRAME", "TB_START", "IPY_START", "CHAIN", "EXC", "CRASH", "ERROR_LINE", "WARN_LINE",
    "FENCE", "OTHER", "PANIC", "STACK", "line_kind", "exception_name", "inferred_level", "TB_START_TEXT",
    "panic_body", "rust_panic",
]

BLANK, INDENT, FRAME, TB_START, IPY_START, CHAIN, EXC, CRASH, ERROR_LINE, WARN_LINE, FENCE, OTHER = range(12)
#: a Go or Rust panic line (opens a panic block), a line that heads or ends a runtime's stack dump
PANIC, STACK = 12, 13

TB_START_TEXT = "Traceback (most recent call last)"

#: ``  File "/x.py", line 3, in f`` (CPython), ``File /x.py:3, in f`` (IPython 8), ``Cell In[3], line 1``
_FRAME_RE = re.compile(r'^\s*(?:File "[^"\n]*", line \d+|File [^\s,]+:\d+, in |Cell In\[\d+\], line \d+)')
_TB_START_RE = re.compile(r"^Traceback \(most recent call last\)")  # pastes sometimes glue the first frame on
#: IPython / Jupyter / Colab: ``ValueError                                Traceback (most recent call last)``
_IPY_START_RE = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)\s{2,}Traceback \(most recent call last\)")
_CHAIN_RE = re.compile(r"^(?:During handling of the above exception, another exception occurred|"
                       r"The above exception was the direct cause of the following exception)")
#: faulthandler's dump and Java's chained causes continue the record above them
_CONT_HEAD_RE = re.compile(r"^(?:(?:Current thread|Thread) 0x[0-9a-fA-F]+ \(most recent call first\)|Caused by: |"
                           r"\[Previous line repeated \d+ more times?\]|at [\w.$<>]+\(|[\^~]{3,}\s*$)")
_FENCE_RE = re.compile(r"^\s*(?:```|~~~)[\w+.-]*\s*$")

# An exception line: ``Name: message`` or a bare ``Name`` where Name is an exception class: its last
# dotted part ends like one (Error, Exception, Warning, ...), or it is dotted with a CamelCase class
# (``onnxruntime.capi.onnxruntime_pybind11_state.Fail: ...``, ``omegaconf.errors.MissingMandatoryValue``),
# or a lower-case module error (``socket.timeout``, ``socket.gaierror``). The JVM's uncaught exception
# (``Exception in thread "main" java.lang.OutOfMemoryError: Java heap space``) is one too.
_SUFFIXES = r"(?:Error|Exception|Warning|Exit|Interrupt|Fault|Failure|Iteration|Timeout|Abort|Exceeded)"
_EXC_RE = re.compile(
    r"^(?:Exception in thread \"[^\"\n]{0,200}\" )?(?P<name>(?:[A-Za-z_]\w*\.)*(?:[A-Z_]\w*?" + _SUFFIXES + r"|Error|Exception|Warning)(?=[:\s]|$)"
    r"|(?:[a-z_]\w*\.)+[A-Z]\w*(?=: )"
    r"|(?:[a-z_]\w*\.)+[a-z]*(?:error|timeout)(?=: ))"
    r"(?::\s?(?P<msg>.*))?$", re.S)
#: ``/path/file.py:12: UserWarning: message`` (the warnings module; Windows paths may hold spaces:
#: ``C:\Users\John Doe\...``)
_PYWARN_RE = re.compile(r"^(?:[A-Za-z]:)?[^:\n]*+(?<=\.py):\d+: (?P<cat>[A-Z]\w*Warning): ")

#: Go's ``panic: ...`` / runtime ``fatal error: ...``, Rust's ``thread 'main' panicked at ...``
_PANIC_RE = re.compile(r"^(?:panic: |fatal error: |thread '[^'\n]{0,200}' panicked at )")
#: the heads and tails of a stack dump: Go's goroutine header (Go 1.23 adds ``gp=0x.. m=0 mp=0x..``),
#: glog's check-failure stack, Rust's backtrace header and notes, ``go run``'s and ``cargo run``'s exit status
_STACK_RE = re.compile(r"^(?:goroutine \d+ [^\[\n]{0,80}\[[^\]\n]{0,200}\]:\s*$|\*\*\* Check failure stack trace: \*\*\*"
                       r"|stack backtrace:\s*$|note: (?:run with `RUST_BACKTRACE=|Some details are omitted, run with)"
                       r"|exit status [1-9]\d*\s*$|error: process didn't exit successfully: )")
#: column-0 lines inside a Go dump: ``[signal SIGSEGV: ...]``, ``created by main.main in goroutine 1``,
#: a cgo crash's ``PC=0x.. m=0 sigcode=1`` and registers (``rax    0x0``), ``runtime stack:``
_PANIC_BODY_RE = re.compile(r"^(?:\[signal |created by |\.\.\.additional frames elided\.\.\.|PC=0x[0-9a-f]+ |"
                            r"signal arrived during cgo execution|runtime stack:|[a-z][a-z0-9]{1,5} ++0x[0-9a-f]+\s*$)")
#: a Go frame at column 0: ``main.(*Server).handle(0x0, {0x4d2a40, 0xc000012345})``, ``panic({0x6d1ea0?, 0x9a3e10?})``
_GO_FRAME_RE = re.compile(r"^[^\s(]++\(")

# Crash lines, from the shell, the C runtime, the kernel or CPython (English and zh_CN shells)
_CRASH_RE = re.compile(
    r"^(?:[^\s:]+: line \d+:\s+\d+\s+)?(?:Killed|Aborted|Segmentation fault|Illegal instruction|Bus error|"
    r"Floating point exception|Trace/breakpoint trap)\b"
    r"|Segmentation fault|\(core dumped\)|Fatal Python error|terminate called after throwing an instance|"
    r"\bSIG(?:SEGV|ABRT|ILL|BUS|FPE)\b|double free or corruption|free\(\): invalid|malloc\(\): |"
    r"stack smashing detected|Windows fatal exception|"
    r"段错误|非法指令|已放弃|已杀死|总线错误|浮点数例外|核心已转储")
# Error lines without a level: ``CUDA error: ...``, ``bash: ffmpeg: command not found``, ``报错：``
_ERROR_LINE_RE = re.compile(
    r"^(?:CUDA error: |cuda(?:Error\w*|Malloc)\b|error: |fatal: |ERROR(?::| \[)|FATAL\b|"
    r"(?:报错|错误|异常|失败)\s*[：:]|\[(?:Errno -?\d+|WinError \d+)\] )"
    r"|: (?:command not found|not found)$")


def line_kind(text: str) -> int:
    """The kind of a line that has no header of its own (see the module docstring)."""
    if not text or text.isspace():
        return BLANK
    c = text[0]
    if c == " " or c == "\t":
        return FRAME if _FRAME_RE.match(text) else INDENT
    if c == "T" and _TB_START_RE.match(text):
        return TB_START
    if (c == "p" or c == "f" or c == "t") and _PANIC_RE.match(text):
        return PANIC
    if c in "g*sne" and _STACK_RE.match(text):
        return STACK
    if (c == "F" or c == "C") and _FRAME_RE.match(text):
        return FRAME
    if (c == "D" or c == "T") and _CHAIN_RE.match(text):
        return CHAIN
    if (c == "`" or c == "~") and _FENCE_RE.match(text):
        return FENCE
    if c in "CT[a^~" and _CONT_HEAD_RE.match(text):
        return INDENT
    if _EXC_RE.match(text):
        return EXC
    if _IPY_START_RE.match(text):
        return IPY_START
    if _PYWARN_RE.match(text):
        return WARN_LINE
    if _CRASH_RE.search(text):
        return CRASH
    if _ERROR_LINE_RE.search(text):
        return ERROR_LINE
    return OTHER


def exception_name(line: str) -> str | None:
    """The exception class of an exception line (``torch.OutOfMemoryError: ...`` ->
    ``torch.OutOfMemoryError``), else None."""
    m = _EXC_RE.match(line.strip())
    return m.group("name") if m else None


def ipython_name(line: str) -> str | None:
    m = _IPY_START_RE.match(line)
    return m.group("name") if m else None


def panic_body(text: str) -> bool:
    """Whether a column-0 line continues a Go dump (a frame, ``[signal ...]``, ``created by ...``)."""
    return bool(_PANIC_BODY_RE.match(text)) or (text.rstrip().endswith(")") and bool(_GO_FRAME_RE.match(text)))


def rust_panic(text: str) -> tuple[str, str, str | None] | None:
    """(thread, source, message) of a Rust panic line: ``thread 'main' panicked at src/main.rs:12:5:``
    (Rust 1.73+, the message on the next lines: ``None``) or ``thread 'main' panicked at 'msg',
    src/main.rs:12:5`` (older)."""
    if not text.startswith("thread '"):
        return None
    thread, sep, rest = text[8:].partition("' panicked at ")
    if not sep:
        return None
    rest = rest.rstrip()
    if rest[:1] == "'":
        msg, sep, src = rest[1:].rpartition("', ")
        return (thread, src, msg) if sep else (thread, "", rest)
    return thread, rest.removesuffix(":"), None


def inferred_level(kind: int, text: str) -> str | None:
    """The level a header-less line of ``kind`` stands for (``None``: not an error or a warning)."""
    if kind == PANIC:
        # a panic Go prints is one nobody recovered: the process is gone (exit status 2); a Rust
        # panic unwinds one thread, which the program may join and survive
        return "ERROR" if text[:1] == "t" else "CRITICAL"
    if kind == STACK:
        return "CRITICAL" if text[:1] == "*" else "ERROR"
    if kind == EXC:
        name = exception_name(text) or ""
        return "WARNING" if name.endswith("Warning") else "ERROR"
    if kind == CRASH:
        return "CRITICAL"
    if kind == ERROR_LINE:
        return "ERROR"
    if kind == WARN_LINE:
        return "WARNING"
    return None


def is_crash(text: str) -> bool:
    return bool(_CRASH_RE.search(text))
