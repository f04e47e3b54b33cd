#!/usr/bin/env python
"""Regenerate ``data/samples/``: batch files, a few WAVs, and a labelled log set.

    python scripts/make_samples.py [--out data/samples] [--requests 300] [--seed 7]

* ``tasks.jsonl``            a small zh + en batch (``tts-engine batch data/samples/tasks.jsonl --out out``)
* ``reference_texts.jsonl``  the default reference set for ``tts-quality`` (batch format, 12 lines)
* ``wav/``                   a few outputs and a 6 s reference recording (``ref_zh_male.wav``)
* ``logs/``                  inference.log, service.log, health.log, console.log and labels.jsonl:
  a service-like run on a simulated clock (about 2.5 requests a minute plus an L2 probe a minute: ~90 minutes of log time)
  with seeded fault injection: several distinct incidents of different kinds separated by healthy
  traffic. ``labels.jsonl`` holds the ground truth (start, end, fault kb_id, request ids, detail).

Everything is deterministic: the same seed gives the same files (the engine is byte-deterministic
and the clock is simulated), except the measured ``elapsed``/``rtf`` values and process ids.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import EngineConfig, FaultConfig  # noqa: E402
from engine.logs import EngineLogs  # noqa: E402
from engine.clock import SimulatedClock  # noqa: E402
from engine.synth import Engine, SynthRequest, write_wav_atomic  # noqa: E402
from ttsops.errors import InputError, TtsopsError  # noqa: E402

TASKS = [
    {"input_text": "你好,世界。Hello, world.", "name": "hello_mixed", "speaker": "zh_female_1"},
    {"input_text": "今天北京的气温是25°C,湿度60%。", "name": "weather_zh", "speaker": "zh_male_1"},
    {"input_text": "欢迎使用离线语音合成服务。", "name": "welcome_zh", "speaker": "zh_female_2", "emotion": "happy"},
    {"input_text": "The model finished loading in 3.5 seconds.", "name": "status_en", "speaker": "en_male_1"},
    {"input_text": "I am sorry, the service is temporarily unavailable.", "name": "sorry_en",
     "speaker": "en_female_1", "emotion": "sad"},
    {"input_text": "请在下午3点之前提交报告。Please submit the report before 3 pm.", "name": "deadline_mixed",
     "speaker": "zh_male_2", "emotion": "serious", "duration_ratio": 1.1},
    {"input_text": "Good morning! Today is a wonderful day.", "name": "morning_en", "speaker": "en_female_2",
     "emotion": "happy", "duration_ratio": 0.9},
    {"input_text": "请保持冷静,慢慢呼吸。", "name": "calm_zh", "speaker": "zh_female_1", "emotion": "calm",
     "prompt_audio": "wav/ref_zh_male.wav"},
]

REFERENCE_TEXTS = [
    ("ref01", "你好,世界。", "zh_female_1", "neutral"),
    ("ref02", "今天天气很好,我们去公园散步吧。", "zh_female_2", "happy"),
    ("ref03", "这个消息让我很难过。", "zh_male_1", "sad"),
    ("ref04", "请立即停止这种行为!", "zh_male_2", "angry"),
    ("ref05", "没关系,慢慢来。", "zh_female_1", "calm"),
    ("ref06", "会议将在下午两点准时开始。", "zh_male_1", "serious"),
    ("ref07", "Hello, world.", "en_female_1", "neutral"),
    ("ref08", "What a lovely surprise, thank you so much!", "en_female_2", "happy"),
    ("ref09", "I lost my keys again, and it is raining.", "en_male_1", "sad"),
    ("ref10", "This is completely unacceptable!", "en_male_2", "angry"),
    ("ref11", "Take a deep breath and relax.", "en_female_1", "calm"),
    ("ref12", "The quarterly results will be announced tomorrow.", "en_male_1", "serious"),
]

TRAFFIC_TEXTS = [
    "你好,世界。", "今天天气怎么样?", "您的订单已经发货,预计明天送达。", "请稍等,正在为您转接人工客服。",
    "Hello, world.", "Your package has been shipped.", "Please hold while we connect you.",
    "会议室在三楼,Meeting room three.", "温度是18°C,适合出门。", "The total is 42 dollars and 50 cents.",
    "欢迎光临!", "Thank you for calling, goodbye.", "系统将在5分钟后重启。", "Battery level is at 15%.",
]
SPEAKER_NAMES = ["zh_female_1", "zh_female_2", "zh_male_1", "zh_male_2", "en_female_1", "en_female_2",
                 "en_male_1", "en_male_2"]
EMOTION_MIX = ["neutral"] * 6 + ["happy", "sad", "calm", "serious", "angry"]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def make_wavs(out: Path) -> None:
    wav = out / "wav"
    wav.mkdir(parents=True, exist_ok=True)
    with Engine(EngineConfig(log_dir=None)) as eng:
        parts = []
        for text in ("今天天气很好,我们一起去公园散步吧。", "这个周末我想去看一场电影。"):
            parts.append(eng.synthesize(SynthRequest(text=text, speaker="zh_male_1")).audio)
        import numpy as np
        from scipy.signal import resample_poly
        ref = np.concatenate(parts)
        ref16 = resample_poly(ref, 160, 441).astype("float32")  # 22.05 kHz -> 16 kHz (a typical prompt rate)
        write_wav_atomic(wav / "ref_zh_male.wav", ref16, 16000)
        for name, text, speaker, emotion in [("hello_mixed", "你好,世界。Hello, world.", "zh_female_1", "neutral"),
                                             ("zh_happy", "欢迎使用离线语音合成服务。", "zh_female_2", "happy"),
                                             ("en_sad", "I am sorry, the service is unavailable.", "en_male_1", "sad")]:
            res = eng.synthesize(SynthRequest(text=text, speaker=speaker, emotion=emotion))
            write_wav_atomic(wav / f"{name}.wav", res.audio, res.sample_rate)


def make_logs(out: Path, *, requests: int, seed: int, rate: float) -> None:
    logs_dir = out / "logs"
    if logs_dir.exists():
        shutil.rmtree(logs_dir)
    clock = SimulatedClock("2026-11-20T09:00:00+00:00", rate_per_min=rate, seed=seed)
    logs = EngineLogs(logs_dir, clock=clock)
    cfg = EngineConfig(log_dir=logs_dir, clock="simulated", seed=seed,
                       inject=FaultConfig(rate=0.1, seed=seed, min_gap=20, aftermath=(3, 6)))
    rng = random.Random(seed)
    svc = logs.service
    health = logs.health
    svc.bind(event="service_started", host="0.0.0.0", port=8000, pid=4242).info(
        "Service started on 0.0.0.0:8000 (pid 4242)")
    next_probe = clock.now().timestamp() + 60
    probe_n = 0
    with Engine(cfg, logs=logs, clock=clock) as eng:
        for i in range(requests):
            if clock.now().timestamp() >= next_probe:
                probe_n += 1
                _probe(eng, health, probe_n)
                next_probe = clock.now().timestamp() + 60
            text = rng.choice(TRAFFIC_TEXTS)
            req = SynthRequest(text=text, speaker=rng.choice(SPEAKER_NAMES), emotion=rng.choice(EMOTION_MIX),
                               duration_ratio=rng.choice([1.0] * 8 + [0.9, 1.1]))
            rid = eng.new_request_id()
            req.request_id = rid
            try:
                res = eng.synthesize(req)
            except TtsopsError as exc:
                status = 400 if isinstance(exc, InputError) else 500
                et = _cause_type(exc)
                svc.bind(event="request_error", request_id=rid, status=status, error_type=et,
                         text_length=len(text)).log("WARNING" if status == 400 else "ERROR",
                                                    f"POST /api/tts {rid} {status} {et}: {exc.one_line()}")
            else:
                ms = (res.record.get("elapsed_total") or 0.0) * 1000
                svc.bind(event="request_done", request_id=rid, status=200, text_length=len(text),
                         audio_seconds=round(res.duration_s, 4), rtf=res.record.get("rtf")).info(
                    f"POST /api/tts {rid} 200 {res.duration_s:.2f}s audio in {ms:.1f} ms")
    svc.bind(event="service_stopped").info("Service stopped")
    logs.close()


def _cause_type(exc: TtsopsError) -> str:
    cause = exc.__cause__
    return getattr(cause, "error_type", None) or (type(cause).__name__ if cause else type(exc).__name__)


def _probe(eng: Engine, health, n: int) -> None:  # noqa: ANN001
    """An L2 health check: a real synthesis of 你好,世界。 judged like the service's health command."""
    rid = f"health-{n:04d}"
    try:
        res = eng.synthesize(SynthRequest(text="你好,世界。", speaker="zh_female_1", request_id=rid))
    except TtsopsError as exc:
        health.bind(event="health_check", level=2, ok=False, request_id=rid, error_type=_cause_type(exc),
                    reason=exc.one_line()).error(f"Health check L2 failed: synthesis error: {exc.one_line()}")
        return
    import numpy as np
    peak = float(np.max(np.abs(res.audio))) if res.audio.size else 0.0
    if res.duration_s <= 1.0 or peak < 1e-3:
        health.bind(event="health_check", level=2, ok=False, request_id=rid, audio_seconds=round(res.duration_s, 3),
                    error_type="silent_output", reason="silent output").error(
            f"Health check L2 failed: silent output (peak {peak:.5f}) for request {rid}")
    else:
        health.bind(event="health_check", level=2, ok=True, request_id=rid,
                    audio_seconds=round(res.duration_s, 3)).info(
            f"Health check L2 passed: {res.duration_s:.2f}s of audio at {res.sample_rate} Hz")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "samples")
    ap.add_argument("--requests", type=int, default=230)
    ap.add_argument("--rate", type=float, default=2.5, help="simulated requests per minute")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "tasks.jsonl", TASKS)
    write_jsonl(out / "reference_texts.jsonl", [
        {"input_text": t, "name": n, "speaker": s, "emotion": e} for n, t, s, e in REFERENCE_TEXTS])
    make_wavs(out)
    make_logs(out, requests=args.requests, seed=args.seed, rate=args.rate)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    labels = (out / "logs" / "labels.jsonl").read_text().splitlines()
    print(f"wrote {out}: {len(labels)} labelled incidents, {total / 1e6:.2f} MB in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
