"""Template mining: accuracy on Loghub-2k (leave-one-dataset-out) and throughput / peak RSS on >= 1 M lines.

    python benchmarks/bench_templates.py            # full: accuracy, 1 M-line throughput, RSS at 1 M and 4 M
    python benchmarks/bench_templates.py --quick    # accuracy, 200 k-line throughput, RSS at 200 k and 400 k
    python benchmarks/bench_templates.py --accuracy-only

Prints tables and writes benchmarks/results/templates.json.

Accuracy (analyzer.templates.evaluate): GA (grouping accuracy), PA (parsing accuracy: template text
exactly the ground-truth EventTemplate) and FGA (Loghub-2.0's F1 of group accuracy), per data set and
mean, on the 8 Loghub-2k sets in ../shared/data/loghub2k (corrected ground truth), through the
``tts-analyze templates`` path (``mine_paths``; only the line format differs per set, and that is input).

* LOO (leave-one-dataset-out): the method's knobs (``split_max_values`` k, ``sim_th``, ``depth``; the
  grid :data:`GRID`) are chosen by mean GA on the other 7 sets and their word variants (below; ties:
  the choice nearest the defaults), then the 8th is scored with them. The token classes and the merge rules have no knob learned from
  data; they were designed looking at these 8 sets, so LOO measures the knobs' choice, not those design
  choices: for that, see the held-out check.
* all-in: TemplateConfig() defaults on every set.
* drain3: ``drain3.TemplateMiner`` with its default config (no masking), same run.
* word variants (:func:`word_variants`): each shared set, 3 seeds, half the variable positions of each
  template filled with pseudo-words: logs whose variables have no digits, as other software's often
  have. Built from the shared sets' own ground truth; the defaults were chosen on real + variants.
  Phrase variants (values of 1-3 pseudo-words: variables of several words) and shape variants
  (:func:`shape_variants`: values of one shape from :data:`SHAPES`, what variables look like in any
  software's logs, for the token classes), empty-value variants (:func:`empty_variants`: optional
  ``key=`` values written empty), first-word variants (:func:`prefix_variants`: a variable word in
  front, ``name: text``) and free-text variants (:func:`text_variants`: a sentence where a template
  ends in a variable) are reported, not used to choose knobs.
* held-out check (``--heldout DIR``, default $TTSOPS_HELDOUT_LOGHUB or ../heldout/loghub2k; skipped
  when absent): other public Loghub-2k sets laid out like the shared ones (``DIR/formats.json``,
  ``DIR/<name>/<name>_2k.log`` and ``..._structured_corrected.csv``, e.g. from logpai/logparser's
  data/loghub_2k_corrected), scored with the defaults: never tuned on, never in the repo.

Throughput: the same generated HDFS-like input (HDFS_100k.log repeated with fresh block ids, IPs and
sizes each pass; written to a temp folder, never committed), same run:
  (a) drain3 masked   - a plain drain3 ``add_log_message`` loop given our token classes as Drain3
                        MaskingInstructions (Drain3 applies them one regex pass each);
  (b) drain3 unmasked - the same loop without masking;
  (b') drain3 + the masking of Drain3's example drain3.ini (7 rules), for reference;
  (b'') drain3 + three of those masks (IP, HEX, NUM): "a plain Drain3 loop with three masks";
  (c) ours            - the ``tts-analyze templates --format csv`` path (read, header regex, one
                        masking pass, caches, final ids, CSV rows to /dev/null).
Each includes reading the file and the header regex. Identity check: our cached run and an uncached
reference (no caches, Drain called for every line) give the same partition of lines.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
LOGHUB = SHARED / "loghub2k"
HELDOUT = Path(os.environ.get("TTSOPS_HELDOUT_LOGHUB", str(ROOT.parent / "heldout" / "loghub2k")))
HDFS100K = SHARED / "hdfs100k" / "HDFS_100k.log"
HDFS_FORMAT = "<Date> <Time> <Pid> <Level> <Component>: <Content>"
GRID = {"split_max_values": (2, 3, 4, 5, 6), "sim_th": (0.4, 0.5, 0.6, 0.7), "depth": (3, 4)}


def load_sets(root: Path) -> dict:
    """name -> (log path, log format, true ids, true templates, contents) for every set under ``root``."""
    formats = json.loads((root / "formats.json").read_text())
    sets = {}
    for name, spec in formats.items():
        log = root / name / f"{name}_2k.log"
        truth = root / name / f"{name}_2k.log_structured_corrected.csv"
        if not (log.is_file() and truth.is_file()):
            continue
        with open(truth, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        sets[name] = (log, spec["log_format"], [r["EventId"] for r in rows], [r["EventTemplate"] for r in rows],
                      [r["Content"] for r in rows])
    return sets


def score_ours(sets: dict, config=None) -> dict:  # noqa: ANN001
    """Scores through the ``templates`` command's path (``mine_paths``); a set without a log file (a
    word variant) is mined from its contents with the same miner calls."""
    from analyzer.commands.templates import mine_paths
    from analyzer.read import ReadStats
    from analyzer.templates import TemplateMiner
    from analyzer.templates.evaluate import score

    out = {}
    for name, (log, fmt, tids, ttpl, contents) in sets.items():
        if log is not None:
            res = mine_paths([str(log)], log_format=fmt, stats=ReadStats(), config=config)
            miner, ids = res.miner, list(res.ids)
        else:
            miner = TemplateMiner(config)
            masked = [miner.mask(c) for c in contents]
            ids = miner.resolve_all(masked, [miner.add_masked_cluster(m)[1] for m in masked])
        tmpl = miner.templates()
        if len(ids) != len(tids):
            raise SystemExit(f"{name}: {len(ids)} records for {len(tids)} ground-truth rows")
        out[name] = score(ids, [tmpl[i] for i in ids], tids, ttpl)
    return out


def word_variants(sets: dict, seeds: tuple[int, ...] = (0, 1, 2), phrases: bool = False) -> dict:
    """Stress sets that read like other software's logs: in each template, each variable position is,
    with probability 1/2, filled with pseudo-words from a vocabulary of 5, 20 or 100 (no digits, so no
    token class can see them: only the merge layer can); with ``phrases``, each value is 1-3 such
    words (a variable of several words). Ground truth is unchanged."""
    return _rewrite_variables(sets, seeds, "", _vocabulary_rule(lambda rng: (lambda: _pseudo_value(rng, phrases))))


def shape_variants(sets: dict, seeds: tuple[int, ...] = (0, 1, 2)) -> dict:
    """Stress sets for the token classes: each variable position is, with probability 1/2, filled with
    values of ONE shape drawn from :data:`SHAPES` (what variables look like in any software's logs:
    mail addresses, UUIDs, ISO times, lists, base64, identifiers ...), 5/20/100 values a position.
    Ground truth is unchanged."""
    names = sorted(SHAPES)
    return _rewrite_variables(sets, seeds, "shape:", _vocabulary_rule(
        lambda rng: (lambda make: (lambda: make(rng)))(SHAPES[rng.choice(names)])))


_CLOSER = {"(": ")", "[": "]", '"': '"', "'": "'"}


def empty_variants(sets: dict, seeds: tuple[int, ...] = (0, 1, 2)) -> dict:
    """Stress sets with optional values: each ``key=<*>`` position of a template, and each one written
    alone in brackets or quotes (``(<*>)``, ``[<*>]``, ``"<*>"``), is, with probability 1/2, optional,
    and then written empty (``ruser= rhost=x``, ``from 10.0.0.1 () at``) on 30% of its lines. Ground
    truth is unchanged: an empty value is still that template."""
    def rule(rng: random.Random, before: str, after: str):  # noqa: ANN202
        opener = before[-1:]
        enclosed = opener in _CLOSER and after.startswith(_CLOSER[opener]) and (
            len(before) < 2 or before[-2] in " =:,")
        if (before.endswith("=") or enclosed) and rng.random() < 0.5:
            return lambda rng, value: "" if rng.random() < 0.3 else value
        return None
    return _rewrite_variables(sets, seeds, "empty:", rule)


def prefix_variants(sets: dict, seeds: tuple[int, ...] = (0, 1, 2)) -> dict:
    """Stress sets with a variable first word: each template, with probability 1/2, is written after a
    word from a vocabulary of 5/20/100 pseudo-words, as a label (``name: text``, ``name - text``: a
    process, a user, a host naming the source) or plainly (``name text``), one form a template.
    Ground truth is unchanged."""
    import zlib

    out = {}
    for name, (_log, _fmt, tids, ttpl, contents) in sets.items():
        for seed in seeds:
            rng = random.Random(zlib.crc32(f"prefix:{name}:{seed}".encode()))
            rules: dict = {}
            new = []
            for t, c in zip(ttpl, contents):
                if t not in rules:
                    rules[t] = None if rng.random() >= 0.5 else (
                        [_pseudo_value(rng, False) for _ in range(rng.choice((5, 20, 100)))],
                        rng.choice((": ", " - ", " ")))
                rule = rules[t]
                new.append(c if rule is None else rng.choice(rule[0]) + rule[1] + c)
            out[f"{name}~{seed}"] = (None, None, tids, ttpl, new)
    return out


def text_variants(sets: dict, seeds: tuple[int, ...] = (0, 1, 2)) -> dict:
    """Stress sets with free text: each template that ends in a variable, with probability 1/2, ends
    in a sentence instead, 1-15 words drawn from 300 pseudo-words on each line (what a TTS service
    logs of its input, a free-text reason). Ground truth is unchanged."""
    import zlib

    out = {}
    for name, (_log, _fmt, tids, ttpl, contents) in sets.items():
        for seed in seeds:
            rng = random.Random(zlib.crc32(f"text:{name}:{seed}".encode()))
            vocab = [_pseudo_value(rng, False) for _ in range(300)]
            heads: dict = {}
            new = []
            for t, c in zip(ttpl, contents):
                if t not in heads:
                    heads[t] = None
                    if t.endswith("<*>") and rng.random() < 0.5:
                        heads[t] = re.compile("^" + "(.+?)".join(map(re.escape, t.split("<*>"))) + "$", re.S)
                rx = heads[t]
                m = rx.match(c) if rx is not None else None
                if m is None:
                    new.append(c)
                    continue
                sentence = " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 15)))
                new.append(c[:m.start(len(m.groups()))] + sentence)
            out[f"{name}~{seed}"] = (None, None, tids, ttpl, new)
    return out


def _vocabulary_rule(value_maker):  # noqa: ANN001, ANN202
    """With p=1/2 a position's values are replaced by a vocabulary of 5/20/100 from ``value_maker``."""
    def rule(rng: random.Random, _before: str, _after: str):  # noqa: ANN202
        if rng.random() >= 0.5:
            return None
        make = value_maker(rng)
        vocab = [make() for _ in range(rng.choice((5, 20, 100)))]
        return lambda rng, _value: rng.choice(vocab)
    return rule


