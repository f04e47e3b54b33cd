"""Seeded, reproducible fault injection that follows real failure paths, with ground-truth labels.

An *incident* starts on a request (probability ``rate`` when none is active and at least
``min_gap`` healthy requests have passed), has a cause, then consequences on the next few requests
(``aftermath``), then a recovery line. The cause is logged first and symptoms after it, on the same
clock as every other record (:class:`engine.clock.Clock`), and each incident writes one label to
``labels.jsonl`` beside the logs::

    {"start": ISO, "end": ISO, "fault": kb_id, "request_ids": [...], "detail": "..."}

What each kind does (the messages are the ones real services print):

``cuda_oom``
    GPU memory climbs over a few requests (``gpu_mem_mb`` field, a warning at 90 %), then
    ``torch.OutOfMemoryError: CUDA out of memory. Tried to allocate ...`` with a torch traceback;
    following requests fail the same way or come out silent; then cache emptied, model reloaded.
``device_mismatch``
    A partial reload leaves a module on the CPU: ``RuntimeError: Expected all tensors to be on the
    same device, but found at least two devices, cuda:0 and cpu!`` until a full reload.
``model_load_timeout``
    A model reload blocks for more than 15 s (the clock advances), ``Model load timeout > 15s``,
    then requests fail with "model not ready" until the load completes.
``invalid_text``
    A client sends broken text: the real front-end rejects it with ``Text preprocessing failed:
    invalid unicode sequence at pos N``.
``silent_output``
    The vocoder produces non-finite samples that are zeroed: the engine's silence monitor logs silent
    outputs and the health log ``audio output silent for 8s``.
``stream_underflow``
    The acoustic stage slows below real time (CPU contention): ``Stream buffer underflow: 0 samples
    queued, 2048 requested``.
``audio_file_not_found``
    Requests name prompt audio that is gone: the real reference loader fails ``Reference audio not
    found: ...``.
``missing_shared_library``
    The service restarts and the Sambert text front-end cannot load ``libttsfrd.so: cannot open
    shared object file: No such file or directory``; requests fail until it is fixed and restarted.

Python API (the service calls the same hooks as :class:`engine.synth.Engine`)::

    inj = FaultInjector(FaultConfig(rate=0.1, seed=1), logs=logs, clock=clock, log_dir=Path("logs"))
    inj.before_request(ctx)   # ctx: {"request_id": ..., "request": SynthRequest, "backend": ...}; may raise
    inj.before_acoustic(ctx)
    audio = inj.after_synthesis(ctx, audio, sr)
    inj.after_request(ctx, fields)
    inj.trigger("cuda_oom")   # force the next request to start that incident
"""
from __future__ import annotations

import json
import os
import random
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.clock import Clock, RealClock
from engine.config import FAULT_TYPES, FaultConfig
from ttsops.errors import BackendError, InputError

__all__ = ["FaultInjector", "Incident", "InjectedFault", "fake_traceback"]

ACOUSTIC_KINDS = frozenset({"cuda_oom", "device_mismatch", "model_load_timeout", "missing_shared_library"})
GPU_TOTAL_MB = 24217  # a 24 GiB card as torch reports it (23.65 GiB)
_SITE = f"{sys.prefix}/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"


class InjectedFault(RuntimeError):
    """The exception an injected failure raises (its ``error_type`` mimics the real one)."""

    def __init__(self, message: str, error_type: str):
        super().__init__(message)
        self.error_type = error_type


def fake_traceback(frames: list[tuple[str, int, str, str]], error_type: str, message: str) -> str:
    """A Python traceback in the interpreter's own layout."""
    lines = ["Traceback (most recent call last):"]
    for path, line, func, code in frames:
        lines.append(f'  File "{path}", line {line}, in {func}')
        lines.append(f"    {code}")
    lines.append(f"{error_type}: {message}")
    return "\n".join(lines) + "\n"


