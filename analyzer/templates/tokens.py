"""Token classes: which parts of a log message are variables, decided by their shape alone.

One compiled alternation, one left-to-right pass (``re.sub``), each class a named group. The classes
follow what a variable *is* in any log (and the Loghub-2.0 annotation rules: digits, paths, booleans
are variables), not the vocabulary of one data set:

========  =========================================================================================
URL       ``scheme://...``
PROGRESS  a progress bar, ``45%|████▌     |`` (tqdm's, in every PyTorch service's output): its width
          in tokens changes as it fills
PATH      ``/a/b``, ``~/x``, ``./x``, ``C:\\x``: a path (even of one segment), with its query string
          (``/v2/servers?all=True&since=x``: a request's path is one value, its ``=`` no field);
          a Windows folder may hold spaces (``C:\\Program Files\\x``, ``C:\\Users\\Ann Lee\\x``)
HOSTPORT  the host of ``name.domain:port`` (the port is a NUM piece)
HOST      a dotted name of three labels or more, each starting with a letter: a host
          (``mail.example.com``) or a package/class (``org.apache.Foo``); a sentence's full stop after
          it is not part of it. Two labels (``file.txt``, ``self.x``) are left to the counts
IPV4      ``10.0.0.1`` (a port after it is a NUM piece: ``<*>:<*>``)
HEXCOLON  ``hh:hh:hh...``: IPv6 (also compressed, ``fe80::1f91:8938%eth0``, ``::1``; a digit in it, so
          ``std::vector`` is a name), MAC addresses, ``12:30:59`` clock times (a colon that ends the value,
          ``from aa:bb:cc:dd:ee:ff: reason``, is not part of it)
ISODATE   a numeric date, ``2023-05-03`` or ``2023/05/03``, with its time and zone when written
          (``2023-05-03T15:41:00Z``, ``2023-05-03 15:41:00,123``)
DATE      a calendar date written with a month name: ``Sat Jul 9 22:16:30 2005``, ``Jun 14``
EMAIL     ``user@host``: a mail address, ``name@host`` (a user at a machine)
LIST      the inside of ``[a, b, c]`` and ``{a, b}`` (a list of several items, whose length varies
          with the data; no brackets nested inside), of ``{'lr': 0.1}`` (a dict or JSON object) and of
          a tuple of numbers ``(1, 80, 200)`` (a shape); other parentheses keep their structure
          (``Rect(0, 0 - 1080, 1920)``)
QUOTED    the inside of a double- or single-quoted string of several words (``tag="View Lock"``,
          ``'a b'``; a closing quote is not followed by a letter, so ``can't`` is no quote): free text
          that would otherwise break the alignment of tokens; a one-word quoted value is left to the
          counts. Not an HTTP request line (``"POST /tts HTTP/1.1"``, what every web server and
          ASGI/WSGI server logs): its method is the event, its path a PATH
QUANTITY  a number with a unit of size or time (``384.0 B``, ``1.6 KB``, ``12ms``, ``1,024 MB``): the
          unit moves with the magnitude
GROUPED   a number written with thousands separators, ``1,234,567``: one value, not three
HEX       eight or more hex digits of one case (a hash, ``ffffffff``); ``0x1f`` is a NUM piece
WORDVAL   values written as words: ``true``, ``false``, ``null`` and the default accounts ``root``,
          ``admin`` (any case; the Loghub-2.0 annotation rules BL and US)
NUM       any other *piece* holding a digit. A piece is what lies between delimiters (white space and
          ``= : , ; ( ) [ ] { } " ' < > |``), so ``key=42`` keeps ``key=`` and ``onExtend:151403``
          keeps ``onExtend:``. Not masked: names with a digit or two, a short word ending in them
          (``ssh2``, ``eth0``) or runs of one or two digits inside letters (``jk2_init``, ``log4j``):
          names until the data shows them varying (the miner's merge treats any digit as a variable
          position).
========  =========================================================================================

Values joined by commas with no space once masked (``10.0.0.2,10.0.0.1``, ``cpus=0,1,2,3``,
``zk1.x.org:2181,zk2.x.org:2181``: a forwarded-for chain, a CPU set, a server list) are one value,
whatever the number of items, so one event keeps one template when its list grows; a list with a word
in it (``Thread[main,5,main]``, ``a:1,b:2``) keeps its structure.

CJK text (Chinese, Japanese, Korean, full-width forms) is written without spaces, so its characters are
piece delimiters too: ``耗时1.23秒`` masks to ``耗时<*>秒`` and keeps its words, where a whole
sentence would otherwise be one piece with a digit (``<*>``), the same for every message; the glue
step then cuts around that mask. Host, ``host:port`` and mail patterns read ASCII names only.

Every pattern starts only at a piece boundary (a look-behind) and uses possessive quantifiers, so a
match attempt never backtracks over what it consumed: masking is linear in the message length,
whatever the input (a 1 MiB ``1.1.1.…`` line is masked in one match).
"""
from __future__ import annotations

