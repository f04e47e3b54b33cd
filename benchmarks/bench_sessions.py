"""Session anomaly detection on HDFS-100k: precision / recall / F1 per detector.

Reads ``../shared/data/hdfs100k/`` (HDFS_100k.log, anomaly_label.csv), mines templates, groups
lines by ``blk_-?\\d+`` with :class:`analyzer.features.SessionFeatures`, and scores every
:class:`analyzer.detect.SessionDetector` method without labels (labels only for the figures):

* ``full``: fit and score on all 7,940 sessions;
* ``split``: fit on a random half, score the other half, 10 splits (mean and std).

Side by side: a plain scikit-learn IsolationForest on event counts (contamination 0.03), and
the *ceiling* of the count representation — the best any detector on these count vectors can do
(each distinct vector labelled by its majority label, i.e. a supervised lookup table).

Prints a table and writes ``benchmarks/results/sessions.json``.

    python benchmarks/bench_sessions.py [--data DIR] [--out FILE] [--splits 10]
"""
from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzer.detect import SessionDetector  # noqa: E402
from analyzer.features import SessionFeatures  # noqa: E402

HDFS_LINE = re.compile(r"^(?P<date>\d{6}) (?P<time>\d{6}) (?P<pid>\d+) (?P<level>\w+) (?P<component>[^:]+): (?P<content>.*)$")
SESSION_RE = r"blk_-?\d+"
DETECTORS = {  # name -> factory; "default" is SessionDetector()'s own configuration
    "default (invariants)": lambda: SessionDetector(),
    "pca (tf-idf, SPE, Q-stat)": lambda: SessionDetector("pca"),
    "iforest (auto threshold)": lambda: SessionDetector("iforest"),
}


class _Rec:
    __slots__ = ("message", "fields")

    def __init__(self, message: str):
        self.message = message
        self.fields = None


def _miner():
    """The project's template miner when present, else Drain3 with equivalent masking."""
    try:
        from analyzer.templates import TemplateConfig, TemplateMiner

        m = TemplateMiner(TemplateConfig())
        return (lambda msg: m.add(msg).template_id), "analyzer.templates.TemplateMiner", m.canonical
    except ImportError:
        from drain3 import TemplateMiner
        from drain3.masking import MaskingInstruction
        from drain3.template_miner_config import TemplateMinerConfig

        cfg = TemplateMinerConfig()
        cfg.profiling_enabled = False
        cfg.masking_instructions = [
            MaskingInstruction(r"blk_-?\d+", "BLK"),
            MaskingInstruction(r"(\d+\.){3}\d+(:\d+)?", "IP"),
            MaskingInstruction(r"(?<![A-Za-z])\d+(?![A-Za-z])", "NUM"),
        ]
        tm = TemplateMiner(config=cfg)
        return (lambda msg: tm.add_log_message(msg)["cluster_id"]), "drain3 (masked)", None


def load_sessions(data: Path) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """(count frame sessions x templates, labels 0/1 aligned to its rows, info with the ordered
    template sequences under ``info["sequences"]``)."""
    add, miner_name, canonical = _miner()
    sf = SessionFeatures(SESSION_RE, canonical=canonical)
    t0 = time.perf_counter()
    lines = 0
    with open(data / "HDFS_100k.log", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = HDFS_LINE.match(line.rstrip("\n"))
            content = m.group("content") if m else line.rstrip("\n")
            rec = _Rec(content)
            sf.add(rec, add(content))
            lines += 1
    parse_s = time.perf_counter() - t0
    frame = sf.frame()
    lab = pd.read_csv(data / "anomaly_label.csv")
    labels = dict(zip(lab["BlockId"], (lab["Label"] == "Anomaly").astype(int)))
    y = np.array([labels.get(b, 0) for b in frame.index])
    info = {"lines": lines, "sessions": len(frame), "anomalous": int(y.sum()), "templates": frame.shape[1],
            "miner": miner_name, "parse_seconds": round(parse_s, 2),
            "sequences": [tuple(sf.sequences()[b]) for b in frame.index]}
    return frame, y, info


def prf(y: np.ndarray, pred: np.ndarray) -> dict:
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "flagged": int(pred.sum())}


