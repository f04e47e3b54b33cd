"""Text front-end: unicode validation, normalization, split by script (zh / en), sentence split.

Pipeline (:func:`prepare`)::

    raw text -> validate (reject control chars / broken sequences, strip zero-width, BOM, bidi marks)
             -> NFKC (full-width letters, digits and punctuation to their ASCII forms)
             -> split into runs by script (Han -> zh, Latin -> en; digits and punctuation join a neighbour)
             -> per run: numbers, °C and % spoken in the run's language
             -> sentences (at 。！？.!?; and newlines), long ones cut at commas, then at spaces
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ttsops.errors import InputError

__all__ = ["Segment", "validate", "normalize", "split_scripts", "split_sentences", "prepare",
           "zh_number", "en_number", "INVALID_UNICODE_MESSAGE"]

INVALID_UNICODE_MESSAGE = "Text preprocessing failed: invalid unicode sequence at pos {pos}"

#: stripped silently (they carry no sound): zero-width space/joiners, word joiner, BOM, bidi marks
STRIP_CHARS = frozenset(
    "\u200b\u200c\u200d\u2060\ufeff"            # zero-width, word joiner, BOM / ZWNBSP
    "\u200e\u200f\u061c"                          # LRM, RLM, ALM
    "\u202a\u202b\u202c\u202d\u202e"              # embeddings / overrides
    "\u2066\u2067\u2068\u2069"                    # isolates
)
ALLOWED_CONTROLS = frozenset("\t\n\r")
MAX_SENTENCE_CHARS = 160


@dataclass(frozen=True)
class Segment:
    """One single-language piece of text, ready for a back-end."""

    language: str   # "zh" | "en"
    text: str
    sentence: int   # index of the sentence it belongs to (pauses go between sentences)


def validate(text: str) -> str:
    """Strip zero-width / BOM / bidi marks; raise :class:`InputError` for invalid characters.

    Rejected: C0/C1 control characters other than tab and newlines, lone surrogates (broken
    UTF-16), U+FFFD (a decoding error upstream), non-characters, private-use characters.
    The error message is ``Text preprocessing failed: invalid unicode sequence at pos N`` with N
    the 0-based index in the *original* text.
    """
    if not isinstance(text, str):
        raise InputError(f"text must be a string, got {type(text).__name__}", where="text")
    out: list[str] = []
    for pos, ch in enumerate(text):
        if ch in STRIP_CHARS:
            continue
        cat = unicodedata.category(ch)
        cp = ord(ch)
        bad = ((cat == "Cc" and ch not in ALLOWED_CONTROLS) or cat in ("Cs", "Co") or ch == "\ufffd"
               or (cat == "Cn" and (0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE)))
        if bad:
            raise InputError(INVALID_UNICODE_MESSAGE.format(pos=pos), where="text",
                             fix=f"remove character U+{cp:04X} ({unicodedata.name(ch, 'unnamed')})")
        out.append(ch)
    return "".join(out)


# ---------------------------------------------------------------------------------------------------
# numbers
_ZH_DIGITS = "零一二三四五六七八九"
_ZH_UNITS = ["", "十", "百", "千"]
_ZH_BIG = ["", "万", "亿", "兆"]


def _zh_under_10000(n: int) -> str:
    s = ""
    zero = False
    for i in range(3, -1, -1):
        d = (n // 10 ** i) % 10
        if d == 0:
            if s:
                zero = True
            continue
        if zero:
            s += "零"
            zero = False
        s += _ZH_DIGITS[d] + _ZH_UNITS[i]
    return s


def zh_number(digits: str) -> str:
    """Read a digit string (optionally with one ``.``) in Mandarin: ``"25.5"`` -> ``"二十五点五"``."""
    neg = digits.startswith("-")
    digits = digits.lstrip("-")
    whole, _, frac = digits.partition(".")
    n = int(whole or "0")
    if len(whole) > 16:  # phone numbers, ids: digit by digit
        s = "".join(_ZH_DIGITS[int(c)] for c in whole)
    elif n == 0:
        s = "零"
    else:
        parts: list[str] = []
        group = 0
        need_zero = False
        while n:
            chunk = n % 10000
            if chunk:
                txt = _zh_under_10000(chunk) + _ZH_BIG[group]
                if need_zero:
                    txt += "零"
                parts.append(txt)
                need_zero = chunk < 1000
            else:
                need_zero = bool(parts)
            n //= 10000
            group += 1
        s = "".join(reversed(parts)).rstrip("零")
        if s.startswith("一十"):
            s = s[1:]
    if frac:
        s += "点" + "".join(_ZH_DIGITS[int(c)] for c in frac)
    return ("负" if neg else "") + s


_EN_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
            "fifteen sixteen seventeen eighteen nineteen").split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_EN_BIG = [(10 ** 12, "trillion"), (10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand")]


def _en_int(n: int) -> str:
    if n < 20:
        return _EN_ONES[n]
    if n < 100:
        return _EN_TENS[n // 10] + ("-" + _EN_ONES[n % 10] if n % 10 else "")
    if n < 1000:
        rest = n % 100
        return _EN_ONES[n // 100] + " hundred" + (" and " + _en_int(rest) if rest else "")
    for value, word in _EN_BIG:
        if n >= value:
            rest = n % value
            return _en_int(n // value) + " " + word + ((" " if rest >= 100 else " and ") + _en_int(rest) if rest else "")
    raise AssertionError(n)  # pragma: no cover


def en_number(digits: str) -> str:
    """Read a digit string in English: ``"25.5"`` -> ``"twenty-five point five"``."""
    neg = digits.startswith("-")
    digits = digits.lstrip("-")
    whole, _, frac = digits.partition(".")
    if len(whole) > 15:
        s = " ".join(_EN_ONES[int(c)] for c in whole)
    else:
        s = _en_int(int(whole or "0"))
    if frac:
        s += " point " + " ".join(_EN_ONES[int(c)] for c in frac)
    return ("minus " if neg else "") + s


_NUM = r"-?\d+(?:\.\d+)?"
_NUM_RE = re.compile(_NUM)
_CELSIUS_RE = re.compile(rf"({_NUM})\s*(?:°\s*C|℃)")
_FAHRENHEIT_RE = re.compile(rf"({_NUM})\s*(?:°\s*F|℉)")
_PERCENT_RE = re.compile(rf"({_NUM})\s*%")
_DEGREE_RE = re.compile(r"°\s*([CcFf])(?![A-Za-z])")
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def normalize(text: str, language: str) -> str:
    """Spell out numbers, temperatures and percentages in ``language`` (``"zh"`` or ``"en"``)."""
    text = _THOUSANDS_RE.sub("", text)
    if language == "zh":
        text = _CELSIUS_RE.sub(lambda m: zh_number(m.group(1)) + "摄氏度", text)
        text = _FAHRENHEIT_RE.sub(lambda m: zh_number(m.group(1)) + "华氏度", text)
        text = _PERCENT_RE.sub(lambda m: "百分之" + zh_number(m.group(1)), text)
        text = _NUM_RE.sub(lambda m: zh_number(m.group(0)), text)
    else:
        text = _CELSIUS_RE.sub(lambda m: en_number(m.group(1)) + " degrees Celsius", text)
        text = _FAHRENHEIT_RE.sub(lambda m: en_number(m.group(1)) + " degrees Fahrenheit", text)
        text = _PERCENT_RE.sub(lambda m: en_number(m.group(1)) + " percent", text)
        text = _NUM_RE.sub(lambda m: en_number(m.group(0)), text)
    return text


# ---------------------------------------------------------------------------------------------------
# scripts and sentences
def _script(ch: str) -> str | None:
    cp = ord(ch)
    if (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2FA1F
            or 0xF900 <= cp <= 0xFAFF or 0x3005 <= cp <= 0x3007):
        return "zh"
    if ch.isalpha() and cp < 0x250:  # Latin, incl. accented letters
        return "en"
    return None


def split_scripts(text: str, default: str = "en") -> list[tuple[str, str]]:
    """Split text into ``(language, run)`` by script; neutral characters (digits, punctuation,
    spaces) join the run before them (or the next one at the start)."""
    langs = [_script(c) for c in text]
    first = next((lg for lg in langs if lg), default)
    runs: list[tuple[str, str]] = []
    current = first
    buf: list[str] = []
    for ch, lg in zip(text, langs):
        if lg and lg != current:
            if buf:
                runs.append((current, "".join(buf)))
            buf = []
            current = lg
        buf.append(ch)
    if buf:
        runs.append((current, "".join(buf)))
    return runs


_SENT_END_RE = re.compile(r"(?<=[。！？!?;；…])|(?<=[.](?=\s))|\n+")
_COMMA_RE = re.compile(r"(?<=[，,、：:])")


def split_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """Sentences of ``text``; any longer than ``max_chars`` are cut at commas, then at spaces."""
    out: list[str] = []
    for sent in _SENT_END_RE.split(text):
        sent = sent.strip()
        if not sent:
            continue
        if len(sent) <= max_chars:
            out.append(sent)
            continue
        piece = ""
        for clause in _COMMA_RE.split(sent):
            if len(piece) + len(clause) <= max_chars:
                piece += clause
                continue
            if piece:
                out.append(piece.strip())
            while len(clause) > max_chars:
                cut = clause.rfind(" ", 0, max_chars)
                cut = cut if cut > max_chars // 2 else max_chars
                out.append(clause[:cut].strip())
                clause = clause[cut:]
            piece = clause
        if piece.strip():
            out.append(piece.strip())
    return out


_SPEAKABLE_RE = re.compile(r"[\w]", re.UNICODE)


def prepare(text: str, *, max_length: int = 2000) -> list[Segment]:
    """Validate, normalize and cut ``text`` into single-language :class:`Segment` s.

    Raises :class:`InputError` for invalid characters, empty text or text over ``max_length``.
    """
    clean = validate(text)
    clean = unicodedata.normalize("NFKC", clean).strip()
    # one neutral symbol per unit, so that the "C" of "°C" is not taken for an English word
    clean = _DEGREE_RE.sub(lambda m: "℃" if m.group(1).upper() == "C" else "℉", clean)
    if not clean:
        raise InputError("text is empty", where="text", fix="give some text to speak")
    if len(clean) > max_length:
        raise InputError(f"text is {len(clean)} characters, the limit is {max_length}", where="text",
                         fix="split it into several requests or raise max_text_length")
    segments: list[Segment] = []
    for i, sentence in enumerate(split_sentences(clean)):
        for lang, run in split_scripts(sentence):
            spoken = normalize(run, lang).strip()
            if _SPEAKABLE_RE.search(spoken):
                segments.append(Segment(lang, spoken, i))
    if not segments:
        raise InputError("text has nothing to speak (only punctuation or symbols)", where="text")
    return segments