import re
from typing import Iterable

__all__ = ["TOKEN_CLASSES", "Masker", "DIGITS_TO_ONE", "digit_blind", "has_digit", "glue", "unglue", "GLUE"]

# CJK scripts and full-width forms (literal characters, not \u escapes: the patterns stay digit-blind)
_CJK = "\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef"
_D = r"\s=:,;()\[\]{}\"'<>|" + _CJK   # piece delimiters: CJK text is written without spaces
_P = f"[^{_D}]"                          # one piece character
_START = f"(?<!{_P})"                    # at a piece boundary
# a name with a digit or two: ``ssh2``, ``eth0`` (short word, digits at the end) or ``jk2_init``,
# ``log4j``, ``HttpServer2$Filter``, ``mapreduce.v2.api`` (one or two runs of 1-2 digits inside letters)
_NAME = r"(?:[A-Za-z]{1,12}\d{1,2}|[A-Za-z][A-Za-z_.$\-]*+(?:\d{1,2}+[A-Za-z_.$\-]++){1,2}+)"

TOKEN_CLASSES: tuple[tuple[str, str], ...] = (
    ("URL", r"(?<![\w.+\-])[A-Za-z][A-Za-z0-9+.\-]{0,15}://[^\s\"'<>]*+"),
    ("PROGRESS", r"(?<![\w.])\d{1,3}(?:\.\d+)?%\|[^|\n]*+\|"),
    ("PATH", rf"(?<![^{_D}])(?:~|\.{{1,2}})?/[^{_D}/?]++(?:/[^{_D}/?]*+)*+(?:\?[^\s\"'<>)\]}}]*+)?+"
             r"|(?<![\w])[A-Za-z]:\\(?:[^\\\s\"'<>|]++(?:[ ][^\\\s\"'<>|:]++)*+\\)*+[^\s\"'<>|]*+"),
    ("HOSTPORT", rf"(?a:{_START}[A-Za-z][\w\-]*+(?:\.[\w\-]++)++(?=:\d{{1,5}}(?!{_P})))"),
    ("HOST", rf"(?a:{_START}[A-Za-z_$][\w\-$]*+(?:\.[A-Za-z_$][\w\-$]*+){{2,}}+(?=\.?(?!{_P})))"),
    ("IPV4", r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])"),
    ("ISODATE", r"(?<![\w.:/\-])\d{4}(?:-\d{1,2}-|/\d{1,2}/)\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
                r"(?:Z|[+-]\d{2}:?\d{2})?)?(?![\w:/\-])"),
    ("HEXCOLON", r"(?<![\w:])(?:(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{1,4}"
                 r"|(?=[A-Fa-f:]*+\d)(?:[0-9A-Fa-f]{1,4}+(?::[0-9A-Fa-f]{1,4}+){0,6}+)?+::"
                 r"(?:[0-9A-Fa-f]{1,4}+(?::[0-9A-Fa-f]{1,4}+){0,6}+)?+(?:%[\w.\-]++)?+)(?!\w|:\w)"),
    ("DATE", r"(?<!\w)(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?[ \t]++)?"
             r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?[ \t]++\d{1,2}(?!\w)"
             r"(?:,?[ \t]++\d{4}(?!\w))?(?:[ \t]++\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?![\w:]))?"
             r"(?:[ \t]++\d{4}(?!\w))?"),
    ("EMAIL", rf"(?a:{_START}[\w.+\-]++@[A-Za-z0-9\-]++(?:\.[A-Za-z0-9\-]++)*+(?!{_P}))"),
    ("LIST", r"(?<=[\[{])(?=[^\[\]{}()\n]*?, )[^\[\]{}()\n]++(?=[\]}])"
             r"|(?<=\{)(?=[^{}\n]*?: )[^{}\n]++(?=\})"
             r"|(?<=\()[-+]?\d++(?:\.\d++)?+(?:, [-+]?\d++(?:\.\d++)?+)++(?=\))"),
    ("QUOTED", r"(?<=[\s=:(\[{,]\")(?!(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|CONNECT|TRACE) )"
               r"(?=[^\"\s]*+\s)[^\"]*+(?=\")"
               r"|(?<=[\s=:(\[{,]')(?=[^'\s]*+\s)[^'\n]*+(?='(?!\w))"),
    ("QUANTITY", rf"{_START}[-+]?\d++(?:,\d{{3}}(?!\d))*+(?:\.\d++)?[ ]?(?:[KMGTPE]i?B|B|[kKMG]Hz|ns|us|µs|ms|s|sec|secs|min|mins|h|hrs?)"
                 rf"(?!{_P})"),
    ("GROUPED", rf"{_START}[-+]?\d{{1,3}}+(?:,\d{{3}}(?!\d))++(?:\.\d++)?+(?!{_P}|,\d)"),
    ("HEX", rf"{_START}(?:[0-9a-f]{{8,}}+|[0-9A-F]{{8,}}+)(?!{_P})"),
    ("WORDVAL", r"(?<![\w\-])(?i:true|false|null|root|admin)(?![\w\-])"),
    ("NUM", rf"{_START}(?=[^{_D}\d]*+\d)(?!{_NAME}(?!{_P})){_P}++"),
)

