"""Token classes: what each masks (and what it leaves to the data), the exact digit-shape memo, and
linear time on hostile lines (a 1 MiB line of any shape is mined in a few seconds)."""
from __future__ import annotations

import time

import pytest

from analyzer.templates import TOKEN_CLASSES, Masker, TemplateConfig, TemplateMiner, digit_blind


@pytest.mark.parametrize("text,masked", [
    ("GET http://example.com/a?b=1 done", "GET <*> done"),
    ("open /var/log/app.log and ~/x and C:\\Windows\\x.dll", "open <*> and <*> and <*>"),
    ('"GET /v2/x/servers/detail?all=True&since=2017-05-14T20%3A31 HTTP/1.1" (see /a?b=1)', '"GET <*> <*>" (see <*>)'),
    ("proxy.cse.cuhk.edu.hk:5070 open", "<*>:<*> open"),
    ("from 10.0.0.1 to 10.0.0.2:8080", "from <*> to <*>:<*>"),
    ("mac 00:1a:2b:3c:4d:5e at 12:30:59", "mac <*> at <*>"),
    ("connection at Sat Jul 9 22:16:30 2005 closed", "connection at <*> closed"),
    ('acquire tag="View Lock", name=x', 'acquire tag="<*>", name=x'),
    ('one word tag="single" kept', 'one word tag="single" kept'),
    ("size 384.0 B, free 317.5 KB took 12ms", "size <*>, free <*> took <*>"),
    ("mask=ffffffff hash 8f3a2b1c9d", "mask=<*> hash <*>"),
    ("flag true or FALSE or null for root", "flag <*> or <*> or <*> for <*>"),
    ("onExtend:1514038530000 id=42 (TID 7) blk_-123", "onExtend:<*> id=<*> (TID <*>) <*>"),
    ("ssh2 eth0 jk2_init() log4j HttpServer2$Filter", "ssh2 eth0 jk2_init() log4j HttpServer2$Filter"),
    ("node-12 req-8f3a2b1c x86_64 0x1f", "<*> <*> <*> <*>"),
    ("mail ann.lee@example.com from ann@host-12", "mail <*> from <*>"),
    ("Found child [alpha, beta] in slot [main]", "Found child [<*>] in slot [main]"),
    ("at 2023-05-03T15:41:00Z and 2023-05-03 15:41:00,123 or 2023/05/03 ok", "at <*> and <*> or <*> ok"),
    ("from 5c:34:c9:ec:d3:dd: 11: Bye", "from <*>: <*>: Bye"),
    ("Registering class org.apache.Foo$Bar for mail.example.com.", "Registering class <*> for <*>."),
    ("file.txt e.g. self.x done... [a, b", "file.txt e.g. self.x done... [a, b"),
    ("Rect(0, 0 - 1080, 1920) shape (1, 80, 200) [f(x)] (a, b)", "Rect(<*>, <*> - <*>, <*>) shape (<*>) [f(x)] (a, b)"),
    ("params {'lr': 0.1, 'bs': 8} and {'x': 1} in WorkSource{10113}", "params {<*>} and {<*>} in WorkSource{<*>}"),
    ("KeyError: 'speaker id' for can't find 'x y'; don't 'one'", "KeyError: '<*>' for can't find '<*>'; don't 'one'"),
    ("Generating:  45%|████▌     | 45/100 [00:10<00:12,  4.5it/s]", "Generating:  <*> <*> [<*>]"),
    ("100%|##########| 8/8 and a | b 5% |", "<*> <*> and a | b <*> |"),
    ("合成完成，耗时1.23秒，RTF=0.12 第3句", "合成完成，耗时<*>秒，RTF=<*> 第<*>句"),   # CJK text has no spaces
    ("sent 1,234,567 bytes (1,024 MB) ids 1,2,3", "sent <*> bytes (<*>) ids <*>"),
    ("10.11.21.137,10.11.10.1 asked cpus=0,1,2,3 of a:1,b:2 zk1.x.org:2181,zk2.x.org:2181.", "<*> asked cpus=<*> of a:<*>,b:<*> <*>"),
    ("Thread[main,5,main] at [0,0][1080,1920] got 1,2,abc", "Thread[main,<*>,main] at [<*>][<*>] got <*>,<*>,abc"),
    ("open C:\\Users\\Ann Lee\\x.wav and C:\\x\\a b", "open <*> and <*> b"),
    ("from fe80::1f91:8938%eth0 and ::1 or 2001:db8::7334 to c10::Error std::vector", "from <*> and <*> or <*> to c10::Error std::vector"),
])
def test_token_classes(text, masked):
    assert TemplateMiner().mask(text) == masked


