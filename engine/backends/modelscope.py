"""ModelScope Sambert-HifiGAN (``damo/speech_sambert-hifigan_tts_zh-cn_16k``), offline only.

The weights are never downloaded at run time: the back-end looks for a local model folder
(``$TTSOPS_SAMBERT_DIR``, else ModelScope's cache layout under ``$MODELSCOPE_CACHE`` or
``~/.cache/modelscope/hub``) and fails fast with a :class:`BackendError` naming the paths it
looked at and how to provide the weights. With a folder present it builds the real pipeline:
``modelscope.pipelines.pipeline(Tasks.text_to_speech, model=<folder>)``.
"""
from __future__ import annotations

import importlib.util
import io
import os
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np

from engine.backends.base import Backend, BackendStatus, Voice
from ttsops.errors import BackendError

__all__ = ["SambertBackend", "MODEL_ID", "candidate_dirs", "find_model_dir"]

MODEL_ID = "damo/speech_sambert-hifigan_tts_zh-cn_16k"
SAMPLE_RATE = 16000
#: Sambert voices of the 16k multi-speaker model; speakers map to them through Voice.extra["sambert_voice"]
VOICES = ("zhitian_emo", "zhiyan_emo", "zhizhe_emo", "zhibei_emo")
FIX = (f"download {MODEL_ID} on a machine with network (`modelscope download --model {MODEL_ID} "
       "--local_dir DIR`), copy DIR here and set TTSOPS_SAMBERT_DIR=DIR")


def candidate_dirs() -> list[Path]:
    """Folders that may hold the model, in the order they are tried."""
    out: list[Path] = []
    if os.environ.get("TTSOPS_SAMBERT_DIR"):
        out.append(Path(os.environ["TTSOPS_SAMBERT_DIR"]))
    cache = Path(os.environ.get("MODELSCOPE_CACHE", Path.home() / ".cache" / "modelscope" / "hub"))
    owner, name = MODEL_ID.split("/")
    out += [cache / "models" / owner / name, cache / owner / name, cache / "models" / "iic" / name, cache / "iic" / name]
    return out


def _complete(folder: Path) -> bool:
    if not (folder / "configuration.json").is_file():
        return False
    return any(folder.glob("*.zip")) or (folder / "voices").is_dir() or any(folder.rglob("*.pth"))


def find_model_dir() -> Path:
    """The first complete model folder; :class:`BackendError` listing every path looked at."""
    tried = candidate_dirs()
    for folder in tried:
        if folder.is_dir() and _complete(folder):
            return folder
    raise BackendError(f"Sambert-HifiGAN weights not found (looked in: {', '.join(str(p) for p in tried)})",
                       where="modelscope", fix=FIX)


class SambertBackend(Backend):
    """Mandarin neural TTS through ModelScope's text-to-speech pipeline (16 kHz)."""

    name: ClassVar[str] = "modelscope"
    sample_rate: int = SAMPLE_RATE

    def __init__(self, model_dir: str | Path | None = None):
        self.model_dir = Path(model_dir) if model_dir else None
        self._pipe = None
        self._lock = threading.Lock()

    @classmethod
    def status(cls) -> BackendStatus:
        if importlib.util.find_spec("modelscope") is None:
            return BackendStatus(cls.name, False, "modelscope is not installed (pip install 'ttsops[neural]')",
                                 SAMPLE_RATE)
        try:
            folder = find_model_dir()
        except BackendError as exc:
            return BackendStatus(cls.name, False, exc.one_line(), SAMPLE_RATE)
        return BackendStatus(cls.name, True, f"{MODEL_ID} at {folder}", SAMPLE_RATE)

    def load(self) -> None:
        if self._pipe is not None:
            return
        folder = self.model_dir or find_model_dir()
        if not folder.is_dir():
            raise BackendError(f"Sambert-HifiGAN weights not found at {folder}", where="modelscope", fix=FIX)
        if importlib.util.find_spec("modelscope") is None:
            raise BackendError("modelscope is not installed", fix="pip install 'ttsops[neural]'")
        os.environ.setdefault("MODELSCOPE_OFFLINE", "1")  # a local folder: never reach the hub
        try:
            from modelscope.pipelines import pipeline
            from modelscope.utils.constant import Tasks
        except ImportError as exc:
            raise BackendError(f"modelscope cannot be imported: {exc}", fix="pip install 'ttsops[neural]'") from exc
        try:
            self._pipe = pipeline(Tasks.text_to_speech, model=str(folder))
        except Exception as exc:  # the library raises many kinds; one clear line for the user
            raise BackendError(f"cannot load Sambert-HifiGAN from {folder}: {type(exc).__name__}: {exc}",
                               where="modelscope", fix=FIX) from exc
        self.model_dir = folder

    def synthesize(self, text: str, voice: Voice, *, speed: float = 1.0) -> np.ndarray:
        self.load()
        import soundfile as sf
        from modelscope.outputs import OutputKeys

        name = voice.extra.get("sambert_voice", VOICES[0 if voice.pitch >= 50 else 2])
        with self._lock:
            out = self._pipe(input=text, voice=name)  # type: ignore[misc]
        y, sr = sf.read(io.BytesIO(out[OutputKeys.OUTPUT_WAV]), dtype="float32")
        if y.ndim > 1:
            y = y.mean(axis=1)
        if sr != self.sample_rate:
            raise BackendError(f"Sambert returned {sr} Hz audio, expected {self.sample_rate} Hz")
        return y.astype(np.float32)

    def close(self) -> None:
        self._pipe = None
