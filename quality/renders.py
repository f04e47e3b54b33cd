"""Render sets: several renders of each text, as a sampling engine makes them (distribution mode).

A set is a directory. Which file renders which text comes from, in this order:

1. its ``manifest.json`` (``tts-quality reference build --sampling`` writes one): each entry of
   ``utterances`` names the text (``name``), the file, the seed, the speaker and, where the task had
   one, the speaker's prompt audio;
2. file names ``<text>.s<seed>.wav`` (``<text>.s3.wav`` is render 3 of ``<text>``);
3. sub-directories ``<text>/*.wav`` (any file names inside);
4. a plain ``<text>.wav`` is one render of ``<text>``.

The manifest module (:func:`read_manifest`) is shared with pair mode: a manifest that exists but
cannot be read is an error, never an empty dict.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ttsops.errors import InputError

__all__ = ["Render", "RenderSet", "load_render_set", "read_manifest", "render_file_name", "renders_per_text"]

_SEED_NAME = re.compile(r"^(?P<text>.+)\.s(?P<seed>\d+)$")


def render_file_name(text: str, seed: int) -> str:
    """The file name of one render: ``<text>.s<seed>.wav``."""
    return f"{text}.s{seed}.wav"


@dataclass
class Render:
    """One render of one text."""

    text: str
    path: Path
    seed: int | None = None
    speaker: str | None = None
    prompt: Path | None = None


@dataclass
class RenderSet:
    """``texts`` maps a text name to its renders; ``warnings`` says what was odd (missing files...)."""

    dir: Path
    texts: dict[str, list[Render]]
    manifest: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def n_renders(self) -> int:
        return sum(len(v) for v in self.texts.values())


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """``directory/manifest.json`` as a dict; ``{}`` when there is none.

    Raises
    ------
    InputError
        The file exists but is not JSON, not an object, or its ``utterances`` / ``variability.rows``
        are not lists of objects.
    """
    p = Path(directory) / "manifest.json"
    if not p.exists():
        return {}
    where = str(p)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError("manifest is not UTF-8 text", where=where, fix="rebuild the set") from None
    except OSError as exc:
        raise InputError(f"cannot read the manifest: {exc.strerror or exc}", where=where) from None
    except ValueError as exc:
        raise InputError(f"manifest is not valid JSON ({exc})", where=where,
                         fix="rebuild it with `tts-quality reference build`, or remove it") from None
    if not isinstance(doc, dict):
        raise InputError(f"manifest must be a JSON object, got {type(doc).__name__}", where=where)
    var = doc.get("variability")
    if var is not None and not isinstance(var, dict):
        raise InputError("manifest field variability must be an object", where=where)
    for key, rows in (("utterances", doc.get("utterances")), ("variability.rows", (var or {}).get("rows"))):
        if rows is not None and (not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows)):
            raise InputError(f"manifest field {key} must be a list of objects", where=where)
    return doc


def renders_per_text(manifest: dict[str, Any]) -> int:
    """How many renders of each text the manifest says the set holds (1 for a golden set)."""
    s = manifest.get("sampling")
    if isinstance(s, dict) and isinstance(s.get("renders"), int):
        return s["renders"]
    return 1


def load_render_set(directory: str | Path, *, manifest: dict[str, Any] | None = None) -> RenderSet:
    """Group the WAV files of ``directory`` by text (see the module docstring for the rules)."""
    d = Path(directory)
    if not d.is_dir():
        raise InputError("not a directory", where=str(d))
    man = read_manifest(d) if manifest is None else manifest
    warnings: list[str] = []
    texts: dict[str, list[Render]] = {}
    if man.get("utterances"):
        for i, u in enumerate(man["utterances"]):
            name, file = u.get("name"), u.get("file")
            if not isinstance(name, str) or not isinstance(file, str):
                raise InputError(f"manifest utterance {i} needs string fields name and file", where=str(d / "manifest.json"))
            path = d / file
            if not path.is_file():
                warnings.append(f"{path}: listed in the manifest but missing")
                continue
            prompt = u.get("prompt_audio")
            texts.setdefault(name, []).append(Render(
                name, path, u.get("seed") if isinstance(u.get("seed"), int) else None,
                u.get("speaker") if isinstance(u.get("speaker"), str) else None,
                Path(prompt) if isinstance(prompt, str) and Path(prompt).is_file() else None))
        return RenderSet(d, texts, man, warnings)
    for p in sorted(d.iterdir()):
        if p.is_dir() and not p.name.startswith("."):
            for q in sorted(p.glob("*.wav")):
                texts.setdefault(p.name, []).append(Render(p.name, q))
        elif p.name.lower().endswith(".wav"):
            m = _SEED_NAME.match(p.stem)
            text, seed = (m["text"], int(m["seed"])) if m else (p.stem, None)
            texts.setdefault(text, []).append(Render(text, p, seed))
    return RenderSet(d, texts, man, warnings)
