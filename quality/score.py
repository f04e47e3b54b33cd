"""Score rows: one (reference, candidate) pair, one row, every metric a column, ``error`` null or a reason.

``score_pair`` scores one pair; ``score_dirs`` matches two directories by file name and scores all
pairs on all cores; ``analyse_files`` analyses single files on all cores (distribution mode). A
failure never becomes a 0: the metric is NaN and ``error`` says why; a file that cannot be read still
gets its row (all metrics NaN) and the run goes on. Metrics not asked for (``ScoreConfig.metrics``)
are NaN with no error.
"""
from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from quality.audio import ANALYSIS_SR, MIN_PESQ_SECONDS, Audio, AudioError, load
from quality.features import Features, ScoreConfig, analyse, cache_key

__all__ = ["score_pair", "score_dirs", "score_pairs", "match_dirs", "analyse_files", "SCORE_COLUMNS", "ScoreConfig",
           "wav_names"]

NAN = float("nan")
#: the JSON/CSV contract, in order (all keys always present)
SCORE_COLUMNS = (
    "name", "pesq_wb", "pesq_nb", "stoi", "estoi", "f0_rmse_cents", "f0_bias_cents", "vde", "f0_corr",
    "mcd_dtw", "duration_ratio", "speaker_similarity",
    # non-intrusive figures of the candidate
    "duration_s", "leading_silence_s", "trailing_silence_s", "silence_ratio", "internal_silence_ratio",
    "clipped_samples", "clipping_ratio", "zero_frames", "peak_dbfs", "rms_dbfs", "envelope_fluctuation",
    "voiced_ratio", "f0_mean_hz", "f0_median_hz", "f0_std_semitones",
    "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808",
    # candidate minus reference
    "ref_duration_s", "leading_silence_delta_s", "trailing_silence_delta_s", "silence_ratio_delta",
    "internal_silence_ratio_delta", "clipped_samples_delta", "zero_frames_delta", "dnsmos_ovrl_delta",
    "alignment", "notes", "ref_path", "deg_path", "error",
)
_INT_COLS = {"clipped_samples", "zero_frames", "clipped_samples_delta", "zero_frames_delta"}
_STR_COLS = {"name", "alignment", "notes", "ref_path", "deg_path", "error"}

_MEM_CACHE: dict[str, Features] = {}


def _empty_row(name: str) -> dict[str, Any]:
    row: dict[str, Any] = {k: NAN for k in SCORE_COLUMNS}
    row.update(name=name, alignment=None, notes=None, ref_path=None, deg_path=None, error=None)
    return row


def _as_audio(x: Any, name: str | None) -> Audio:
    if isinstance(x, Audio):
        return x
    if isinstance(x, tuple) and len(x) == 2:
        from quality.audio import load_array  # noqa: PLC0415

        return load_array(x[0], int(x[1]), name=name or "")
    return load(x)


def reference_features(ref: Audio, config: ScoreConfig, *, cache_dir: Path | None = None) -> Features:
    """Features of a reference, from the in-process cache, the on-disk cache or a fresh analysis."""
    key = None
    if ref.path and Path(ref.path).is_file():
        key = cache_key(ref.path, config)
        if key in _MEM_CACHE:
            return _MEM_CACHE[key]
        if cache_dir is not None:
            f = Path(cache_dir) / f"{key}.npz"
            if f.is_file():
                try:
                    feats = Features.from_npz(f)
                    _MEM_CACHE[key] = feats
                    return feats
                except Exception:  # corrupt cache entry: recompute
                    pass
    feats = analyse(ref, config)
    if key is not None:
        if len(_MEM_CACHE) > 256:
            _MEM_CACHE.clear()
        _MEM_CACHE[key] = feats
        if cache_dir is not None:
            try:
                Path(cache_dir).mkdir(parents=True, exist_ok=True)
                feats.to_npz(Path(cache_dir) / f"{key}.npz")
            except OSError:
                pass
    return feats


