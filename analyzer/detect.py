"""Anomaly detectors on feature frames, in scikit-learn's estimator style.

Score sign (pyod's convention, used everywhere here): **higher = more abnormal**; labels are
**0 = normal, 1 = anomalous**; ``threshold_`` is the score above which a sample is anomalous.

* :class:`WindowDetector` — time windows from :class:`analyzer.features.WindowFeatures`:
  IsolationForest on robustly scaled features + template novelty + error bursts + failure ratio
  + latency, combined into one score with per-window reasons (:meth:`WindowDetector.explain`).
* :class:`SessionDetector` — id-grouped count matrices from
  :class:`analyzer.features.SessionFeatures`: Invariants Mining (default), PCA SPE, or
  IsolationForest; templates unseen at fit time count as violations.

Estimator contract: ``__init__`` only stores parameters, ``fit`` returns ``self``, learned state
ends in ``_``, scoring before ``fit`` raises :class:`sklearn.exceptions.NotFittedError`.
"""
from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from analyzer.features import template_columns
from ttsops.errors import ConfigError

__all__ = ["BaseDetector", "WindowDetector", "SessionDetector", "SIGNALS", "robust_z"]

#: The signals a window can be flagged by, in the order reasons are listed.
SIGNALS = ("novelty", "burst", "failure_ratio", "latency", "iforest")


def robust_z(x: np.ndarray, ref: np.ndarray | None = None, *, floor: float = 1e-9) -> np.ndarray:
    """(x - median(ref)) / max(1.4826 * MAD(ref), floor). ``ref`` defaults to ``x``; NaNs ignored."""
    x = np.asarray(x, dtype=float)
    ref = x if ref is None else np.asarray(ref, dtype=float)
    ref = ref[np.isfinite(ref)]
    if ref.size == 0:
        return np.zeros_like(x)
    med = np.median(ref)
    mad = 1.4826 * np.median(np.abs(ref - med))
    return (x - med) / max(mad, floor)


