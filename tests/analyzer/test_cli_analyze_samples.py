"""Issue 3's "done when": `tts-analyze data/samples/logs/` names every labelled incident with the right
cause. Uses the committed samples when present, else labelled logs made by the engine's CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples" / "logs"


def _exe(name: str) -> list[str]:
    exe = Path(sys.executable).with_name(name)
    return [str(exe)] if exe.exists() else [sys.executable, "-m", {"tts-analyze": "analyzer.cli",
                                                                    "tts-engine": "engine.cli"}[name]]


@pytest.fixture(scope="module")
def labelled_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if (SAMPLES / "labels.jsonl").is_file():
        return SAMPLES
    d = tmp_path_factory.mktemp("engine")
    tasks = d / "tasks.jsonl"
    texts = ["你好,世界。Hello, world.", "今天天气很好。", "The quick brown fox jumps over the lazy dog."]
    tasks.write_text("".join(json.dumps({"input_text": texts[i % 3], "name": f"t{i:03d}"}, ensure_ascii=False) + "\n"
                             for i in range(160)), encoding="utf-8")
    p = subprocess.run(_exe("tts-engine") + ["batch", str(tasks), "--out", str(d / "out"), "--inject",
                                              "rate=0.25,seed=7", "--simulate-clock", "-q"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode in (0, 1), p.stderr
    return d / "out" / "logs"


def test_every_labelled_incident_is_named_with_its_cause(labelled_logs: Path) -> None:
    labels = [json.loads(x) for x in (labelled_logs / "labels.jsonl").read_text(encoding="utf-8").splitlines()
              if x.strip()]
    assert len(labels) >= 3
    p = subprocess.run(_exe("tts-analyze") + [str(labelled_logs), "--format", "json"], capture_output=True,
                       timeout=300)
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    tol = timedelta(seconds=30)
    incs = [(datetime.fromisoformat(i["start"]) - tol, datetime.fromisoformat(i["end"]) + tol, i)
            for i in doc["incidents"]]
    for lab in labels:
        s, e = datetime.fromisoformat(lab["start"]), datetime.fromisoformat(lab["end"])
        causes = {i["root_cause"]["kb_id"] for a, b, i in incs if a <= e and s <= b}
        assert lab["fault"] in causes, f"{lab['fault']} at {lab['start']}: found {causes or 'nothing'}"
    # and nothing invented: every incident overlaps a label
    for a, b, i in incs:
        assert any(a <= datetime.fromisoformat(lab["end"]) and datetime.fromisoformat(lab["start"]) <= b
                   for lab in labels), f"{i['id']} {i['root_cause']['kb_id']} matches no label"


def test_terminal_report_names_them(labelled_logs: Path) -> None:
    p = subprocess.run(_exe("tts-analyze") + [str(labelled_logs), "--no-color"], capture_output=True, timeout=300,
                       env={**__import__("os").environ, "COLUMNS": "120"})
    assert p.returncode == 1
    out = p.stdout.decode()
    for lab in (json.loads(x) for x in (labelled_logs / "labels.jsonl").read_text(encoding="utf-8").splitlines()
                if x.strip()):
        assert lab["fault"] in out
