"""One TOML reader for every component: bad files are one ConfigError naming the file."""
from __future__ import annotations

from pathlib import Path

import pytest

from ttsops.config import load_toml
from ttsops.errors import ConfigError


def test_reads_a_file(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('[engine]\nseed = 3\n', encoding="utf-8")
    assert load_toml(p) == {"engine": {"seed": 3}}


@pytest.mark.parametrize("content,expect", [
    (None, "config file not found"),
    (b"[engine\nseed = 3\n", "not valid TOML"),
    (b"\xff\xfe[x]", "not valid TOML"),
])
def test_bad_files_name_the_file(tmp_path: Path, content: bytes | None, expect: str) -> None:
    p = tmp_path / "c.toml"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(ConfigError) as exc:
        load_toml(p)
    assert expect in str(exc.value) and str(p) in str(exc.value)


def test_a_directory_is_not_a_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="directory"):
        load_toml(tmp_path)


@pytest.mark.parametrize("loader", [
    "engine.config:EngineConfig", "engine.supervise:SupervisorConfig", "analyzer.config:AnalyzeConfig",
    "analyzer.templates:TemplateConfig", "quality.regress:Thresholds"])
def test_every_component_reports_a_broken_file_the_same_way(tmp_path: Path, loader: str) -> None:
    import importlib

    mod, name = loader.split(":")
    cls = getattr(importlib.import_module(mod), name)
    p = tmp_path / "broken.toml"
    p.write_text("[section\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        cls.from_toml(p)