def _rewrite_variables(sets: dict, seeds: tuple[int, ...], tag: str, rule) -> dict:  # noqa: ANN001
    """Each set x seed: per (template, variable position), ``rule(rng, text before the position, text
    after it)`` gives None (values kept) or ``f(rng, value) -> new value``, applied on each line of that
    template."""
    import zlib

    out = {}
    for name, (_log, _fmt, tids, ttpl, contents) in sets.items():
        for seed in seeds:
            rng = random.Random(zlib.crc32(f"{tag}{name}:{seed}".encode()))
            rules: dict = {}
            rxs: dict = {}
            new = []
            for t, c in zip(ttpl, contents):
                rx = rxs.get(t)
                if rx is None:
                    rx = rxs[t] = re.compile("^" + "(.+?)".join(map(re.escape, t.split("<*>"))) + "$", re.S)
                m = rx.match(c)
                if m is None or not m.groups():
                    new.append(c)
                    continue
                parts, last = [], 0
                for i in range(len(m.groups())):
                    a, b = m.span(i + 1)
                    f = rules.get((t, i), 0)
                    if f == 0:
                        f = rules[(t, i)] = rule(rng, c[:a], c[b:])
                    parts += [c[last:a], f(rng, c[a:b]) if f else c[a:b]]
                    last = b
                new.append("".join(parts) + c[last:])
            out[f"{name}~{seed}"] = (None, None, tids, ttpl, new)
    return out


