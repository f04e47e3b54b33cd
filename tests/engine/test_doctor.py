"""`tts-engine doctor`: each check is real and can be driven into FAIL by a broken set-up."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from engine import doctor as d


def test_log_dir_not_writable_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    c = d.check_log_dir(blocker / "logs")           # parent is a file: cannot create (root too)
    assert c.status == d.FAIL and "not writable" in c.evidence and c.fix
    assert d.check_log_dir(tmp_path / "logs").status == d.PASS


def test_port_in_use_fails() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        c = d.check_port(port)
        assert c.status == d.FAIL and f"port {port} is already in use" in c.evidence
    finally:
        s.close()
    assert d.check_port(port).status == d.PASS


def test_espeak_missing_data_fails_without_initialize(tmp_path: Path) -> None:
    lib = tmp_path / "libespeak-ng.so"
    lib.write_bytes(b"\x7fELF")
    data = tmp_path / "espeak-ng-data"
    data.mkdir()
    (data / "phontab").write_bytes(b"x")
    c = d.check_espeak(lib, data, load=False)
    assert c.status == d.FAIL and "cmn_dict" in c.evidence and "exit(1)" in c.evidence
    c = d.check_espeak(tmp_path / "nope.so", data, load=False)
    assert c.status == d.FAIL and "cannot open shared object file" in c.evidence
    assert d.check_espeak().status == d.PASS        # the real wheel


def test_disk_thresholds(tmp_path: Path) -> None:
    U = namedtuple("U", "total used free")
    assert d.check_disk(tmp_path, usage=lambda p: U(10**10, 0, 50 * 10**6)).status == d.FAIL
    assert d.check_disk(tmp_path, usage=lambda p: U(10**10, 0, 500 * 10**6)).status == d.WARN
    assert d.check_disk(tmp_path, usage=lambda p: U(10**11, 0, 5 * 10**10)).status == d.PASS


def test_packages_against_known_good() -> None:
    vers = {"numpy": "2.4.0", "scipy": "1.17.1", "torch": "2.12.0"}.get
    c = d.check_packages([("numpy", ">=1.26", False), ("torch", "==2.13.0", False), ("scipy", ">=1.11", False),
                          ("onnxruntime", ">=1.17", True)], versions=vers)
    assert c.status == d.FAIL and "torch==2.12.0 (known-good ==2.13.0)" in c.evidence
    c = d.check_packages([("numpy", ">=1.26", False), ("onnxruntime", ">=1.17", True)], versions=vers)
    assert c.status == d.WARN and "onnxruntime" in c.evidence
    c = d.check_packages([("numpy", ">=1.26", False)], versions={"numpy": "3.0.0"}.get)
    assert c.status == d.FAIL and "numpy==3.0.0" in c.evidence


def test_numpy_abi_signatures() -> None:
    probe = {"numpy": "2.1.0", "modules": {
        "pyworld": {"ok": False, "error": "ImportError: numpy.core.multiarray failed to import",
                    "stderr": "A module that was compiled using NumPy 1.x cannot be run in NumPy 2.1.0"},
        "scipy.signal": {"ok": True, "warnings": []}}}
    c = d.check_numpy_abi(probe)
    assert c.status == d.FAIL and "pyworld" in c.evidence and "ABI" in c.evidence
    probe = {"numpy": "2.1.0", "modules": {"pyworld": {"ok": False, "missing": False,
             "error": "ModuleNotFoundError: No module named 'pkg_resources'"}}}
    c = d.check_numpy_abi(probe)
    assert c.status == d.WARN and "setuptools<81" in c.fix
    ok = {"numpy": "2.1.0", "modules": {"scipy.signal": {"ok": True}}}
    assert d.check_numpy_abi(ok).status == d.PASS


def test_scipy_misc_and_datasets() -> None:
    assert d.check_scipy_misc(find_spec=lambda n: None).status == d.WARN
    assert d.check_datasets(versions={"modelscope": "1.40.2"}.get).status == d.WARN
    assert d.check_datasets(versions={}.get).status == d.WARN


def test_torch_cuda_states() -> None:
    base = {"modules": {"torch": {"ok": True}}}
    assert d.check_torch({**base, "torch": {"version": "2.13.0+cpu", "cuda_build": None}}).status == d.PASS
    c = d.check_torch({**base, "torch": {"version": "2.13.0", "cuda_build": "12.8", "cuda_available": False}})
    assert c.status == d.WARN and "is_available() is False" in c.evidence
    c = d.check_torch({"modules": {"torch": {"ok": False, "missing": False, "error": "OSError: libcudnn.so.9"}}})
    assert c.status == d.FAIL


def test_sambert_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TTSOPS_SAMBERT_DIR", raising=False)
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "cache"))
    assert d.check_sambert_weights().status == d.WARN
    monkeypatch.setenv("TTSOPS_SAMBERT_DIR", str(tmp_path / "none"))
    c = d.check_sambert_weights()
    assert c.status == d.FAIL and "does not exist" in c.evidence
    m = tmp_path / "m"
    m.mkdir()
    monkeypatch.setenv("TTSOPS_SAMBERT_DIR", str(m))
    assert d.check_sambert_weights().status == d.FAIL
    (m / "configuration.json").write_text("{}")
    (m / "voices").mkdir()
    assert d.check_sambert_weights().status == d.PASS


def test_doctor_cli_json_exit_code(tmp_path: Path) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        p = subprocess.run([sys.executable, "-m", "engine.cli", "doctor", "--json", "--port", str(port),
                            "--log-dir", str(tmp_path / "logs")], capture_output=True, text=True, timeout=120)
    finally:
        s.close()
    assert p.returncode == 1, p.stderr
    out = json.loads(p.stdout)
    by = {c["name"]: c for c in out["checks"]}
    assert by["port"]["status"] == "FAIL" and by["log_dir"]["status"] == "PASS"
    assert by["espeak"]["status"] == "PASS"
    assert {"python", "packages", "numpy_abi", "scipy_misc", "datasets", "torch_cuda", "onnxruntime",
            "sambert_weights", "kokoro_parts", "disk"} <= set(by)
    assert "Traceback" not in p.stderr
