"""Synthetic engine-like logs (loguru ``serialize=True`` schema) with known incidents, for the
incident / report / CLI tests. Times are controlled, so the scenario is deterministic."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

T0 = datetime(2026, 3, 1, 2, 0, 0, tzinfo=timezone.utc)

OOM_TB = ('Traceback (most recent call last):\n'
          '  File "/srv/engine/synth.py", line 88, in synthesize\n'
          '    wav = self.backend.run(tokens)\n'
          '  File "/srv/engine/backends/modelscope.py", line 141, in run\n'
          '    out = self.model(x)\n'
          'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.20 GiB (GPU 0; 23.65 GiB total capacity)')
LIB_TB = ('Traceback (most recent call last):\n'
          '  File "/srv/engine/backends/modelscope.py", line 30, in load\n'
          '    import ttsfrd\n'
          'OSError: libttsfrd.so: cannot open shared object file: No such file or directory')


def line(t: datetime, level: str, message: str, *, file: str = "synth.py", extra: dict[str, Any] | None = None,
         exception: dict[str, Any] | None = None) -> str:
    rec = {"text": f"{t.isoformat()} | {level} | {message}\n",
           "record": {"time": {"repr": t.isoformat(), "timestamp": t.timestamp()},
                      "level": {"name": level, "no": {"INFO": 20, "WARNING": 30, "ERROR": 40}.get(level, 20)},
                      "message": message, "file": {"name": file, "path": f"/srv/engine/{file}"}, "line": 42,
                      "function": "synthesize", "module": file[:-3], "name": f"engine.{file[:-3]}",
                      "process": {"id": 1, "name": "MainProcess"}, "thread": {"id": 1, "name": "MainThread"},
                      "exception": exception, "extra": extra or {}}}
    return json.dumps(rec)


def write_scenario(folder: Path, *, minutes: int = 30, faults: bool = True) -> list[dict[str, Any]]:
    """inference.log + health.log; returns the labels (also written to labels.jsonl)."""
    folder.mkdir(parents=True, exist_ok=True)
    inf: list[tuple[datetime, str]] = []
    health: list[tuple[datetime, str]] = []
    labels: list[dict[str, Any]] = []
    n = 0
    t = T0
    oom_at = T0 + timedelta(minutes=10)
    lib_at = T0 + timedelta(minutes=20)
    txt_at = T0 + timedelta(minutes=25)
    oom_reqs: list[str] = []
    while t < T0 + timedelta(minutes=minutes):
        n += 1
        rid = f"req-{n:05d}"
        base = {"request_id": rid, "backend": "espeak", "speaker": "zh_female_1", "emotion": "neutral",
                "text_length": 12}
        inf.append((t, line(t, "INFO", f"synthesis start request {rid}",
                            extra={**base, "event": "synthesis_start"})))
        in_oom = faults and oom_at <= t < oom_at + timedelta(seconds=40)
        if in_oom:
            oom_reqs.append(rid)
            inf.append((t + timedelta(milliseconds=300), line(
                t + timedelta(milliseconds=300), "ERROR", f"synthesis failed for request {rid}",
                extra={**base, "event": "synthesis_error", "error_type": "OutOfMemoryError", "traceback": OOM_TB})))
            ht = t + timedelta(seconds=3)
            health.append((ht, line(ht, "WARNING", f"health L3 failed: silent output (rms=0.00000) for request {rid}",
                                    file="health.py", extra={"request_id": rid, "event": "health_l3"})))
            tt = t + timedelta(seconds=31)
            inf.append((tt, line(tt, "ERROR", f"request {rid} timed out after 30.0 s",
                                 extra={**base, "event": "request_timeout"})))
        else:
            dt = 0.4
            inf.append((t + timedelta(seconds=dt), line(
                t + timedelta(seconds=dt), "INFO", f"synthesis ok request {rid} audio 1.52 s rtf 0.21",
                extra={**base, "event": "synthesis_success", "audio_seconds": 1.52, "rtf": 0.21,
                       "elapsed": {"total": 0.32}})))
        if t.second == 0:
            health.append((t, line(t, "INFO", "health L1 ok", file="health.py", extra={"event": "health_l1"})))
        t += timedelta(seconds=2)
    if faults:
        labels.append({"start": oom_at.isoformat(), "end": (oom_at + timedelta(seconds=72)).isoformat(),
                       "fault": "cuda_oom", "request_ids": oom_reqs, "detail": "synthetic"})
        inf.append((lib_at, line(lib_at, "ERROR", "backend modelscope failed to load",
                                 extra={"event": "backend_load_error", "backend": "modelscope",
                                        "error_type": "OSError", "traceback": LIB_TB})))
        labels.append({"start": lib_at.isoformat(), "end": (lib_at + timedelta(seconds=1)).isoformat(),
                       "fault": "missing_shared_library", "request_ids": [], "detail": "synthetic"})
        inf.append((txt_at, line(txt_at, "ERROR", "InputError: text: invalid unicode: lone surrogate at position 5",
                                 extra={"event": "synthesis_error", "request_id": "req-bad",
                                        "error_type": "InputError"})))
        labels.append({"start": txt_at.isoformat(), "end": (txt_at + timedelta(seconds=1)).isoformat(),
                       "fault": "invalid_text", "request_ids": ["req-bad"], "detail": "synthetic"})
    for name, rows in (("inference.log", inf), ("health.log", health)):
        rows.sort(key=lambda r: r[0])
        (folder / name).write_text("".join(r[1] + "\n" for r in rows), encoding="utf-8")
    with (folder / "labels.jsonl").open("w", encoding="utf-8") as fh:
        for lab in labels:
            fh.write(json.dumps(lab) + "\n")
    return labels
