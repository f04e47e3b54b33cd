"""Imports of the heavy scoring libraries, in one place.

``pyworld`` 0.3.5 imports ``pkg_resources`` in its ``__init__`` only to read its own version; setuptools
>= 81 no longer ships ``pkg_resources``, so a fresh venv fails with ``ModuleNotFoundError``. When that
happens we register a tiny stand-in (version read via :mod:`importlib.metadata`) and import again.
"""
from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["pyworld"]

_PYWORLD: Any = None


def pyworld() -> Any:
    """Return the imported ``pyworld`` module (working around the missing ``pkg_resources``)."""
    global _PYWORLD
    if _PYWORLD is not None:
        return _PYWORLD
    try:
        import pyworld as pw  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        if exc.name != "pkg_resources":
            raise
        from importlib import metadata  # noqa: PLC0415

        shim = types.ModuleType("pkg_resources")

        class _Dist:
            def __init__(self, name: str):
                self.version = metadata.version(name)

        shim.get_distribution = _Dist  # type: ignore[attr-defined]
        sys.modules.setdefault("pkg_resources", shim)
        sys.modules.pop("pyworld", None)
        import pyworld as pw  # noqa: PLC0415
    _PYWORLD = pw
    return pw