def ceiling(keys: list, y: np.ndarray) -> dict:
    """Best possible labelling by a lookup table: each distinct key (count vector, or exact event
    sequence) -> its majority label. Supervised and optimistic: an upper bound for any detector
    that sees only these keys."""
    groups: dict = collections.defaultdict(lambda: [0, 0])
    for k, lab in zip(keys, y):
        groups[k][lab] += 1
    pred = np.array([1 if groups[k][1] > groups[k][0] else 0 for k in keys])
    out = prf(y, pred)
    out["indistinguishable_anomalies"] = int(sum(a for n, a in groups.values() if n >= a))
    out["distinct_keys"] = len(groups)
    return out


def plain_iforest(seed: int = 0):
    from sklearn.ensemble import IsolationForest

    return IsolationForest(contamination=0.03, random_state=seed)


def evaluate(frame: pd.DataFrame, y: np.ndarray, splits: int, sequences: list) -> dict:
    X = frame.to_numpy()
    results: dict = {"full": {}, "split": {}}
    # full set
    base = plain_iforest().fit(X)
    results["full"]["plain IsolationForest (c=0.03)"] = prf(y, (base.predict(X) == -1).astype(int))
    for name, make in DETECTORS.items():
        t0 = time.perf_counter()
        det = make().fit(frame)
        results["full"][name] = prf(y, det.predict(frame))
        results["full"][name]["seconds"] = round(time.perf_counter() - t0, 3)
    results["full"]["ceiling (supervised, counts)"] = ceiling([tuple(r) for r in X.astype(np.int64)], y)
    results["full"]["ceiling (supervised, sequences)"] = ceiling(sequences, y)
    # 50/50 splits
    per: dict = collections.defaultdict(list)
    for seed in range(splits):
        perm = np.random.default_rng(seed).permutation(len(frame))
        a, b = perm[: len(perm) // 2], perm[len(perm) // 2:]
        fa, fb = frame.iloc[a], frame.iloc[b]
        base = plain_iforest(seed).fit(X[a])
        per["plain IsolationForest (c=0.03)"].append(prf(y[b], (base.predict(X[b]) == -1).astype(int)))
        for name, make in DETECTORS.items():
            det = make().fit(fa)
            per[name].append(prf(y[b], det.predict(fb)))
    for name, rows in per.items():
        results["split"][name] = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in ("precision", "recall", "f1")}
        results["split"][name]["f1_std"] = round(float(np.std([r["f1"] for r in rows])), 4)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "hdfs100k")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "sessions.json")
    ap.add_argument("--splits", type=int, default=10)
    args = ap.parse_args(argv)
    if not (args.data / "HDFS_100k.log").is_file():
        print(f"HDFS-100k not found in {args.data}", file=sys.stderr)
        return 2
    frame, y, info = load_sessions(args.data)
    sequences = info.pop("sequences")
    res = evaluate(frame, y, args.splits, sequences)
    res["info"] = info
    res["anchors"] = {"loglizer IsolationForest (full HDFS)": 0.802, "loglizer PCA": 0.769,
                      "loglizer Invariants Mining": 0.915, "loglizer LogClustering": 0.837}
    print(f"HDFS-100k: {info['lines']} lines, {info['sessions']} sessions ({info['anomalous']} anomalous), "
          f"{info['templates']} templates ({info['miner']}, {info['parse_seconds']} s)")
    print(f"{'detector':34s} {'full P':>7s} {'R':>6s} {'F1':>6s}   {'50/50 P':>7s} {'R':>6s} {'F1':>6s} (±std)")
    for name in res["full"]:
        f = res["full"][name]
        s = res["split"].get(name)
        tail = f"   {s['precision']:7.3f} {s['recall']:6.3f} {s['f1']:6.3f} (±{s['f1_std']:.3f})" if s else ""
        print(f"{name:34s} {f['precision']:7.3f} {f['recall']:6.3f} {f['f1']:6.3f}{tail}")
    c = res["full"]["ceiling (supervised, counts)"]
    q = res["full"]["ceiling (supervised, sequences)"]
    print(f"{c['indistinguishable_anomalies']} of {info['anomalous']} anomalous sessions have exactly the count "
          f"vector of an at-least-as-frequent normal pattern ({c['distinct_keys']} distinct vectors); "
          f"{q['indistinguishable_anomalies']} have exactly the event sequence of one "
          f"({q['distinct_keys']} distinct sequences): no detector on templates, counts or order can flag them.")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