class BaseDetector(BaseEstimator):
    """Shared threshold step (pyod's ``_process_decision_scores``).

    Subclasses set ``decision_scores_`` (training scores, higher = more abnormal) in ``fit`` and
    call :meth:`_process_decision_scores`, which sets ``threshold_`` and ``labels_``:

    * ``contamination`` a float in (0, 0.5]: ``threshold_`` is the ``1 - contamination`` quantile
      of the training scores;
    * ``contamination="auto"``: the subclass's data-driven ``_auto_threshold()``.
    """

    def _process_decision_scores(self) -> None:
        c = self.contamination
        if c == "auto":
            self.threshold_ = float(self._auto_threshold(self.decision_scores_))
        else:
            self.threshold_ = float(np.quantile(self.decision_scores_, 1.0 - float(c)))
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)

    def _auto_threshold(self, scores: np.ndarray) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def _check_contamination(self) -> None:
        c = self.contamination
        if c == "auto":
            return
        if isinstance(c, str) or not (0.0 < float(c) <= 0.5):
            raise ConfigError(f"contamination={c!r} must be 'auto' or a float in (0, 0.5]",
                              where="contamination", fix="e.g. contamination=0.05")

    def decision_function(self, X: Any) -> np.ndarray:
        """Same as :meth:`score_samples`: higher = more abnormal."""
        return self.score_samples(X)

    def predict(self, X: Any) -> np.ndarray:
        """0 = normal, 1 = anomalous (score above ``threshold_``)."""
        check_is_fitted(self, "threshold_")
        return (self.score_samples(X) > self.threshold_).astype(int)

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit on X and return its labels (0/1)."""
        return self.fit(X).predict(X)


# --------------------------------------------------------------------------------------------
# windows


_WINDOW_COLUMNS = ("records", "errors", "error_events", "failure_ratio")


def _check_window_frame(X: Any) -> None:
    if not isinstance(X, pd.DataFrame):
        raise ConfigError(f"WindowDetector expects the DataFrame of WindowFeatures.frame(), got {type(X).__name__}")
    missing = [c for c in _WINDOW_COLUMNS if c not in X.columns]
    if missing:
        raise ConfigError(f"window frame lacks column(s) {', '.join(missing)}",
                          fix="build it with analyzer.features.WindowFeatures(...).frame()")


class WindowDetector(BaseDetector):
    """Anomalous time windows: IsolationForest + template novelty + error bursts + failure ratio
    + latency, one combined score.

    Each signal is scaled so that 1.0 is its own alarm level; the window's score is the maximum
    over signals, ``threshold_ = 1.0``, and :meth:`explain` lists which signals passed 1.0.

    Parameters
    ----------
    contamination : "auto" or float
        IsolationForest alarm level: ``"auto"`` = robust z-score ``iforest_z`` over the training
        scores; a float = that quantile of the training scores.
    robust_fraction : float
        Fit on the run itself: after a first fit the most abnormal ``robust_fraction`` of windows
        are dropped and the forest refitted, so incidents do not become the norm.
    burst_z : float
        Robust z-score (vs the fit frame's median/MAD) above which error counts, failure ratio
        and latency fire.
    min_errors : int
        A window needs at least this many errors (or failed requests) to fire burst or
        failure ratio.
    min_failure_ratio : float
        A window's failure ratio must also exceed this to fire.
    iforest_z, iforest_quantile : float
        With ``contamination="auto"`` the forest fires above both the robust z-score
        ``iforest_z`` of its training scores and the ``iforest_quantile`` of the (refitted
        forest's) scores of all fit windows: on a self-fit the forest alone flags at most
        ``1 - iforest_quantile`` of the windows, so heterogeneous but normal traffic (a busy mode
        in a tenth of the windows, dropped by the refit) stays quiet. Template columns present in
        at most ``rare_fraction`` of the fit windows are left to the novelty signal.
    rare_fraction : float
        Error templates present in at most this fraction of the fit windows (and at least in
        one) are rare: their first window fires novelty. Templates absent from the fit frame
        (a baseline) always fire novelty in the window they first appear.
    min_windows : int
        Below this many active fit windows the forest is skipped (warning): bursts, failure
        ratio, latency and novelty still work.

    Only windows with records are learned from (empty windows between them are gaps, scored but
    never the norm).
    n_estimators, random_state : forwarded to :class:`sklearn.ensemble.IsolationForest`.

    Attributes
    ----------
    detector_ : IsolationForest or None
    columns_ : list of str — feature columns of the fit frame
    templates_ : set of str — template columns with a non-zero count in the fit frame
    decision_scores_, threshold_ (= 1.0), labels_ : as in pyod
    """

    def __init__(self, *, contamination: str | float = "auto", robust_fraction: float = 0.1,
                 burst_z: float = 4.0, min_errors: int = 3, min_failure_ratio: float = 0.2,
                 iforest_z: float = 4.0, iforest_quantile: float = 0.99, rare_fraction: float = 0.05, min_windows: int = 8,
                 n_estimators: int = 100, random_state: int | None = 0):
        self.contamination = contamination
        self.robust_fraction = robust_fraction
        self.burst_z = burst_z
        self.min_errors = min_errors
        self.min_failure_ratio = min_failure_ratio
        self.iforest_z = iforest_z
        self.iforest_quantile = iforest_quantile
        self.rare_fraction = rare_fraction
        self.min_windows = min_windows
        self.n_estimators = n_estimators
        self.random_state = random_state

    # -- helpers
    _IGNORED = ("new_templates",)

    def _features(self, frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
        X = frame.reindex(columns=columns).to_numpy(dtype=float, copy=True)
        X = np.where(np.isfinite(X), X, np.nan)
        fill = self.center_
        X = np.where(np.isnan(X), fill, X)
        X = np.sign(X) * np.log1p(np.abs(X))
        return (X - self.loc_) / self.scale_

    def _validate(self) -> None:
        self._check_contamination()
        for name, lo, hi in (("robust_fraction", 0.0, 0.5), ("rare_fraction", 0.0, 1.0),
                             ("iforest_quantile", 0.5, 1.0)):
            v = getattr(self, name)
            if not lo <= v < hi:
                raise ConfigError(f"{name}={v!r} must be in [{lo}, {hi})", where=name)
        for name in ("burst_z", "iforest_z"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive", where=name, fix="e.g. 4.0")

    def fit(self, X: pd.DataFrame, y: Any = None) -> "WindowDetector":
        """Learn what normal windows look like from a frame of :meth:`WindowFeatures.frame`
        (a baseline run, or the run itself)."""
        self._validate()
        _check_window_frame(X)
        if len(X) and "records" in X:
            active = X["records"].to_numpy(dtype=float) > 0
            # learn from windows that saw traffic: in sparse logs most windows are empty, and
            # measuring against them would make every busy window look abnormal
            frame = X[active] if active.any() else X
        else:
            frame = X
        self.n_windows_ = len(frame)
        tcols = template_columns(frame)
        present = frame[tcols].to_numpy() > 0 if tcols else np.zeros((len(frame), 0), bool)
        self.templates_ = {c for c, p in zip(tcols, present.any(axis=0)) if p}
        self.template_presence_ = dict(zip(tcols, present.mean(axis=0) if len(frame) else np.zeros(len(tcols))))
        # the forest learns the mix of the templates that make up the traffic; a template seen in
        # at most rare_fraction of the windows is the novelty signal's business (a window holding
        # one or two such templates is always "isolated", which says nothing in sparse logs)
        rare = {c for c in tcols if self.template_presence_[c] <= self.rare_fraction}
        cols = [c for c in frame.columns if c not in self._IGNORED and c not in rare]
        self.columns_ = cols
        self.error_templates_ = {f"tpl_{t}" for t in frame.attrs.get("error_templates", [])}
        # references for the robust signals
        self.ref_errors_ = (frame["errors"] + frame["error_events"]).to_numpy(float) if len(frame) else np.zeros(1)
        self.ref_failure_ = frame["failure_ratio"].to_numpy(float) if "failure_ratio" in frame else np.zeros(1)
        lat = [c for c in frame.columns if c.startswith("latency_p")]
        self.latency_column_ = max(lat, key=lambda c: float(c[9:].replace("_", "."))) if lat else None
        self.ref_latency_ = (frame[self.latency_column_].to_numpy(float) if self.latency_column_
                             else np.array([np.nan]))
        # scaling for the forest: log1p then median / IQR
        raw = frame[cols].to_numpy(dtype=float, copy=True) if len(frame) else np.zeros((1, len(cols)))
        raw = np.where(np.isfinite(raw), raw, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            center = np.nanmedian(raw, axis=0)
        self.center_ = np.where(np.isfinite(center), center, 0.0)
        raw = np.where(np.isnan(raw), self.center_, raw)
        L = np.sign(raw) * np.log1p(np.abs(raw))
        self.loc_ = np.median(L, axis=0)
        q75, q25 = np.percentile(L, [75, 25], axis=0)
        self.scale_ = np.where(q75 - q25 > 1e-9, q75 - q25, np.maximum(np.abs(self.loc_), 1.0))
        self.detector_ = None
        self.if_threshold_ = np.inf
        if len(frame) < self.min_windows:
            warnings.warn(f"only {len(frame)} active window(s) (< min_windows={self.min_windows}): IsolationForest "
                          "skipped; bursts, novelty, failure ratio and latency only", RuntimeWarning, stacklevel=2)
        else:
            from sklearn.ensemble import IsolationForest

            Z = self._features(frame, cols)
            kw = dict(n_estimators=self.n_estimators, random_state=self.random_state)
            forest = IsolationForest(**kw).fit(Z)
            keep = np.ones(len(Z), bool)
            if self.robust_fraction > 0:
                s = -forest.score_samples(Z)
                keep = s <= np.quantile(s, 1.0 - self.robust_fraction)
                if keep.sum() >= max(2, self.min_windows // 2):
                    forest = IsolationForest(**kw).fit(Z[keep])
                else:
                    keep[:] = True
            self.detector_ = forest
            s = -forest.score_samples(Z)
            if self.contamination == "auto":
                # robust z over all fit windows, and never inside the bulk of the normal ones
                # (the top 1 - iforest_quantile of all fit windows: the windows the refit dropped
                # score high by construction, and a busy but normal mode can be a tenth of them)
                med = np.median(s)
                mad = 1.4826 * np.median(np.abs(s - med))
                self.if_threshold_ = float(max(med + self.iforest_z * max(mad, 0.01),
                                               np.quantile(s, self.iforest_quantile)))
            else:
                self.if_threshold_ = float(np.quantile(s, 1.0 - float(self.contamination)))
            self.if_center_ = float(np.median(s))
        self.threshold_ = 1.0
        self.decision_scores_ = self._signals(X).max(axis=1).to_numpy() if len(X) else np.zeros(0)
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        return self

    def _auto_threshold(self, scores: np.ndarray) -> float:
        return 1.0

    def _signals(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per-signal scores, each scaled so 1.0 = its alarm level."""
        _check_window_frame(frame)
        n = len(frame)
        out = pd.DataFrame(0.0, index=frame.index, columns=list(SIGNALS))
        if n == 0:
            return out
        # novelty: first window in which a template unseen in the fit frame (or a rare error
        # template of the fit frame) appears
        tcols = template_columns(frame)
        if tcols:
            counts = frame[tcols].to_numpy() > 0
            nov = np.zeros(n)
            rare_lim = max(self.rare_fraction, 1.0 / max(self.n_windows_, 1))
            err_here = {f"tpl_{t}" for t in frame.attrs.get("error_templates", [])}
            for j, c in enumerate(tcols):
                col = counts[:, j]
                if not col.any():
                    continue
                if c not in self.templates_:
                    novel = True
                else:
                    is_err = c in self.error_templates_ or c in err_here
                    novel = is_err and self.template_presence_.get(c, 0.0) <= rare_lim \
                        and self.n_windows_ >= self.min_windows
                if novel:
                    nov[int(np.argmax(col))] += 1
            out["novelty"] = np.where(nov > 0, 1.0 + nov, 0.0)
        # error bursts
        errors = (frame["errors"] + frame["error_events"]).to_numpy(float)
        ref = self.ref_errors_
        med = float(np.median(ref))
        scale = max(1.4826 * float(np.median(np.abs(ref - med))), float(np.sqrt(max(med, 1.0))))
        z = (errors - med) / scale
        out["burst"] = np.where(errors >= self.min_errors, np.maximum(z, 0.0) / self.burst_z, 0.0)
        # failure ratio
        fr = frame["failure_ratio"].to_numpy(float)
        rf = self.ref_failure_
        fmed = float(np.median(rf))
        fscale = max(1.4826 * float(np.median(np.abs(rf - fmed))), 0.05)
        fz = (fr - fmed) / fscale
        fails = np.maximum(errors, frame["failed_requests"].to_numpy(float)) if "failed_requests" in frame else errors
        fire = (fr >= self.min_failure_ratio) & (fails >= self.min_errors)  # a ratio of 1/1 is noise
        out["failure_ratio"] = np.where(fire, np.maximum(fz, 0.0) / self.burst_z, 0.0)
        # latency (highest latency quantile column)
        if self.latency_column_ and self.latency_column_ in frame:
            lat = frame[self.latency_column_].to_numpy(float)
            rl = self.ref_latency_[np.isfinite(self.ref_latency_)]
            if rl.size:
                lmed = float(np.median(rl))
                # one-sided signal, so the spread of the upper half counts: per-window latency is
                # often bimodal (fast and slow requests, windows with one request), and when more
                # than half the windows sit in the fast mode the MAD collapses and every slow
                # window fires; the 90th percentile (normal: median + 1.28 sigma) does not
                upper = (float(np.quantile(rl, 0.9)) - lmed) / 1.2816
                lscale = max(1.4826 * float(np.median(np.abs(rl - lmed))), upper, 0.1 * abs(lmed), 1e-3)
                lz = np.where(np.isfinite(lat), (lat - lmed) / lscale, 0.0)
                out["latency"] = np.maximum(lz, 0.0) / self.burst_z
        # isolation forest
        if self.detector_ is not None:
            s = -self.detector_.score_samples(self._features(frame, self.columns_))
            span = max(self.if_threshold_ - self.if_center_, 1e-9)
            score = np.maximum(s - self.if_center_, 0.0) / span
            if "records" in frame:  # an empty window is a gap, not an odd mix of traffic
                score = np.where(frame["records"].to_numpy(dtype=float) > 0, score, 0.0)
            out["iforest"] = score
        return out

    def score_samples(self, X: pd.DataFrame) -> np.ndarray:
        """Combined anomaly score per window (higher = more abnormal; > ``threshold_`` = 1.0 fires)."""
        check_is_fitted(self, "threshold_")
        return self._signals(X).max(axis=1).to_numpy()

    def explain(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per window: each signal's scaled score, ``score``, ``anomalous`` (0/1) and ``reasons``
        (comma-separated signal names that fired, strongest first; "" when none)."""
        check_is_fitted(self, "threshold_")
        sig = self._signals(X)
        out = sig.copy()
        out["score"] = sig.max(axis=1)
        out["anomalous"] = (out["score"] > self.threshold_).astype(int)
        vals = sig.to_numpy()
        names = list(sig.columns)
        reasons = []
        for row in vals:
            fired = [(v, names[j]) for j, v in enumerate(row) if v > self.threshold_]
            reasons.append(",".join(nm for _, nm in sorted(fired, key=lambda t: -t[0])))
        out["reasons"] = reasons
        return out


# --------------------------------------------------------------------------------------------
# sessions


def _tfidf(X: np.ndarray, idf: np.ndarray, mean: np.ndarray) -> np.ndarray:
    return X * idf - mean


def _term(coef: float, col: Any) -> str:
    c = int(coef)
    return f"t{col}" if c == 1 else f"-t{col}" if c == -1 else f"{c}*t{col}"


class SessionDetector(BaseDetector):
    """Anomalous sessions (block ids, request ids) from their template count vectors.

    Parameters
    ----------
    method : {"invariants", "pca", "iforest"}
        ``"invariants"`` (default): Invariants Mining (Lou et al., USENIX ATC 2010, as in
        loglizer): integer linear relations between template counts that hold in at least
        ``support`` of the sessions (``x_i = 0`` for rare templates, ``3 x_i - x_j = 0``...);
        the score is the number of relations a session breaks, ``threshold_ = 0.5`` (any broken
        relation) — no labels and no contamination guess needed.
        ``"pca"``: TF-IDF weighted, mean-centred counts; score = squared prediction error (SPE)
        off the principal subspace holding ``variance`` of the variance; ``threshold_`` = the
        Jackson–Mudholkar Q-statistic at ``alpha``.
        ``"iforest"``: IsolationForest on the raw counts; ``threshold_`` from ``contamination``
        (``"auto"``: robust z-score 3.5 on the training scores).
    support : float
        Invariants: fraction of sessions a relation must hold in.
    max_invariant_len : int
        Invariants: largest number of templates in one relation (1..4).
    max_combinations : int
        Invariants: budget of template combinations to try; with many frequent templates the
        longest relations are dropped first (warning).
    variance, alpha : float
        PCA: retained variance, significance of the Q-statistic.
    contamination : "auto" or float
    novelty : bool
        Count each template unseen at fit time as one more broken relation (all methods).
    random_state : int or None

    Attributes
    ----------
    columns_ : list — template ids of the fit matrix (DataFrame columns, else 0..m-1)
    invariants_ : list of (column indices, integer coefficients) — method "invariants"
    detector_ : IsolationForest — method "iforest"
    components_, q_threshold_ : method "pca"
    decision_scores_, threshold_, labels_ : as in pyod

    Pass pandas DataFrames (:meth:`SessionFeatures.frame`) to align columns between fit and
    scoring by template id; plain arrays must have the fit's columns in the fit's order.
    """

    def __init__(self, method: str = "invariants", *, support: float = 0.98, max_invariant_len: int = 3,
                 max_combinations: int = 20000, variance: float = 0.95, alpha: float = 0.001,
                 contamination: str | float = "auto", novelty: bool = True, random_state: int | None = 0):
        self.method = method
        self.support = support
        self.max_invariant_len = max_invariant_len
        self.max_combinations = max_combinations
        self.variance = variance
        self.alpha = alpha
        self.contamination = contamination
        self.novelty = novelty
        self.random_state = random_state

    _METHODS = ("invariants", "pca", "iforest")

    def _validate(self) -> None:
        if self.method not in self._METHODS:
            raise ConfigError(f"method={self.method!r} is unknown", where="method",
                              fix=f"one of {', '.join(self._METHODS)}")
        if not 0.5 < self.support <= 1.0:
            raise ConfigError(f"support={self.support!r} must be in (0.5, 1]", where="support", fix="e.g. 0.98")
        if not 1 <= int(self.max_invariant_len) <= 4:
            raise ConfigError("max_invariant_len must be 1..4", where="max_invariant_len")
        if not 0.0 < self.variance < 1.0 or not 0.0 < self.alpha < 0.5:
            raise ConfigError("variance must be in (0, 1) and alpha in (0, 0.5)", where="variance/alpha")
        self._check_contamination()

    def _split(self, X: Any, fitting: bool) -> tuple[np.ndarray, np.ndarray]:
        """Aligned count matrix and per-row count of templates unseen at fit time."""
        if isinstance(X, pd.DataFrame):
            if fitting:
                self.columns_ = list(X.columns)
                return X.to_numpy(dtype=float), np.zeros(len(X))
            fitted = set(self.columns_)
            extra = [c for c in X.columns if c not in fitted]
            A = X.reindex(columns=self.columns_, fill_value=0).to_numpy(dtype=float)
            unseen = (X[extra].to_numpy() > 0).sum(axis=1).astype(float) if extra else np.zeros(len(X))
            return A, unseen
        A = np.asarray(X, dtype=float)
        if A.ndim != 2:
            raise ConfigError(f"expected a 2-D count matrix, got shape {A.shape}")
        if fitting:
            self.columns_ = list(range(A.shape[1]))
        elif A.shape[1] != len(self.columns_):
            raise ConfigError(f"matrix has {A.shape[1]} columns, the detector was fitted on {len(self.columns_)}",
                              fix="pass DataFrames (SessionFeatures.frame()) to align by template id")
        return A, np.zeros(len(A))

    def fit(self, X: Any, y: Any = None) -> "SessionDetector":
        """Fit on a sessions x templates count matrix (labels are never used)."""
        self._validate()
        A, _ = self._split(X, fitting=True)
        if len(A) == 0:
            raise ConfigError("no sessions to fit on", fix="check the --sessions regex matches the logs")
        self.n_features_in_ = A.shape[1]
        self.present_ = A.sum(axis=0) > 0
        if self.method == "invariants":
            self.invariants_ = self._mine(A)
            if not self.invariants_:
                warnings.warn("no invariant holds in the sessions: nothing to violate", RuntimeWarning, stacklevel=2)
        elif self.method == "pca":
            self._fit_pca(A)
        else:
            from sklearn.ensemble import IsolationForest

            self.detector_ = IsolationForest(random_state=self.random_state).fit(A)
        self.decision_scores_ = self._score(A, np.zeros(len(A)))
        self._process_decision_scores()
        return self

    def _auto_threshold(self, scores: np.ndarray) -> float:
        if self.method == "invariants":
            return 0.5
        if self.method == "pca":
            return self.q_threshold_
        # robust z 3.5; when most sessions share one pattern the MAD is 0: fall back to the std
        med = np.median(scores)
        mad = 1.4826 * np.median(np.abs(scores - med))
        scale = mad if mad > 1e-9 else float(np.std(scores))
        return float(med + 3.5 * max(scale, 1e-9))

    # -- invariants mining
    def _mine(self, A: np.ndarray) -> list[tuple[tuple[int, ...], np.ndarray]]:
        """Invariants Mining on the distinct rows (weighted by their counts: same relations, a
        fraction of the work). Single-template relations ``x = 0`` first; longer relations only
        among templates that are not already such, skipping supersets of relations found."""
        U, counts = np.unique(A, axis=0, return_counts=True)
        weight = counts / counts.sum()
        root = np.sqrt(counts)[:, None]
        need = self.support
        cols = [j for j in range(A.shape[1]) if self.present_[j]]
        invs: list[tuple[tuple[int, ...], np.ndarray]] = []
        found: set[frozenset] = set()
        max_len = int(self.max_invariant_len)
        for length in range(1, max_len + 1):
            if length == 2:
                cols = [j for j in cols if frozenset((j,)) not in found]
                n_combos = sum(math.comb(len(cols), k) for k in range(2, max_len + 1))
                while max_len > 2 and n_combos > self.max_combinations:
                    max_len -= 1
                    n_combos = sum(math.comb(len(cols), k) for k in range(2, max_len + 1))
                if max_len < int(self.max_invariant_len):
                    warnings.warn(f"{len(cols)} frequent templates: invariants limited to {max_len} templates "
                                  f"(max_combinations={self.max_combinations})", RuntimeWarning, stacklevel=3)
                if length > max_len:
                    break
            if length > max_len:
                break
            for combo in itertools.combinations(cols, length):
                if length > 1 and any(frozenset(sub) in found for k in range(1, length)
                                      for sub in itertools.combinations(combo, k)):
                    continue
                sub = U[:, combo]
                if length == 1:
                    v = np.ones(1)
                else:
                    _, _, vt = np.linalg.svd(sub * root, full_matrices=False)
                    v = vt[-1]
                    if np.any(np.abs(v) < 1e-8):
                        continue  # a sub-relation: found at a shorter length if it holds
                    v = v / np.min(np.abs(v))
                for scale in (1, 2, 3):
                    w = np.round(v * scale)
                    if np.any(w == 0) or np.abs(v * scale - w).max() > 0.1:
                        continue
                    if weight[np.abs(sub @ w) < 0.5].sum() >= need:
                        invs.append((combo, w))
                        found.add(frozenset(combo))
                        break
        return invs

    # -- pca
    def _fit_pca(self, A: np.ndarray) -> None:
        n = len(A)
        df = (A > 0).sum(axis=0)
        self.idf_ = np.log((n + 1) / (df + 1))
        self.mean_ = (A * self.idf_).mean(axis=0)
        Z = _tfidf(A, self.idf_, self.mean_)
        _, S, Vt = np.linalg.svd(Z, full_matrices=False)
        ev = S ** 2 / max(n - 1, 1)
        total = ev.sum()
        k = int(np.searchsorted(np.cumsum(ev) / total, self.variance) + 1) if total > 0 else 0
        k = min(k, len(ev))
        self.components_ = Vt[:k]
        from scipy.stats import norm

        lam = ev[k:]
        phi = [float((lam ** i).sum()) for i in (1, 2, 3)]
        if phi[0] <= 0 or phi[1] <= 0:
            self.q_threshold_ = 1e-9
            return
        h0 = 1.0 - 2.0 * phi[0] * phi[2] / (3.0 * phi[1] ** 2)
        ca = float(norm.ppf(1.0 - self.alpha))
        self.q_threshold_ = float(phi[0] * (ca * np.sqrt(2 * phi[1] * h0 ** 2) / phi[0] + 1.0
                                            + phi[1] * h0 * (h0 - 1.0) / phi[0] ** 2) ** (1.0 / h0))

    def _score(self, A: np.ndarray, unseen: np.ndarray) -> np.ndarray:
        if self.method == "invariants":
            s = np.zeros(len(A))
            for combo, w in self.invariants_:
                s += np.abs(A[:, combo] @ w) >= 0.5
        elif self.method == "pca":
            Z = _tfidf(A, self.idf_, self.mean_)
            R = Z - (Z @ self.components_.T) @ self.components_
            s = (R ** 2).sum(axis=1)
        else:
            s = -self.detector_.score_samples(A)
        if self.novelty and unseen.any():
            if self.method == "invariants":
                s = s + unseen
            else:  # any unseen template puts the session above the threshold
                s = np.where(unseen > 0, np.maximum(s, self.threshold_) + unseen, s)
        return s

    def score_samples(self, X: Any) -> np.ndarray:
        """Anomaly score per session (higher = more abnormal)."""
        check_is_fitted(self, "threshold_")
        A, unseen = self._split(X, fitting=False)
        return self._score(A, unseen)

    def violations(self, X: Any) -> list[list[str]]:
        """Method "invariants": the broken relations of each session, as readable strings
        (``"3*t1 - t2 != 0"``; ``"unseen template"`` for novelty)."""
        check_is_fitted(self, "threshold_")
        A, unseen = self._split(X, fitting=False)
        out: list[list[str]] = [[] for _ in range(len(A))]
        for combo, w in getattr(self, "invariants_", []):
            bad = np.nonzero(np.abs(A[:, combo] @ w) >= 0.5)[0]
            if not len(bad):
                continue
            text = " + ".join(_term(c, self.columns_[j]) for j, c in zip(combo, w)).replace("+ -", "- ") + " != 0"
            for i in bad:
                out[i].append(text)
        for i in np.nonzero(unseen)[0]:
            out[i].append("unseen template")
        return out