def _pseudo_value(rng: random.Random, phrases: bool) -> str:
    words = rng.randint(1, 3) if phrases else 1
    return " ".join("".join(rng.choice("bcdfghjklmnprstvwz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))
                    for _ in range(words))


def _w(r: random.Random, a: int = 3, b: int = 7) -> str:
    return "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(a, b)))


def _hex(r: random.Random, n: int) -> str:
    return "".join(r.choice("0123456789abcdef") for _ in range(n))


SHAPES = {   # what a variable looks like in any software's logs (shape stress); one shape a position
    "email": lambda r: f"{_w(r)}.{_w(r)}@{_w(r)}.com",
    "user@host": lambda r: f"{_w(r)}@{_w(r)}-{r.randint(1, 99)}",
    "fqdn": lambda r: f"{_w(r)}.{_w(r)}.org",
    "uuid": lambda r: f"{_hex(r, 8)}-{_hex(r, 4)}-{_hex(r, 4)}-{_hex(r, 4)}-{_hex(r, 12)}",
    "hex6": lambda r: _hex(r, 6),
    "base64": lambda r: "".join(r.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/")
                                for _ in range(r.randint(12, 22))) + "==",
    "version": lambda r: f"v{r.randint(0, 9)}.{r.randint(0, 20)}.{r.randint(0, 99)}",
    "CamelCase": lambda r: "".join(_w(r, 3, 6).capitalize() for _ in range(r.randint(2, 3))),
    "snake_case": lambda r: "_".join(_w(r, 3, 6) for _ in range(r.randint(2, 3))),
    "duration": lambda r: f"{r.uniform(0, 999):.1f}ms",
    "size": lambda r: f"{r.uniform(0, 999):.1f}MB",
    "percent": lambda r: f"{r.randint(0, 100)}%",
    "float": lambda r: f"{r.uniform(-1, 1):.4f}",
    "iso-time": lambda r: (f"2023-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T"
                           f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:00Z"),
    "path": lambda r: f"/var/{_w(r)}/{_w(r)}.log",
    "url": lambda r: f"https://{_w(r)}.com/{_w(r)}?id={r.randint(1, 999)}",
    "quoted": lambda r: '"' + " ".join(_w(r) for _ in range(r.randint(2, 4))) + '"',
    "list": lambda r: "[" + ", ".join(_w(r) for _ in range(r.randint(1, 3))) + "]",
    "ipv6": lambda r: f"fe80::{_hex(r, 4)}:{_hex(r, 4)}",
    "mac": lambda r: ":".join(_hex(r, 2) for _ in range(6)),
    "word": lambda r: _w(r),
    "CJK text": lambda r: "".join(chr(r.randint(0x4E00, 0x9FA5)) for _ in range(r.randint(2, 10))),
    "single-quoted": lambda r: "'" + " ".join(_w(r) for _ in range(r.randint(1, 3))) + "'",
    "dict repr": lambda r: "{" + ", ".join(f"'{_w(r)}': {r.randint(0, 99)}" for _ in range(r.randint(1, 3))) + "}",
    "tuple": lambda r: "(" + ", ".join(str(r.randint(0, 999)) for _ in range(r.randint(2, 3))) + ")",
    "object repr": lambda r: f"<{_w(r).capitalize()} object at 0x7f{_hex(r, 10)}>",
    "timedelta": lambda r: f"{r.randint(0, 9)}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{r.randint(0, 999999):06d}",
    "scientific": lambda r: f"{r.uniform(1, 9):.2f}e-{r.randint(1, 9):02d}",
    "windows path": lambda r: f"C:\\Program Files\\{_w(r)}\\{_w(r)}.dll",
    "negative int": lambda r: str(-r.randint(1, 99999)),
    "0x hex": lambda r: "0x" + _hex(r, r.randint(4, 12)),
    "grouped number": lambda r: f"{r.randint(0, 10 ** r.randint(1, 9)):,}",
    "progress bar": lambda r: (lambda n: f"{10 * n}%|{'█' * n}{' ' * (10 - n)}|")(r.randint(0, 10)),
}


def score_drain3(sets: dict) -> dict:
    import drain3
    from drain3.template_miner_config import TemplateMinerConfig

    from analyzer.templates.evaluate import score

    out = {}
    for name, (_log, _fmt, tids, ttpl, contents) in sets.items():
        tm = drain3.TemplateMiner(config=TemplateMinerConfig())  # Drain3's defaults (no drain3.ini)
        ids = [tm.add_log_message(c)["cluster_id"] for c in contents]
        tmpl = {c.cluster_id: c.get_template() for c in tm.drain.clusters}
        out[name] = score(ids, [tmpl[i] for i in ids], tids, ttpl)
    return out


def leave_one_out(sets: dict, variants: dict) -> dict:
    """Per set: the grid point best on the other sets and their word variants (mean GA; ties: nearest
    the defaults), and its scores on the set left out."""
    from analyzer.templates import TemplateConfig

    default = TemplateConfig()
    keys = list(GRID)
    points = list(itertools.product(*GRID.values()))
    table = {p: score_ours({**sets, **variants}, TemplateConfig(**dict(zip(keys, p)))) for p in points}

    def distance(p: tuple) -> int:
        return sum(abs(GRID[k].index(v) - GRID[k].index(getattr(default, k))) if getattr(default, k) in GRID[k]
                   else 0 for k, v in zip(keys, p))

    out = {}
    for name in sets:
        others = [n for n in table[points[0]] if n.split("~")[0] != name]
        best = max(points, key=lambda p: (round(sum(table[p][n]["ga"] for n in others), 9), -distance(p)))
        out[name] = {"chosen": dict(zip(keys, best)), **table[best][name]}
    return out


def _mean(rows: dict, key: str) -> float:
    return round(sum(r[key] for r in rows.values()) / len(rows), 4) if rows else 0.0


def accuracy(heldout: Path | None) -> dict:
    sets = load_sets(LOGHUB)
    variants = word_variants(sets)
    t0 = time.perf_counter()
    loo = leave_one_out(sets, variants)
    allin = score_ours(sets)
    base = score_drain3(sets)
    v_ours, v_base = score_ours(variants), score_drain3(variants)
    result = {"shared": {n: {"loo": loo[n], "all_in": allin[n], "drain3_default": base[n]} for n in sets},
              "seconds": round(time.perf_counter() - t0, 1)}
    result["shared_mean"] = {
        "loo": {k: _mean(loo, k) for k in ("ga", "pa", "fga")},
        "all_in": {k: _mean(allin, k) for k in ("ga", "pa", "fga")},
        "drain3_default": {k: _mean(base, k) for k in ("ga", "pa", "fga")},
    }
    print(f"Loghub-2k, {len(sets)} shared sets: LOO = knobs chosen on the other 7; all-in = TemplateConfig() "
          f"defaults; drain3 = Drain3 default, same run")
    print(f"{'dataset':<11}{'LOO GA':>7}{'PA':>7}{'FGA':>7}  {'k,sim,depth':<12}|{'all GA':>7}{'PA':>7}{'FGA':>7} "
          f"|{'drain3 GA':>10}{'PA':>7}{'FGA':>7}")
    for n in sets:
        lo, al, dr = loo[n], allin[n], base[n]
        ch = lo["chosen"]
        print(f"{n:<11}{lo['ga']:>7.3f}{lo['pa']:>7.3f}{lo['fga']:>7.3f}  "
              f"{ch['split_max_values']},{ch['sim_th']},{ch['depth']:<6}|{al['ga']:>7.3f}{al['pa']:>7.3f}"
              f"{al['fga']:>7.3f} |{dr['ga']:>10.3f}{dr['pa']:>7.3f}{dr['fga']:>7.3f}")
    m = result["shared_mean"]
    print(f"{'mean':<11}{m['loo']['ga']:>7.3f}{m['loo']['pa']:>7.3f}{m['loo']['fga']:>7.3f}  {'':<12}|"
          f"{m['all_in']['ga']:>7.3f}{m['all_in']['pa']:>7.3f}{m['all_in']['fga']:>7.3f} |"
          f"{m['drain3_default']['ga']:>10.3f}{m['drain3_default']['pa']:>7.3f}{m['drain3_default']['fga']:>7.3f}")
    print(f"LOO: lowest set GA {min(r['ga'] for r in loo.values()):.3f}")
    phrases = word_variants(sets, phrases=True)
    p_ours, p_base = score_ours(phrases), score_drain3(phrases)
    shapes = shape_variants(sets)
    s_ours, s_base = score_ours(shapes), score_drain3(shapes)
    empties = empty_variants(sets)
    e_ours, e_base = score_ours(empties), score_drain3(empties)
    prefixes = prefix_variants(sets)
    f_ours, f_base = score_ours(prefixes), score_drain3(prefixes)
    texts = text_variants(sets)
    t_ours, t_base = score_ours(texts), score_drain3(texts)
    half = "half the variable positions of each template filled with"
    what = {"word_variants": f"{half} pseudo-words (5/20/100 values per position)",
            "phrase_variants": f"{half} 1-3 pseudo-words (5/20/100 values per position)",
            "shape_variants": f"{half} values of one shape of {len(SHAPES)} (mail, UUID, ISO time, list, dict, "
                              "base64...; 5/20/100 values per position)",
            "empty_variants": "half the key=<*> positions of each template written empty on 30% of their lines",
            "prefix_variants": "half the templates written after a variable first word (5/20/100 values; "
                               "'name: ', 'name - ' or 'name ')",
            "text_variants": "half the templates that end in a variable end in a sentence instead (1-15 of 300 "
                             "pseudo-words, drawn on each line)"}
    for label, key, vo, vb, vs_all in (("word-variable", "word_variants", v_ours, v_base, variants),
                                       ("phrase-variable", "phrase_variants", p_ours, p_base, phrases),
                                       ("shape-variable", "shape_variants", s_ours, s_base, shapes),
                                       ("empty-value", "empty_variants", e_ours, e_base, empties),
                                       ("first-word", "prefix_variants", f_ours, f_base, prefixes),
                                       ("free-text", "text_variants", t_ours, t_base, texts)):
        result[key] = {n: {"ours": vo[n], "drain3_default": vb[n]} for n in vs_all}
        print(f"\n{label} stress: each shared set x 3 seeds, {what[key]}; defaults")
        print(f"{'dataset':<11}{'ours GA':>8}{'FGA':>7} |{'drain3 GA':>10}{'FGA':>7}")
        for n in sets:
            vs = [v for v in vs_all if v.split("~")[0] == n]
            o = {k: sum(vo[v][k] for v in vs) / len(vs) for k in ("ga", "fga")}
            d = {k: sum(vb[v][k] for v in vs) / len(vs) for k in ("ga", "fga")}
            print(f"{n:<11}{o['ga']:>8.3f}{o['fga']:>7.3f} |{d['ga']:>10.3f}{d['fga']:>7.3f}")
        mean = result[key + "_mean"] = {"ours": {k: _mean(vo, k) for k in ("ga", "fga")},
                                        "drain3_default": {k: _mean(vb, k) for k in ("ga", "fga")}}
        print(f"{'mean':<11}{mean['ours']['ga']:>8.3f}{mean['ours']['fga']:>7.3f} |"
              f"{mean['drain3_default']['ga']:>10.3f}{mean['drain3_default']['fga']:>7.3f}")
    if heldout is not None and (heldout / "formats.json").is_file():
        hsets = load_sets(heldout)
        hours, hbase = score_ours(hsets), score_drain3(hsets)
        result["heldout"] = {n: {"ours": hours[n], "drain3_default": hbase[n]} for n in hsets}
        result["heldout_mean"] = {"ours": {k: _mean(hours, k) for k in ("ga", "pa", "fga")},
                                  "drain3_default": {k: _mean(hbase, k) for k in ("ga", "pa", "fga")}}
        print(f"\nheld-out check ({len(hsets)} sets from {heldout}; defaults, never tuned on)")
        print(f"{'dataset':<12}{'ours GA':>8}{'PA':>7}{'FGA':>7} |{'drain3 GA':>10}{'PA':>7}{'FGA':>7}")
        for n in hsets:
            o, d = hours[n], hbase[n]
            print(f"{n:<12}{o['ga']:>8.3f}{o['pa']:>7.3f}{o['fga']:>7.3f} |{d['ga']:>10.3f}{d['pa']:>7.3f}{d['fga']:>7.3f}")
        hm = result["heldout_mean"]
        print(f"{'mean':<12}{hm['ours']['ga']:>8.3f}{hm['ours']['pa']:>7.3f}{hm['ours']['fga']:>7.3f} |"
              f"{hm['drain3_default']['ga']:>10.3f}{hm['drain3_default']['pa']:>7.3f}{hm['drain3_default']['fga']:>7.3f}")
    else:
        print(f"\nheld-out check skipped (no {heldout or 'folder given'}/formats.json)")
    return result


def make_input(path: Path, n_lines: int, seed: int = 0) -> None:
    """HDFS_100k repeated, each pass with its own block ids, IPs, ports and sizes."""
    rng = random.Random(seed)
    base = HDFS100K.read_text(encoding="utf-8", errors="replace").splitlines()
    blk = re.compile(r"blk_-?\d+")
    ip = re.compile(r"\d+\.\d+\.\d+\.\d+:\d+")
    num = re.compile(r"(?<=size )\d+")
    written = 0
    with open(path, "w", encoding="utf-8") as f:
        rep = 0
        while written < n_lines:
            off = rng.randrange(1, 10 ** 12)
            ipmap: dict[str, str] = {}

            def _ip(m: re.Match) -> str:
                v = ipmap.get(m.group(0))
                if v is None:
                    v = ipmap[m.group(0)] = (f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}:"
                                             f"{rng.randrange(1024, 65535)}")
                return v

            chunk = []
            for line in base:
                line = blk.sub(lambda m: f"blk_{int(m.group(0)[4:]) + off if rep else m.group(0)[4:]}", line)
                if rep:
                    line = ip.sub(_ip, line)
                    line = num.sub(lambda m: str(int(m.group(0)) + rep), line)
                chunk.append(line)
                written += 1
                if written >= n_lines:
                    break
            f.write("\n".join(chunk) + "\n")
            rep += 1


def _contents(path: Path):
    from analyzer.read import logformat_regex
    rx, _ = logformat_regex(HDFS_FORMAT)
    match = rx.match
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = match(line.rstrip("\n"))
            if m is not None:
                yield m.group("Content")


# Drain3's example drain3.ini masking (its README's recommended starting point), for reference
DRAIN3_EXAMPLE_MASKING = [
    (r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)", "ID"),
    (r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)", "IP"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "HEX"),
    (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
    (r"(?<=executed cmd )(\".+?\")", "CMD"),
]


def drain3_loop(path: Path, masked: bool | str) -> tuple[float, int, int]:
    import drain3
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    from analyzer.templates import TemplateConfig

    cfg = TemplateMinerConfig()
    cfg.profiling_enabled = False
    if masked == "example":
        cfg.masking_instructions = [MaskingInstruction(p, name) for p, name in DRAIN3_EXAMPLE_MASKING]
    elif masked == "three":
        cfg.masking_instructions = [MaskingInstruction(p, name) for p, name in DRAIN3_EXAMPLE_MASKING
                                    if name in ("IP", "HEX", "NUM")]
    else:
        cfg.masking_instructions = ([MaskingInstruction(p, "*") for _n, p in TemplateConfig().masking]
                                    if masked else [])
    # our masks all read "<*>": Drain3 writes mask_prefix + "*" + mask_suffix = "<*>" too
    tm = drain3.TemplateMiner(config=cfg)
    t0 = time.perf_counter()
    n = 0
    for content in _contents(path):
        tm.add_log_message(content)
        n += 1
    return time.perf_counter() - t0, n, len(tm.drain.clusters)


def ours(path: Path) -> tuple[float, int, int, list[int]]:
    """The ``tts-analyze templates --format csv`` path: mine, then write the CSV (to /dev/null)."""
    from analyzer.commands.templates import mine_paths, write_csv
    from analyzer.read import ReadStats

    t0 = time.perf_counter()
    res = mine_paths([str(path)], log_format=HDFS_FORMAT, stats=ReadStats())
    with open(os.devnull, "w") as out:
        write_csv(out, res.ids, res.miner.templates())
    return time.perf_counter() - t0, len(res.ids), len(set(res.ids)), list(res.ids)


def uncached_reference(path: Path) -> list[int]:
    """No memo, no masked-message cache: Drain's tree search for every line, final ids resolved per line."""
    from analyzer.templates import TemplateConfig, TemplateMiner

    miner = TemplateMiner(TemplateConfig(cache_size=0))
    pairs = []
    for content in _contents(path):
        masked = miner.mask(content)
        pairs.append((masked, miner.add_masked_cluster(masked)[1]))
    return [miner.resolve(m, c) for m, c in pairs]


def same_partition(a: list[int], b: list[int]) -> bool:
    if len(a) != len(b):
        return False
    fwd: dict = {}
    back: dict = {}
    for x, y in zip(a, b):
        if fwd.setdefault(x, y) != y or back.setdefault(y, x) != x:
            return False
    return True


_RSS_CHILD = """
import sys
sys.path.insert(0, {root!r})
from analyzer.commands.templates import mine_paths
from analyzer.read import ReadStats
from ttsops.procinfo import peak_rss_mb
res = mine_paths([{path!r}], log_format={fmt!r}, stats=ReadStats())
print(len(res.ids), peak_rss_mb())
"""


def peak_rss(path: Path) -> dict:
    code = _RSS_CHILD.format(root=str(ROOT), path=str(path), fmt=HDFS_FORMAT)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return {"lines": int(out[0]), "peak_rss_mb": float(out[1]), "seconds": round(time.perf_counter() - t0, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200 k lines for throughput, 200 k/400 k for RSS")
    ap.add_argument("--lines", type=int, default=None)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "templates.json"))
    ap.add_argument("--heldout", default=str(HELDOUT), help="folder of held-out Loghub-2k sets ('' to skip)")
    ap.add_argument("--accuracy-only", action="store_true", help="skip throughput and RSS")
    args = ap.parse_args()
    n = args.lines or (200_000 if args.quick else 1_000_000)
    rss_sizes = (n, 2 * n) if args.quick else (1_000_000, 4_000_000)

    result: dict = {"config": "TemplateConfig() defaults", "quick": args.quick}
    result["accuracy"] = accuracy(Path(args.heldout) if args.heldout else None)
    if args.accuracy_only:
        _write(result, args.out)
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-templates-") as tmp:
        big = Path(tmp) / "hdfs_big.log"
        make_input(big, n)
        print(f"\nthroughput on {n:,} HDFS-like lines ({big.stat().st_size / 1e6:.0f} MB)")
        import analyzer.commands.templates  # noqa: F401 - imports outside the timed runs, for both sides
        import drain3  # noqa: F401
        t_ours, n_ours, k_ours, ids = ours(big)
        t_unm, n_unm, k_unm = drain3_loop(big, masked=False)
        t_msk, n_msk, k_msk = drain3_loop(big, masked=True)
        t_ex, n_ex, k_ex = drain3_loop(big, masked="example")
        t_3, n_3, k_3 = drain3_loop(big, masked="three")
        tp = {"lines": n,
              "ours_lines_per_s": round(n_ours / t_ours), "ours_templates": k_ours,
              "drain3_masked_lines_per_s": round(n_msk / t_msk), "drain3_masked_clusters": k_msk,
              "drain3_unmasked_lines_per_s": round(n_unm / t_unm), "drain3_unmasked_clusters": k_unm,
              "drain3_example_ini_masking_lines_per_s": round(n_ex / t_ex), "drain3_example_ini_clusters": k_ex,
              "drain3_three_masks_lines_per_s": round(n_3 / t_3), "drain3_three_masks_clusters": k_3}
        tp["speedup_vs_masked"] = round(tp["ours_lines_per_s"] / tp["drain3_masked_lines_per_s"], 2)
        tp["speedup_vs_unmasked"] = round(tp["ours_lines_per_s"] / tp["drain3_unmasked_lines_per_s"], 2)
        tp["speedup_vs_example_ini"] = round(tp["ours_lines_per_s"] / tp["drain3_example_ini_masking_lines_per_s"], 2)
        tp["speedup_vs_three_masks"] = round(tp["ours_lines_per_s"] / tp["drain3_three_masks_lines_per_s"], 2)
        check_n = min(n, 200_000)
        small = Path(tmp) / "check.log"
        with open(big, encoding="utf-8") as src, open(small, "w", encoding="utf-8") as dst:
            for i, line in enumerate(src):
                if i >= check_n:
                    break
                dst.write(line)
        _t, _n, _k, ids_small = ours(small)
        tp["cached_equals_uncached"] = same_partition(ids_small, uncached_reference(small))
        tp["identity_check_lines"] = check_n
        result["throughput"] = tp
        for k, v in tp.items():
            print(f"  {k:<30} {v}")
        del ids
        rss = {}
        for size in rss_sizes:
            p = Path(tmp) / f"rss_{size}.log"
            make_input(p, size, seed=size)
            rss[str(size)] = peak_rss(p)
            p.unlink()
            print(f"  peak RSS at {size:>9,} lines: {rss[str(size)]['peak_rss_mb']} MB "
                  f"({rss[str(size)]['seconds']} s)")
        result["peak_rss"] = rss
    _write(result, args.out)
    return 0


def _write(result: dict, out: str) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    sys.exit(main())
