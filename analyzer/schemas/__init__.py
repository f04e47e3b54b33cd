"""Published JSON Schemas of what the analyzer prints (``report.schema.json`` for ``--format json``).

>>> from analyzer.schemas import load_schema
>>> load_schema("report")["properties"]["schema"]["const"]
2
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["load_schema", "schema_path"]


def schema_path(name: str) -> Path:
    return Path(__file__).with_name(f"{name}.schema.json")


def load_schema(name: str) -> dict[str, Any]:
    return json.loads(schema_path(name).read_text(encoding="utf-8"))
