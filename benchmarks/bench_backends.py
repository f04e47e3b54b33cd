"""eSpeak vs Kokoro on the same texts: load time, real-time factor and memory, side by side.

Each back-end runs in its own subprocess (so its peak RSS is its own, not the other's): import,
load (Kokoro: assemble the 92 MB model, open the ONNX session, warm up), then every text
``--repeat`` times; the fastest run of each text counts (the machine may be shared). Reported:

* ``load_s``: back-end load (Kokoro: assembly + SHA-256 + session + warm-up);
* ``rtf``: synthesis wall time / audio seconds, per text and overall (sum over sum);
* ``cpu_rtf``: process CPU time (all threads) / audio seconds: what a shared or busy machine
  cannot inflate much (Kokoro runs 2 intra-op threads, so on an idle machine ``cpu_rtf`` is up to
  twice ``rtf``); the load average before and after is recorded;
* ``rss_base_mb`` (after imports), ``rss_loaded_mb`` (after load), ``peak_rss_mb`` (the
  worker's own ``VmHWM`` at the end, i.e. the high-water mark including inference buffers; not
  ``ru_maxrss``, which carries the parent's peak over ``exec``).

Prints a table and writes ``benchmarks/results/backends.json``.

    python benchmarks/bench_backends.py [--backends espeak,kokoro] [--repeat 2] [--threads 2] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ttsops.procinfo import peak_rss_mb, rss_mb  # noqa: E402  (after the path above)

#: (language, text): short, medium and long sentences in both languages
TEXTS = [
    ("en", "Hello, world."),
    ("en", "The service restarted after the model failed to load, and requests are being served again."),
    ("en", "Text to speech engines in production fail in quiet ways: a model that loads slowly, memory that "
           "grows with the length of the text, and audio that is silent although every request succeeds."),
    ("zh", "你好，世界。"),
    ("zh", "模型加载失败以后，服务已经重新启动，现在可以正常处理请求了。"),
    ("zh", "语音合成系统在生产环境中的故障往往很隐蔽：模型加载变慢，内存随着文本长度增长，"
           "或者每个请求都成功了，返回的音频却是静音。"),
]


def worker(name: str, repeat: int) -> dict:
    """Run in the subprocess: load ``name`` and time every text."""
    import numpy as np  # noqa: F401  (baseline includes numpy for both)

    from engine.backends.base import Voice
    if name == "espeak":
        from engine.backends.espeak import EspeakBackend as cls
        voices = {"zh": Voice("zh", "cmn", "f2", 58, 55, 165), "en": Voice("en", "en-us", "f3", 58, 55, 170)}
    elif name == "kokoro":
        from engine.backends.kokoro import KokoroBackend as cls
        voices = {"zh": Voice("zh", "cmn", "f2", extra={"kokoro_voice": "zf_xiaobei"}),
                  "en": Voice("en", "en-us", "f3", extra={"kokoro_voice": "af_heart"})}
    else:
        raise SystemExit(f"unknown back-end {name!r}")
    rss_base = rss_mb()
    backend = cls()
    t = time.perf_counter()
    backend.load()
    load_s = time.perf_counter() - t
    rss_loaded = rss_mb()
    rows = []
    for lang, text in TEXTS:
        walls, cpus = [], []
        for _ in range(repeat):
            t, c = time.perf_counter(), time.process_time()
            audio = backend.synthesize(text, voices[lang])
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        audio_s = audio.size / backend.sample_rate
        rows.append({"language": lang, "chars": len(text), "audio_s": round(audio_s, 3),
                     "wall_s": round(min(walls), 4), "cpu_s": round(min(cpus), 4),
                     "rtf": round(min(walls) / audio_s, 4) if audio_s else None,
                     "cpu_rtf": round(min(cpus) / audio_s, 4) if audio_s else None})
    total_wall = sum(r["wall_s"] for r in rows)
    total_cpu = sum(r["cpu_s"] for r in rows)
    total_audio = sum(r["audio_s"] for r in rows)
    return {"backend": name, "sample_rate": backend.sample_rate, "load_s": round(load_s, 3),
            "rss_base_mb": round(rss_base, 1), "rss_loaded_mb": round(rss_loaded, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1), "rtf": round(total_wall / total_audio, 4),
            "cpu_rtf": round(total_cpu / total_audio, 4),
            "audio_s": round(total_audio, 2), "wall_s": round(total_wall, 3), "texts": rows}


def run_worker(name: str, repeat: int, threads: int) -> dict:
    env = dict(os.environ, TTSOPS_KOKORO_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, __file__, "--worker", name, "--repeat", str(repeat)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        return {"backend": name, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(results: list[dict]) -> str:
    ok = [r for r in results if "error" not in r]
    lines = []
    head = f"{'':34s}" + "".join(f"{r['backend']:>12s}" for r in ok)
    lines.append(head)
    for key, label in (("sample_rate", "sample rate (Hz)"), ("load_s", "load (s)"), ("rtf", "RTF overall (wall)"), ("cpu_rtf", "CPU-seconds per audio second"),
                       ("audio_s", "audio synthesized (s)"), ("rss_base_mb", "RSS after imports (MiB)"),
                       ("rss_loaded_mb", "RSS after load (MiB)"), ("peak_rss_mb", "peak RSS (MiB)")):
        lines.append(f"{label:34s}" + "".join(f"{r[key]:>12}" for r in ok))
    for i, (lang, text) in enumerate(TEXTS):
        label = f"RTF {lang} {len(text):3d} chars"
        lines.append(f"{label:34s}" + "".join(f"{r['texts'][i]['rtf']:>12}" for r in ok))
    for r in results:
        if "error" in r:
            lines.append(f"{r['backend']}: FAILED: {r['error']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backends", default="espeak,kokoro")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="Kokoro intra-op threads (TTSOPS_KOKORO_THREADS)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "backends.json")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        from loguru import logger
        logger.remove()
        print(json.dumps(worker(args.worker, args.repeat)))
        return 0
    load_before = os.getloadavg()
    results = [run_worker(n.strip(), args.repeat, args.threads) for n in args.backends.split(",") if n.strip()]
    print(table(results))
    load_after = os.getloadavg()
    print(f"\nload average before/after: {load_before[0]:.1f} / {load_after[0]:.1f} on {os.cpu_count()} CPUs"
          + ("  (busy machine: wall RTF inflated, compare CPU-seconds)" if max(load_before[0], load_after[0])
             > (os.cpu_count() or 1) else ""))
    doc = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                       "loadavg_before": load_before, "loadavg_after": load_after},
           "kokoro_threads": args.threads, "repeat": args.repeat,
           "texts": [{"language": lang, "text": t} for lang, t in TEXTS], "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten {args.out}")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