_ENGINE_FRAMES = [
    (f"{_SITE}/engine/service.py", 212, "tts", "result = await run_in_threadpool(engine.synthesize, req)"),
    (f"{_SITE}/engine/synth.py", 246, "synthesize", "audio = backend.synthesize(seg.text, voice)"),
    (f"{_SITE}/engine/backends/modelscope.py", 141, "synthesize", "out = self._pipe(input=text, voice=name)"),
    (f"{_SITE}/modelscope/pipelines/base.py", 219, "__call__", "output = self._process_single(input, *args, **kwargs)"),
    (f"{_SITE}/modelscope/pipelines/audio/text_to_speech_pipeline.py", 58, "forward",
     "output_wav = self.model.forward(inputs['text'], inputs.get('voice'))"),
    (f"{_SITE}/modelscope/models/audio/tts/sambert_hifi.py", 182, "forward", "audio = voice.forward(text, self.voices)"),
    (f"{_SITE}/torch/nn/modules/module.py", 1751, "_wrapped_call_impl", "return self._call_impl(*args, **kwargs)"),
    (f"{_SITE}/torch/nn/modules/module.py", 1762, "_call_impl", "return forward_call(*args, **kwargs)"),
]


@dataclass
class Incident:
    kind: str
    start: str
    remaining: int
    detail: str
    request_ids: list[str] = field(default_factory=list)
    step: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    #: whether the fault showed in the logs (a warning or error, a failed or silent request); an
    #: incident cut short by the end of a run before its first symptom is labelled observed=false
    observed: bool = False


