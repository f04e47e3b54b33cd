"""eSpeak NG phonemes -> Kokoro-82M v1.0 phoneme tokens (pure functions, no model, no eSpeak).

Kokoro was trained on misaki's phoneme inventory (114 symbols in ``vocab.json``). eSpeak's IPA is
close but not identical; this module maps it, documented table by table:

* **Mandarin tones.** eSpeak's ``cmn`` voice marks every syllable with a Chao tone number (``55``,
  ``35``, ``214``, ``51``, ``11``). Its *IPA* mode keeps only the first character of that number
  (``55`` and ``51`` both become ``5``, ``35`` becomes ``ɜ``), so tone 1 and tone 4 cannot be told
  apart from IPA alone. The back-end therefore asks eSpeak for both renderings with a phoneme
  separator, aligns them phoneme by phoneme, and takes the tone from the ASCII mnemonic, mapped to
  Kokoro's tone arrows by :data:`TONE_ARROWS` (the same arrows misaki's Mandarin G2P emits):

  =====  ==========  ===========  =====
  tone   Chao        eSpeak IPA   Kokoro
  =====  ==========  ===========  =====
  1      55 (high)   ``5``        ``→``
  2      35 (rise)   ``ɜ``        ``↗``
  3      214 (dip)   ``2``        ``↓``
  4      51 (fall)   ``5``        ``↘``
  0      11 (light)  ``1``        (none)
  =====  ==========  ===========  =====

  Any other Chao number is classified by its contour (:func:`tone_arrow`). The arrow is moved past a
  nasal coda (``n``/``ŋ``) so it closes the syllable, as misaki writes it.
* **Mandarin segments** (:data:`CMN_PHONES`): eSpeak mnemonics that its IPA mode leaves as ASCII
  (``s.``, ``ts.h``, ``i.``) and aspirates written ``h`` become the misaki symbols (``ʂ``, ``ʈʂʰ``,
  ``ɨ``, ``ʰ``).
* **English** (:data:`EN_MAP`): misaki's own eSpeak fallback table, American variant: diphthongs
  become misaki's capitals (``eɪ`` -> ``A``, ``aɪ`` -> ``I``, ``oʊ`` -> ``O``, ``aʊ`` -> ``W``,
  ``ɔɪ`` -> ``Y``), affricates its ligatures (``ʤ``, ``ʧ``), ``ɚ`` -> ``əɹ``, length marks dropped.
* Anything still outside the vocabulary goes through :data:`FALLBACK` and is otherwise dropped
  (counted, so the caller can log it).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "TONE_ARROWS", "CMN_PHONES", "EN_MAP", "FALLBACK", "PUNCT", "tone_arrow", "mandarin_from_espeak",
    "english_from_espeak", "to_vocab", "tokenize", "split_clauses", "chunk_phonemes", "MAX_CONTENT_TOKENS",
]

#: Kokoro's context is 512 positions: 510 including the two pad tokens (0) around the content.
MAX_CONTENT_TOKENS = 508

TONE_ARROWS: dict[str, str] = {"55": "→", "35": "↗", "214": "↓", "51": "↘", "11": ""}

#: eSpeak ``cmn`` phoneme mnemonic (tone stripped) -> misaki/Kokoro symbols.
CMN_PHONES: dict[str, str] = {
    "s.": "ʂ", "ts.": "ʈʂ", "ts.h": "ʈʂʰ", "z.": "ɻ",
    "ts": "ʦ", "tsh": "ʦʰ", "tS;": "ʨ", "tS;h": "ʨʰ", "S;": "ɕ",
    "ph": "pʰ", "th": "tʰ", "kh": "kʰ", "X": "x",
    "i.": "ɨ", "i[": "ɨ", "o-": "o", "ong": "ʊŋ", "iong": "jʊŋ", "@r": "əɻ",
}

#: eSpeak American English IPA -> misaki (longest first; ``^`` is eSpeak's tie inside one phoneme).
EN_MAP: tuple[tuple[str, str], ...] = tuple(sorted({
    "ʔˌn̩": "tᵊn", "ʔn̩": "tᵊn", "ʔn": "tᵊn", "ʔ": "t",
    "a^ɪ": "I", "aɪ": "I", "a^ʊ": "W", "aʊ": "W", "d^ʒ": "ʤ", "dʒ": "ʤ", "t^ʃ": "ʧ", "tʃ": "ʧ",
    "e^ɪ": "A", "eɪ": "A", "e": "A", "ɔ^ɪ": "Y", "ɔɪ": "Y", "o^ʊ": "O", "oʊ": "O",
    "ə^l": "ᵊl", "r": "ɹ", "x": "k", "ç": "k", "ɐ": "ə", "ɚ": "əɹ", "ɬ": "l", "ʲ": "",
    "ɜːɹ": "ɜɹ", "ɜː": "ɜɹ", "ɪ^ə": "iə", "ɪə": "iə", "ː": "",
}.items(), key=lambda kv: -len(kv[0])))

#: Last resort for symbols outside the vocabulary (any language).
FALLBACK: dict[str, str] = {
    "ɫ": "l", "ʍ": "w", "ɬ": "l", "ʐ": "ɻ", "ɝ": "ɜɹ", "ɘ": "ə", "ɵ": "ə", "ʉ": "u", "ɞ": "ɜ",
    "ɭ": "l", "ʑ": "ʥ", "ɦ": "h", "ħ": "h", "ɧ": "ʃ", "ʏ": "y", "ɶ": "œ", "ʀ": "ʁ",
    "g": "ɡ", "'": "ˈ", ",": ",", "-": "", "^": "", "_": "", "|": "", "̩": "", "̪": "", "͡": "",
}

#: Text punctuation -> the punctuation token Kokoro was trained with.
PUNCT: dict[str, str] = {
    ".": ".", "!": "!", "?": "?", ",": ",", ";": ";", ":": ":", "…": "…", "—": "—",
    "。": ".", "！": "!", "？": "?", "，": ",", "、": ",", "；": ";", "：": ":", "．": ".",
}
_SENTENCE_END = set(".!?…")
_CLAUSE_RE = re.compile(r"([^.!?,;:…—。！？，、；：．]*)([.!?,;:…—。！？，、；：．]+|$)")
_DIGITS = re.compile(r"(\d+)$")


def tone_arrow(chao: str) -> str:
    """Kokoro arrow for a Chao tone number (table first, then by contour)."""
    if chao in TONE_ARROWS:
        return TONE_ARROWS[chao]
    d = [int(c) for c in chao]
    if len(d) >= 3 and min(d[1:-1]) < d[0] and min(d[1:-1]) < d[-1]:
        return "↓"            # dipping
    if d[-1] > d[0]:
        return "↗"            # rising
    if d[-1] < d[0]:
        return "↘" if d[0] >= 4 else ""   # high fall = tone 4; low fall = light tone
    return "→" if d[0] >= 3 else ""        # level: high = tone 1, low = light tone


def mandarin_from_espeak(ipa: str, mnemonic: str, sep: str = "_") -> str:
    """Combine eSpeak's IPA and ASCII renderings (same clause, same separator) into Kokoro phonemes.

    Each rendering is words split by spaces, phonemes by ``sep``. The mnemonic supplies the tone
    (a trailing Chao number) and the ASCII-only phonemes; the IPA supplies the rest. When the two do
    not align (should not happen), the IPA is used with its tone digits dropped.
    """
    words_i = [[p for p in w.split(sep) if p] for w in ipa.split()]
    words_m = [[p for p in w.split(sep) if p and p != "|"] for w in mnemonic.split()]
    words_m = [w for w in words_m if w]
    if [len(w) for w in words_i] != [len(w) for w in words_m]:
        return re.sub(r"[0-9ɜ]", "", ipa.replace(sep, ""))
    out_words = []
    for wi, wm in zip(words_i, words_m):
        phones: list[str] = []
        for pi, pm in zip(wi, wm):
            stress = "ˈ" if pm.startswith("'") else ("ˌ" if pm.startswith(",") else "")
            base_m = pm.lstrip("',")
            m = _DIGITS.search(base_m)
            tone = None
            if m:
                tone = tone_arrow(m.group(1))
                base_m = base_m[: m.start()]
                pi = pi[:-1]          # IPA mode kept one character of the Chao number
            seg = CMN_PHONES.get(base_m)
            if seg is None:
                seg = pi.lstrip("ˈˌ")
            phones.append(stress + seg)
            if tone is not None:
                phones.append("\0" + tone)   # marker: a tone, placed after the final below
        # move each tone past a nasal coda (n / ŋ not followed by a vowel-initial phoneme)
        i = 0
        while i < len(phones):
            p = phones[i]
            if p.startswith("\0") and i + 1 < len(phones) and phones[i + 1] in ("n", "ŋ") and (
                    i + 2 >= len(phones) or not _starts_with_vowel(phones[i + 2])):
                phones[i], phones[i + 1] = phones[i + 1], p
                i += 2
                continue
            i += 1
        out_words.append("".join(p.lstrip("\0") for p in phones))
    return " ".join(out_words)


_VOWELS = set("aeiouyæɑɐɒɔəɛɜɪʊʌɨøœɤɯ")


def _starts_with_vowel(p: str) -> bool:
    p = p.lstrip("ˈˌ\0")
    return bool(p) and p[0] in _VOWELS


def english_from_espeak(ipa: str) -> str:
    """misaki's American-English normalisation of eSpeak IPA (ties ``^`` allowed, then removed)."""
    ps = ipa
    for old, new in EN_MAP:
        ps = ps.replace(old, new)
    ps = re.sub(r"(\S)\u0329", r"ᵊ\1", ps).replace("\u0329", "")
    return ps.replace("^", "")


