"""Text front-end: validation, normalization, script split, sentences, limits."""
from __future__ import annotations

import pytest

from engine.text import en_number, prepare, split_scripts, split_sentences, validate, zh_number
from ttsops.errors import InputError


def test_mixed_text_splits_by_script() -> None:
    segs = prepare("你好,世界。Hello, world.")
    assert [(s.language, s.text) for s in segs] == [("zh", "你好,世界。"), ("en", "Hello, world.")]
    assert split_scripts("我用Python写代码") == [("zh", "我用"), ("en", "Python"), ("zh", "写代码")]


@pytest.mark.parametrize("raw,lang,expected", [
    ("气温25°C", "zh", "气温二十五摄氏度"), ("湿度60%", "zh", "湿度百分之六十"), ("共10003人", "zh", "共一万零三人"),
    ("It is 25°C", "en", "It is twenty-five degrees Celsius"), ("30% off", "en", "thirty percent off"),
    ("1,234.5", "en", "one thousand two hundred and thirty-four point five"),
])
def test_normalization(raw: str, lang: str, expected: str) -> None:
    segs = prepare(raw)
    assert " ".join(s.text for s in segs) == expected
    assert segs[0].language == lang


def test_numbers() -> None:
    assert zh_number("0") == "零" and zh_number("12") == "十二" and zh_number("1010") == "一千零一十"
    assert zh_number("3.14") == "三点一四" and zh_number("-5") == "负五"
    assert en_number("2001") == "two thousand and one" and en_number("-3.5") == "minus three point five"


def test_full_width_punctuation_and_letters() -> None:
    segs = prepare("Ｈｅｌｌｏ，世界！")
    assert segs[0].text == "Hello," and segs[1].text == "世界!"


def test_zero_width_bom_and_bidi_are_stripped() -> None:
    assert validate("\ufeff你\u200b好\u202e!\u2066") == "你好!"


@pytest.mark.parametrize("text,pos", [("ab\x07c", 2), ("\x00", 0), ("ok\ud800", 2), ("x\ufffdy", 1),
                                      ("a\x9bb", 1), ("\ufeffa\x1b", 2)])
def test_invalid_unicode_is_rejected_with_position(text: str, pos: int) -> None:
    with pytest.raises(InputError, match=f"Text preprocessing failed: invalid unicode sequence at pos {pos}"):
        prepare(text)


def test_empty_and_too_long() -> None:
    with pytest.raises(InputError, match="empty"):
        prepare("  \u200b ")
    with pytest.raises(InputError, match="limit is 10"):
        prepare("a" * 11, max_length=10)
    with pytest.raises(InputError, match="nothing to speak"):
        prepare("。。!!")


def test_long_text_is_cut_into_sentences() -> None:
    text = "这是一个很长的句子，" * 40 + "结束。Short one. Another one!"
    parts = split_sentences(text, max_chars=60)
    assert all(len(p) <= 60 for p in parts)
    assert parts[-2:] == ["Short one.", "Another one!"]
    assert "".join(parts[:-2]).replace(" ", "") == ("这是一个很长的句子，" * 40 + "结束。").replace(" ", "")