DIGITS_TO_ONE = bytes.maketrans(b"0123456789", b"1111111111")
_QUANT_RE = re.compile(r"\{\d+(?:,\d*)?\}|0-9|\\\d")
has_digit = re.compile(r"[0-9]").search


def digit_blind(patterns: Iterable[str]) -> bool:
    """True when no pattern tells one ASCII digit from another (no digit literals outside ``{m,n}``
    quantifiers and ``0-9`` ranges). Then ``s`` and ``s`` with every digit replaced by ``1`` are masked
    over the same spans, so a masked result holding no digit serves every message of the same *digit
    shape*: the exact memo behind :meth:`Masker.mask`."""
    return not any(re.search(r"[0-9]", _QUANT_RE.sub("", p)) for p in patterns)


class Masker:
    """The token classes as ONE compiled alternation with named groups: one pass over the text.

    Memo (exact): messages that differ only in their ASCII digits are masked identically whenever the
    masked text keeps no digit, so the result is remembered under the digit shape (``bytes.translate``
    of every digit to ``1``) and the regex runs once per shape. On only when the classes are
    :func:`digit_blind`; bounded by ``memo_size``."""

    def __init__(self, rules: Iterable[tuple[str, str]], typed: bool = False, memo_size: int = 100_000):
        rules = list(rules)
        self.names = [n for n, _ in rules]
        self.regex: re.Pattern[str] | None = (
            re.compile("|".join(f"(?P<{n}>{p})" for n, p in rules)) if rules else None)
        if self.regex is None:
            self._sub = lambda s: s
        elif typed:
            repl = {n: f"<{n}>" for n in self.names}
            sub = self.regex.sub
            self._sub = lambda s: _value_lists(sub(lambda m: repl[m.lastgroup], s), "<LIST>")  # type: ignore[index]
        else:
            sub = self.regex.sub
            self._sub = lambda s: _value_lists(sub("<*>", s), "<*>")
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
            if not has_digit(out):
                if len(self._memo) >= self.memo_size:
                    self._memo.clear()
                self._memo[key] = out
        return out


# ``10.0.0.2,10.0.0.1`` / ``0,1,2,3`` / ``a:1,b:2`` once masked: values joined by commas with no space
# (a forwarded-for chain, a CPU set, a server list) are one value, however many items it holds
_ITEM = r"<[A-Za-z0-9_*]+>(?::<[A-Za-z0-9_*]+>)*+"
_VALUE_LIST = re.compile(rf"(?<![^\s=:(\[{{\"']){_ITEM}(?:,{_ITEM})++(?=[\s)\]}};\"']|[.,]?$|[.,]\s)")


def _value_lists(masked: str, mask: str) -> str:
    return _VALUE_LIST.sub(mask, masked) if ">,<" in masked else masked


