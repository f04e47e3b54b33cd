"""Fuzz: engine and supervisor TOML, and --inject specs. Whatever the file holds, loading it gives a
config or a ConfigError naming the key (exit 2), never another exception (exit 3 "unexpected")."""
from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.config import EngineConfig, FaultConfig
from engine.supervise import SupervisorConfig
from ttsops.errors import ConfigError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["espeak", "kokoro", "real", "simulated", "10 MB", "logs", ""]),
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["rate", "seed", "faults", "aftermath", "min_gap", "x"]), inner, max_size=3), max_leaves=6)


def _toml_value(v: object) -> str:
    if v is None:
        return '""'                      # TOML has no null: an empty string is the nearest wrong value
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, dt.datetime):
        return v.isoformat()
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def _write(path: Path, table: str, kv: dict[str, object]) -> Path:
    path.write_text(f"[{table}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in kv.items()), encoding="utf-8")
    return path


ENGINE_KEYS = ["log_dir", "default_backend", "max_text_length", "seed", "inject", "log_stderr", "clock", "sim_start",
               "sim_rate", "inference_rotation", "inference_retention", "reference_min_seconds", "max_audio_seconds",
               "extra", "bogus"]
SUPERVISOR_KEYS = ["host", "port", "log_dir", "serve_args", "l1_interval_s", "l2_interval_s", "check_timeout_s",
                   "l1_failures", "backoff_factor", "restart_budget", "busy_window", "cache_dirs", "max_runtime_s",
                   "command", "poll_s", "stop_timeout_s"]


def _valid(cfg: object) -> bool:
    if isinstance(cfg, EngineConfig):
        return isinstance(cfg.max_text_length, int) and math.isfinite(cfg.sim_rate) and cfg.sim_rate > 0 and \
            (cfg.inject is None or isinstance(cfg.inject, FaultConfig))
    return 1 <= cfg.port <= 65535 and all(math.isfinite(getattr(cfg, k)) for k in ("l1_interval_s", "poll_s"))


@FUZZ
@given(data=st.data(), which=st.sampled_from(["engine", "supervisor"]))
def test_toml_gives_a_config_or_an_error_naming_the_file(tmp_path_factory, data, which: str) -> None:
    cls, keys = (EngineConfig, ENGINE_KEYS) if which == "engine" else (SupervisorConfig, SUPERVISOR_KEYS)
    kv = data.draw(st.dictionaries(st.sampled_from(keys), values, max_size=4), label="table")
    path = _write(tmp_path_factory.mktemp("cfg") / f"{which}.toml", which, kv)
    try:
        cfg = cls.from_toml(path)
    except ConfigError as exc:
        assert str(path) in exc.one_line() and exc.where
        return
    assert _valid(cfg)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_any_bytes_as_toml(tmp_path_factory, raw: bytes) -> None:
    path = tmp_path_factory.mktemp("cfg") / "x.toml"
    path.write_bytes(raw)
    for load in (EngineConfig.from_toml, SupervisorConfig.from_toml):
        try:
            load(path)
        except ConfigError:
            pass


@FUZZ
@given(spec=st.one_of(st.text(max_size=40), st.lists(st.sampled_from(
    ["rate=", "seed=", "min_gap=", "faults=", "cuda_oom", "nan", "1e999", "-1", "0.5", "+", ",", "=", "all", "x"]),
    max_size=8).map("".join)), seed=st.integers(-2 ** 40, 2 ** 40))
def test_inject_spec(spec: str, seed: int) -> None:
    try:
        fc = FaultConfig.parse(spec, seed=seed)
    except ConfigError:
        return
    assert fc is None or (0 <= fc.rate <= 1 and fc.min_gap >= 0)
