"""Full ``tts-analyze`` throughput against a plain Drain3 loop, and peak RSS as the input grows.

    python benchmarks/bench_analyze.py            # 1 M lines per input; RSS at 1 M and 4 M lines
    python benchmarks/bench_analyze.py --quick    # 200 k lines; RSS at 200 k and 400 k lines

Prints a table and writes benchmarks/results/analyze.json.

Inputs (generated into a temp folder, never committed):
  plain - HDFS-like text lines: HDFS_100k.log repeated with fresh block ids, IPs and sizes each pass
          (``bench_templates.make_input``), read with the HDFS ``--log-format``;
  json  - engine-style loguru ``serialize=True`` lines: the records of
          data/samples/logs/inference.log replicated with shifted times and fresh request ids.
          ``--replicas R`` copies of the sample run (each shifted by a fraction of a second) are
          merged in time order per block and blocks follow each other, i.e. a service R times as
          busy as the sample's (~5 req/min each) running for as long as the lines last.

Measured on the same input in the same run:
  (a) drain3 masked - a plain Drain3 ``add_log_message`` loop given our masking rules as Drain3
      MaskingInstructions (bench_templates.drain3_loop's setup), fed the message of each line
      (plain: the header regex's <Content>; json: ``json.loads(line)["record"]["message"]``);
  (b) analyze()     - the library path of ``tts-analyze`` (reading, templates, window features,
      KB matching, exception groups, detection, incidents; report object built);
  (c) CLI           - ``tts-analyze PATH --format json -o /dev/null`` in a subprocess (once).
Ratios are (b)/(a) and (c)/(a) in lines/s. Peak RSS: ``analyze()`` in a fresh subprocess at two
input sizes (its own VmHWM, ``ttsops.procinfo.peak_rss_mb``). Templates unchanged: the template id each record gets on the analyze
path, folded with ``miner.canonical``, partitions the records exactly as the ``templates`` path
(``mine_paths``, final ids) does.
"""
from __future__ import annotations

import argparse
import heapq
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_templates import HDFS_FORMAT, make_input, same_partition  # noqa: E402

SAMPLE_JSON = ROOT / "data" / "samples" / "logs" / "inference.log"
_REQ_RE = re.compile(r"req-[0-9a-f]{12}")


# --------------------------------------------------------------------------------------------
# inputs
def _json_templates(sample: Path) -> tuple[list[tuple[float, str, tuple[str, ...]]], float]:
    """Each sample line as (timestamp, format string with {t} {repr} {text} {rid_<id>} placeholders,
    the request ids it names)."""
    out = []
    for raw in sample.read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        obj = json.loads(raw)
        ts = float(obj["record"]["time"]["timestamp"])
        line = raw.replace("{", "{{").replace("}", "}}")
        rep = obj["record"]["time"]["repr"]               # "2026-11-20 09:00:09.391556+00:00"
        line = line.replace(json.dumps(obj["record"]["time"]["timestamp"]), "{t}", 1)
        line = line.replace(rep, "{repr}", 1)
        text_ts = rep[:23]                                 # loguru text: "2026-11-20 09:00:09.391"
        line = line.replace('"text": "' + text_ts, '"text": "{text}', 1)
        keys = tuple(dict.fromkeys(m.group(0)[4:] for m in _REQ_RE.finditer(line)))
        line = _REQ_RE.sub(lambda m: "{rid_" + m.group(0)[4:] + "}", line)
        out.append((ts, line, keys))
    ts = [t for t, _, _ in out]
    return out, max(ts) - min(ts)


def make_json_input(path: Path, n_lines: int, *, replicas: int = 10, seed: int = 0) -> None:
    """Engine loguru lines: the sample run replicated (see module doc), times shifted, fresh ids."""
    from datetime import datetime, timezone

    rng = random.Random(seed)
    tmpl, span = _json_templates(SAMPLE_JSON)
    t0 = tmpl[0][0]
    block_len = span + 60.0
    written = 0
    block = 0
    utc = timezone.utc
    with open(path, "w", encoding="utf-8") as f:
        while written < n_lines:
            streams = []
            for c in range(replicas):
                shift = block * block_len + c * 0.173
                rids: dict[str, str] = {}

                def gen(shift: float = shift, rids: dict = rids):
                    for ts, line, keys in tmpl:
                        yield ts + shift, line, keys, rids

                streams.append(gen())
            buf = []
            for t, line, keys, rids in heapq.merge(*streams, key=lambda x: x[0]):
                rep = datetime.fromtimestamp(t, utc).isoformat(sep=" ", timespec="microseconds")
                fields = {"t": repr(round(t, 6)), "repr": rep, "text": rep[:23]}
                for k in keys:
                    v = rids.get(k)
                    if v is None:
                        v = rids[k] = f"req-{rng.getrandbits(48):012x}"
                    fields["rid_" + k] = v
                buf.append(line.format_map(fields))
                written += 1
                if written >= n_lines:
                    break
            f.write("\n".join(buf) + "\n")
            block += 1


