"""One configuration object for the engine: defaults in one place, loadable from TOML."""
from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ttsops.config import check_types, section_from_toml
from ttsops.errors import ConfigError

__all__ = ["EngineConfig", "FaultConfig", "SentryConfig", "FAULT_TYPES"]


#: fault kinds ``engine.faults`` can inject (kb_id slugs shared with the analyzer's knowledge base)
FAULT_TYPES = ("cuda_oom", "device_mismatch", "model_load_timeout", "invalid_text", "silent_output",
               "stream_underflow", "audio_file_not_found", "missing_shared_library")


@dataclass
class FaultConfig:
    """Seeded fault injection (see ``engine.faults``).

    rate : probability that a request starts a new incident (when none is active).
    seed : RNG seed; the same seed and the same requests give the same faults.
    faults : which kinds may be injected (kb_id slugs from :data:`FAULT_TYPES`).
    aftermath : how many following requests an incident affects (min, max).
    min_gap : healthy requests required between two incidents.
    """

    rate: float = 0.05
    seed: int = 0
    faults: tuple[str, ...] = FAULT_TYPES
    aftermath: tuple[int, int] = (2, 6)
    min_gap: int = 15

    def __post_init__(self) -> None:
        check_types(self, "inject")
        if not 0.0 <= float(self.rate) <= 1.0:
            raise ConfigError(f"inject rate must be in [0, 1], got {self.rate!r}", where="inject.rate")
        self.faults = tuple(self.faults)
        unknown = [f for f in self.faults if f not in FAULT_TYPES]
        if unknown:
            raise ConfigError(f"unknown fault type(s) {', '.join(unknown)}", where="inject.faults",
                              fix=f"choose from {', '.join(FAULT_TYPES)}")
        lo, hi = self.aftermath
        if not 0 <= lo <= hi:
            raise ConfigError(f"aftermath must be 0 <= min <= max, got {self.aftermath!r}", where="inject.aftermath")
        self.aftermath = (int(lo), int(hi))
        if self.min_gap < 0:
            raise ConfigError(f"min_gap must be >= 0, got {self.min_gap!r}", where="inject.min_gap")
        if not 0 <= self.seed < 2 ** 32:
            raise ConfigError(f"seed must be in [0, 2^32), got {self.seed!r}", where="inject.seed")

    @classmethod
    def parse(cls, spec: str | None, *, seed: int = 0) -> "FaultConfig | None":
        """``--inject`` value: ``""``/``"all"`` for every fault, ``"cuda_oom,silent_output"``, or
        ``"rate=0.1,faults=cuda_oom+silent_output"``; ``None`` means injection off."""
        if spec is None:
            return None
        spec = spec.strip()
        kw: dict[str, Any] = {"seed": seed}
        if spec in ("", "all", "1", "true", "on"):
            return cls(**kw)
        names: list[str] = []
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            if "=" in part:
                key, value = (s.strip() for s in part.split("=", 1))
                if key == "rate":
                    try:
                        kw["rate"] = float(value)
                        if not math.isfinite(kw["rate"]):
                            raise ValueError(value)
                    except ValueError:
                        raise ConfigError(f"inject rate {value!r} is not a number", where="--inject") from None
                elif key in ("seed", "min_gap"):
                    try:
                        kw[key] = int(value)
                    except ValueError:
                        raise ConfigError(f"inject {key} {value!r} is not an integer", where="--inject") from None
                elif key == "faults":
                    names.extend(v for v in value.split("+") if v)
                else:
                    raise ConfigError(f"unknown --inject key {key!r}", where="--inject",
                                      fix="use rate=, seed=, faults=a+b or a list of fault names")
            else:
                names.append(part)
        if names:
            kw["faults"] = tuple(names)
        return cls(**kw)