def score_pair(ref: Any, deg: Any, *, config: ScoreConfig | None = None, name: str | None = None,
               cache_dir: Path | None = None, prompt: Any = None) -> dict[str, Any]:
    """Score one candidate against its reference.

    Parameters
    ----------
    ref, deg : path, :class:`~quality.audio.Audio` or ``(samples, sr)``
        Reference and candidate. Any sample rate, mono or multi-channel.
    config : ScoreConfig, optional
    name : str, optional
        Row name (default: the candidate's file stem).
    prompt : path, Audio or ``(samples, sr)``, optional
        The speaker's prompt / reference recording for ``speaker_similarity`` (default: ``ref``).

    Returns
    -------
    dict
        Every key of :data:`SCORE_COLUMNS`. Metrics that could not be computed are NaN and ``error``
        joins the reasons ("; "); ``notes`` holds non-fatal observations (stereo down-mixed, ...).
    """
    from quality.align import cost_matrix, dtw, warp_to_reference  # noqa: PLC0415
    from quality.metrics.intrusive import pesq_score, stoi_scores  # noqa: PLC0415
    from quality.metrics.mcd import mcd  # noqa: PLC0415
    from quality.metrics.pitch import compare_f0  # noqa: PLC0415

    cfg = config or ScoreConfig()
    nm = name or (Path(deg).stem if isinstance(deg, (str, os.PathLike)) else getattr(deg, "name", "")) or "pair"
    row = _empty_row(nm)
    row["ref_path"] = str(ref) if isinstance(ref, (str, os.PathLike)) else getattr(ref, "path", None)
    row["deg_path"] = str(deg) if isinstance(deg, (str, os.PathLike)) else getattr(deg, "path", None)
    errors: list[str] = []
    notes: list[str] = []
    # load
    try:
        ra = _as_audio(ref, nm)
        notes += [f"reference: {n}" for n in ra.notes]
    except AudioError as exc:
        ra = None
        errors.append(f"reference {exc.one_line()}")
    try:
        da = _as_audio(deg, nm)
        notes += [f"candidate: {n}" for n in da.notes]
    except AudioError as exc:
        da = None
        errors.append(f"candidate {exc.one_line()}")
    if da is None or ra is None:
        if da is not None:  # still report what needs no reference
            feats = analyse(da, cfg) if da.duration >= 0.05 else None
            _fill_nonintrusive(row, feats, da)
            errors += feats.errors if feats is not None else []
        row["error"] = "; ".join(errors)
        row["notes"] = "; ".join(notes) or None
        return row
    # analyse
    try:
        rf = reference_features(ra, cfg, cache_dir=cache_dir)
        df = analyse(da, cfg)
    except Exception as exc:  # pyworld on pathological input
        row["error"] = f"analysis failed: {type(exc).__name__}: {exc}"
        return row
    _fill_nonintrusive(row, df, da)
    errors += df.errors
    errors += [f"reference {e}" for e in rf.errors]
    if "dnsmos" in cfg.metrics:
        row["dnsmos_ovrl_delta"] = row["dnsmos_ovrl"] - rf.dnsmos.get("dnsmos_ovrl", NAN)
    if "speaker_similarity" in cfg.metrics:
        spk = rf
        if prompt is not None:
            try:
                pa = _as_audio(prompt, "prompt")
                spk = reference_features(pa, cfg, cache_dir=cache_dir)
                notes.append(f"speaker reference: {pa.path or 'prompt'}")
            except AudioError as exc:
                spk = None
                errors.append(f"prompt {exc.one_line()}")
        if spk is not None and spk.embedding is not None and df.embedding is not None:
            from quality.metrics.speaker import cosine  # noqa: PLC0415

            row["speaker_similarity"] = cosine(df.embedding, spk.embedding)
        elif spk is not None and spk is not rf:
            errors += [f"prompt {e}" for e in spk.errors]
    rs = rf.signal
    row["ref_duration_s"] = rs["duration_s"]
    row["duration_ratio"] = da.duration / ra.duration
    row["leading_silence_delta_s"] = row["leading_silence_s"] - rs["leading_silence_s"]
    row["trailing_silence_delta_s"] = row["trailing_silence_s"] - rs["trailing_silence_s"]
    row["silence_ratio_delta"] = row["silence_ratio"] - rs["silence_ratio"]
    row["internal_silence_ratio_delta"] = row["internal_silence_ratio"] - rs["internal_silence_ratio"]
    row["clipped_samples_delta"] = int(row["clipped_samples"]) - int(rs["clipped_samples"])
    row["zero_frames_delta"] = int(row["zero_frames"]) - int(rs["zero_frames"])
    r_silent = rs["peak_dbfs"] < -60
    d_silent = row["peak_dbfs"] < -60
    if r_silent:
        errors.append("reference is silent (peak below -60 dBFS): nothing to compare against")
    if d_silent:
        errors.append("candidate is silent (peak below -60 dBFS)")
    # DTW on mel-cepstra (c1..), both signals' frames
    path = None
    want = cfg.metrics
    if not r_silent and not d_silent and want & {"mcd", "f0", "pesq", "stoi"}:
        C = cost_matrix(rf.mc[:, 1:], df.mc[:, 1:])
        _, path = dtw(C)
        if "mcd" in want:
            row["mcd_dtw"] = mcd(rf.mc, df.mc, path, frames=rf.speech)
        if "f0" in want:
            fz = compare_f0(rf.f0, df.f0, path)
            for k in ("f0_rmse_cents", "f0_bias_cents", "vde", "f0_corr"):
                row[k] = fz[k]
            if fz.get("error"):
                errors.append(fz["error"])
    # PESQ / STOI on time-aligned signals
    ratio = row["duration_ratio"]
    if want & {"pesq", "stoi"}:
        r16, d16 = rf.y16, df.y16
        comparable = 1.0 / cfg.max_duration_ratio <= ratio <= cfg.max_duration_ratio
        short = [f"{w} is too short for PESQ/STOI: {a.duration:.2f} s < {MIN_PESQ_SECONDS} s"
                 for w, a in (("reference", ra), ("candidate", da)) if a.duration < MIN_PESQ_SECONDS]
        if r_silent or d_silent:
            pass  # reason already recorded
        elif short:
            errors += short
        elif not comparable:
            errors.append(f"PESQ/STOI: not comparable, durations differ by a factor {ratio:.2f}")
        else:
            if abs(len(d16) - len(r16)) <= cfg.trim_tolerance_s * ANALYSIS_SR or path is None:
                row["alignment"] = "trim"
                d16 = np.pad(d16, (0, max(0, len(r16) - len(d16))))[: len(r16)]
            else:
                row["alignment"] = "dtw"
                hop = int(round(cfg.frame_period * ANALYSIS_SR / 1000))
                d16 = warp_to_reference(d16, path, hop=hop, n_ref_samples=len(r16))
            if "pesq" in want:
                for mode in ("wb", "nb"):
                    v, e = pesq_score(r16, d16, sr=ANALYSIS_SR, mode=mode)
                    row[f"pesq_{mode}"] = v
                    if e:
                        errors.append(e)
            if "stoi" in want:
                s, es, errs = stoi_scores(r16, d16, sr=ANALYSIS_SR)
                row["stoi"], row["estoi"] = s, es
                errors += errs
    row["notes"] = "; ".join(notes) or None
    row["error"] = "; ".join(errors) or None
    return row


