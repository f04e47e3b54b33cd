"""Root cause of real failure logs pasted into public TTS projects' issues (``../shared/data/real_failures``).

Each case is a log as a user pasted it (often a bare traceback, no timestamp, no level) and the failure
class the thread settled on. A case is right when the ``kb_id`` of the **first** incident of
``tts-analyze FILE --format json`` names its class (the mapping in ``../shared/data/README.md``:
``audio_file_problem`` -> ``audio_file_not_found`` | ``ref_audio_invalid``, ``timeout_hang`` ->
``request_timeout`` | ``model_load_timeout``, ``sample_rate_mismatch`` -> itself | ``ref_audio_invalid``,
the others -> the kb_id of the same name).

It is a development set: the product is judged on other projects' logs. Prints a table per class and
the misses (what was found instead), writes ``benchmarks/results/real_failures.json``. The CLI path
(``--cli``) runs the real command per case (slower: a process each) and also checks the exit code is 1.

    python benchmarks/bench_real_failures.py            # library path, every case
    python benchmarks/bench_real_failures.py --cli      # the command a user runs
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CASES = ROOT.parent / "shared" / "data" / "real_failures" / "cases.jsonl"

ACCEPT = {
    "audio_file_problem": {"audio_file_not_found", "ref_audio_invalid"},
    "timeout_hang": {"request_timeout", "model_load_timeout"},
    "sample_rate_mismatch": {"sample_rate_mismatch", "ref_audio_invalid"},
}


def accepted(failure_class: str) -> set[str]:
    return ACCEPT.get(failure_class, {failure_class})


def load_cases(path: Path = CASES) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def first_incident_library(log_path: Path) -> tuple[str | None, int, dict[str, Any] | None]:
    from analyzer.pipeline import analyze

    result = analyze([str(log_path)])
    doc = result.to_dict()
    first = doc["incidents"][0] if doc["incidents"] else None
    return (first["root_cause"]["kb_id"] if first else None), result.exit_code, first


def first_incident_cli(log_path: Path) -> tuple[str | None, int, dict[str, Any] | None]:
    exe = Path(sys.executable).with_name("tts-analyze")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "analyzer.cli"]
    p = subprocess.run(cmd + [str(log_path), "--format", "json"], capture_output=True, text=True, timeout=120)
    try:
        doc = json.loads(p.stdout)
    except json.JSONDecodeError:
        return None, p.returncode, None
    first = doc["incidents"][0] if doc["incidents"] else None
    return (first["root_cause"]["kb_id"] if first else None), p.returncode, first


def run(cases: list[dict[str, Any]], *, cli: bool) -> dict[str, Any]:
    find = first_incident_cli if cli else first_incident_library
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for c in cases:
            p = Path(tmp) / f"{c['id']}.log"
            p.write_text(c["log"], encoding="utf-8")
            kb_id, code, first = find(p)
            ok = kb_id in accepted(c["failure_class"])
            ev = (first or {}).get("root_cause", {}).get("evidence") or [{}]
            rows.append({"id": c["id"], "class": c["failure_class"], "found": kb_id, "ok": ok, "exit": code,
                         "evidence": ev[0].get("text", "")[:100]})
    elapsed = time.perf_counter() - t0
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        per[r["class"]][0] += r["ok"]
        per[r["class"]][1] += 1
    right = sum(r["ok"] for r in rows)
    return {"path": "cli" if cli else "library", "cases": len(rows), "top1": right / len(rows) if rows else 0.0,
            "right": right, "exit_1": sum(r["exit"] == 1 for r in rows), "seconds": round(elapsed, 2),
            "per_class": {k: {"right": v[0], "cases": v[1], "top1": v[0] / v[1]} for k, v in sorted(per.items())},
            "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=Path, default=CASES)
    ap.add_argument("--cli", action="store_true", help="run the tts-analyze command per case")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "real_failures.json")
    args = ap.parse_args()
    if not args.cases.is_file():
        print(f"no cases at {args.cases}: skipped")
        return 0
    res = run(load_cases(args.cases), cli=args.cli)
    print(f"\nTop-1 root cause on {res['cases']} real failure logs ({res['path']} path, {res['seconds']} s)\n")
    print(f"{'class':24s} {'right':>5s} {'cases':>5s} {'top-1':>6s}")
    for k, v in res["per_class"].items():
        print(f"{k:24s} {v['right']:5d} {v['cases']:5d} {v['top1']:6.2f}")
    print(f"{'all':24s} {res['right']:5d} {res['cases']:5d} {res['top1']:6.3f}   (exit code 1: {res['exit_1']}/{res['cases']})")
    misses = [r for r in res["rows"] if not r["ok"]]
    if misses:
        print("\nmisses:")
        for r in misses:
            print(f"  {r['id']:48s} {r['class']:22s} -> {r['found']}  | {r['evidence']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