# -- glued tokens ------------------------------------------------------------------------------
MASK = r"<[A-Za-z0-9_*]+>"   # how a masked variable reads: ``<*>``, or ``<NUM>`` with typed masks
GLUE = "\x01"   # marks where a token was cut with no space: not white space, so str.split keeps it
EMPTY = "\x02"  # a value written empty (``ruser= rhost=x``, ``from x () at``): a token that reads back as nothing
JOIN = "\x03"   # a space inside one value of several words (``oldVal=low light mode=2``): one token
_OPEN = r"=:,("
_CLOSE = r")"
_GLUE_AFTER = re.compile(rf"(?<![{_OPEN}])([{_OPEN}]++)(?=[^\s{_OPEN}{_CLOSE}])")
_GLUE_BEFORE = re.compile(rf"(?<=[^\s{_OPEN}{_CLOSE}])([{_CLOSE}]++|,)")
# ``key=a b c key2=`` / ``key=a b c, key2=``: words between a ``key=value`` and the next ``key=`` are
# that value's (a value of several words, printf-style logs do not quote it)
_KEY = r"[A-Za-z_][\w.\-]*+ ?= ?"     # ``key=`` or ``key = ``
_JOINED_VALUE = re.compile(rf"(?<![^\s,;:(\[{{]){_KEY}[^\s=,;]++((?: [^\s=,;]++(?=[\s,;]|$)(?! ?=))++)"
                           rf"(?=,? ?[A-Za-z_][\w.\-]*+ ?=)")
# ``key:a b c, key2:`` (a ``key:value`` list, the colon attached: ``overlapAmount:a b, i:0``): the same
_CKEY = r"[A-Za-z_][\w.\-]*+:(?=[^\s/:])"
_JOINED_COLON_VALUE = re.compile(rf"(?<![^\s,;(\[{{]){_CKEY}[^\s=,;]++((?: (?![A-Za-z_][\w.\-]*+:)[^\s=,;]++(?=[\s,;]|$))++)"
                                 rf"(?=,? ?{_CKEY})")
# a mask inside CJK text (``耗时<*>秒``): cut around it, CJK text has no spaces to cut at
_CJK_BEFORE_MASK = re.compile(rf"(?<=[{_CJK}])({MASK})")
_CJK_AFTER_MASK = re.compile(rf"({MASK})(?=[{_CJK}])")
_HAS_CJK = re.compile(f"[{_CJK}]")
_EMPTY_VALUE = re.compile(rf"(?<=[^\s{_OPEN}])=(?=[\s,;)\]}}]|$)|(?<=\s)=(?=[,;)\]}}]|$)")
# ``()`` standing alone (``from 10.0.0.1 () at``): a value in parentheses written empty, not a call
# (``f()`` is attached to its name); it gets the three positions of ``(<*>)``
_EMPTY_PARENS = re.compile(r"(?<![^\s=:,])\(\)(?=[\s,;:.]|$)")


def glue(masked: str) -> str:
    """Cut tokens after ``= : , (`` and before ``)`` and ``,`` where no space follows/precedes, so
    that ``key=value``, ``f(x)`` and ``a,b`` hold one position per part (Drain compares whole
    tokens), and a comma that ends a value is a token of its own: ``x,`` and ``<*>,`` would otherwise
    never align when a value has several words (``target=low light, rate=2``). The words between a
    ``key=value`` and the next ``key=`` are that value's (printf-style logs do not quote a value of
    several words; ``key = value`` too, and ``key:value`` lists with the colon attached, ``amount:a b,
    i:0``): they become one token (spaces read :data:`JOIN`), so ``old=low light new=on`` and
    ``old=off new=on`` have one length and one template. An empty ``()`` standing alone reads as
    ``(<*>)`` with its value empty (:data:`EMPTY`). The cuts are marked (:data:`GLUE`) so
    :func:`unglue` gives the text back."""
    if GLUE in masked or EMPTY in masked or JOIN in masked:
        masked = masked.replace(GLUE, " ").replace(EMPTY, " ").replace(JOIN, " ")
    if "=" in masked:
        masked = _EMPTY_VALUE.sub("=" + EMPTY, masked)
        masked = _JOINED_VALUE.sub(_join, masked)
    if ":" in masked:
        masked = _JOINED_COLON_VALUE.sub(_join, masked)
    if "()" in masked:
        masked = _EMPTY_PARENS.sub("(" + EMPTY + ")", masked)
    out = _GLUE_BEFORE.sub(" " + GLUE + r"\1", _GLUE_AFTER.sub(r"\1" + GLUE + " ", masked))
    if "<" in out and _HAS_CJK.search(out) is not None:
        out = _CJK_AFTER_MASK.sub(r"\1 " + GLUE, _CJK_BEFORE_MASK.sub(GLUE + r" \1", out))
    return out


def _join(m: re.Match[str]) -> str:
    a = m.start(1) - m.start()
    return m.group()[:a] + m.group(1).replace(" ", JOIN)


def unglue(text: str) -> str:
    if GLUE not in text and JOIN not in text:
        return text
    return text.replace(GLUE + " ", "").replace(" " + GLUE, "").replace(EMPTY, "").replace(JOIN, " ")