def _fill_nonintrusive(row: dict[str, Any], feats: Features | None, audio: Audio) -> None:
    from quality.metrics.signal import signal_metrics  # noqa: PLC0415

    sig = feats.signal if feats is not None else signal_metrics(audio.y, sr=audio.sr)
    row.update({k: sig[k] for k in sig})
    if feats is not None:
        row.update(feats.f0_stats)
        row.update(feats.dnsmos)


# ---------------------------------------------------------------- directories

def wav_names(d: Path) -> dict[str, Path]:
    """Entries of ``d`` whose name ends in .wav (any case), by stem. Directories named .wav count
    (they get their own error), other files are ignored."""
    return {p.stem: p for p in sorted(Path(d).iterdir()) if p.name.lower().endswith(".wav")}


def match_dirs(refdir: Path, degdir: Path) -> list[tuple[str, Path | None, Path | None]]:
    """``(name, ref, deg)`` for the union of names; a side is None when that file is missing."""
    for d in (refdir, degdir):
        if not Path(d).is_dir():
            raise AudioError("not a directory", where=str(d))
    r, c = wav_names(Path(refdir)), wav_names(Path(degdir))
    return [(n, r.get(n), c.get(n)) for n in sorted(set(r) | set(c))]


def _score_task(args: tuple[str, Path | None, Path | None, ScoreConfig, Path | None, Path | None]) -> dict[str, Any]:
    name, ref, deg, cfg, cache_dir, prompt = args
    if ref is None or deg is None:
        row = _empty_row(name)
        row["ref_path"], row["deg_path"] = (str(ref) if ref else None), (str(deg) if deg else None)
        row["error"] = (f"no reference file named {name}.wav" if ref is None
                        else f"no candidate file named {name}.wav")
        return row
    try:
        return score_pair(ref, deg, config=cfg, name=name, cache_dir=cache_dir, prompt=prompt)
    except Exception as exc:  # last resort: one pair's bug must not end the run
        row = _empty_row(name)
        row["ref_path"], row["deg_path"] = str(ref), str(deg)
        row["error"] = f"unexpected {type(exc).__name__}: {exc}"
        return row


