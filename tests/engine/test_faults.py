"""Fault injection: seeded and reproducible, real messages, consequences after causes, labels."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from engine.config import FAULT_TYPES, EngineConfig, FaultConfig
from engine.synth import Engine, SynthRequest
from ttsops.errors import ConfigError, TtsopsError

TEXTS = ["你好,世界。", "Hello there.", "今天天气很好。Nice day."]


def _run(log_dir: Path, n: int = 160, seed: int = 3, **inject: object) -> tuple[int, int]:
    cfg = EngineConfig(log_dir=log_dir, clock="simulated", sim_rate=6.0,
                       inject=FaultConfig(seed=seed, **{"rate": 0.2, "min_gap": 8, **inject}))
    ok = err = 0
    with Engine(cfg) as eng:
        for i in range(n):
            try:
                eng.synthesize(SynthRequest(text=TEXTS[i % 3], speaker=["zh_female_1", "en_male_1", "zh_male_2"][i % 3]))
                ok += 1
            except TtsopsError:
                err += 1
    return ok, err


def _records(path: Path) -> list[dict]:
    return [json.loads(x)["record"] for x in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("faults")
    _run(d)
    return d


def test_every_kind_is_injected_with_a_label(run_dir: Path) -> None:
    labels = [json.loads(x) for x in (run_dir / "labels.jsonl").read_text().splitlines()]
    assert {lb["fault"] for lb in labels} == set(FAULT_TYPES)
    for lb in labels:
        assert datetime.fromisoformat(lb["start"]) <= datetime.fromisoformat(lb["end"])
        assert lb["start"].endswith("+00:00") and lb["request_ids"] and lb["detail"]
        assert lb["observed"] is True  # every fault that played out left a trace in the logs
    # incidents are separated by healthy traffic
    for a, b in zip(labels, labels[1:]):
        assert datetime.fromisoformat(a["end"]) < datetime.fromisoformat(b["start"])


def test_simulated_clock_spreads_logs_over_realistic_time(run_dir: Path) -> None:
    recs = _records(run_dir / "inference.log")
    times = [r["time"]["timestamp"] for r in recs]
    assert times == sorted(times)
    assert 15 * 60 < times[-1] - times[0] < 3 * 3600  # 160 requests at ~6/min


def test_causes_come_before_symptoms(run_dir: Path) -> None:
    labels = {lb["fault"]: lb for lb in map(json.loads, (run_dir / "labels.jsonl").read_text().splitlines())}
    recs = _records(run_dir / "inference.log")
    msgs = [r["message"] for r in recs]
    assert any(m.startswith("Synthesis failed: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate")
               for m in msgs)
    oom = labels["cuda_oom"]
    in_oom = [r for r in recs if r["extra"].get("request_id") in oom["request_ids"]]
    first_error = next(i for i, r in enumerate(in_oom) if r["level"]["name"] == "ERROR")
    # GPU memory climbs (and warns) before the first OOM
    assert any(r["message"].startswith("GPU memory usage high") for r in in_oom[:first_error])
    tb = in_oom[first_error]["extra"]["traceback"]
    assert tb.startswith("Traceback (most recent call last):") and "torch/nn/modules/module.py" in tb
    # silent output: the health log says so after the cause
    health = _records(run_dir / "health.log")
    silent = [h for h in health if h["message"].startswith("audio output silent for 8s")]
    assert silent
    cause = next(r for r in recs if r["extra"].get("event") == "vocoder_nonfinite")
    assert silent[0]["time"]["timestamp"] >= cause["time"]["timestamp"]
    # the others print what real ones print
    text = (run_dir / "console.log").read_text(encoding="utf-8")
    for needle in ("libttsfrd.so: cannot open shared object file", "Model load timeout > 15s",
                   "Expected all tensors to be on the same device", "Stream buffer underflow",
                   "Reference audio not found", "Text preprocessing failed: invalid unicode sequence at pos"):
        assert needle in text, needle


def test_same_seed_same_faults(tmp_path: Path) -> None:
    _run(tmp_path / "a", n=60, seed=11)
    _run(tmp_path / "b", n=60, seed=11)
    la = (tmp_path / "a" / "labels.jsonl").read_text()
    assert la and la == (tmp_path / "b" / "labels.jsonl").read_text()
    ma = [r["message"] for r in _records(tmp_path / "a" / "inference.log") if r["level"]["name"] != "INFO"]
    mb = [r["message"] for r in _records(tmp_path / "b" / "inference.log") if r["level"]["name"] != "INFO"]
    assert ma == mb


def test_trigger_and_parse(tmp_path: Path) -> None:
    cfg = EngineConfig(log_dir=tmp_path, inject=FaultConfig(rate=0.0, faults=("device_mismatch",)))
    with Engine(cfg) as eng:
        eng.injector.trigger("device_mismatch")
        with pytest.raises(TtsopsError, match="Expected all tensors to be on the same device"):
            eng.synthesize(SynthRequest(text="hello"))
    assert FaultConfig.parse(None) is None
    assert FaultConfig.parse("all").faults == FAULT_TYPES
    fc = FaultConfig.parse("rate=0.3,faults=cuda_oom+silent_output,seed=4")
    assert (fc.rate, fc.faults, fc.seed) == (0.3, ("cuda_oom", "silent_output"), 4)
    with pytest.raises(ConfigError, match="unknown fault"):
        FaultConfig.parse("gremlins")
    with pytest.raises(ConfigError, match="rate"):
        FaultConfig(rate=2.0)


def test_synth_inject_shows_the_fault_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli import cli
    from ttsops.cli import run_main
    with pytest.raises(SystemExit) as exc:
        run_main(cli, ["synth", "你好", "-o", str(tmp_path / "x.wav"), "--log-dir", str(tmp_path / "logs"),
                       "--inject", "cuda_oom"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "CUDA out of memory. Tried to allocate" in err and "Traceback" not in err
    label = json.loads((tmp_path / "logs" / "labels.jsonl").read_text())
    assert label["fault"] == "cuda_oom" and len(label["request_ids"]) == 1
    rec = next(r for r in _records(tmp_path / "logs" / "inference.log") if r["extra"]["event"] == "synthesis_error")
    assert rec["extra"]["stage"] == "acoustic" and rec["extra"]["error_type"] == "torch.OutOfMemoryError"


def test_library_warnings_reach_the_console_log(tmp_path: Path) -> None:
    import warnings
    from engine.logs import EngineLogs
    before = warnings.showwarning
    with EngineLogs(tmp_path) as logs:
        logs.capture_warnings()
        warnings.warn("scipy.misc is deprecated", UserWarning, stacklevel=1)
    assert warnings.showwarning is before
    assert "UserWarning: scipy.misc is deprecated" in (tmp_path / "console.log").read_text()


def test_fault_cut_short_before_its_first_symptom_is_labelled_unobserved(tmp_path: Path) -> None:
    """A CUDA OOM starts with a silent memory climb; a run that ends during it leaves nothing to find,
    and its label says so (the incident benchmark does not count it as a miss)."""
    cfg = EngineConfig(log_dir=tmp_path, inject=FaultConfig(rate=0.0, faults=("cuda_oom",)))
    with Engine(cfg) as eng:
        eng.injector.trigger("cuda_oom", immediate=False)
        eng.synthesize(SynthRequest(text="hello"))           # first step of the climb: no warning yet
    label = json.loads((tmp_path / "labels.jsonl").read_text())
    assert label["fault"] == "cuda_oom" and label["observed"] is False
    levels = {r["level"]["name"] for r in _records(tmp_path / "inference.log")}
    assert levels <= {"INFO", "DEBUG"}
