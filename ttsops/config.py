"""Reading configuration files and checking their values: one place that knows TOML and turns its
failures into ConfigError, and one type check every component's config dataclass calls.

Every component keeps its own config dataclass (defaults, ranges); :func:`check_types` checks each
field against its annotation (a string where a number belongs, NaN, a float for an integer are a
ConfigError naming ``section.key``), :func:`section_from_toml` builds one from a TOML table (unknown
keys named), :func:`check_kwargs` does both for keyword arguments of a function (an estimator's).
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import os
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable, Mapping

from ttsops.errors import ConfigError

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = ["load_toml", "check_types", "section_from_toml", "check_kwargs"]


def load_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a TOML file; a missing, unreadable or malformed file is a ConfigError naming it."""
    where = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("config file not found", where=where) from None
    except IsADirectoryError:
        raise ConfigError("expected a TOML file, got a directory", where=where) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror or exc}", where=where) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=where) from None


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "absent"
    if origin is not None:
        return {tuple: "a list", list: "a list", dict: "a table"}.get(origin, str(tp))
    return {bool: "true or false", int: "an integer", float: "a finite number", str: "a string",
            Path: "a path string", dict: "a table"}.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """``value`` checked against the annotation ``tp`` (and normalised: Path, tuple); ConfigError
    naming ``where`` otherwise. bool is not an int, NaN and infinities are not numbers here."""
    if tp is Any:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    bad = ConfigError(f"must be {_describe(tp)}, got {value!r}"[:300], where=where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                if len(args) <= 2:      # X | None: X's own message is the clearer one
                    raise exc from None
        raise bad
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise bad
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ConfigError(f"must be a list of {len(args)} values, got {value!r}"[:300], where=where)
            return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise bad
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, dict):
            return section_from_toml(tp, value, where=where)
        raise bad
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    if tp is Path:
        if not isinstance(value, (str, os.PathLike)) or "\x00" in os.fspath(value) or not os.fspath(value):
            raise bad
        return Path(value)
    return value


def check_types(obj: Any, section: str) -> None:
    """Check (and normalise) every field of the config dataclass ``obj`` against its annotation;
    the first wrong one is a ConfigError naming ``section.field``. Called from ``__post_init__``."""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        setattr(obj, f.name, _coerce(getattr(obj, f.name), hints.get(f.name, Any), f"{section}.{f.name}"))


def section_from_toml(cls: Any, section: Any, *, where: str) -> Any:
    """Build config dataclass ``cls`` from a TOML table: not a table, unknown keys and wrong types
    are ConfigErrors naming ``where`` (``file: [table]`` or ``table.key``)."""
    if not isinstance(section, dict):
        raise ConfigError(f"must be a table, got {section!r}"[:200], where=where)
    known = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)}", where=where,
                          fix=f"known keys: {', '.join(sorted(known))}")
    return cls(**section)


def check_kwargs(fn: Callable[..., Any], values: Mapping[str, Any], section: str) -> dict[str, Any]:
    """``values`` as keyword arguments of ``fn``: unknown names and values that do not fit the
    parameter's annotation are ConfigErrors naming ``section.key``; returns them normalised."""
    sig = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    known = {n for n, p in sig.parameters.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
             and n != "self"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)}", where=f"[{section}]",
                          fix=f"known keys: {', '.join(sorted(known))}")
    return {k: _coerce(v, hints.get(k, Any), f"{section}.{k}") for k, v in values.items()}
