"""Published JSON Schemas of what tts-quality prints: ``regress_report`` (``regress --format json``) and
``score_row`` (one row of ``score --format json``). :func:`validator` checks a document against one,
resolving the report's reference to the row schema without a network."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["load_schema", "validator"]


def load_schema(name: str) -> dict[str, Any]:
    return json.loads(Path(__file__).with_name(f"{name}.schema.json").read_text(encoding="utf-8"))


def validator(name: str) -> Any:
    """A jsonschema validator for schema ``name`` (jsonschema is a dev/test dependency)."""
    import jsonschema  # noqa: PLC0415
    from referencing import Registry, Resource  # noqa: PLC0415

    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in (load_schema("score_row"), load_schema("regress_report")))
    schema = load_schema(name)
    return jsonschema.Draft202012Validator(schema, registry=registry)