def to_vocab(phonemes: str, vocab: Mapping[str, int]) -> tuple[str, list[str]]:
    """Map what is outside the vocabulary via :data:`FALLBACK`; drop the rest. Returns (phonemes, dropped)."""
    out, dropped = [], []
    for ch in phonemes:
        if ch in vocab:
            out.append(ch)
            continue
        rep = FALLBACK.get(ch)
        if rep is not None and all(c in vocab for c in rep):
            out.append(rep)
        else:
            dropped.append(ch)
    return "".join(out), dropped


def tokenize(phonemes: str, vocab: Mapping[str, int]) -> list[int]:
    """Token ids for a phoneme string already reduced to the vocabulary (unknowns skipped)."""
    return [vocab[c] for c in phonemes if c in vocab]


def split_clauses(text: str) -> list[tuple[str, str]]:
    """``text`` -> [(clause text, Kokoro punctuation after it)] keeping the punctuation eSpeak drops."""
    out = []
    for m in _CLAUSE_RE.finditer(text):
        body, punct = m.group(1), m.group(2)
        if not body.strip() and not punct:
            continue
        mark = ""
        for ch in punct:
            if ch in PUNCT:
                mark = PUNCT[ch]
                if mark in _SENTENCE_END:
                    break
        if body.strip():
            out.append((body.strip(), mark))
        elif out and mark and not out[-1][1]:
            out[-1] = (out[-1][0], mark)
    return out