def score_pairs(tasks: Iterable[tuple[str, Path | None, Path | None]], *, config: ScoreConfig | None = None,
                jobs: int | None = None, progress: bool = True, cache_dir: Path | None = None,
                prompts: Mapping[str, Path] | None = None) -> list[dict[str, Any]]:
    """Score many pairs, in parallel when ``jobs`` != 1; rows come back in input order.

    ``prompts`` maps a name to the speaker's prompt audio for ``speaker_similarity``.
    """
    cfg = config or ScoreConfig()
    args = [(n, r, d, cfg, cache_dir, (prompts or {}).get(n)) for n, r, d in tasks]
    return run_parallel(_score_task, args, jobs=jobs, progress=progress, config=cfg, label="scoring")


def _analyse_task(args: tuple[Path, ScoreConfig, Path | None]) -> Features | str:
    path, cfg, cache_dir = args
    try:
        feats = reference_features(load(path), cfg, cache_dir=cache_dir)
    except AudioError as exc:
        return exc.one_line()
    except Exception as exc:  # last resort: one file's bug must not end the run
        return f"{path}: unexpected {type(exc).__name__}: {exc}"
    return replace(feats, y16=np.zeros(0))  # the samples stay behind: workers return plain data


def analyse_files(paths: Iterable[Path], *, config: ScoreConfig | None = None, jobs: int | None = None,
                  progress: bool = True, cache_dir: Path | Sequence[Path | None] | None = None) -> list[Features | str]:
    """Per-file analysis (signal figures, F0, mel-cepstra, and DNSMOS / speaker embedding when
    ``config.metrics`` asks), in parallel; a file that cannot be read gives its one-line error.

    ``cache_dir`` is one features cache for every file, or one per file (None: not cached).
    """
    cfg = config or ScoreConfig()
    paths = [Path(p) for p in paths]
    caches = list(cache_dir) if isinstance(cache_dir, (list, tuple)) else [cache_dir] * len(paths)
    args = [(p, cfg, c) for p, c in zip(paths, caches)]
    return run_parallel(_analyse_task, args, jobs=jobs, progress=progress, config=cfg, label="analysing")


def run_parallel(fn: Callable[[Any], Any], args: list[Any], *, jobs: int | None, progress: bool,
                 config: ScoreConfig, label: str) -> list[Any]:
    """``[fn(a) for a in args]`` on ``jobs`` worker processes (all cores by default), in input order;
    inside :func:`quality.cluster.on_cluster`, on that Dask cluster's workers instead (``jobs`` unused)."""
    from quality.cluster import current, map_ordered  # noqa: PLC0415

    jobs = jobs or os.cpu_count() or 1
    out: list[Any] = [None] * len(args)
    bar = _progress(progress, len(args), label)
    cluster = current()
    with bar as (advance), single_thread_blas():
        if cluster is not None and args:
            out = map_ordered(fn, args, cluster, config=config, advance=advance, label=label,
                              lost=lambda a, exc: _lost(fn, a, exc))
        elif jobs == 1 or len(args) <= 1:
            for i, a in enumerate(args):
                out[i] = fn(a)
                advance()
        else:
            _warm_imports(config)  # forked workers inherit them instead of importing (and loading) each
            with ProcessPoolExecutor(max_workers=min(jobs, len(args)), initializer=_worker_init) as pool:
                futs = {pool.submit(fn, a): i for i, a in enumerate(args)}
                for fut in as_completed(futs):
                    out[futs[fut]] = fut.result()
                    advance()
    return out


