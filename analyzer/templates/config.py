"""TemplateConfig: every template-mining setting in one validated, TOML-loadable dataclass."""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

from ttsops.errors import ConfigError

from .tokens import TOKEN_CLASSES

__all__ = ["TemplateConfig", "DEFAULT_MASKING"]

DEFAULT_MASKING = TOKEN_CLASSES


@dataclass(frozen=True)
class TemplateConfig:
    """Every template-mining setting, validated on creation.

    masking : ``(NAME, regex)`` token classes (default :data:`analyzer.templates.tokens.TOKEN_CLASSES`);
        NAME becomes ``<NAME>`` with ``typed_masks``, else every variable reads ``<*>``.
    sim_th, depth, max_children, max_clusters, extra_delimiters : Drain's settings (its online tree).
    cache_size : masked messages remembered -> template id (Drain runs only on a miss).
    split_max_values : ``k``. A position of a template that has held at most ``k`` distinct plain
        words is constant (each word its own template); more than ``k`` and it is a variable. The
        same ``k`` decides the cross-branch merge: templates equal but at one position, more than
        ``k`` of them, are one template. 0 turns both off.
    merge_variables : merge templates that differ only at variable positions (digits, masks, a
        position holding more than ``k`` words).
    merge_runs : templates whose constant words are the same, in the same order, and that differ only
        in how many variable tokens stand between them are one template (a variable of several words).
    split_glued : cut tokens after ``= : , (`` and before ``)`` and ``,`` where no space is, so
        that ``key=value`` and ``f(x)`` hold one position per part and a comma is its own token.
    snapshot_every : save the state every N new templates (0: only on ``save()``).
    """

    masking: tuple[tuple[str, str], ...] = DEFAULT_MASKING
    typed_masks: bool = False
    sim_th: float = 0.5
    depth: int = 4
    max_children: int = 100
    max_clusters: int | None = None
    extra_delimiters: tuple[str, ...] = ()
    cache_size: int = 200_000
    split_max_values: int = 3
    merge_variables: bool = True
    merge_runs: bool = True
    split_glued: bool = True
    snapshot_every: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "masking", tuple(tuple(m) for m in self.masking))
        object.__setattr__(self, "extra_delimiters", tuple(self.extra_delimiters))
        checks = (
            (isinstance(self.sim_th, (int, float)) and 0.0 < float(self.sim_th) <= 1.0,
             "sim_th", f"must be in (0, 1], got {self.sim_th!r}"),
            (_int(self.depth) and self.depth >= 3, "depth", f"must be an integer >= 3, got {self.depth!r}"),
            (_int(self.max_children) and self.max_children >= 1, "max_children",
             f"must be an integer >= 1, got {self.max_children!r}"),
            (self.max_clusters is None or (_int(self.max_clusters) and self.max_clusters >= 1), "max_clusters",
             f"must be an integer >= 1 or absent, got {self.max_clusters!r}"),
            (_int(self.split_max_values) and self.split_max_values >= 0, "split_max_values",
             f"must be an integer >= 0, got {self.split_max_values!r}"),
            (_int(self.cache_size) and self.cache_size >= 0, "cache_size",
             f"must be an integer >= 0, got {self.cache_size!r}"),
            (_int(self.snapshot_every) and self.snapshot_every >= 0, "snapshot_every",
             f"must be an integer >= 0, got {self.snapshot_every!r}"),
        )
        for ok, key, msg in checks:
            if not ok:
                raise ConfigError(f"{key} {msg}", where=f"templates.{key}")
        for key in ("typed_masks", "merge_variables", "merge_runs", "split_glued"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"{key} must be true or false, got {getattr(self, key)!r}", where=f"templates.{key}")
        if not all(isinstance(d, str) and d for d in self.extra_delimiters):
            raise ConfigError("extra_delimiters must be non-empty strings", where="templates.extra_delimiters")
        names: set[str] = set()
        for i, rule in enumerate(self.masking):
            if len(rule) != 2 or not all(isinstance(x, str) for x in rule):
                raise ConfigError(f"masking rule {i} must be (NAME, regex), got {rule!r}", where="templates.masking")
            name, pattern = rule
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) or name in names:
                raise ConfigError(f"masking rule {i}: name {name!r} must be a unique identifier",
                                  where="templates.masking")
            names.add(name)
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"masking rule {name}: bad regex ({exc})", where="templates.masking") from None
            if compiled.groupindex:
                raise ConfigError(f"masking rule {name}: use (?:...) instead of named groups",
                                  where="templates.masking")
            if compiled.match(""):
                raise ConfigError(f"masking rule {name}: matches the empty string", where="templates.masking")

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TemplateConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown template settings: {', '.join(sorted(unknown))}", where="[templates]",
                              fix=f"known settings: {', '.join(sorted(known))}")
        kw = dict(data)
        if "masking" in kw:
            m = kw["masking"]
            if isinstance(m, Mapping):
                m = list(m.items())
            try:
                kw["masking"] = tuple((r["name"], r["pattern"]) if isinstance(r, Mapping) else tuple(r) for r in m)
            except (TypeError, KeyError):
                raise ConfigError("masking must be a list of [NAME, regex] pairs", where="templates.masking") from None
        if "extra_delimiters" in kw:
            if isinstance(kw["extra_delimiters"], str):
                raise ConfigError("extra_delimiters must be a list of strings", where="templates.extra_delimiters")
            kw["extra_delimiters"] = tuple(kw["extra_delimiters"])
        return cls(**kw)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str], section: str = "templates") -> "TemplateConfig":
        from ttsops.config import load_toml

        data = load_toml(path)
        return cls.from_dict(data.get(section, data))

    def with_(self, **kw: Any) -> "TemplateConfig":
        return replace(self, **kw)

    def fingerprint(self) -> str:
        """Hash of the settings that change template assignment (state from another config is not reused)."""
        d = asdict(self)
        for k in ("cache_size", "snapshot_every"):
            d.pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
