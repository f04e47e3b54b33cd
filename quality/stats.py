"""Two-sample tests for distribution mode: baseline renders vs candidate renders, text by text.

* :func:`rank_test` -- Mann-Whitney U on one text (scipy), with Cliff's delta as the effect size;
* :func:`van_elteren` -- the stratified Wilcoxon rank-sum test (van Elteren 1960): the per-text rank
  sums weighted by ``1 / (n_t + 1)`` and pooled, so twelve texts with eight renders each give one
  test whose power grows with the number of texts while each text is only compared with itself;
* :func:`either_way` -- for two-sided metrics (pitch, duration): the per-text rank-sum z-scores
  squared and summed (chi-square), so shifts in opposite directions on different texts add up;
* :func:`shift_ci` -- a stratified bootstrap interval for the mean over texts of the median shift;
* :func:`energy_test` -- a permutation test on a distance matrix (energy distance, Szekely & Rizzo):
  are candidate renders further from baseline renders than renders of one build are from each other?

Orientation: every ``alternative`` is about the *candidate*: ``"greater"`` means candidate values
tend to be larger than baseline values.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["rank_test", "van_elteren", "either_way", "shift_ci", "energy_test", "cliffs_delta"]

Groups = Sequence[tuple[np.ndarray, np.ndarray]]   # (baseline values, candidate values) per text


def _finite(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[np.isfinite(x)]


def cliffs_delta(b: np.ndarray, c: np.ndarray) -> float:
    """P(c > b) - P(c < b) over all pairs: -1..1, 0 when the two overlap evenly."""
    b, c = _finite(b), _finite(c)
    if not len(b) or not len(c):
        return math.nan
    d = np.sign(c[:, None] - b[None, :])
    return float(d.mean())


def rank_test(b: np.ndarray, c: np.ndarray, *, alternative: str) -> tuple[float, float]:
    """Mann-Whitney U test of one text: ``(p, cliffs_delta)``; p = 1 when either side is empty or
    every value is the same (nothing to rank)."""
    from scipy.stats import mannwhitneyu  # noqa: PLC0415

    b, c = _finite(b), _finite(c)
    if len(b) < 2 or len(c) < 2 or np.ptp(np.concatenate((b, c))) == 0:
        return 1.0, cliffs_delta(b, c) if len(b) and len(c) else math.nan
    p = float(mannwhitneyu(c, b, alternative=alternative, method="auto").pvalue)
    return p, cliffs_delta(b, c)


def _rank_sums(groups: Groups) -> list[tuple[float, float, int]]:
    """Per text: (candidate rank sum minus its null mean, its null variance with ties, n)."""
    from scipy.stats import rankdata  # noqa: PLC0415

    out = []
    for b, c in groups:
        b, c = _finite(b), _finite(c)
        n1, n2 = len(c), len(b)
        n = n1 + n2
        if n1 == 0 or n2 == 0 or n < 3:
            continue
        x = np.concatenate((c, b))
        _, counts = np.unique(x, return_counts=True)
        v = n1 * n2 / 12.0 * ((n + 1) - float((counts ** 3 - counts).sum()) / (n * (n - 1)))
        out.append((float(rankdata(x)[:n1].sum()) - n1 * (n + 1) / 2.0, v, n))
    return out


def either_way(groups: Groups) -> tuple[float, float]:
    """Do the texts move, each in its own direction? ``(chi2, p)`` of the sum of squared per-text
    rank-sum z-scores (chi-square with one degree of freedom a text): a pitch that goes up for some
    speakers and down for others does not cancel out, as it would in :func:`van_elteren`."""
    from scipy.stats import chi2  # noqa: PLC0415

    zs = [d / math.sqrt(v) for d, v, _ in _rank_sums(groups) if v > 0]
    if not zs:
        return 0.0, 1.0
    stat = float(np.sum(np.square(zs)))
    return stat, float(chi2.sf(stat, df=len(zs)))


def van_elteren(groups: Groups, *, alternative: str) -> tuple[float, float]:
    """Stratified Wilcoxon rank-sum test over texts: ``(z, p)`` (normal approximation, ties corrected).

    ``z`` > 0 when candidate values rank above baseline values.
    """
    from scipy.stats import norm  # noqa: PLC0415

    num = var = 0.0
    for d, v, n in _rank_sums(groups):
        w = 1.0 / (n + 1)
        num += w * d
        var += w * w * v
    if var <= 0:
        return 0.0, 1.0
    z = num / math.sqrt(var)
    if alternative == "greater":
        p = float(norm.sf(z))
    elif alternative == "less":
        p = float(norm.cdf(z))
    else:
        p = float(2 * norm.sf(abs(z)))
    return z, p


def shift_ci(groups: Groups, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Mean over texts of ``median(candidate) - median(baseline)`` and its stratified bootstrap
    interval (renders resampled within each text and side): ``(estimate, low, high)``."""
    rng = np.random.default_rng(seed)
    est, boots = [], []
    for b, c in groups:
        b, c = _finite(b), _finite(c)
        if not len(b) or not len(c):
            continue
        est.append(float(np.median(c) - np.median(b)))
        bb = np.median(b[rng.integers(0, len(b), size=(n_boot, len(b)))], axis=1)
        cc = np.median(c[rng.integers(0, len(c), size=(n_boot, len(c)))], axis=1)
        boots.append(cc - bb)
    if not est:
        return math.nan, math.nan, math.nan
    mean_boot = np.mean(np.vstack(boots), axis=0)
    a = (1.0 - level) / 2.0
    return float(np.mean(est)), float(np.quantile(mean_boot, a)), float(np.quantile(mean_boot, 1 - a))