def _lost(fn: Callable[[Any], Any], arg: Any, exc: BaseException) -> Any:
    """The result of a task the cluster could not run: the pair's error row, or the file's error."""
    why = f"not run on the cluster: {type(exc).__name__}: {exc}"
    if fn is _score_task:
        name, ref, deg = arg[:3]
        row = _empty_row(name)
        row["ref_path"], row["deg_path"] = (str(ref) if ref else None), (str(deg) if deg else None)
        row["error"] = why
        return row
    return f"{arg[0]}: {why}"


def single_thread_blas():  # noqa: ANN201
    """Context manager limiting BLAS to one thread: the matrices here are small, and OpenBLAS's
    thread start-up made the DTW cost matrix 6x slower (and fights the worker processes for cores)."""
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415

        return threadpool_limits(limits=1, user_api="blas")
    except Exception:  # threadpoolctl missing or unusable: run as is
        import contextlib  # noqa: PLC0415

        return contextlib.nullcontext()


def _worker_init() -> None:
    single_thread_blas()  # not used as a context: the limit stays for the worker's life
    if "torch" in sys.modules:  # the speaker encoder: one thread a worker, the workers share the cores
        sys.modules["torch"].set_num_threads(1)


def _warm_imports(config: ScoreConfig) -> None:
    """Import (and load the models of) what the workers will need, once, before they fork. The speaker
    encoder is only loaded here, never run: its first forward pass happens in the workers."""
    import pesq  # noqa: F401, PLC0415
    import pystoi  # noqa: F401, PLC0415
    import scipy.signal  # noqa: F401, PLC0415

    from quality._deps import pyworld  # noqa: PLC0415

    pyworld()
    if "dnsmos" in config.metrics:
        from quality.metrics.dnsmos import warm_up  # noqa: PLC0415

        warm_up()
    if "speaker_similarity" in config.metrics:
        from quality.metrics.speaker import _encoder  # noqa: PLC0415

        _encoder()


class _progress:
    """A rich progress bar on stderr (or nothing); used as ``with _progress(on, n) as advance``."""

    def __init__(self, on: bool, total: int, label: str = "scoring"):
        self.on, self.total, self._p, self.label = on and total > 1, total, None, label

    def __enter__(self):  # noqa: ANN204
        if not self.on:
            return lambda: None
        from rich.console import Console  # noqa: PLC0415
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn  # noqa: PLC0415

        self._p = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                           TimeRemainingColumn(), console=Console(stderr=True), transient=True)
        self._p.__enter__()
        tid = self._p.add_task(self.label, total=self.total)
        return lambda: self._p.advance(tid)

    def __exit__(self, *exc: Any) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)


def score_dirs(refdir: str | os.PathLike[str], degdir: str | os.PathLike[str], *, jobs: int | None = None,
               config: ScoreConfig | None = None, progress: bool = True, cache_dir: Path | None = None):
    """Score every candidate in ``degdir`` against the same-named reference in ``refdir``.

    Returns
    -------
    pandas.DataFrame
        One row a name in either directory, columns :data:`SCORE_COLUMNS`; a name missing on one
        side gets a row with an ``error``.
    """
    import pandas as pd  # noqa: PLC0415

    rows = score_pairs(match_dirs(Path(refdir), Path(degdir)), config=config, jobs=jobs,
                       progress=progress, cache_dir=cache_dir)
    return rows_frame(rows)


def rows_frame(rows: list[dict[str, Any]]):
    import pandas as pd  # noqa: PLC0415

    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))


def clean_row(row: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe copy: NaN -> None, numpy scalars -> Python."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, (np.floating, float)):
            v = float(v)
            out[k] = None if not np.isfinite(v) else round(v, 6)
        elif isinstance(v, np.integer):
            out[k] = int(v)
        else:
            out[k] = v
    return out
