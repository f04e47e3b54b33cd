"""Speaker similarity: cosine of speaker embeddings (``resemblyzer``'s GE2E voice encoder).

The ``resemblyzer`` wheel ships its encoder (``resemblyzer/pretrained.pt``, 17 MB, a 3-layer LSTM
trained with the GE2E loss on LibriSpeech, VoxCeleb 1 and 2); nothing is downloaded. An utterance is
resampled to 16 kHz, volume-normalised and stripped of long pauses (webrtcvad), cut into 1.6 s
partials whose 256-d embeddings are averaged and L2-normalised.

Range: the cosine is -1..1 in general, but this encoder's embeddings pass a ReLU, so every
coordinate is >= 0 and the cosine lies in 0..1 in practice. Same speaker reads high (0.8-0.95 on our
voices), another speaker lower; see docs/quality.md for the measured separation (ROC AUC).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from quality.audio import resample

__all__ = ["speaker_embedding", "cosine", "speaker_similarity", "EMBEDDING_SR"]

EMBEDDING_SR = 16000
#: less speech than this (after pause removal) gives no usable embedding
MIN_SPEECH_S = 0.3
_ENCODER: Any = None


def _encoder() -> Any:
    global _ENCODER
    if _ENCODER is None:
        from quality._deps import legacy_import  # noqa: PLC0415

        mod = legacy_import("resemblyzer")
        _ENCODER = mod.VoiceEncoder(device="cpu", verbose=False)
        _ENCODER.eval()
    return _ENCODER


def speaker_embedding(y: np.ndarray, *, sr: int) -> tuple[np.ndarray | None, str | None]:
    """256-d unit-norm speaker embedding of one utterance, or ``(None, reason)``."""
    from quality._deps import legacy_import  # noqa: PLC0415

    x = resample(np.asarray(y, dtype=np.float64), sr, EMBEDDING_SR)
    if not len(x) or float(np.max(np.abs(x))) < 1e-3:
        return None, "speaker_similarity: the signal is silent"
    audio = legacy_import("resemblyzer.audio")
    wav = audio.preprocess_wav(np.clip(x, -1.0, 1.0).astype(np.float32), source_sr=None)
    if len(wav) < MIN_SPEECH_S * EMBEDDING_SR:
        return None, (f"speaker_similarity: only {len(wav) / EMBEDDING_SR:.2f} s of speech after pause removal "
                      f"(need {MIN_SPEECH_S} s)")
    import torch  # noqa: PLC0415

    with torch.inference_mode():
        emb = _encoder().embed_utterance(wav)
    return np.asarray(emb, dtype=np.float64), None


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (-1..1)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return float("nan")
    return float(np.dot(a, b) / (na * nb))


def speaker_similarity(y: np.ndarray, ref: np.ndarray, *, sr: int, ref_sr: int | None = None) -> tuple[float, str | None]:
    """Cosine between the speaker embeddings of ``y`` and of the speaker's reference ``ref``."""
    ea, err = speaker_embedding(y, sr=sr)
    if ea is None:
        return float("nan"), err
    eb, err = speaker_embedding(ref, sr=ref_sr or sr)
    if eb is None:
        return float("nan"), (err or "").replace("speaker_similarity:", "speaker_similarity: reference:")
    return cosine(ea, eb), None
