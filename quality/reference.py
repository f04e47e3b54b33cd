"""Golden reference sets: synthesize every text with the engine and record how it was made.

``build_reference(texts.jsonl, out)`` writes ``out/<name>.wav`` for each task of an engine batch JSONL
file and ``out/manifest.json``: engine version, back-end, parameters and seed of each utterance, the
SHA-256 of each file, and the baseline's own variability (each text re-synthesized in a fresh engine,
and with another seed, scored against the reference) that ``regress`` compares candidates with.

With ``sampling=True`` it writes ``renders`` renders of each text instead, ``out/<name>.s<seed>.wav``
for seeds ``seed, seed + 1, ...``, synthesized with sampled prosody (``temperature``), and the
manifest says so (``sampling: {temperature, renders, seeds}``): the set distribution mode compares.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path
from typing import Any, Iterator

from quality.renders import render_file_name

__all__ = ["build_reference", "resynthesize_set", "iter_texts", "DEFAULT_TEXTS", "sha256_file"]

_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEXTS = next((p for p in (_ROOT / "data" / "samples" / "reference_texts.jsonl",
                                  Path(__file__).parent / "data" / "reference_texts.jsonl") if p.is_file()),
                     _ROOT / "data" / "samples" / "reference_texts.jsonl")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _task_fields(task: Any) -> dict[str, Any]:
    get = (lambda k, d=None: task.get(k, d)) if isinstance(task, dict) else (lambda k, d=None: getattr(task, k, d))
    prompt = get("prompt_audio")
    return {"name": get("name"), "text": get("input_text") or get("text"), "speaker": get("speaker"),
            "emotion": get("emotion") or "neutral", "duration_ratio": float(get("duration_ratio") or 1.0),
            "seed": get("seed"), "backend": get("backend"), "temperature": float(get("temperature") or 0.0),
            "prompt_audio": str(prompt) if prompt else None}


def iter_texts(path: str | Path) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    """``(line, fields | error)`` for each task, via ``engine.batch.iter_tasks`` when it exists."""
    try:
        from engine.batch import iter_tasks  # noqa: PLC0415
    except ImportError:
        iter_tasks = None
    if iter_tasks is not None:
        for n, item in iter_tasks(Path(path)):
            if isinstance(item, Exception):
                yield n, item
            else:
                f = _task_fields(item)
                f["name"] = f["name"] or f"task-{n}"
                yield n, f
        return
    from ttsops.errors import InputError  # noqa: PLC0415

    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict) or not obj.get("input_text"):
                raise ValueError("needs an object with input_text")
        except ValueError as exc:
            yield n, InputError(str(exc), where=f"{path}:{n}")
            continue
        f = _task_fields(obj)
        f["name"] = f["name"] or f"task-{n}"
        yield n, f


def _engine_config(backend: str | None = None, log_dir: Path | None = None):
    from engine.config import EngineConfig  # noqa: PLC0415

    cfg = EngineConfig(log_dir=log_dir)
    if backend:
        from dataclasses import replace  # noqa: PLC0415

        cfg = replace(cfg, default_backend=backend)
    return cfg


def _engine(backend: str | None = None, log_dir: Path | None = None):
    from engine.synth import Engine  # noqa: PLC0415

    return Engine(_engine_config(backend, log_dir))


def _synth(eng: Any, u: dict[str, Any], out: Path, *, seed: int | None = None, backend: str | None = None,
           emotion: str | None = None, file: str | None = None) -> dict[str, Any]:
    from engine.synth import SynthRequest  # noqa: PLC0415

    req = SynthRequest(text=u["text"], speaker=u.get("speaker"), emotion=emotion or u.get("emotion") or "neutral",
                       duration_ratio=float(u.get("duration_ratio") or 1.0),
                       seed=u.get("seed") if seed is None else seed, backend=backend or u.get("backend"),
                       temperature=float(u.get("temperature") or 0.0), ref_audio=u.get("prompt_audio"))
    res = eng.synthesize(req)
    path = res.write(out / (file or f"{u['name']}.wav"))
    return {"file": path.name, "sha256": sha256_file(path), "sample_rate": int(res.sample_rate),
            "duration_s": round(float(res.duration_s), 4), "backend": res.record.get("backend"),
            "request_id": res.request_id}


def _synth_on_worker(job: tuple[dict[str, Any], str, int | None, str | None, str | None, str]) -> dict[str, Any] | str:
    """One render on a Dask worker with this worker's engine for (back-end, purpose): its info, or the
    error as ``"Type: message"`` (plain data either way)."""
    from engine.distributed import warm_engine  # noqa: PLC0415
    from ttsops.cluster import worker_name  # noqa: PLC0415

    u, out, seed, file, backend, purpose = job
    eng = warm_engine(_engine_config(backend), worker_name(), purpose)
    try:
        return _synth(eng, u, Path(out), seed=seed, backend=backend, file=file)
    except Exception as exc:  # noqa: BLE001 - one bad text must not stop the set
        return f"{type(exc).__name__}: {exc}"


def _render_all(jobs: list[tuple[dict[str, Any], Path, int | None, str | None]], *, backend: str | None,
                purpose: str, skip_after_error: bool = False) -> list[dict[str, Any] | str | None]:
    """Synthesize ``(fields, folder, seed, file name)`` jobs in order: per job its info, its error
    (``"Type: message"``), or None when skipped (``skip_after_error``: the renders of a text after one
    that failed). In this process with one fresh engine, or inside
    :func:`quality.cluster.on_cluster` on the workers, one warm engine each for ``purpose`` (a fresh
    engine per purpose, so a re-synthesis never reuses the engine that made the reference)."""
    from quality.cluster import current, map_ordered  # noqa: PLC0415

    cluster = current()
    out: list[dict[str, Any] | str | None] = []
    if cluster is None:
        eng = _engine(backend)
        failed: set[str] = set()
        try:
            for u, folder, seed, file in jobs:
                if skip_after_error and u["name"] in failed:
                    out.append(None)
                    continue
                try:
                    out.append(_synth(eng, u, folder, seed=seed, backend=backend, file=file))
                except Exception as exc:  # noqa: BLE001 - one bad text must not stop the set
                    out.append(f"{type(exc).__name__}: {exc}")
                    failed.add(u["name"])
        finally:
            eng.close()
        return out
    args = [(u, str(folder), seed, file, backend, purpose) for u, folder, seed, file in jobs]
    out = map_ordered(_synth_on_worker, args, cluster, label=f"synthesis ({purpose})",
                      lost=lambda _a, exc: f"{type(exc).__name__}: not run on the cluster: {exc}")
    if skip_after_error:  # as in one process: a text's renders after its first failure are dropped
        failed = set()
        for i, ((u, folder, _seed, _file), res) in enumerate(zip(jobs, out)):
            if u["name"] in failed:
                if isinstance(res, dict):
                    (Path(folder) / res["file"]).unlink(missing_ok=True)
                out[i] = None
            elif isinstance(res, str):
                failed.add(u["name"])
    return out


def engine_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        v = version("ttsops")
    except PackageNotFoundError:
        v = "unknown"
    try:
        from engine.backends import backend_statuses  # noqa: PLC0415

        det = {s.name: s.detail for s in backend_statuses() if s.available}
        return f"ttsops {v}" + (f" ({'; '.join(f'{k}: {d}' for k, d in det.items())})" if det else "")
    except Exception:  # status is informational
        return f"ttsops {v}"


def build_reference(texts: str | Path, out: str | Path, *, backend: str | None = None, seed: int = 0,
                    variability: bool = True, jobs: int | None = None, progress: bool = False,
                    sampling: bool = False, renders: int = 1, temperature: float = 1.0) -> dict[str, Any]:
    """Synthesize the golden set (or, with ``sampling``, ``renders`` sampled renders of each text with
    seeds ``seed, seed + 1, ...``) and write ``manifest.json``; return the manifest.

    Lines that fail to parse or synthesize are listed under ``errors`` (the rest is built).
    """
    from ttsops.errors import InputError  # noqa: PLC0415

    if sampling and (renders < 2 or temperature <= 0):
        raise InputError(f"a sampling set needs --renders >= 2 and --temperature > 0 (got {renders}, {temperature})",
                         where="--renders/--temperature", fix="e.g. --sampling --renders 8")
    if not sampling and renders != 1:
        raise InputError("--renders needs --sampling (a golden set holds one render a text)", where="--renders")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    utts: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    seeds = [seed + k for k in range(renders)] if sampling else [None]
    todo: list[tuple[int, int, dict[str, Any], int | None]] = []   # (line, render, fields, seed)
    for n, item in iter_texts(texts):
        if isinstance(item, Exception):
            errors.append({"line": n, "error": str(item)})
            continue
        if item["seed"] is None:
            item["seed"] = seed
        if sampling:
            item["temperature"] = item["temperature"] or temperature
        todo += [(n, k, item, s) for k, s in enumerate(seeds)]
    made = _render_all([(item, out, s, render_file_name(item["name"], s) if sampling else None)
                        for _n, _k, item, s in todo], backend=backend, purpose="reference", skip_after_error=True)
    for (n, k, item, s), info in zip(todo, made):
        if isinstance(info, str):
            errors.append({"line": n, "name": item["name"], "error": info})
        elif info is not None:
            utts.append({**item, **info, **({"seed": s, "render": k} if sampling else {})})
    errors.sort(key=lambda e: e["line"])
    backends = sorted({u["backend"] for u in utts if u.get("backend")})
    manifest: dict[str, Any] = {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "engine_version": engine_version(),
        "backend": backends[0] if len(backends) == 1 else (backends or [backend])[0] if backends else backend,
        "backends": backends, "seed": seed, "texts": str(texts), "utterances": utts, "errors": errors,
    }
    if sampling:
        manifest["sampling"] = {"temperature": temperature, "renders": renders, "seeds": seeds}
    elif variability and utts:
        manifest["variability"] = measure_variability(out, utts, backend=backend, seed=seed, jobs=jobs,
                                                      progress=progress)
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out / "manifest.json")
    return manifest


def measure_variability(refdir: Path, utts: list[dict[str, Any]], *, backend: str | None, seed: int,
                        jobs: int | None = None, progress: bool = False) -> dict[str, Any]:
    """Re-synthesize every utterance in a fresh engine (and with seed+1) and score it against the
    reference: the baseline's own score distribution. Per utterance, the worse of the two runs is kept."""
    import tempfile  # noqa: PLC0415

    from quality.score import clean_row, score_pairs  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="tts-quality-var-") as td:
        runs = {}
        for label, s in (("fresh_run", None), ("other_seed", seed + 1)):
            d = Path(td) / label
            d.mkdir()
            made = _render_all([(u, d, s, None) for u in utts], backend=backend, purpose=label)
            identical = sum(isinstance(info, dict) and info["sha256"] == u["sha256"] for u, info in zip(utts, made))
            rows = score_pairs([(u["name"], refdir / u["file"], d / u["file"]) for u in utts],
                               jobs=jobs, progress=progress)
            runs[label] = {"identical_files": identical, "rows": rows}
    keys = ("pesq_wb", "pesq_nb", "stoi", "estoi", "mcd_dtw", "f0_rmse_cents", "vde", "f0_bias_cents",
            "duration_ratio")
    higher = {"pesq_wb", "pesq_nb", "stoi", "estoi"}
    worst = []
    for a, b in zip(runs["fresh_run"]["rows"], runs["other_seed"]["rows"]):
        r = {"name": a["name"]}
        for k in keys:
            va, vb = a.get(k), b.get(k)
            vals = [v for v in (va, vb) if v is not None and v == v]
            if not vals:
                r[k] = None
            elif k in higher:
                r[k] = min(vals)
            elif k in ("f0_bias_cents", "duration_ratio"):
                r[k] = max(vals, key=lambda v: abs(v - (1.0 if k == "duration_ratio" else 0.0)))
            else:
                r[k] = max(vals)
        worst.append(clean_row(r))
    return {"method": "each text re-synthesized in a fresh engine and with seed+1, scored against the reference; "
                      "per utterance the worse of the two",
            "identical_files": {k: v["identical_files"] for k, v in runs.items()},
            "rows": worst}