# --------------------------------------------------------------------------------------------
# (a) the plain Drain3 loop
def _messages(path: Path, kind: str):
    if kind == "plain":
        from bench_templates import _contents
        yield from _contents(path)
        return
    loads = json.loads
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield loads(line)["record"]["message"]


def drain3_masked(path: Path, kind: str) -> dict:
    import drain3
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    from analyzer.templates import TemplateConfig

    cfg = TemplateMinerConfig()
    cfg.profiling_enabled = False
    cfg.masking_instructions = [MaskingInstruction(p, "*") for _n, p in TemplateConfig().masking]
    tm = drain3.TemplateMiner(config=cfg)
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    for msg in _messages(path, kind):
        tm.add_log_message(msg)
        n += 1
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"lines": n, "seconds": round(dt, 2), "cpu_seconds": round(cpu, 2), "lines_per_s": round(n / dt),
            "lines_per_cpu_s": round(n / cpu), "clusters": len(tm.drain.clusters)}


# --------------------------------------------------------------------------------------------
# (b) analyze() and (c) the CLI
def _config(kind: str):
    from analyzer.config import AnalyzeConfig

    return AnalyzeConfig(log_format=HDFS_FORMAT if kind == "plain" else None, progress=False)


def run_analyze(path: Path, kind: str) -> dict:
    from analyzer.pipeline import analyze

    t0, c0 = time.perf_counter(), time.process_time()
    res = analyze([str(path)], _config(kind))
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    s = res.summary
    return {"lines": s.lines, "records": s.records, "seconds": round(dt, 2), "cpu_seconds": round(cpu, 2),
            "lines_per_s": round(s.lines / dt), "lines_per_cpu_s": round(s.lines / cpu),
            "templates": s.templates, "windows": s.windows, "anomalous_windows": s.anomalous_windows,
            "incidents": len(res.incidents), "warnings": res.warnings[:5]}


def run_cli(path: Path, kind: str, lines: int) -> dict:
    exe = Path(sys.executable).with_name("tts-analyze")
    cmd = [str(exe) if exe.exists() else "tts-analyze", str(path), "--format", "json", "-o", os.devnull,
           "--no-progress"]
    if kind == "plain":
        cmd += ["--log-format", HDFS_FORMAT]
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"tts-analyze exited {proc.returncode}: {proc.stderr[-500:]}")
    return {"seconds": round(dt, 2), "cpu_seconds": round(cpu, 2), "lines_per_s": round(lines / dt),
            "lines_per_cpu_s": round(lines / cpu), "exit_code": proc.returncode}


def templates_unchanged(path: Path, kind: str) -> dict:
    """Analyze path ids (streamed, folded with miner.canonical) vs the templates path's final ids."""
    from analyzer.commands.templates import mine_paths
    from analyzer.read import ReadStats, read_records
    from analyzer.pipeline import Analyzer

    cfg = _config(kind)
    an = Analyzer(cfg)
    ids: list[int] = []
    add = an.miner.add

    def recording_add(message: str):
        m = add(message)
        ids.append(m.template_id)
        return m

    an.miner.add = recording_add  # type: ignore[method-assign]
    an.run(read_records([str(path)], log_format=cfg.log_format, stats=ReadStats()))
    folded = [an.miner.canonical(t) for t in ids]
    res = mine_paths([str(path)], log_format=cfg.log_format, stats=ReadStats())
    return {"records": len(folded), "same_partition": same_partition(folded, list(res.ids)),
            "templates_analyze": len(set(folded)), "templates_templates_path": len(set(res.ids))}


_RSS_CHILD = """
import sys
sys.path.insert(0, {root!r})
from analyzer.config import AnalyzeConfig
from analyzer.pipeline import analyze
from ttsops.procinfo import peak_rss_mb
res = analyze([{path!r}], AnalyzeConfig(log_format={fmt!r}, progress=False))
print(res.summary.lines, peak_rss_mb())
"""


def peak_rss(path: Path, kind: str) -> dict:
    code = _RSS_CHILD.format(root=str(ROOT), path=str(path), fmt=HDFS_FORMAT if kind == "plain" else None)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return {"lines": int(out[0]), "peak_rss_mb": float(out[1]),
            "seconds": round(time.perf_counter() - t0, 2)}


