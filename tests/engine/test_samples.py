"""data/samples/ is what scripts/make_samples.py documents: valid, labelled, small."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import soundfile as sf

from engine.batch import Task, iter_tasks
from engine.config import FAULT_TYPES
from engine.logs import INFERENCE_KEYS


def test_batch_files_parse(samples_dir: Path) -> None:
    for name, n in (("tasks.jsonl", 8), ("reference_texts.jsonl", 12)):
        items = list(iter_tasks(samples_dir / name))
        assert len(items) == n and all(isinstance(t, Task) for _, t in items), items
    refs = [t for _, t in iter_tasks(samples_dir / "reference_texts.jsonl")]
    assert {t.speaker[:2] for t in refs} == {"zh", "en"} and len({t.emotion for t in refs}) == 6  # type: ignore[union-attr]


def test_wavs_are_small_and_valid(samples_dir: Path) -> None:
    wavs = list((samples_dir / "wav").glob("*.wav"))
    assert len(wavs) >= 3 and sum(p.stat().st_size for p in wavs) < 1_000_000
    for p in wavs:
        assert sf.info(p).frames > 0


def test_labelled_log_set(samples_dir: Path) -> None:
    logs = samples_dir / "logs"
    assert sum(p.stat().st_size for p in logs.iterdir()) < 1_500_000
    for name in ("inference.log", "service.log", "health.log"):
        for line in (logs / name).read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)["record"]
            assert "event" in rec["extra"], (name, rec["message"])
            if name == "inference.log":
                assert set(INFERENCE_KEYS) <= set(rec["extra"]), rec["message"]
    times = [json.loads(x)["record"]["time"]["timestamp"]
             for x in (logs / "inference.log").read_text(encoding="utf-8").splitlines()]
    assert 3600 <= times[-1] - times[0] <= 2 * 3600 + 600
    labels = [json.loads(x) for x in (logs / "labels.jsonl").read_text().splitlines()]
    assert len(labels) >= 5 and len({lb["fault"] for lb in labels}) >= 5
    assert {lb["fault"] for lb in labels} <= set(FAULT_TYPES)
    starts = [datetime.fromisoformat(lb["start"]) for lb in labels]
    assert starts == sorted(starts)
    assert "Traceback (most recent call last):" in (logs / "console.log").read_text(encoding="utf-8")
