"""Prometheus metrics of the HTTP service, kept in an injected registry (never the global one).

Each :class:`ServiceMetrics` owns its :class:`prometheus_client.CollectorRegistry`, so several
services (tests, a reload) never clash on metric names and ``/metrics`` shows only this service.

Metric names (all prefixed ``tts_``):

=====================================  =========  ====================================================
``tts_requests_total{endpoint,status}``  counter   every finished ``/api/tts`` request, by HTTP status
``tts_errors_total{error_type}``         counter   failed requests by type (``invalid_text``,
                                                   ``request_timeout``, ``overloaded``, ``backend_error``...)
``tts_request_latency_seconds``          histogram wall time of ``/api/tts`` (all outcomes)
``tts_rtf``                              histogram real-time factor of successful syntheses
``tts_audio_seconds_total``              counter   seconds of audio returned
``tts_in_flight``                        gauge     requests being synthesized now
``tts_rejected_total{reason}``           counter   requests refused before synthesis (overload, draining)
``tts_backend_reloads_total``            counter   back-end reloads (SIGUSR1 or ``POST /admin/reload``)
``tts_build_info{version,backend}``      gauge     always 1
=====================================  =========  ====================================================
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["ServiceMetrics", "CONTENT_TYPE_LATEST", "LATENCY_BUCKETS", "RTF_BUCKETS"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RTF_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


class ServiceMetrics:
    """The service's metrics, registered in ``registry`` (a fresh one when not given)."""

    def __init__(self, registry: CollectorRegistry | None = None, *, backend: str = "espeak",
                 version: str = "0.0.0"):
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("tts_requests", "Finished /api/tts requests by HTTP status.",
                                ["endpoint", "status"], registry=r)
        self.errors = Counter("tts_errors", "Failed requests by error type.", ["error_type"], registry=r)
        self.latency = Histogram("tts_request_latency_seconds", "Wall time of /api/tts requests.",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.rtf = Histogram("tts_rtf", "Real-time factor (synthesis time / audio seconds).",
                             buckets=RTF_BUCKETS, registry=r)
        self.audio_seconds = Counter("tts_audio_seconds", "Seconds of audio returned.", registry=r)
        self.in_flight = Gauge("tts_in_flight", "Requests being synthesized now.", registry=r)
        self.rejected = Counter("tts_rejected", "Requests refused before synthesis.", ["reason"], registry=r)
        self.reloads = Counter("tts_backend_reloads", "Back-end reloads.", registry=r)
        self.build_info = Gauge("tts_build_info", "Build information (always 1).", ["version", "backend"],
                                registry=r)
        self.build_info.labels(version=version, backend=backend).set(1)

    def observe_request(self, status: int, elapsed_s: float, *, endpoint: str = "/api/tts",
                        error_type: str | None = None, audio_seconds: float | None = None,
                        rtf: float | None = None) -> None:
        """Record one finished request (success or failure)."""
        self.requests.labels(endpoint=endpoint, status=str(status)).inc()
        self.latency.observe(max(0.0, elapsed_s))
        if error_type:
            self.errors.labels(error_type=error_type).inc()
        if audio_seconds is not None and audio_seconds > 0:
            self.audio_seconds.inc(audio_seconds)
        if rtf is not None and rtf >= 0:
            self.rtf.observe(rtf)

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample's current value (0.0 when absent); handy in tests and the benchmark."""
        v = self.registry.get_sample_value(name, labels or {})
        return float(v) if v is not None else 0.0
