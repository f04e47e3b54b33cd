"""One process vs a Dask LocalCluster of 1 and 2 workers, same input, same run: analysis, batch
synthesis and quality scoring; identical results checked; the measured parts projected to 8, 32 and 128 workers.

    nice python benchmarks/bench_dask.py                 # 4 M HDFS lines, 400 batch tasks, 200 pairs, 3 alternating runs
    nice python benchmarks/bench_dask.py --quick         # 400 k lines, 80 tasks, 40 pairs, 1 run

Prints tables (with the load average: the machine is shared) and writes benchmarks/results/dask.json.

Analysis input: HDFS_100k.log repeated with fresh block ids, IPs and sizes (bench_templates.make_input),
read with the HDFS ``--log-format``. Times exclude starting the cluster (seconds, once per cluster).
The 1- and 2-worker clusters run side by side and their runs alternate (the load of the shared
machine moves in minutes); the table shows the median run, every run, and the best of each.
Batch: espeak tasks (six sentences x six speakers, each repeated 4-8 times: a paragraph) into a fresh folder each time.
Scoring: engine references against the same with noise at 30 dB SNR, default metrics; rows compared exactly.
Scheduler overhead: 2000 no-op tasks through the 2-worker cluster (submit -> result, per task).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_templates import HDFS_FORMAT, make_input  # noqa: E402

TEXTS = ["你好，今天的天气很好。", "Hello, this is a test of the batch runner.", "早上好，我们开始吧。",
         "Good morning, everyone.", "谢谢你的耐心等待。", "Thank you for waiting."]
SPEAKERS = ["zh_female_1", "en_male_1", "zh_male_1", "en_female_2", "zh_female_2", "en_male_2"]


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _report(result) -> str:  # noqa: ANN001
    from analyzer.report import render

    return render(result, "json")


def _median_row(runs: list[dict]) -> dict:
    """The run with the median time, with every time and load kept (the load moves under us)."""
    runs = sorted(runs, key=lambda r: r["seconds"])
    row = dict(runs[len(runs) // 2])
    row["all_seconds"] = [round(r["seconds"], 2) for r in runs]
    row["best_seconds"] = runs[0]["seconds"]
    row["same"] = all(r.get("same", True) for r in runs)
    return row


def bench_analysis(path: Path, repeat: int) -> dict:
    from analyzer.config import AnalyzeConfig
    from analyzer.dist import analyze_on_cluster
    from analyzer.pipeline import analyze
    from ttsops.cluster import ClusterSpec, connect

    cfg = AnalyzeConfig(log_format=HDFS_FORMAT, progress=False)
    t, c = time.perf_counter(), time.process_time()
    ref = _report(analyze([path], cfg))
    rows = {"in-process": {"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "load": _load()}}
    runs: dict[int, list] = {1: [], 2: []}
    with connect(ClusterSpec(workers=1)) as c1, connect(ClusterSpec(workers=2)) as c2:
        for _ in range(repeat):          # 1 and 2 workers alternate: both see the same load, on average
            for n, client in ((1, c1), (2, c2)):
                timings: dict = {}
                t = time.perf_counter()
                out = _report(analyze_on_cluster([path], cfg, client, timings=timings))
                runs[n].append({"seconds": time.perf_counter() - t, "load": _load(), "same": out == ref,
                                "timings": timings})
    for n in (1, 2):
        rows[f"{n} worker(s)"] = _median_row(runs[n])
    return rows


def _tasks(path: Path, n: int) -> None:
    path.write_text("".join(json.dumps({"input_text": TEXTS[i % 6] * (4 + i % 5), "name": f"t{i:04d}",
                                        "speaker": SPEAKERS[(i // 6) % 6]}, ensure_ascii=False) + "\n"
                            for i in range(n)), encoding="utf-8")


def _outputs(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*.wav"))}


def bench_batch(tmp: Path, n: int, repeat: int) -> dict:
    from engine.batch import run_batch
    from engine.config import EngineConfig
    from engine.distributed import ClusterMaker
    from ttsops.cluster import ClusterSpec, connect

    tasks = tmp / "tasks.jsonl"
    _tasks(tasks, n)
    out = tmp / "batch-local"
    t, c = time.perf_counter(), time.process_time()
    run_batch(tasks, out, config=EngineConfig().with_(log_dir=out / "logs"))
    rows = {"in-process": {"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "load": _load()}}
    ref = _outputs(out)
    runs: dict[int, list] = {1: [], 2: []}
    with connect(ClusterSpec(workers=1)) as c1, connect(ClusterSpec(workers=2)) as c2:
        for client in (c1, c2):
            client.run(lambda: __import__("engine.synth"))   # imports warm; engines are built by the first task
        for k in range(repeat):
            for w, client in ((1, c1), (2, c2)):
                out = tmp / f"batch-{w}-{k}"
                makers: list = []

                def maker(run, client=client):  # noqa: ANN001, ANN202
                    makers.append(ClusterMaker(run, client))
                    return makers[-1]

                t, c = time.perf_counter(), time.process_time()
                s = run_batch(tasks, out, config=EngineConfig().with_(log_dir=out / "logs"), maker=maker)
                runs[w].append({"seconds": time.perf_counter() - t, "load": _load(),
                                "same": _outputs(out) == ref and s.succeeded == n,
                                "client_cpu": time.process_time() - c, "worker_cpu": sum(makers[0].cpu.values()),
                                "busiest_worker_cpu": max(makers[0].cpu.values())})
    for w in (1, 2):
        rows[f"{w} worker(s)"] = _median_row(runs[w])
    return rows


def _rows_text(rows: list[dict]) -> str:
    """The rows as reported (6 decimals): separate processes may differ in a float's last bit (ESTOI's
    numpy sums vectorise by the arrays' memory alignment; one process's rows repeat exactly)."""
    from quality.score import clean_row

    return json.dumps([clean_row(r) for r in rows])


def bench_scoring(tmp: Path, n: int, repeat: int) -> dict:
    """``n`` pairs (engine references vs the same with noise at 30 dB SNR), default metrics (PESQ,
    STOI, MCD, F0): one process, the local process pool (-j 2), 1 and 2 Dask workers."""
    from engine.batch import run_batch
    from engine.config import EngineConfig
    from quality.cluster import on_cluster
    from quality.degrade import degrade_dir
    from quality.score import match_dirs, score_pairs
    from ttsops.cluster import ClusterSpec, connect

    tasks = tmp / "score-tasks.jsonl"
    tasks.write_text("".join(json.dumps({"input_text": TEXTS[i % 6] * (1 + i % 3), "name": f"p{i:04d}",
                                         "speaker": SPEAKERS[(i // 6) % 6]}, ensure_ascii=False) + "\n"
                             for i in range(n)), encoding="utf-8")
    refs, cands = tmp / "score-ref", tmp / "score-cand"
    run_batch(tasks, refs, config=EngineConfig().with_(log_dir=tmp / "score-logs"))
    degrade_dir(refs, cands, "noise_30db")
    pairs = match_dirs(refs, cands)
    t, c = time.perf_counter(), time.process_time()
    ref = _rows_text(score_pairs(pairs, jobs=1, progress=False))
    rows = {"in-process": {"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "load": _load()}}
    t = time.perf_counter()
    same = _rows_text(score_pairs(pairs, jobs=2, progress=False)) == ref
    rows["local pool -j 2"] = {"seconds": time.perf_counter() - t, "load": _load(), "same": same}
    runs: dict[int, list] = {1: [], 2: []}
    with connect(ClusterSpec(workers=1)) as c1, connect(ClusterSpec(workers=2)) as c2:
        for client in (c1, c2):   # imports warm (as a long-lived cluster's would be); models load on the first task
            client.run(lambda: __import__("quality.score"))
        for _ in range(repeat):
            for w, client in ((1, c1), (2, c2)):
                t, c = time.perf_counter(), time.process_time()
                with on_cluster(client) as run:
                    out = _rows_text(score_pairs(pairs, jobs=1, progress=False))
                tally = run.history[-1][1]
                runs[w].append({"seconds": time.perf_counter() - t, "load": _load(), "same": out == ref,
                                "client_cpu": time.process_time() - c,
                                "worker_cpu": sum(v[1] for v in tally.values()),
                                "busiest_worker_cpu": max(v[1] for v in tally.values())})
    for w in (1, 2):
        rows[f"{w} worker(s)"] = _median_row(runs[w])
    rows["pairs"] = len(pairs)
    return rows


def bench_overhead(n: int = 2000) -> dict:
    from distributed import wait

    from ttsops.cluster import ClusterSpec, connect

    with connect(ClusterSpec(workers=2)) as client:
        client.submit(int, 0).result()
        t = time.perf_counter()
        futs = client.map(int, range(n), pure=False)
        wait(futs)
        dt = time.perf_counter() - t
        t = time.perf_counter()
        client.gather(futs)
        gather = time.perf_counter() - t
    return {"tasks": n, "seconds": dt, "per_task_ms": dt / n * 1e3, "gather_s": gather}


def project(analysis: dict, overhead: dict, workers: tuple[int, ...] = (1, 2, 8, 32, 128)) -> dict:
    """Time of the same analysis on W workers from the measured parts of the 2-worker run, in CPU
    seconds (wall seconds on this shared machine carry the other sessions' load):
    parallel = workers' CPU / W + scheduler (tasks x per-task cost, at most 8 at a time),
    serial = the client's CPU (plan, replay, merge: these grow with the input; detection does not).
    Rows for this input and for one ten times larger."""
    t = analysis["2 worker(s)"]["timings"]
    work, client, detect = t["worker_cpu"], t["client_cpu"], t["result"]
    per_task = overhead["per_task_ms"] / 1e3
    out: dict = {"model": "parallel = worker_cpu*scale/W + tasks*per_task/min(W, 8); "
                          "serial = (client_cpu - detection)*scale + detection"}
    for scale in (1, 10):
        rows = []
        for w in workers:
            tasks = max(t["tasks"] * scale, 4 * w)
            par = work * scale / w + tasks * per_task / min(w, 8)
            ser = (client - detect) * scale + detect
            rows.append({"workers": w, "parallel_s": par, "serial_s": ser, "total_s": par + ser,
                         "merge_share": ser / (par + ser)})
        out[f"x{scale}"] = rows
    out["bottleneck_workers"] = work / max(client, 1e-9)
    out["ceiling_speedup"] = (work + client) / max(client, 1e-9)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--lines", type=int, default=None)
    ap.add_argument("--tasks", type=int, default=None)
    ap.add_argument("--pairs", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=None, help="alternating 1/2-worker runs (median shown)")
    ap.add_argument("--only", default=None, metavar="PARTS",
                    help="comma-separated parts to run again (analysis, batch, scoring); the others are "
                         "kept from results/dask.json")
    ap.add_argument("--project", action="store_true", help="only redo the projection from results/dask.json")
    args = ap.parse_args()
    repeat = args.repeat or (1 if args.quick else 3)
    if args.project:
        res = json.loads((ROOT / "benchmarks" / "results" / "dask.json").read_text(encoding="utf-8"))
        res["projection"] = project(res["analysis"], res["overhead"])
        _print_projection(res["projection"])
        (ROOT / "benchmarks" / "results" / "dask.json").write_text(json.dumps(res, indent=2, default=str),
                                                                  encoding="utf-8")
        return 0
    lines = args.lines or (400_000 if args.quick else 4_000_000)
    ntasks = args.tasks or (80 if args.quick else 400)
    npairs = args.pairs or (40 if args.quick else 200)
    parts = set((args.only or "analysis,batch,scoring").split(","))
    res: dict = {}
    if args.only:  # the other parts from the last full run
        res = json.loads((ROOT / "benchmarks" / "results" / "dask.json").read_text(encoding="utf-8"))
        lines, ntasks, npairs = res["lines"], res["tasks"], res["pairs"]
    res.update({"cores": os.cpu_count(), "load_before": _load(), "lines": lines, "tasks": ntasks, "pairs": npairs})
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        if "analysis" in parts:
            log = tmp / "hdfs.log"
            make_input(log, lines)
            res["input_mb"] = log.stat().st_size / 1e6
            res["analysis"] = bench_analysis(log, repeat)
        if "batch" in parts:
            res["batch"] = bench_batch(tmp, ntasks, repeat)
        if "scoring" in parts:
            res["scoring"] = bench_scoring(tmp, npairs, repeat)
    res["overhead"] = bench_overhead()
    res["projection"] = project(res["analysis"], res["overhead"])
    res["load_after"] = _load()

    print(f"\ncores {res['cores']}, load average before {res['load_before']}, after {res['load_after']}")
    for name, rows, unit in (("analysis", res["analysis"], f"{lines:,} lines ({res['input_mb']:.0f} MB)"),
                             ("batch", res["batch"], f"{ntasks} tasks"),
                             ("scoring", {k: v for k, v in res["scoring"].items() if isinstance(v, dict)},
                              f"{npairs} pairs")):
        base1 = rows["1 worker(s)"]["seconds"]
        print(f"\n{name}: {unit}")
        print(f"{'run':<12} {'seconds':>8} {'vs 1 worker':>12} {'vs in-process':>14} {'identical':>10}  "
              f"{'load (1, 5, 15 min)':<20} all runs")
        for k, r in rows.items():
            same = "ref" if k == "in-process" else ("yes" if r["same"] else "NO")
            print(f"{k:<12} {r['seconds']:8.1f} {base1 / r['seconds']:11.2f}x "
                  f"{rows['in-process']['seconds'] / r['seconds']:13.2f}x {same:>10}  {r['load']:<20} "
                  f"{r.get('all_seconds', '')}")
        if "best_seconds" in rows["2 worker(s)"]:
            print(f"best of each: 1 worker {rows['1 worker(s)']['best_seconds']:.1f}s, 2 workers "
                  f"{rows['2 worker(s)']['best_seconds']:.1f}s: "
                  f"{rows['1 worker(s)']['best_seconds'] / rows['2 worker(s)']['best_seconds']:.2f}x")
    a = res["analysis"]
    print("\nanalysis in CPU seconds (robust to the load): in-process "
          f"{a['in-process']['cpu']:.1f}s; 2 workers: {a['2 worker(s)']['timings']['worker_cpu']:.1f}s on the workers "
          f"(busiest {a['2 worker(s)']['timings']['busiest_worker_cpu']:.1f}s) + "
          f"{a['2 worker(s)']['timings']['client_cpu']:.1f}s on the client -> on 2 idle cores about "
          f"{a['in-process']['cpu'] / (a['2 worker(s)']['timings']['busiest_worker_cpu'] + a['2 worker(s)']['timings']['client_cpu']):.2f}x")
    b, b2 = res["batch"], res["batch"]["2 worker(s)"]
    print(f"batch in CPU seconds: in-process {b['in-process']['cpu']:.1f}s; 2 workers: {b2['worker_cpu']:.1f}s on the "
          f"workers (busiest {b2['busiest_worker_cpu']:.1f}s), {b2['client_cpu']:.1f}s on the client (lock, manifest, "
          f"scheduler), at the same time -> on 2 idle cores about "
          f"{b['in-process']['cpu'] / max(b2['busiest_worker_cpu'], b2['client_cpu']):.2f}x (3 cores: client beside)")
    q, q2 = res["scoring"], res["scoring"]["2 worker(s)"]
    print(f"scoring in CPU seconds: in-process {q['in-process']['cpu']:.1f}s; 2 workers: {q2['worker_cpu']:.1f}s on the "
          f"workers (busiest {q2['busiest_worker_cpu']:.1f}s), {q2['client_cpu']:.1f}s on the client -> on 2 idle cores "
          f"about {q['in-process']['cpu'] / max(q2['busiest_worker_cpu'], q2['client_cpu']):.2f}x")
    t = res["analysis"]["2 worker(s)"]["timings"]
    print(f"\nanalysis parts (2 workers): plan {t['plan']:.2f}s, read on workers {t['read']:.1f}s wall / "
          f"{t['worker']:.1f}s worker time in {t['pieces']} pieces ({t['worker'] / t['pieces']:.2f}s each), "
          f"replay {t['replay']:.2f}s ({t['replay'] / t['records'] * 1e6:.2f} us/record), finish {t['finish']:.2f}s, "
          f"detection+incidents {t['result']:.2f}s; pieces read again: {t['reread']}")
    o = res["overhead"]
    print(f"scheduler overhead: {o['per_task_ms']:.2f} ms/task ({o['tasks']} no-op tasks, 2 workers)")
    _print_projection(res["projection"])
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "dask.json").write_text(json.dumps(res, indent=2, default=str), encoding="utf-8")
    ok = all(r.get("same", True) for rows in (res["analysis"], res["batch"], res["scoring"]) for r in rows.values()
             if isinstance(r, dict))
    return 0 if ok else 1


def _print_projection(p: dict) -> None:
    print("\nprojection from CPU seconds (same parts; x10 = an input ten times larger)")
    print(f"{'workers':>7} {'x1 total s':>11} {'merge share':>12} {'x10 total s':>12} {'merge share':>12}")
    for a, b in zip(p["x1"], p["x10"]):
        print(f"{a['workers']:7d} {a['total_s']:11.1f} {a['merge_share']:11.0%} {b['total_s']:12.1f} "
              f"{b['merge_share']:11.0%}")
    print(f"the client's serial part equals the parallel part at about {p['bottleneck_workers']:.0f} workers; "
          f"ceiling {p['ceiling_speedup']:.0f}x")


if __name__ == "__main__":
    sys.exit(main())
