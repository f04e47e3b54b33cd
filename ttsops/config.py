"""Reading configuration files: one place that knows TOML and turns its failures into ConfigError.

Every component keeps its own config dataclass (and validation); this only reads the file.
"""
from __future__ import annotations

import os
from typing import Any

from ttsops.errors import ConfigError

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = ["load_toml"]


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