def resynthesize_set(baseline: str | Path, out: str | Path, *, backend: str | None = None) -> dict[str, Any]:
    """Synthesize the baseline's texts again with the current engine into ``out`` (a candidate set).

    A sampling baseline gets as many renders of each text, with seeds after the baseline's own (two
    builds never share a seed). Returns ``{"cross_engine": bool, "backend": ...}``; a manifest is
    written to ``out`` too.
    """
    from quality.regress import read_manifest  # noqa: PLC0415
    from ttsops.errors import InputError  # noqa: PLC0415

    baseline, out = Path(baseline), Path(out)
    man = read_manifest(baseline)
    if not man.get("utterances"):
        raise InputError("baseline has no manifest.json with utterances; --synthesize needs one",
                         where=str(baseline), fix="build it with `tts-quality reference build`")
    out.mkdir(parents=True, exist_ok=True)
    sampling = man.get("sampling") if isinstance(man.get("sampling"), dict) else None
    todo: list[tuple[dict[str, Any], int | None, str | None]] = []
    if sampling:
        seeds = [int(x) for x in sampling.get("seeds") or []]
        first = max(seeds, default=0) + 1
        texts: dict[str, dict[str, Any]] = {}
        for u in man["utterances"]:
            texts.setdefault(u["name"], u)
        for u in texts.values():
            for k in range(len(seeds)):
                todo.append((u, first + k, render_file_name(u["name"], first + k)))
    else:
        todo = [(u, None, None) for u in man["utterances"]]
    made = _render_all([(u, out, seed, file) for u, seed, file in todo], backend=backend, purpose="candidate")
    # a render that failed is missing from the set: regress reports it
    utts = [{**u, **info, **({"seed": seed} if seed is not None else {})}
            for (u, seed, _file), info in zip(todo, made) if isinstance(info, dict)]
    cb = sorted({u["backend"] for u in utts if u.get("backend")})
    cand_backend = cb[0] if len(cb) == 1 else backend
    manifest: dict[str, Any] = {"engine_version": engine_version(), "backend": cand_backend, "utterances": utts,
                                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    if sampling:
        manifest["sampling"] = {**sampling, "seeds": sorted({s for _, s, _ in todo if s is not None})}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    cross = bool(backend and man.get("backend") and cand_backend != man.get("backend"))
    return {"cross_engine": cross, "backend": cand_backend}