def _lps(r: dict) -> str:
    return f"{r['lines_per_s']:,} ({r['lines_per_cpu_s']:,})"


def _show(label: str, r: dict) -> None:
    print(f"  {label:<20} {_lps(r):>22} lines/s  ({r['seconds']} s wall, {r['cpu_seconds']} s CPU)", flush=True)


def make(kind: str, path: Path, n: int, replicas: int, seed: int = 0) -> None:
    if kind == "plain":
        make_input(path, n, seed=seed)
    else:
        make_json_input(path, n, replicas=replicas, seed=seed)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200 k lines; RSS at 200 k and 400 k")
    ap.add_argument("--lines", type=int, default=None)
    ap.add_argument("--inputs", default="plain,json", help="comma-separated: plain, json")
    ap.add_argument("--replicas", type=int, default=10, help="json input: concurrent copies of the sample run")
    ap.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "analyze.json"))
    args = ap.parse_args()
    n = args.lines or (200_000 if args.quick else 1_000_000)
    rss_sizes = (n, 2 * n) if args.quick else (1_000_000, 4_000_000)
    kinds = [k.strip() for k in args.inputs.split(",") if k.strip()]
    result: dict = {"quick": args.quick, "lines": n, "replicas": args.replicas, "inputs": {},
                    "load_average_at_start": os.getloadavg()[0], "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-analyze-") as tmp:
        for kind in kinds:
            path = Path(tmp) / f"{kind}.log"
            make(kind, path, n, args.replicas)
            mb = path.stat().st_size / 1e6
            print(f"\n[{kind}] {n:,} lines ({mb:.0f} MB)", flush=True)
            r: dict = {"megabytes": round(mb, 1)}
            r["drain3_masked"] = drain3_masked(path, kind)
            _show("drain3 masked loop", r["drain3_masked"])
            r["analyze"] = run_analyze(path, kind)
            _show("analyze()", r["analyze"])
            r["cli"] = run_cli(path, kind, r["analyze"]["lines"])
            _show("tts-analyze (CLI)", r["cli"])
            for name in ("analyze", "cli"):
                r[f"ratio_{name}_vs_masked"] = round(r[name]["lines_per_s"] / r["drain3_masked"]["lines_per_s"], 2)
                r[f"ratio_{name}_vs_masked_cpu"] = round(r[name]["lines_per_cpu_s"]
                                                         / r["drain3_masked"]["lines_per_cpu_s"], 2)
            r["templates_unchanged"] = templates_unchanged(path, kind)
            print(f"  templates unchanged  {r['templates_unchanged']}", flush=True)
            path.unlink()
            if not args.no_rss:
                rss = {}
                for size in rss_sizes:
                    p = Path(tmp) / f"rss_{kind}_{size}.log"
                    make(kind, p, size, args.replicas, seed=size)
                    rss[str(size)] = peak_rss(p, kind)
                    p.unlink()
                    print(f"  peak RSS at {size:>9,} lines: {rss[str(size)]['peak_rss_mb']} MB "
                          f"({rss[str(size)]['seconds']} s)", flush=True)
                r["peak_rss"] = rss
            result["inputs"][kind] = r
    la, lb = (f"{x:,}" for x in rss_sizes)
    print(f"\nlines/s (wall; per CPU-second in brackets), ratios vs the masked Drain3 loop on the same input")
    print(f"{'input':<6} {'drain3 masked':>22} {'analyze()':>22} {'ratio':>13} {'CLI':>22} {'ratio':>13} "
          f"{'RSS ' + la:>12} {'RSS ' + lb:>12}  same templates")
    for kind, r in result["inputs"].items():
        rss = [r.get("peak_rss", {}).get(str(k)) for k in rss_sizes]
        rs = [f"{x['peak_rss_mb']:.0f} MB" if x else "-" for x in rss]
        d, a, c = r["drain3_masked"], r["analyze"], r["cli"]
        print(f"{kind:<6} {_lps(d):>22} {_lps(a):>22} "
              f"{r['ratio_analyze_vs_masked']:>5.2f}x ({r['ratio_analyze_vs_masked_cpu']:.2f}x) {_lps(c):>22} "
              f"{r['ratio_cli_vs_masked']:>5.2f}x ({r['ratio_cli_vs_masked_cpu']:.2f}x) "
              f"{rs[0]:>12} {rs[1]:>12}  {r['templates_unchanged']['same_partition']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