@dataclass
class SentryConfig:
    """Optional Sentry reporting (``engine.sentry``; needs ``pip install 'ttsops[sentry]'``).

    dsn : the project's DSN; ``None``: ``$SENTRY_DSN``, and off when that is unset too.
    environment : Sentry environment; ``None``: ``$SENTRY_ENVIRONMENT``, else Sentry's ``production``.
    sample_rate : share of error events sent, in [0, 1].
    messages : also send the reported warnings (short reference audio, near-zero embedding, silence).
    """

    dsn: str | None = None
    environment: str | None = None
    sample_rate: float = 1.0
    messages: bool = True

    def __post_init__(self) -> None:
        check_types(self, "engine.sentry")
        if not 0.0 <= self.sample_rate <= 1.0:
            raise ConfigError(f"sample_rate must be in [0, 1], got {self.sample_rate!r}", where="engine.sentry.sample_rate")


@dataclass
class EngineConfig:
    """Engine settings; every default is here.

    log_dir : where inference/service/health/console logs and labels.jsonl go; ``None``: no files.
    default_backend : back-end used when a request names none.
    max_text_length : longest accepted input text, in characters (after stripping).
    seed : default request seed.
    inject : fault injection settings, or ``None`` (off).
    log_stderr : also print plain log lines to stderr.
    clock : ``"real"`` or ``"simulated"`` (log time advances by simulated request timing).
    sim_start : ISO 8601 start of the simulated clock.
    sim_rate : simulated requests per minute (mean; arrivals are Poisson).
    inference_rotation / inference_retention : loguru rotation size and how many rotated files to keep.
    log_format : what the process's streams get: ``text`` (plain console lines on stderr where asked)
        or ``json`` (every record as one flat JSON object a line on stdout, for Docker/Kubernetes).
    sentry : Sentry reporting (``[engine.sentry]``), off without a DSN.
    """

    log_dir: Path | None = Path("logs")
    default_backend: str = "espeak"
    max_text_length: int = 2000
    seed: int = 0
    inject: FaultConfig | None = None
    log_stderr: bool = False
    clock: str = "real"
    sim_start: str = "2026-11-20T09:00:00+00:00"
    sim_rate: float = 4.0
    inference_rotation: str = "10 MB"
    inference_retention: int = 10
    reference_min_seconds: float = 5.0
    max_audio_seconds: float = 600.0
    log_format: str = "text"
    sentry: SentryConfig = field(default_factory=SentryConfig)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_types(self, "engine")
        if self.max_text_length < 1:
            raise ConfigError(f"max_text_length must be a positive integer, got {self.max_text_length!r}",
                              where="max_text_length")
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"log_format must be 'text' or 'json', got {self.log_format!r}", where="engine.log_format")
        if self.clock not in ("real", "simulated"):
            raise ConfigError(f"clock must be 'real' or 'simulated', got {self.clock!r}", where="clock")
        if self.sim_rate <= 0:
            raise ConfigError(f"sim_rate must be > 0, got {self.sim_rate!r}", where="sim_rate")
        for name in ("reference_min_seconds", "max_audio_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}", where=f"engine.{name}")
        if not 0 <= self.seed < 2 ** 32:
            raise ConfigError(f"seed must be in [0, 2^32), got {self.seed!r}", where="engine.seed")
        if self.inference_retention < 0:
            raise ConfigError("inference_retention must be >= 0", where="engine.inference_retention")
        from datetime import datetime
        try:
            datetime.fromisoformat(self.sim_start)
        except ValueError:
            raise ConfigError(f"sim_start must be an ISO 8601 time, got {self.sim_start!r}", where="engine.sim_start",
                              fix="e.g. 2026-11-20T09:00:00+00:00") from None
        from engine.backends import REGISTRY
        if self.default_backend not in REGISTRY:
            raise ConfigError(f"unknown default_backend {self.default_backend!r}", where="engine.default_backend",
                              fix=f"choose one of {', '.join(REGISTRY)}")

    def with_(self, **changes: Any) -> "EngineConfig":
        return replace(self, **changes)

    @classmethod
    def from_toml(cls, path: str | Path) -> "EngineConfig":
        """Read ``[engine]`` (and ``[engine.inject]``) from a TOML file; unknown keys are an error."""
        from ttsops.config import load_toml

        p = Path(path)
        data = load_toml(p)
        try:
            return section_from_toml(cls, data.get("engine", data), where="engine")
        except ConfigError as exc:
            raise ConfigError(exc.message, where=f"{p}: {exc.where}", fix=exc.fix) from None
