"""Prometheus metrics of the HTTP service, kept in an injected registry (never the global one).

Each :class:`ServiceMetrics` owns its :class:`prometheus_client.CollectorRegistry`, so several
services (tests, a reload) never clash on metric names and ``/metrics`` shows only this service.
Names follow Prometheus' naming guide: the unit as a suffix (``_seconds``, ``_bytes``, ``_ratio``),
``_total`` on counters. Every label value the service itself can produce is created at 0 when the
registry is built, so a rate or an alert over a series that has not happened yet reads 0 instead
of "no data" (error types raised by a back-end's own exception appear when they first happen).

=================================================  =========  ==============================================
``tts_requests_total{endpoint,status}``            counter    every finished ``/api/tts`` and ``/tts`` answer
``tts_errors_total{error_type}``                   counter    failed requests by type
``tts_syntheses_total{backend,outcome}``           counter    syntheses run, ``outcome`` ok / error
``tts_request_latency_seconds``                    histogram  wall time of the synthesis endpoints
``tts_real_time_factor_ratio``                     histogram  synthesis time / audio seconds (was ``tts_rtf``)
``tts_audio_seconds_total``                        counter    seconds of audio returned
``tts_response_bytes_total``                       counter    WAV bytes returned
``tts_requests_in_flight``                         gauge      syntheses running now (was ``tts_in_flight``)
``tts_max_concurrency``                            gauge      synthesis slots (``--max-concurrency``)
``tts_backend_ready``                              gauge      1 when the back-end is loaded and not draining
``tts_rejected_total{reason}``                     counter    refused before synthesis (overloaded, draining, not_ready)
``tts_backend_reloads_total``                      counter    back-end reloads (SIGUSR1)
``tts_build_info{version,backend}``                gauge      1; ``backend`` is the loaded one (none before)
``process_*``, ``python_info``, ``python_gc_*``    various    prometheus_client's process, platform, GC collectors
=================================================  =========  ==============================================
"""
from __future__ import annotations

from typing import Callable, Iterable

from prometheus_client import (CollectorRegistry, Counter, Gauge, GCCollector, Histogram,
                               PlatformCollector, ProcessCollector, generate_latest)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["ServiceMetrics", "CONTENT_TYPE_LATEST", "LATENCY_BUCKETS", "RTF_BUCKETS", "ENDPOINTS", "STATUSES",
           "ERROR_TYPES", "REJECT_REASONS", "OUTCOMES"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RTF_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
#: the endpoints that synthesize (``/tts`` is the Qwen3-TTS-style probe)
ENDPOINTS = ("/api/tts", "/tts")
#: every status those endpoints answer (499: the client hung up)
STATUSES = ("200", "400", "401", "403", "408", "413", "415", "422", "429", "499", "500", "503", "504")
#: the error types the service itself answers with (docs/service.md, status table)
ERROR_TYPES = ("invalid_input", "invalid_request", "unsupported_language", "unauthorized", "backend_not_allowed",
               "header_timeout", "body_timeout", "body_too_large", "text_too_long", "audio_too_long", "unsupported_media_type",
               "overloaded", "draining", "backend_not_loaded", "request_timeout", "client_disconnected",
               "backend_error")
REJECT_REASONS = ("overloaded", "draining", "not_ready")
OUTCOMES = ("ok", "error")


class ServiceMetrics:
    """The service's metrics, registered in ``registry`` (a fresh one when not given).

    ``backend``: the loaded back-end for ``tts_build_info`` (None: no sample until
    :meth:`set_build_info`); ``backends``: the back-end label values created at 0 in
    ``tts_syntheses_total``;
    ``process``: also register prometheus_client's process / platform / GC collectors.
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, backend: str | None = None,
                 version: str = "0.0.0", backends: Iterable[str] = (), process: bool = True):
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.version = version
        self.requests = Counter("tts_requests", "Finished synthesis requests by endpoint and HTTP status.",
                                ["endpoint", "status"], registry=r)
        self.errors = Counter("tts_errors", "Failed requests by error type.", ["error_type"], registry=r)
        self.syntheses = Counter("tts_syntheses", "Syntheses run by back-end and outcome.", ["backend", "outcome"],
                                 registry=r)
        self.latency = Histogram("tts_request_latency_seconds", "Wall time of synthesis requests.",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.rtf = Histogram("tts_real_time_factor_ratio", "Real-time factor (synthesis time / audio seconds).",
                             buckets=RTF_BUCKETS, registry=r)
        self.audio_seconds = Counter("tts_audio_seconds", "Seconds of audio returned.", registry=r)
        self.response_bytes = Counter("tts_response_bytes", "WAV bytes returned.", registry=r)
        self.in_flight = Gauge("tts_requests_in_flight", "Syntheses running now.", registry=r)
        self.max_concurrency = Gauge("tts_max_concurrency", "Synthesis slots.", registry=r)
        self.ready = Gauge("tts_backend_ready", "1 when the back-end is loaded and the service is not draining.",
                           registry=r)
        self.rejected = Counter("tts_rejected", "Requests refused before synthesis.", ["reason"], registry=r)
        self.reloads = Counter("tts_backend_reloads", "Back-end reloads.", registry=r)
        self.build_info = Gauge("tts_build_info", "Build information (always 1).", ["version", "backend"],
                                registry=r)
        for endpoint in ENDPOINTS:
            for status in STATUSES:
                self.requests.labels(endpoint=endpoint, status=status)
        for et in ERROR_TYPES:
            self.errors.labels(error_type=et)
        for reason in REJECT_REASONS:
            self.rejected.labels(reason=reason)
        self._backends: set[str] = set()
        self.add_backends(backends)
        if backend is not None:
            self.set_build_info(backend)
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)

    def add_backends(self, names: Iterable[str]) -> None:
        """Create ``tts_syntheses_total`` at 0 for these back-ends."""
        for name in names:
            if name and name not in self._backends:
                self._backends.add(name)
                for outcome in OUTCOMES:
                    self.syntheses.labels(backend=name, outcome=outcome)

    def set_build_info(self, backend: str) -> None:
        """``tts_build_info`` names the back-end actually loaded (called after each load / reload)."""
        self.build_info.clear()
        self.build_info.labels(version=self.version, backend=backend).set(1)
        self.add_backends([backend])

    def track_ready(self, is_ready: Callable[[], bool]) -> None:
        """``tts_backend_ready`` reads ``is_ready()`` at every scrape."""
        self.ready.set_function(lambda: 1.0 if is_ready() else 0.0)

    def observe_request(self, status: int, elapsed_s: float, *, endpoint: str = "/api/tts",
                        error_type: str | None = None, audio_seconds: float | None = None,
                        rtf: float | None = None, response_bytes: int | None = None) -> None:
        """Record one finished request (success or failure)."""
        self.requests.labels(endpoint=endpoint, status=str(status)).inc()
        self.latency.observe(max(0.0, elapsed_s))
        if error_type:
            self.errors.labels(error_type=error_type).inc()
        if audio_seconds is not None and audio_seconds > 0:
            self.audio_seconds.inc(audio_seconds)
        if rtf is not None and rtf >= 0:
            self.rtf.observe(rtf)
        if response_bytes:
            self.response_bytes.inc(response_bytes)

    def observe_synthesis(self, backend: str, ok: bool) -> None:
        """One synthesis that ran (a request refused before synthesis is not one)."""
        self.add_backends([backend])
        self.syntheses.labels(backend=backend, outcome="ok" if ok else "error").inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's current value (0.0 when absent); handy in tests and the benchmark."""
        v = self.registry.get_sample_value(name, labels or {})
        return float(v) if v is not None else 0.0
