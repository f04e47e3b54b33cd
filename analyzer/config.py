"""One configuration object for ``tts-analyze``, aggregating the components' configs.

Defaults live here (and in each component's dataclass); a TOML file overrides them::

    [analyze]
    window = "60s"            # window length (pandas duration)
    log_format = ""           # logparser header, e.g. "<Date> <Time> <Level> <Content>"; "" = auto
    sessions = ""             # regex grouping records into sessions, e.g. 'blk_-?\\d+'
    kb = ""                   # another knowledge base file ("" = the packaged analyzer/kb.yaml)
    max_bad_lines = 10        # bad lines listed in the report

    [templates]               # analyzer.templates.TemplateConfig fields
    [features]                # analyzer.features.FeatureConfig fields (window comes from [analyze])
    [detect]                  # analyzer.detect.WindowDetector parameters (burst_z, min_errors, ...)
    [incidents]               # analyzer.incidents.IncidentConfig fields (episode_gap, attach_gap, ...)
    [alerts]                  # follow mode: poll_interval, resolve_after, webhook_timeout, ...

Command-line flags override the file.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer.incidents import IncidentConfig
from ttsops.config import check_kwargs, check_types, load_toml
from ttsops.errors import ConfigError

__all__ = ["AnalyzeConfig", "AlertConfig"]


@dataclass
class AlertConfig:
    """Follow mode (``tts-analyze --follow``) and alert sinks.

    poll_interval : seconds between polls of the followed files.
    resolve_after : seconds (log time, or wall time when the logs go quiet) without a new related
        record after which an open incident is resolved.
    warmup_windows : windows seen before the window detector is fitted (KB matches alert at once).
    webhook_timeout, webhook_retries : per POST; retries back off exponentially (0.5 s, 1 s, ...).
    webhook_format : ``"webhook"`` = the JSON Alertmanager POSTs to its webhook receivers (version 4,
        with ``alerts`` inside); ``"api"`` = the list Alertmanager's own ``/api/v2/alerts`` accepts.
    trend_every : seconds between trend checks (memory slope, latency drift, error rate).
    alertmanager_repeat : ``--alertmanager``: seconds between re-posts of open incidents' alerts
        (keep it below Alertmanager's ``resolve_timeout``, 5 min by default).
    """

    poll_interval: float = 0.5
    resolve_after: float = 120.0
    warmup_windows: int = 10
    webhook_timeout: float = 5.0
    webhook_retries: int = 3
    trend_every: float = 60.0
    webhook_format: str = "webhook"
    alertmanager_repeat: float = 60.0

    def __post_init__(self) -> None:
        check_types(self, "alerts")
        if self.webhook_format not in ("webhook", "api"):
            raise ConfigError(f"webhook_format={self.webhook_format!r} must be 'webhook' or 'api'",
                              where="alerts.webhook_format")
        for f in dataclasses.fields(self):
            if f.name == "webhook_format":
                continue
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or v < 0:
                raise ConfigError(f"{f.name}={v!r} must be a number >= 0", where=f"alerts.{f.name}")


@dataclass
class AnalyzeConfig:
    """Everything :func:`analyzer.pipeline.analyze` reads.

    Parameters
    ----------
    window : window length for features and detection (pandas duration). Default ``"60s"``.
    log_format : logparser-style header for plain-text logs, ``None`` = auto-detect.
    baseline : paths of known-good logs to fit the detector on (``None`` = fit on the run itself).
    state_dir : Drain3 state folder (template ids stable between runs; new templates relative to it).
    sessions : regex grouping records by id (adds ``sessions`` to the result).
    kb_path : knowledge base file (``None`` = the packaged one).
    templates, features, detect : keyword arguments for ``TemplateConfig``, ``FeatureConfig`` and
        ``WindowDetector`` (kept as dicts so this module stays light to import).
    incidents : :class:`analyzer.incidents.IncidentConfig`.
    alerts : :class:`AlertConfig` (follow mode).
    max_bad_lines : bad lines kept in the result. Default 10.
    progress : show a progress bar on stderr for large inputs.
    """

    window: str = "60s"
    log_format: str | None = None
    baseline: list[str] | None = None
    state_dir: str | None = None
    sessions: str | None = None
    kb_path: str | None = None
    templates: dict[str, Any] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)
    detect: dict[str, Any] = field(default_factory=dict)
    incidents: IncidentConfig = field(default_factory=IncidentConfig)
    alerts: AlertConfig = field(default_factory=AlertConfig)
    max_bad_lines: int = 10
    progress: bool = False

    def __post_init__(self) -> None:
        import re

        check_types(self, "analyze")
        try:
            import pandas as pd

            td = pd.Timedelta(self.window)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"window {self.window!r} is not a duration", where="window",
                              fix='use e.g. "60s" or "5min"') from exc
        if td.total_seconds() <= 0:
            raise ConfigError(f"window {self.window!r} must be positive", where="window")
        if self.sessions:
            try:
                re.compile(self.sessions)
            except re.error as exc:
                raise ConfigError(f"sessions regex {self.sessions!r} does not compile: {exc}",
                                  where="sessions") from exc
        if isinstance(self.incidents, dict):
            self.incidents = _build(IncidentConfig, self.incidents, "incidents")
        if isinstance(self.alerts, dict):
            self.alerts = _build(AlertConfig, self.alerts, "alerts")
        if self.max_bad_lines < 0:
            raise ConfigError("max_bad_lines must be >= 0", where="max_bad_lines")
        # the component sections kept as dicts are checked now, not when (or if) they are used
        from analyzer.detect import WindowDetector
        from analyzer.features import FeatureConfig

        self.detect = check_kwargs(WindowDetector.__init__, self.detect, "detect")
        if "window" in self.features:
            raise ConfigError("window belongs in [analyze], not [features]", where="features.window")
        known = {f.name for f in dataclasses.fields(FeatureConfig)} - {"window"}
        if not set(self.features) <= known:
            raise ConfigError(f"unknown key(s) {', '.join(sorted(set(self.features) - known))}", where="[features]",
                              fix=f"known keys: {', '.join(sorted(known))}")
        FeatureConfig(**{**self.features, "window": self.window})
        if self.templates:
            from analyzer.templates import TemplateConfig

            TemplateConfig.from_dict(self.templates)

    @property
    def window_seconds(self) -> float:
        import pandas as pd

        return float(pd.Timedelta(self.window).total_seconds())

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> "AnalyzeConfig":
        """Load a TOML file (sections above); ``overrides`` that are not ``None`` win."""
        p = Path(path)
        data = load_toml(p)
        return cls.from_dict(data, source=str(p), **overrides)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config", **overrides: Any) -> "AnalyzeConfig":
        known_sections = {"analyze", "templates", "features", "detect", "incidents", "alerts"}
        unknown = sorted(set(data) - known_sections)
        if unknown:
            raise ConfigError(f"unknown section(s) {', '.join(unknown)}", where=source,
                              fix=f"use {', '.join(sorted(known_sections))}")
        top = dict(data.get("analyze", {}))
        if "kb" in top:
            top["kb_path"] = top.pop("kb")
        names = {f.name for f in dataclasses.fields(cls)} - {"templates", "features", "detect", "incidents", "alerts"}
        bad = sorted(set(top) - names)
        if bad:
            raise ConfigError(f"unknown key(s) in [analyze]: {', '.join(bad)}", where=source)
        for k in ("log_format", "sessions", "kb_path", "state_dir"):
            if top.get(k) == "":
                top[k] = None
        if isinstance(top.get("baseline"), str):
            top["baseline"] = [top["baseline"]]
        kw: dict[str, Any] = dict(top)
        for sec in ("templates", "features", "detect"):
            val = data.get(sec, {})
            if not isinstance(val, dict):
                raise ConfigError(f"[{sec}] must be a table", where=source)
            kw[sec] = dict(val)
        kw["incidents"] = _build(IncidentConfig, data.get("incidents", {}), f"{source} [incidents]")
        kw["alerts"] = _build(AlertConfig, data.get("alerts", {}), f"{source} [alerts]")
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kw)

    def replace(self, **overrides: Any) -> "AnalyzeConfig":
        """A copy with the non-``None`` overrides applied."""
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})


def _build(klass: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError("must be a table", where=where)
    names = {f.name for f in dataclasses.fields(klass)}
    bad = sorted(set(values) - names)
    if bad:
        raise ConfigError(f"unknown key(s) {', '.join(bad)}", where=where, fix=f"use {', '.join(sorted(names))}")
    try:
        return klass(**values)
    except TypeError as exc:
        raise ConfigError(str(exc), where=where) from exc