@pytest.mark.parametrize("text,glued", [
    ("setLightsOn(x)", "setLightsOn(\x01 x \x01)"),
    ("a=b,c:d", "a=\x01 b \x01,\x01 c:\x01 d"),
    ("target=kept here, rate=<*>", "target=\x01 kept\x03here \x01, rate=\x01 <*>"),
    ("a=x y z b=2 c", "a=\x01 x\x03y\x03z b=\x01 2 c"),
    ("count=5 items done", "count=\x01 5 items done"),       # no key after: the words are the message's
    ("x=1 foo, bar y=2", "x=\x01 1 foo \x01, bar y=\x01 2"),
    ("my id = ann lee, error = x y b = 2", "my id = ann\x03lee \x01, error = x\x03y b = 2"),   # spaced keys
    ("x = 1 is fine", "x = 1 is fine"),
    ("耗时<*>秒，共<*>", "耗时\x01 <*> \x01秒，共\x01 <*>"),
    ("error: disk full (code <*>)", "error: disk full (\x01 code <*> \x01)"),
    ("X::run ws=WorkSource{<*>}", "X::\x01 run ws=\x01 WorkSource{<*>}"),
    ("ruser= rhost=<*>", "ruser=\x01 \x02 rhost=\x01 <*>"),
    ("a=,b=<*> c=", "a=\x01 \x02 \x01,\x01 b=\x01 <*> c=\x01 \x02"),
    ("total = <*>, x =", "total = <*> \x01, x =\x01 \x02"),
    ("overlapAmount:a b c, i:<*>", "overlapAmount:\x01 a\x03b\x03c \x01, i:\x01 <*>"),   # a key:value list
    ("a:x y b:<*> done", "a:\x01 x\x03y b:\x01 <*> done"),
    ("panel:flags=a b, force=<*>", "panel:\x01 flags=\x01 a\x03b \x01, force=\x01 <*>"),   # a key after a label
    ("Error: disk full, Retry: <*>", "Error: disk full \x01, Retry: <*>"),   # a colon and a space: a sentence
    ("from <*> () at <*>", "from <*> (\x01 \x02 \x01) at <*>"),     # an empty value in parentheses
    ("call f() and g (), ok", "call f() and g (\x01 \x02 \x01), ok"),   # a call is attached to its name
])
def test_glued_tokens_are_cut_and_read_back(text, glued):
    from analyzer.templates.tokens import glue, unglue

    assert glue(text) == glued and unglue(glued) == text


def test_one_word_function_call_messages_group():
    """``f(x)`` messages are one token each; cut at ``(`` the argument is a position of its own."""
    m = TemplateMiner()
    ids = {m.add(f"setLightsOn({w})").template_id for w in ["alpha", "bravo", "charlie", "delta", "echo"]}
    assert len({m.canonical(i) for i in ids}) == 1
    assert m.templates()[m.canonical(ids.pop())] == "setLightsOn(<*>)"


def test_typed_masks_name_the_class():
    m = TemplateMiner(TemplateConfig(typed_masks=True))
    assert m.mask("from 10.0.0.1 in 12ms") == "from <IPV4> in <QUANTITY>"


def test_default_classes_keep_the_exact_memo():
    """The memo (one regex pass per digit shape) needs digit-blind classes: a digit literal in a class
    would silently turn it off (and cost ~10x on the `templates` command)."""
    assert digit_blind(p for _, p in TOKEN_CLASSES)
    masker = Masker(TOKEN_CLASSES)
    assert masker.memo_size > 0
    for a, b in [("took 12ms from 10.0.0.1", "took 98ms from 10.7.0.3"), ("x=1 y=22", "x=9 y=00")]:
        assert masker.mask(a) == masker.mask(b) == masker.mask_uncached(b)
    assert not digit_blind([r"0x[0-9a-f]+"])


