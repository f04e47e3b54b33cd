"""Imports of the heavy scoring libraries, in one place.

``pyworld`` 0.3.5 and ``webrtcvad`` 2.0.10 (which ``resemblyzer`` imports) call ``pkg_resources`` in
their ``__init__`` only to read their own version; setuptools >= 81 no longer ships ``pkg_resources``,
so a fresh venv fails with ``ModuleNotFoundError``. :func:`legacy_import` registers a tiny stand-in
(version read via :mod:`importlib.metadata`) when that happens and imports again. It also silences
the deprecation warnings those old modules raise on import (``scipy.ndimage.morphology``), which
would otherwise reach a user's stderr.
"""
from __future__ import annotations

import importlib
import sys
import types
import warnings
from typing import Any

__all__ = ["pyworld", "legacy_import"]

_PYWORLD: Any = None


def _pkg_resources_standin() -> None:
    from importlib import metadata  # noqa: PLC0415

    shim = types.ModuleType("pkg_resources")

    class _Dist:
        def __init__(self, name: str):
            self.version = metadata.version(name)

    shim.get_distribution = _Dist  # type: ignore[attr-defined]
    sys.modules.setdefault("pkg_resources", shim)


def legacy_import(name: str) -> Any:
    """``importlib.import_module(name)``, with the ``pkg_resources`` stand-in where it is missing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != "pkg_resources":
                raise
        _pkg_resources_standin()
        for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            sys.modules.pop(mod, None)
        return importlib.import_module(name)


def pyworld() -> Any:
    """Return the imported ``pyworld`` module (working around the missing ``pkg_resources``)."""
    global _PYWORLD
    if _PYWORLD is None:
        _PYWORLD = legacy_import("pyworld")
    return _PYWORLD