class FaultInjector:
    """Seeded fault injection with labels; see the module doc for the kinds and the hooks."""

    def __init__(self, config: FaultConfig, *, logs: Any = None, clock: Clock | None = None,
                 log_dir: Path | str | None = None, labels_path: Path | str | None = None):
        self.config = config
        self.logs = logs
        self.clock = clock or (logs.clock if logs is not None else RealClock())
        self.rng = random.Random(config.seed)
        if labels_path is None and log_dir is not None:
            labels_path = Path(log_dir) / "labels.jsonl"
        self.labels_path = Path(labels_path) if labels_path is not None else None
        self.labels: list[dict[str, Any]] = []
        self.active: Incident | None = None
        self._since_last = 0  # the first incident comes after min_gap healthy requests
        self._order: list[str] = []
        self._forced: str | None = None
        self._immediate = False
        self._gpu_base = 3100.0
        self._lock = threading.RLock()

    # ------------------------------------------------------------------------------------------
    def _next_kind(self) -> str:
        if self._forced:
            kind, self._forced = self._forced, None
            return kind
        if not self._order:
            self._order = list(self.config.faults)
            self.rng.shuffle(self._order)
        return self._order.pop()

    def trigger(self, kind: str | None = None, *, immediate: bool = False) -> str:
        """Start incident ``kind`` (default: the next in the seeded order) on the next request,
        whatever the rate. ``immediate`` skips precursors (an OOM fails at once instead of after the
        memory climb): what a single ``tts-engine synth --inject`` needs to show the fault."""
        kind = kind or self._next_kind()
        if kind not in FAULT_TYPES:
            raise ValueError(f"unknown fault {kind!r}; choose from {', '.join(FAULT_TYPES)}")
        self._forced = kind
        self._immediate = immediate
        return kind

    def now_iso(self) -> str:
        return self.clock.now().isoformat(timespec="milliseconds")

    def _log(self, channel: str, level: str, message: str, **extra: Any) -> None:
        self._mark_observed(level)
        if self.logs is None:
            return
        self.logs.channel(channel).bind(**extra).opt(depth=1).log(level, message)

    def _mark_observed(self, level: str) -> None:
        if self.active is not None and level in ("WARNING", "ERROR", "CRITICAL"):
            self.active.observed = True

    def _console(self, text: str, level: str = "ERROR") -> None:
        self._mark_observed(level)
        if self.logs is not None:
            self.logs.raw_console(text, level=level)

    # ------------------------------------------------------------------------------------------
    def on_startup(self, engine: Any) -> None:
        self._log("console", "INFO", f"fault injection on: rate={self.config.rate} seed={self.config.seed} "
                  f"faults={','.join(self.config.faults)} (simulated GPU 0: {GPU_TOTAL_MB} MiB)")

    def before_request(self, ctx: dict[str, Any]) -> None:
        """Frontend-stage hook: may start an incident, change the request, or raise."""
        with self._lock:
            rid = ctx["request_id"]
            inc = self.active
            if inc is None:
                self._since_last += 1
                forced = self._forced is not None
                if forced or (self._since_last > self.config.min_gap and self.rng.random() < self.config.rate):
                    inc = self._start(self._next_kind())
            # a realistic GPU memory reading on every request (noise around a baseline)
            gpu = self._gpu_base + self.rng.uniform(-60, 60)
            if inc is not None and inc.kind == "cuda_oom":
                gpu = inc.data.get("gpu", gpu)
            ctx["gpu_mem_mb"] = round(gpu, 1)
            if inc is None:
                return
            inc.request_ids.append(rid)
            ctx["fault"] = inc.kind
            if inc.kind in ACOUSTIC_KINDS:
                ctx["fault_pending"] = True  # fails where the real one does: in the acoustic model
            else:
                getattr(self, f"_req_{inc.kind}")(inc, ctx)

    def before_acoustic(self, ctx: dict[str, Any]) -> None:
        inc = self.active
        if inc is not None and ctx.pop("fault_pending", False) and ctx.get("fault") == inc.kind:
            getattr(self, f"_req_{inc.kind}")(inc, ctx)
        if inc is not None and ctx.get("fault") == inc.kind and inc.kind == "stream_underflow":
            ctx["extra_seconds"] = ctx.get("extra_seconds", 0.0) + inc.data["slow"] * self.rng.uniform(0.8, 1.2)

    def after_synthesis(self, ctx: dict[str, Any], audio: np.ndarray, sr: int) -> np.ndarray:
        inc = self.active
        if inc is None or ctx.get("fault") != inc.kind:
            return audio
        if ctx.get("silence"):
            return np.zeros_like(audio)
        return audio

    def after_request(self, ctx: dict[str, Any], fields: dict[str, Any]) -> None:
        with self._lock:
            inc = self.active
            if inc is None or ctx.get("fault") != inc.kind:
                return
            if fields.get("event") == "synthesis_error" or float(fields.get("peak") or 1.0) < 1e-3:
                inc.observed = True
            if inc.kind == "stream_underflow" and fields.get("audio_seconds"):
                dur = float(fields["audio_seconds"])
                took = ctx.get("extra_seconds", 0.0) + 0.08 * dur  # the simulated back-end's time
                queued = 0 if took > dur else int(2048 * self.rng.random())
                self._log("inference", "WARNING", f"Stream buffer underflow: {queued} samples queued, 2048 requested "
                          f"(synthesis {took:.2f}s for {dur:.2f}s of audio)", event="stream_underflow",
                          request_id=ctx["request_id"])
            inc.remaining -= 1
            inc.step += 1
            if inc.kind == "silent_output":
                inc.data["silent_s"] = inc.data.get("silent_s", 0.0) + float(fields.get("audio_seconds") or 0.0)
                if inc.remaining <= 0 and inc.data["silent_s"] < 8.5:
                    inc.remaining = 1  # long enough for the health alarm (8 s of silence)
            if inc.remaining <= 0:
                self._end(inc)

    # ------------------------------------------------------------------------------------------
    def _start(self, kind: str) -> Incident:
        lo, hi = self.config.aftermath
        inc = Incident(kind, self.now_iso(), self.rng.randint(max(lo, 1), max(hi, 1)), "")
        self.active = inc
        getattr(self, f"_start_{kind}")(inc)
        self._immediate = False
        return inc

    def _end(self, inc: Incident) -> None:
        observed = inc.observed  # judged before the recovery messages the end hook logs
        getattr(self, f"_end_{inc.kind}")(inc)
        label = {"start": inc.start, "end": self.now_iso(), "fault": inc.kind,
                 "request_ids": list(inc.request_ids), "detail": inc.detail, "observed": observed}
        self.labels.append(label)
        if self.labels_path is not None:
            self.labels_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.labels_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(label, ensure_ascii=False) + "\n")
        self.active = None
        self._since_last = 0

    def close(self) -> None:
        """End an incident still open (its label gets the current time as end)."""
        with self._lock:
            if self.active is not None:
                self._end(self.active)

    def _raise(self, ctx: dict[str, Any], error_type: str, message: str,
               frames: list[tuple[str, int, str, str]]) -> None:
        ctx["error_type"] = error_type
        ctx["traceback"] = fake_traceback(frames, error_type, message)
        raise InjectedFault(message, error_type)

    # --- cuda_oom ------------------------------------------------------------------------------
    def _start_cuda_oom(self, inc: Incident) -> None:
        inc.data["climb"] = 0 if self._immediate else self.rng.randint(3, 5)
        inc.data["gpu"] = GPU_TOTAL_MB * 0.97 if self._immediate else self._gpu_base
        inc.remaining += inc.data["climb"]
        inc.detail = "GPU memory leak across requests until allocation fails; heavy restart clears it"

    def _req_cuda_oom(self, inc: Incident, ctx: dict[str, Any]) -> None:
        climb = inc.data["climb"]
        if inc.step < climb:  # memory creeping up: the cause, before any error
            inc.data["gpu"] = self._gpu_base + (GPU_TOTAL_MB * 0.97 - self._gpu_base) * (inc.step + 1) / climb
            ctx["gpu_mem_mb"] = round(inc.data["gpu"], 1)
            pct = 100 * inc.data["gpu"] / GPU_TOTAL_MB
            if pct > 90:
                self._log("inference", "WARNING", f"GPU memory usage high: {pct:.0f}% of {GPU_TOTAL_MB} MiB "
                          f"after request (allocator cache not released)", event="gpu_memory_high",
                          request_id=ctx["request_id"], gpu_mem_mb=ctx["gpu_mem_mb"])
            return
        if inc.step == climb or self.rng.random() < 0.6:
            want = self.rng.choice([0.51, 0.77, 1.2, 1.53, 2.0])
            alloc = inc.data["gpu"] / 1024 * 0.93
            free = max(0.0, GPU_TOTAL_MB / 1024 - inc.data["gpu"] / 1024)
            msg = (f"CUDA out of memory. Tried to allocate {want:.2f} GiB (GPU 0; {GPU_TOTAL_MB / 1024:.2f} GiB "
                   f"total capacity; {alloc:.2f} GiB already allocated; {free * 1024:.2f} MiB free; "
                   f"{inc.data['gpu'] / 1024:.2f} GiB reserved in total by PyTorch) If reserved memory is >> "
                   "allocated memory try setting max_split_size_mb to avoid fragmentation.  See documentation "
                   "for Memory Management and PYTORCH_CUDA_ALLOC_CONF")
            frames = _ENGINE_FRAMES + [
                (f"{_SITE}/modelscope/models/audio/tts/kantts/models/sambert/kantts_sambert.py", 1027, "forward",
                 "dec_outputs = self.mel_decoder(memory, x_band_width, h_band_width)"),
                (f"{_SITE}/torch/nn/functional.py", 2930, "layer_norm",
                 "return torch.layer_norm(input, normalized_shape, weight, bias, eps, torch.backends.cudnn.enabled)"),
            ]
            self._raise(ctx, "torch.OutOfMemoryError", msg, frames)
        ctx["silence"] = True  # the survivors come out silent (fp16 overflow after the failed alloc)

    def _end_cuda_oom(self, inc: Incident) -> None:
        self._log("console", "WARNING", "Emptying CUDA cache and reloading acoustic model after repeated OOM")
        self._log("inference", "INFO", "Backend reloaded after CUDA OOM: torch.cuda.empty_cache() freed "
                  f"{(inc.data['gpu'] - self._gpu_base) / 1024:.2f} GiB", event="backend_reload")

    # --- device_mismatch -------------------------------------------------------------------------
    def _start_device_mismatch(self, inc: Incident) -> None:
        inc.detail = "partial reload left the duration predictor on the CPU"
        self._log("console", "WARNING", "Reloading acoustic model weights (checkpoint changed on disk)")
        self._log("console", "WARNING", f"{_SITE}/modelscope/models/audio/tts/sambert_hifi.py:97: UserWarning: "
                  "map_location not given; loading duration predictor on cpu")

    def _req_device_mismatch(self, inc: Incident, ctx: dict[str, Any]) -> None:
        msg = ("Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu! "
               "(when checking argument for argument mat1 in method wrapper_CUDA_addmm)")
        frames = _ENGINE_FRAMES + [
            (f"{_SITE}/torch/nn/modules/linear.py", 125, "forward", "return F.linear(input, self.weight, self.bias)")]
        self._raise(ctx, "RuntimeError", msg, frames)

    def _end_device_mismatch(self, inc: Incident) -> None:
        self._log("console", "INFO", "Full model reload on cuda:0 completed; all modules on one device")

    # --- model_load_timeout ----------------------------------------------------------------------
    def _start_model_load_timeout(self, inc: Incident) -> None:
        inc.detail = "model reload blocked on slow storage for more than 15 s"
        self._log("console", "INFO", "Loading acoustic model sambert-hifigan (reload requested)")

    def _req_model_load_timeout(self, inc: Incident, ctx: dict[str, Any]) -> None:
        if inc.step == 0:
            waited = self.rng.uniform(15.2, 21.0)
            ctx["extra_seconds"] = waited
            inc.data["waited"] = waited
            msg = f"Model load timeout > 15s (waited {waited:.1f}s for sambert-hifigan)"
            frames = _ENGINE_FRAMES[:2] + [
                (f"{_SITE}/engine/backends/__init__.py", 58, "get_backend", "inst.load()"),
                (f"{_SITE}/concurrent/futures/_base.py", 458, "result", "raise TimeoutError()")]
            self._raise(ctx, "TimeoutError", msg, frames)
        ctx["extra_seconds"] = self.rng.uniform(0.5, 2.0)
        self._raise(ctx, "BackendError", "backend 'modelscope' is not ready: model still loading",
                    _ENGINE_FRAMES[:2] + [(f"{_SITE}/engine/backends/__init__.py", 55, "get_backend",
                                           "raise BackendError(...)")])

    def _end_model_load_timeout(self, inc: Incident) -> None:
        self._log("console", "INFO", f"Model sambert-hifigan loaded in {inc.data.get('waited', 16) + 9.3:.1f}s")

    # --- invalid_text ------------------------------------------------------------------------------
    def _start_invalid_text(self, inc: Incident) -> None:
        inc.detail = "a client sends text with raw control bytes / broken surrogates (bad encoding)"

    def _req_invalid_text(self, inc: Incident, ctx: dict[str, Any]) -> None:
        req = ctx["request"]
        text = req.text if isinstance(req.text, str) and req.text else "hello"
        pos = self.rng.randrange(0, len(text) + 1)
        bad = self.rng.choice(["\x00", "\x1b", "\ud83d", "\x85", "\ufffd"])
        from dataclasses import replace
        ctx["request"] = replace(req, text=text[:pos] + bad + text[pos:])
        ctx["text_override"] = ctx["request"].text

    def _end_invalid_text(self, inc: Incident) -> None:
        pass

    # --- silent_output -----------------------------------------------------------------------------
    def _start_silent_output(self, inc: Incident) -> None:
        inc.detail = "vocoder produced non-finite samples that were zeroed; outputs silent"
        inc.remaining = max(inc.remaining, 4)
        self._log("inference", "WARNING", "HiFiGAN vocoder produced non-finite samples in 100% of frames; "
                  "replacing with zeros", event="vocoder_nonfinite")

    def _req_silent_output(self, inc: Incident, ctx: dict[str, Any]) -> None:
        ctx["silence"] = True

    def _end_silent_output(self, inc: Incident) -> None:
        self._log("console", "INFO", "Vocoder state reset; output level back to normal")

    # --- stream_underflow --------------------------------------------------------------------------
    def _start_stream_underflow(self, inc: Incident) -> None:
        inc.detail = "acoustic stage slower than real time (CPU contention): stream buffer starves"
        inc.data["slow"] = self.rng.uniform(3.0, 6.0)
        self._log("console", "WARNING", "Thread pool saturated: 16/16 workers busy, acoustic stage throttled")

    def _req_stream_underflow(self, inc: Incident, ctx: dict[str, Any]) -> None:
        pass  # slowed in before_acoustic, underflow logged in after_request

    def _end_stream_underflow(self, inc: Incident) -> None:
        self._log("console", "INFO", "Thread pool back to normal: 3/16 workers busy")

    # --- audio_file_not_found ----------------------------------------------------------------------
    def _start_audio_file_not_found(self, inc: Incident) -> None:
        inc.detail = "prompt audio folder unmounted: references missing"
        inc.data["dir"] = f"/data/prompts/batch-{self.rng.randint(100, 999)}"

    def _req_audio_file_not_found(self, inc: Incident, ctx: dict[str, Any]) -> None:
        from dataclasses import replace
        missing = f"{inc.data['dir']}/spk_{self.rng.randint(1, 40):03d}.wav"
        ctx["request"] = replace(ctx["request"], ref_audio=missing)
        ctx["ref_override"] = missing

    def _end_audio_file_not_found(self, inc: Incident) -> None:
        self._log("console", "INFO", f"Prompt audio volume {inc.data['dir']} mounted again")

    # --- missing_shared_library ------------------------------------------------------------------
    def _start_missing_shared_library(self, inc: Incident) -> None:
        inc.detail = "service restarted on a host without libttsfrd.so; Sambert front-end unavailable"
        self._log("console", "INFO", f"ttsops engine 0.1.0 starting (pid {os.getpid() + self.rng.randint(3, 900)})")
        tb = fake_traceback([
            (f"{_SITE}/engine/backends/modelscope.py", 96, "load", "self._pipe = pipeline(Tasks.text_to_speech, model=str(folder))"),
            (f"{_SITE}/modelscope/models/audio/tts/sambert_hifi.py", 26, "<module>", "import ttsfrd"),
            (f"{_SITE}/ttsfrd/__init__.py", 3, "<module>", "from .ttsfrd import *"),
            ("/usr/lib/python3.10/ctypes/__init__.py", 374, "__init__", "self._handle = _dlopen(self._name, mode)"),
        ], "OSError", "libttsfrd.so: cannot open shared object file: No such file or directory")
        self._console(tb, "ERROR")
        self._log("console", "ERROR", "Failed to initialise text frontend (ttsfrd); backend 'modelscope' disabled")

    def _req_missing_shared_library(self, inc: Incident, ctx: dict[str, Any]) -> None:
        self._raise(ctx, "BackendError", "backend 'modelscope' unavailable: libttsfrd.so: cannot open shared "
                    "object file: No such file or directory", _ENGINE_FRAMES[:2] + [
                        (f"{_SITE}/engine/backends/__init__.py", 58, "get_backend", "inst.load()")])

    def _end_missing_shared_library(self, inc: Incident) -> None:
        self._log("console", "INFO", "LD_LIBRARY_PATH fixed by operator; restarting")
        self._log("console", "INFO", f"ttsops engine 0.1.0 starting (pid {os.getpid() + self.rng.randint(901, 2000)})")