MIB = 1 << 20
HOSTILE = {
    "dotted digits": "1." * (MIB // 2),
    "spaced digits": "1 " * (MIB // 2),
    "key=key=": "a=" * (MIB // 2),
    "colons": ":" * MIB,
    "digit colons": "1:" * (MIB // 2),
    "path": "/a" * (MIB // 2),
    "letters then digit": "a" * MIB + "1",
    "quotes": '"a ' * (MIB // 3),
    "host dots": "a." * (MIB // 2) + ":1",
    "months": "Jan " * (MIB // 4),
    "hex case": "aB" * (MIB // 2),
    "names": "a1" * (MIB // 2),
    "signs": "-1" * (MIB // 2),
    "brackets": "(<" * (MIB // 2),
    "at signs": "a@" * (MIB // 2),
    "open list": "[a, " * (MIB // 4),
    "one list": "[" + "a, " * (MIB // 3),
    "iso dates": "2023-01-01T" * (MIB // 11),
    "dotted names": "a.b." * (MIB // 4),
    "tuples": "(a, " * (MIB // 4),
    "one tuple": "(" + "a, " * (MIB // 3),
    "dicts": "{a: " * (MIB // 4),
    "single quotes": "'a " * (MIB // 3),
    "spaced quotes": " '" * (MIB // 2),
    "value words": "a=b " + "c " * (MIB // 2),
    "values of words": "a=b c " * (MIB // 6),
    "spaced keys": "a = " * (MIB // 4),
    "spaced values": "a = b c " * (MIB // 8),
    "progress bars": "1%|" * (MIB // 3),
    "one open bar": "1%|" + " " * MIB,
    "CJK digits": "耗1" * (MIB // 2),
    "CJK masks": "耗时<*>" * (MIB // 5),
    "CJK words": "耗a" * (MIB // 2),
    "grouped digits": "1,000" * (MIB // 5),
    "windows folders": "C:\\a " * (MIB // 5),
    "one spaced folder": "C:\\" + "a " * (MIB // 2),
    "CJK mail": "a耗@" * (MIB // 3),
    "colon values of words": "a:b c " * (MIB // 6),
    "colon value words": "a:b " + "c " * (MIB // 2),
    "colon keys": "a:b " * (MIB // 4),
    "empty parens": "() " * (MIB // 3),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_one_mib_line_is_linear(name):
    m = TemplateMiner()
    line = HOSTILE[name]
    t0 = time.perf_counter()
    m.add(line)
    m.add(line.replace("1", "2"))
    m.templates()
    elapsed = time.perf_counter() - t0
    assert elapsed < 40.0, f"{name}: {elapsed:.1f} s for two 1 MiB lines"  # ~2 s here; quadratic: hours


def test_key_values_of_several_words_are_one_variable_each():
    """``oldVal=low light mode=2``: words between a ``key=value`` and the next ``key=`` are the value's,
    whatever their number; the text reads back as written."""
    values = ["low light", "off", "dim warm glow", "on", "very high", "auto", "night shift mode"]
    m = TemplateMiner()
    lines = [f"setMode old={a} new={b}, reason=user" for a, b in zip(values, reversed(values))]
    ids = [m.add(line).template_id for line in lines]
    final = {m.canonical(i) for i in ids}
    assert len(final) == 1
    assert m.templates()[final.pop()] == "setMode old=<*> new=<*>, reason=user"


def test_cjk_messages_with_numbers_keep_their_words():
    """A Chinese service log writes numbers inside its text: each message stays its own template."""
    m = TemplateMiner()
    kinds = {"合成完成，耗时{}秒": (1.5, 2.25, 0.8, 3.1), "推理失败，错误码{}：显存不足": (1, 2, 3, 7),
             "文本切分为{}段": (2, 3, 5, 8), "当前队列长度：{}，等待中：{}": ((1, 2), (3, 0), (9, 9), (4, 1))}
    ids = {}
    for text, values in kinds.items():
        ids[text] = {m.add(text.format(*(v if isinstance(v, tuple) else (v,)))).template_id for v in values}
    final = {t: {m.canonical(i) for i in v} for t, v in ids.items()}
    assert all(len(v) == 1 for v in final.values()) and len(set().union(*final.values())) == 4
    assert m.templates()[final["合成完成，耗时{}秒"].pop()] == "合成完成，耗时<*>秒"


def test_a_value_of_several_words_is_one_variable():
    """Drain sees one length at a time; the segment families merge across lengths."""
    names = ["alice smith", "bob", "carol ann lee", "dave", "erin o brien", "frank"]
    m = TemplateMiner()
    ids = [m.add(f"session for {n} opened on console").template_id for n in names]
    final = {m.canonical(i) for i in ids}
    assert len(final) == 1
    assert m.templates()[final.pop()] == "session for <*> opened on console"
    # a run that takes only a few values stays constant (k = 3): two events, not one
    m2 = TemplateMiner()
    ids2 = [m2.add(f"disk {w} on console").template_id for w in ["is full", "failed", "is full", "failed"]]
    assert len({m2.canonical(i) for i in ids2}) == 2
