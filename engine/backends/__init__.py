"""Synthesis back-ends behind one small protocol (see ``base.Backend``).

Entries are imported lazily: ``get_backend("kokoro")`` imports onnxruntime only when asked, and a
back-end whose module is absent or cannot import shows up in :func:`backend_statuses` as
unavailable with the reason.
"""
from __future__ import annotations

import importlib
import threading

from engine.backends.base import Backend, BackendStatus, Voice
from ttsops.errors import BackendError, InputError

__all__ = ["REGISTRY", "get_backend", "backend_class", "backend_statuses", "Backend", "BackendStatus", "Voice"]

REGISTRY: dict[str, str] = {
    "espeak": "engine.backends.espeak:EspeakBackend",
    "kokoro": "engine.backends.kokoro:KokoroBackend",
    "modelscope": "engine.backends.modelscope:SambertBackend",
}
_INSTANCES: dict[str, Backend] = {}
_LOCK = threading.Lock()


def backend_class(name: str) -> type[Backend]:
    """The class registered as ``name``; :class:`InputError` for unknown names, :class:`BackendError`
    when its module cannot be imported."""
    if name not in REGISTRY:
        raise InputError(f"unknown backend {name!r}", where="backend", fix=f"choose one of {', '.join(REGISTRY)}")
    module_name, attr = REGISTRY[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise BackendError(f"backend {name!r} is not part of this build ({module_name} is missing)") from None
        raise BackendError(f"backend {name!r} needs the missing package {exc.name!r}",
                           fix="pip install 'ttsops[neural]'") from None
    except ImportError as exc:
        raise BackendError(f"backend {name!r} cannot be imported: {exc}") from None
    return getattr(module, attr)


def get_backend(name: str) -> Backend:
    """A shared, loaded instance of back-end ``name`` (one per process: models load once)."""
    with _LOCK:
        inst = _INSTANCES.get(name)
        if inst is None:
            inst = backend_class(name)()
            inst.load()
            _INSTANCES[name] = inst
        return inst


def backend_statuses() -> list[BackendStatus]:
    """Whether each registered back-end can run here, and why not."""
    out: list[BackendStatus] = []
    for name in REGISTRY:
        try:
            cls = backend_class(name)
            out.append(cls.status())
        except BackendError as exc:
            out.append(BackendStatus(name, False, exc.message))
        except Exception as exc:  # a broken optional back-end must not break the listing
            out.append(BackendStatus(name, False, f"status check failed: {type(exc).__name__}: {exc}"))
    return out