def _energy(D: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Energy statistic for label masks ``m`` (P x n, True = candidate): mean cross distance minus the
    mean of the two within-build mean distances."""
    mf = m.astype(np.float64)
    bf = 1.0 - mf
    nc, nb = mf.sum(1), bf.sum(1)
    DM = mf @ D                       # P x n: sum of distances from each item to candidate items
    cross = (DM * bf).sum(1) / (nb * nc)
    within_c = (DM * mf).sum(1) / np.maximum(nc * (nc - 1), 1)
    within_b = ((bf @ D) * bf).sum(1) / np.maximum(nb * (nb - 1), 1)
    return cross - 0.5 * (within_b + within_c)


def energy_test(mats: Sequence[tuple[np.ndarray, int]], *, n_perm: int = 4999,
                seed: int = 0) -> tuple[float, float, list[tuple[float, float]]]:
    """Stratified permutation test on distance matrices.

    Parameters
    ----------
    mats : sequence of ``(D, nb)``
        Per text, a symmetric distance matrix over its baseline renders (first ``nb``) then its
        candidate renders.

    Returns
    -------
    effect : float
        Mean over texts of the energy statistic (distance units): how much further candidate renders
        are from baseline renders than renders of one build are from each other.
    p : float
        One-sided permutation p-value of the summed statistic (labels shuffled within each text).
    per_text : list of ``(statistic, p)``
    """
    rng = np.random.default_rng(seed)
    total_obs, total_perm, per_text = 0.0, np.zeros(n_perm), []
    used = 0
    for D, nb in mats:
        n = D.shape[0]
        nc = n - nb
        if nb < 2 or nc < 2:
            per_text.append((math.nan, 1.0))
            continue
        obs = float(_energy(D, (np.arange(n) >= nb)[None, :])[0])
        masks = np.argsort(rng.random((n_perm, n)), axis=1) < nc
        perm = _energy(D, masks)
        per_text.append((obs, float((1 + np.sum(perm >= obs - 1e-12)) / (n_perm + 1))))
        total_obs += obs
        total_perm += perm
        used += 1
    if not used:
        return math.nan, 1.0, per_text
    p = float((1 + np.sum(total_perm >= total_obs - 1e-12)) / (n_perm + 1))
    return total_obs / used, p, per_text
