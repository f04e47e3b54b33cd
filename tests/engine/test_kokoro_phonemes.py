"""eSpeak -> Kokoro phoneme mapping: tone table, English table, clause split, chunking (no model)."""
from __future__ import annotations

import pytest

from engine.backends import kokoro_phonemes as kp


@pytest.mark.parametrize("chao,arrow", [("55", "→"), ("35", "↗"), ("214", "↓"), ("51", "↘"), ("11", ""),
                                        ("213", "↓"), ("24", "↗"), ("53", "↘"), ("44", "→"), ("22", ""),
                                        ("21", "")])
def test_tone_arrow(chao, arrow):
    assert kp.tone_arrow(chao) == arrow


def test_mandarin_four_tones_from_aligned_renderings():
    # what eSpeak gives for 妈麻马骂吗 with separator "_": IPA keeps one digit, ASCII the Chao number
    ipa = "m_ˈɑ5_ m_ˈɑɜ_ m_ˈɑ2_ m_ˈɑ5_ m_ˈɑ1_"
    mnem = "m_'A55__| m_'A35__| m_'A214__| m_'A51__| m_'A11__|"
    assert kp.mandarin_from_espeak(ipa, mnem) == "mˈɑ→ mˈɑ↗ mˈɑ↓ mˈɑ↘ mˈɑ"


def test_mandarin_segments_and_coda():
    # 世界 / 公园 / 吃: retroflex and aspirate mnemonics, tone after a nasal coda
    assert kp.mandarin_from_espeak("s._ˈi.5_ tɕ_ˈiɛ5_", "s._'i.51__| tS;_'iE51__|") == "ʂˈɨ↘ ʨˈiɛ↘"
    assert kp.mandarin_from_espeak("j_ˈyæɜ_n_", "j_'y&35_n__|") == "jˈyæn↗"
    assert kp.mandarin_from_espeak("ts.h_ˈi.5_", "ts.h_'i.55__|") == "ʈʂʰˈɨ→"


def test_mandarin_misaligned_falls_back_without_digits():
    assert kp.mandarin_from_espeak("n_i2_x_", "n_i214__|") == "nix"


def test_english_table():
    assert kp.english_from_espeak("həlˈo^ʊ wˈɜːld") == "həlˈO wˈɜɹld"
    assert kp.english_from_espeak("d^ʒˈʌd^ʒ t^ʃˈɜːt^ʃ") == "ʤˈʌʤ ʧˈɜɹʧ"
    assert kp.english_from_espeak("lˈe^ɪzi bɹˈa^ʊn bˈɔ^ɪ a^ɪ ˌo^ʊvɚ") == "lˈAzi bɹˈWn bˈY I ˌOvəɹ"
    assert kp.english_from_espeak("bˈʌʔn̩") == "bˈʌtᵊn"


def test_to_vocab_maps_and_reports():
    vocab = {c: i for i, c in enumerate("abln ˈ", 1)}
    out, dropped = kp.to_vocab("ɫab5", vocab)
    assert out == "lab" and dropped == ["5"]


def test_split_clauses_keeps_punctuation():
    assert kp.split_clauses("你好，世界。Hello, world! ok") == [
        ("你好", ","), ("世界", "."), ("Hello", ","), ("world", "!"), ("ok", "")]
    assert kp.split_clauses("...") == []


def test_chunk_phonemes_respects_limit_and_boundaries():
    clauses = [("wˈɜɹd " * 15).strip() + "," for _ in range(10)]   # 10 clauses of 89 symbols
    chunks = kp.chunk_phonemes(clauses, 200)
    assert all(len(c) <= 200 for c in chunks)
    assert all(c.endswith(",") for c in chunks)           # split at clause boundaries
    assert " ".join(chunks) == " ".join(clauses)
    long_clause = ("ɑ" * 30 + " ") * 20
    chunks = kp.chunk_phonemes([long_clause], 100)
    assert all(len(c) <= 100 for c in chunks) and len(chunks) == 7   # split at words
    assert kp.chunk_phonemes(["x" * 250], 100) == ["x" * 100, "x" * 100, "x" * 50]
