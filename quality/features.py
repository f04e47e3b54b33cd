"""Per-signal analysis shared by every pair that uses the signal (reference features are cached).

One WORLD analysis at 16 kHz gives the F0 contour (dio + stonemask, or harvest), the CheapTrick
envelope and its mel-cepstrum on 10 ms frames (ScoreConfig.frame_period); the non-intrusive figures are computed on the
original samples (resampling would smear clipping plateaus). When asked for (``ScoreConfig.metrics``),
the model-based scores of the signal alone come here too: DNSMOS and the speaker embedding.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from quality.audio import ANALYSIS_SR, Audio

__all__ = ["ScoreConfig", "Features", "analyse", "METRICS", "DEFAULT_METRICS", "parse_metrics"]

#: what ``--metrics`` can name: the intrusive pair scores, and the model-based scores that need no reference
METRICS = ("pesq", "stoi", "mcd", "f0", "dnsmos", "speaker_similarity")
#: today's default: the pair scores (DNSMOS and the speaker encoder cost ~0.4 s a 9 s window / ~0.05 s a clip)
DEFAULT_METRICS = frozenset({"pesq", "stoi", "mcd", "f0"})


def parse_metrics(spec: str | None) -> frozenset[str]:
    """``"dnsmos,speaker_similarity"`` -> a set of :data:`METRICS`; ``all`` and ``default`` are shorthands.

    Raises :class:`~ttsops.errors.InputError` naming an unknown metric.
    """
    from ttsops.errors import InputError  # noqa: PLC0415

    if spec is None or not spec.strip():
        return DEFAULT_METRICS
    out: set[str] = set()
    for name in (x.strip() for x in spec.split(",")):
        if name == "all":
            out |= set(METRICS)
        elif name == "default":
            out |= DEFAULT_METRICS
        elif name in METRICS:
            out.add(name)
        elif name:
            raise InputError(f"unknown metric {name!r}", where="--metrics",
                             fix=f"use a comma-separated list of {', '.join(METRICS)}, 'default' or 'all'")
    return frozenset(out)


@dataclass(frozen=True)
class ScoreConfig:
    """How pairs are scored (defaults documented in docs/quality.md).

    Attributes
    ----------
    f0_method : {"dio", "harvest"}
        F0 estimator; dio (+ stonemask) is ~7x cheaper than harvest.
    frame_period : float
        Analysis hop in ms for F0 and mel-cepstra (10 ms: half the WORLD cost and a quarter of the
        DTW cost of 5 ms, same verdicts on the sensitivity benchmark).
    dio_speed : int
        dio's decimation factor (2: half of dio's cost, F0 within ~0.3 %).
    mcep_order : int
        Mel-cepstrum order (coefficients 1..order enter MCD).
    envelope : {"stft", "world"}
        Spectrum the mel-cepstra come from: Hann-windowed STFT power (default, cheap) or WORLD
        CheapTrick (F0-adaptive, ~10x the cost).
    metrics : frozenset of str
        Which scores to compute (:data:`METRICS`); the signal figures and F0 statistics always are.
    max_duration_ratio : float
        Pairs whose durations differ by more than this factor are "not comparable" for PESQ/STOI.
    trim_tolerance_s : float
        Length differences up to this are trimmed/padded; beyond, the candidate is DTW-warped onto the
        reference timeline before PESQ/STOI.
    """

    f0_method: str = "dio"
    frame_period: float = 10.0
    dio_speed: int = 2
    mcep_order: int = 24
    envelope: str = "stft"
    metrics: frozenset[str] = DEFAULT_METRICS
    max_duration_ratio: float = 2.0
    trim_tolerance_s: float = 0.02

    def key(self) -> str:
        """What the per-signal analysis depends on (the features cache key)."""
        models = "".join(m[0] for m in ("dnsmos", "speaker_similarity") if m in self.metrics)
        return f"{self.f0_method}-{self.frame_period}-{self.dio_speed}-{self.mcep_order}-{self.envelope}-{models}"


@dataclass
class Features:
    """Analysis of one signal at 16 kHz.

    ``f0`` (Hz, 0 unvoiced), ``t`` (s), ``mc`` (mel-cepstra, frames x order+1), ``speech`` (bool per
    frame, from energy), ``signal`` (non-intrusive figures), ``f0_stats``; when asked for, ``dnsmos``
    (:data:`quality.metrics.dnsmos.DNSMOS_KEYS` -> MOS) and ``embedding`` (256-d speaker embedding);
    ``errors`` says why one of those is missing.
    """

    y16: np.ndarray
    f0: np.ndarray
    t: np.ndarray
    mc: np.ndarray
    speech: np.ndarray
    signal: dict[str, Any] = field(default_factory=dict)
    f0_stats: dict[str, Any] = field(default_factory=dict)
    dnsmos: dict[str, float] = field(default_factory=dict)
    embedding: np.ndarray | None = None
    errors: list[str] = field(default_factory=list)

    def to_npz(self, path: Path) -> None:
        import json  # noqa: PLC0415

        tmp = path.with_suffix(".tmp.npz")
        meta = {"signal": self.signal, "f0_stats": self.f0_stats, "dnsmos": self.dnsmos, "errors": self.errors}
        np.savez(tmp, y16=self.y16, f0=self.f0, t=self.t, mc=self.mc, speech=self.speech,
                 embedding=self.embedding if self.embedding is not None else np.zeros(0),
                 meta=np.array(json.dumps(meta)))
        tmp.replace(path)

    @classmethod
    def from_npz(cls, path: Path) -> "Features":
        import json  # noqa: PLC0415

        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            emb = z["embedding"] if "embedding" in z.files and z["embedding"].size else None
            return cls(y16=z["y16"], f0=z["f0"], t=z["t"], mc=z["mc"], speech=z["speech"].astype(bool),
                       signal=meta["signal"], f0_stats=meta["f0_stats"], dnsmos=meta.get("dnsmos", {}),
                       embedding=emb, errors=meta.get("errors", []))


def _speech_frames(y16: np.ndarray, n_frames: int, hop: int, rel_db: float = 40.0) -> np.ndarray:
    """Energy-based speech flag per analysis frame (within 40 dB of the loudest frame)."""
    centers = np.arange(n_frames) * hop
    half = hop
    pad = np.pad(y16, (half, half + hop))
    idx = centers[:, None] + np.arange(2 * hop)[None, :]
    e = 10 * np.log10(np.mean(pad[idx] ** 2, axis=1) + 1e-12)
    return e > max(e.max() - rel_db, -65.0)


def analyse(audio: Audio, config: ScoreConfig | None = None) -> Features:
    """WORLD analysis and non-intrusive figures of one loaded signal."""
    from quality.metrics.mcd import mel_cepstrum, spectral_envelope, stft_power  # noqa: PLC0415
    from quality.metrics.pitch import f0, f0_stats  # noqa: PLC0415
    from quality.metrics.signal import signal_metrics  # noqa: PLC0415

    cfg = config or ScoreConfig()
    y16 = audio.at(ANALYSIS_SR)
    f, t = f0(y16, sr=ANALYSIS_SR, method=cfg.f0_method, frame_period=cfg.frame_period, speed=cfg.dio_speed)
    hop = int(round(cfg.frame_period * ANALYSIS_SR / 1000))
    if cfg.envelope == "world":
        sp = spectral_envelope(y16, f, t, sr=ANALYSIS_SR)
    else:
        sp = stft_power(y16, len(f), hop=hop)
    mc = mel_cepstrum(sp, sr=ANALYSIS_SR, order=cfg.mcep_order)
    speech = _speech_frames(y16, len(f), hop)
    feats = Features(y16=y16, f0=f, t=t, mc=mc, speech=speech,
                     signal=signal_metrics(audio.y, sr=audio.sr), f0_stats=f0_stats(f))
    if "dnsmos" in cfg.metrics:
        from quality.metrics.dnsmos import dnsmos_scores  # noqa: PLC0415

        feats.dnsmos, err = dnsmos_scores(y16, sr=ANALYSIS_SR)
        if err:
            feats.errors.append(err)
    if "speaker_similarity" in cfg.metrics:
        from quality.metrics.speaker import speaker_embedding  # noqa: PLC0415

        feats.embedding, err = speaker_embedding(y16, sr=ANALYSIS_SR)
        if err:
            feats.errors.append(err)
    return feats


def cache_key(path: str | Path, config: ScoreConfig) -> str:
    """Content hash of a file plus the analysis settings."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    h.update(config.key().encode())
    return h.hexdigest()[:20]
