"""The JSON report: ``AnalysisResult.to_dict()`` (keys: ``summary``, ``incidents``, ``bad_lines``,
``exception_groups``, ``new_templates``, ``anomalous_windows``, ``warnings`` and, with
``--sessions``, ``sessions``). Keep it stable: other tools read it."""
from __future__ import annotations

import json
from typing import Any

__all__ = ["render"]


def render(result: Any, *, indent: int | None = 2) -> str:
    return json.dumps(result.to_dict(), indent=indent, ensure_ascii=False, default=str) + "\n"
