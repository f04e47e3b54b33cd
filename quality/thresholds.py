"""Every limit of a regression run, read from TOML with strict checks.

A thresholds file has the sections ``[floors]``, ``[limits]``, ``[baseline]``, ``[cross_engine]`` and
``[distribution]`` (with ``[distribution.min_effect]``); data/samples/thresholds.toml is the default
and docs/quality.md explains each value. An unknown section or key, a value that is not a finite
number (``nan``, ``inf``, a string, a boolean) or a negative limit is a :class:`ConfigError` naming
the file and the key, so a typo can never silently turn a detector off.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["Thresholds", "DistributionThresholds", "load_thresholds", "DEFAULT_THRESHOLDS_FILE", "DISTRIBUTION_METRICS"]

DEFAULT_THRESHOLDS_FILE = Path(__file__).resolve().parents[1] / "data" / "samples" / "thresholds.toml"

#: distribution-mode metrics -> default minimum effect that matters (in the metric's own unit)
DISTRIBUTION_METRICS = {
    "dnsmos_ovrl": 0.2, "dnsmos_sig": 0.2, "dnsmos_bak": 0.2, "dnsmos_p808": 0.2,   # MOS points
    "speaker_similarity": 0.03,                                                     # cosine
    "mcd_to_baseline": 0.5,                                                         # dB
    "duration": 0.03,                                                               # relative (3 %)
    "pitch": 0.5,                                                                   # semitones
    "level": 2.0,                                                                   # dB
    "internal_silence_ratio": 0.03, "leading_silence_s": 0.08, "trailing_silence_s": 0.08,
    "clipping_ratio": 0.001,
}


@dataclass
class DistributionThresholds:
    """Distribution mode (sampling engines): how sure, and how large an effect must be.

    alpha : family-wise level of the pooled test over all texts, split over the metrics (Bonferroni).
    text_alpha : level of the per-text test that names the texts behind a pooled regression.
    min_renders : fewer usable renders of a text on either side is an error for that text.
    n_perm, n_boot : permutations (MCD energy test) and bootstrap draws (effect intervals).
    min_effect : metric -> smallest change that matters (below it, a significant change still passes).
    """

    alpha: float = 0.01
    text_alpha: float = 0.05
    min_renders: int = 3
    n_perm: int = 4999
    n_boot: int = 1000
    min_effect: dict[str, float] = field(default_factory=lambda: dict(DISTRIBUTION_METRICS))


@dataclass
class Thresholds:
    """All limits of a regression run (defaults = data/samples/thresholds.toml)."""

    pesq_wb_min: float = 3.2
    stoi_min: float = 0.85
    envelope_fluctuation_min: float = 0.15
    f0_bias_cents_max: float = 30.0
    duration_ratio_tol: float = 0.025
    leading_silence_delta_max_s: float = 0.08
    trailing_silence_delta_max_s: float = 0.08
    internal_silence_ratio_delta_max: float = 0.03
    zero_frames_delta_max: int = 3
    mcd_dtw_max: float = 4.0
    clipped_samples_delta_max: int = 50
    vde_max: float = 0.25
    speaker_similarity_min: float = 0.9
    dnsmos_ovrl_drop_max: float = 0.3
    k_sigma: float = 3.0
    min_margin: dict[str, float] = field(default_factory=lambda: {
        "pesq_wb": 0.5, "pesq_nb": 0.5, "stoi": 0.04, "estoi": 0.06, "mcd_dtw": 1.0,
        "f0_rmse_cents": 40.0, "vde": 0.08})
    cross_engine_duration_ratio_tol: float = 0.35
    distribution: DistributionThresholds = field(default_factory=DistributionThresholds)

    @classmethod
    def from_toml(cls, path: str | Path) -> "Thresholds":
        """Read a thresholds file; see the module docstring for what is rejected."""
        from ttsops.config import load_toml  # noqa: PLC0415

        p = Path(path)
        t = cls()
        for section, values in load_toml(p).items():
            if section not in _SECTIONS:
                _bad(p, section, f"unknown section [{section}]", f"use {', '.join(f'[{s}]' for s in _SECTIONS)}")
            if not isinstance(values, dict):
                _bad(p, section, "expected a [section] table")
            for k, v in values.items():
                key = f"{section}.{k}"
                if section == "distribution":
                    _set_distribution(p, t.distribution, k, v)
                elif k not in _SECTIONS[section]:
                    _bad(p, key, f"unknown threshold {key}", f"[{section}] takes {', '.join(_SECTIONS[section])}")
                elif k == "min_margin":
                    t.min_margin = {**t.min_margin, **_table(p, key, v, t.min_margin)}
                else:
                    name = f"cross_engine_{k}" if section == "cross_engine" else k
                    setattr(t, name, _number(p, key, v, type(getattr(t, name))))
        return t


_SECTIONS: dict[str, tuple[str, ...]] = {
    "floors": ("pesq_wb_min", "stoi_min", "envelope_fluctuation_min"),
    "limits": ("f0_bias_cents_max", "duration_ratio_tol", "leading_silence_delta_max_s",
               "trailing_silence_delta_max_s", "internal_silence_ratio_delta_max", "zero_frames_delta_max",
               "mcd_dtw_max", "clipped_samples_delta_max", "vde_max", "speaker_similarity_min",
               "dnsmos_ovrl_drop_max"),
    "baseline": ("k_sigma", "min_margin"),
    "cross_engine": ("duration_ratio_tol",),
    "distribution": tuple(f.name for f in fields(DistributionThresholds)),
}


def _bad(p: Path, key: str, message: str, fix: str | None = None) -> None:
    from ttsops.errors import ConfigError  # noqa: PLC0415

    raise ConfigError(message, where=f"{p}: {key}", fix=fix)


def _number(p: Path, key: str, v: Any, kind: type) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        _bad(p, key, f"{key} must be a number, got {v!r}")
    if not math.isfinite(float(v)):
        _bad(p, key, f"{key} must be a finite number, got {v!r}")
    if float(v) < 0:
        _bad(p, key, f"{key} must not be negative, got {v!r}")
    if kind is int:
        if float(v) != int(v):
            _bad(p, key, f"{key} must be a whole number, got {v!r}")
        return int(v)
    return float(v)


def _table(p: Path, key: str, v: Any, known: dict[str, float]) -> dict[str, float]:
    if not isinstance(v, dict):
        _bad(p, key, f"{key} must be a table like {{ {next(iter(known))} = 1.0 }}, got {v!r}")
    for kk in v:
        if kk not in known:
            _bad(p, f"{key}.{kk}", f"unknown metric {key}.{kk}", f"use one of {', '.join(known)}")
    return {kk: _number(p, f"{key}.{kk}", vv, float) for kk, vv in v.items()}


def _set_distribution(p: Path, d: DistributionThresholds, k: str, v: Any) -> None:
    key = f"distribution.{k}"
    if k not in _SECTIONS["distribution"]:
        _bad(p, key, f"unknown threshold {key}", f"[distribution] takes {', '.join(_SECTIONS['distribution'])}")
    if k == "min_effect":
        d.min_effect = {**d.min_effect, **_table(p, key, v, d.min_effect)}
        return
    val = _number(p, key, v, type(getattr(d, k)))
    if k in ("alpha", "text_alpha") and not 0 < val < 1:
        _bad(p, key, f"{key} must be between 0 and 1, got {v!r}")
    if k in ("min_renders", "n_perm", "n_boot") and val < (2 if k == "min_renders" else 99):
        _bad(p, key, f"{key} is too small ({v!r})")
    setattr(d, k, val)


def load_thresholds(path: str | Path | None) -> Thresholds:
    """The thresholds in ``path``, or the shipped defaults."""
    if path is None:
        return Thresholds.from_toml(DEFAULT_THRESHOLDS_FILE) if DEFAULT_THRESHOLDS_FILE.is_file() else Thresholds()
    return Thresholds.from_toml(path)
