"""Report renderers: ``terminal`` (rich), ``json`` (the machine-readable contract), ``markdown`` and
``html`` (with a timeline plot). Each module has ``render(result, ...) -> str``."""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["FORMATS", "render"]

FORMATS = ("terminal", "json", "markdown", "html")
_MODULES = {"terminal": "analyzer.report.terminal", "json": "analyzer.report.json",
            "markdown": "analyzer.report.markdown", "html": "analyzer.report.html"}


def render(result: Any, fmt: str = "terminal", **kw: Any) -> str:
    """Render an :class:`analyzer.pipeline.AnalysisResult` in one of :data:`FORMATS`."""
    if fmt not in _MODULES:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return importlib.import_module(_MODULES[fmt]).render(result, **kw)
