"""Template mining: grouping accuracy on Loghub-2k and throughput / peak RSS on >= 1 M lines.

    python benchmarks/bench_templates.py            # full: GA, 1 M-line throughput, RSS at 1 M and 4 M
    python benchmarks/bench_templates.py --quick    # GA, 200 k-line throughput, RSS at 200 k and 400 k

Prints a table and writes benchmarks/results/templates.json.

GA (grouping accuracy): a line is right iff the set of lines in its predicted group equals the set in
its ground-truth group. "ours" = TemplateConfig() (one configuration for every dataset; only the line
format differs, which is input); "drain3" = drain3.TemplateMiner with its default config, no masking.

Throughput: the same generated HDFS-like input (HDFS_100k.log repeated with fresh block ids, IPs and
sizes each pass; written to a temp folder, never committed), same run:
  (a) drain3 masked   - a plain drain3 ``add_log_message`` loop given our masking rules as Drain3
                        MaskingInstructions (Drain3 applies them one regex pass each);
  (b) drain3 unmasked - the same loop without masking;
  (b') drain3 + the masking of Drain3's example drain3.ini (7 rules), for reference;
  (c) ours            - the ``tts-analyze templates --format csv`` path (read, header regex, one
                        masking pass, caches, final ids, CSV rows to /dev/null).
Each includes reading the file and the header regex. Identity check: our cached run and an uncached
reference (no caches, Drain called for every line) give the same partition of lines.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
LOGHUB = SHARED / "loghub2k"
HDFS100K = SHARED / "hdfs100k" / "HDFS_100k.log"
HDFS_FORMAT = "<Date> <Time> <Pid> <Level> <Component>: <Content>"


def grouping_accuracy(pred: list, truth: list) -> float:
    tc, pc = Counter(truth), Counter(pred)
    groups: dict = {}
    for p, t in zip(pred, truth):
        groups.setdefault(p, set()).add(t)
    ok = 0
    for p, ts in groups.items():
        if len(ts) == 1 and tc[next(iter(ts))] == pc[p]:
            ok += pc[p]
    return ok / len(truth) if truth else 0.0


def ga_tables() -> dict:
    from analyzer.commands.templates import mine_paths
    from analyzer.read import ReadStats

    import drain3

    formats = json.loads((LOGHUB / "formats.json").read_text())
    out = {}
    for name, spec in formats.items():
        truth_rows = list(csv.DictReader(open(LOGHUB / name / f"{name}_2k.log_structured_corrected.csv",
                                              encoding="utf-8")))
        truth = [r["EventId"] for r in truth_rows]
        res = mine_paths([str(LOGHUB / name / f"{name}_2k.log")], log_format=spec["log_format"], stats=ReadStats())
        ours = list(res.ids)
        from drain3.template_miner_config import TemplateMinerConfig
        tm = drain3.TemplateMiner(config=TemplateMinerConfig())  # Drain3's defaults (no drain3.ini)
        base = [tm.add_log_message(r["Content"])["cluster_id"] for r in truth_rows]
        out[name] = {"ours": round(grouping_accuracy(ours, truth), 4),
                     "drain3_default": round(grouping_accuracy(base, truth), 4),
                     "lines": len(truth), "rows_ok": len(ours) == len(truth)}
    out["mean"] = {k: round(sum(v[k] for v in out.values()) / len(formats), 4) for k in ("ours", "drain3_default")}
    return out


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
    from analyzer.commands.templates import mine_paths
    from analyzer.read import ReadStats

    t0 = time.perf_counter()
    res = mine_paths([str(path)], log_format=HDFS_FORMAT, stats=ReadStats())
    tmpl = res.miner.templates()
    quoted = {tid: f",E{tid},{t}\n" for tid, t in tmpl.items()}
    with open(os.devnull, "w") as out:
        buf = []
        for i, tid in enumerate(res.ids, 1):
            buf.append(f"{i}{quoted[tid]}")
            if len(buf) >= 8192:
                out.write("".join(buf))
                buf.clear()
        out.write("".join(buf))
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
import resource, sys
sys.path.insert(0, {root!r})
from analyzer.commands.templates import mine_paths
from analyzer.read import ReadStats
res = mine_paths([{path!r}], log_format={fmt!r}, stats=ReadStats())
print(len(res.ids), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss(path: Path) -> dict:
    code = _RSS_CHILD.format(root=str(ROOT), path=str(path), fmt=HDFS_FORMAT)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return {"lines": int(out[0]), "peak_rss_mb": round(int(out[1]) / 1024, 1),
            "seconds": round(time.perf_counter() - t0, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200 k lines for throughput, 200 k/400 k for RSS")
    ap.add_argument("--lines", type=int, default=None)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "templates.json"))
    args = ap.parse_args()
    n = args.lines or (200_000 if args.quick else 1_000_000)
    rss_sizes = (n, 2 * n) if args.quick else (1_000_000, 4_000_000)

    result: dict = {"config": "TemplateConfig() defaults", "quick": args.quick}
    print("Loghub-2k grouping accuracy (one configuration; Drain3 default beside it)")
    ga = ga_tables()
    result["ga"] = ga
    print(f"{'dataset':<10} {'ours':>7} {'drain3':>7}")
    for name, v in ga.items():
        print(f"{name:<10} {v['ours']:>7.3f} {v['drain3_default']:>7.3f}")

    with tempfile.TemporaryDirectory(prefix="bench-templates-") as tmp:
        big = Path(tmp) / "hdfs_big.log"
        make_input(big, n)
        print(f"\nthroughput on {n:,} HDFS-like lines ({big.stat().st_size / 1e6:.0f} MB)")
        t_ours, n_ours, k_ours, ids = ours(big)
        t_unm, n_unm, k_unm = drain3_loop(big, masked=False)
        t_msk, n_msk, k_msk = drain3_loop(big, masked=True)
        t_ex, n_ex, k_ex = drain3_loop(big, masked="example")
        tp = {"lines": n,
              "ours_lines_per_s": round(n_ours / t_ours), "ours_templates": k_ours,
              "drain3_masked_lines_per_s": round(n_msk / t_msk), "drain3_masked_clusters": k_msk,
              "drain3_unmasked_lines_per_s": round(n_unm / t_unm), "drain3_unmasked_clusters": k_unm,
              "drain3_example_ini_masking_lines_per_s": round(n_ex / t_ex), "drain3_example_ini_clusters": k_ex}
        tp["speedup_vs_masked"] = round(tp["ours_lines_per_s"] / tp["drain3_masked_lines_per_s"], 2)
        tp["speedup_vs_unmasked"] = round(tp["ours_lines_per_s"] / tp["drain3_unmasked_lines_per_s"], 2)
        tp["speedup_vs_example_ini"] = round(tp["ours_lines_per_s"] / tp["drain3_example_ini_masking_lines_per_s"], 2)
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
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