def is_sentence_end(mark: str) -> bool:
    return mark in _SENTENCE_END


def chunk_phonemes(pieces: Sequence[str] | Iterable[str], max_tokens: int = MAX_CONTENT_TOKENS) -> list[str]:
    """Pack phoneme pieces (clauses ending in punctuation) into chunks of at most ``max_tokens``.

    Pieces are joined with spaces; a piece longer than the limit is split at word boundaries, and a
    single word longer than the limit (never seen in practice) is cut.
    """
    chunks: list[str] = []
    cur = ""
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        for part in _split_long(piece, max_tokens):
            cand = f"{cur} {part}" if cur else part
            if len(cand) <= max_tokens:
                cur = cand
            else:
                chunks.append(cur)
                cur = part
    if cur:
        chunks.append(cur)
    return chunks


def _split_long(piece: str, max_tokens: int) -> list[str]:
    if len(piece) <= max_tokens:
        return [piece]
    out, cur = [], ""
    for word in piece.split(" "):
        while len(word) > max_tokens:
            if cur:
                out.append(cur)
                cur = ""
            out.append(word[:max_tokens])
            word = word[max_tokens:]
        cand = f"{cur} {word}" if cur else word
        if len(cand) <= max_tokens:
            cur = cand
        else:
            out.append(cur)
            cur = word
    if cur:
        out.append(cur)
    return out
