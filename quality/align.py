"""Dynamic time warping on feature frames, in plain numpy (no numba, no librosa).

The recursion ``D[i, j] = C[i, j] + min(D[i-1, j-1], D[i-1, j], D[i, j-1])`` is solved one row at a
time: with ``A[k] = C[i, k] + min(D[i-1, k-1], D[i-1, k])`` (entering row ``i`` at column ``k``) and
``S`` the running sum of row ``i`` of ``C``, ``D[i, j] = S[j] + min_{k <= j}(A[k] - S[k])``, i.e. a
``np.minimum.accumulate``. That makes the whole thing O(n·m) vector work and ~n Python steps.
"""
from __future__ import annotations

import numpy as np

__all__ = ["dtw", "dtw_path", "cost_matrix", "warp_to_reference"]


def cost_matrix(a: np.ndarray, b: np.ndarray, *, metric: str = "euclidean") -> np.ndarray:
    """Pairwise frame distances, shape ``(len(a), len(b))``; 1-D inputs are treated as scalars."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if b.ndim == 1:
        b = b[:, None]
    if metric == "euclidean":
        d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
        return np.sqrt(np.maximum(d2, 0.0))
    if metric == "cityblock":
        return np.abs(a[:, None, :] - b[None, :, :]).sum(-1)
    raise ValueError(f"unknown metric {metric!r} (use 'euclidean' or 'cityblock')")


def dtw(C: np.ndarray) -> tuple[float, np.ndarray]:
    """Accumulated cost and warping path for a cost matrix.

    Parameters
    ----------
    C : np.ndarray, shape (n, m)
        Non-negative local costs.

    Returns
    -------
    total : float
        Accumulated cost along the best path.
    path : np.ndarray, shape (k, 2), int
        ``(i, j)`` pairs from ``(0, 0)`` to ``(n-1, m-1)``, monotone, steps of (1,1), (1,0), (0,1).
    """
    C = np.asarray(C, dtype=np.float64)
    n, m = C.shape
    if n == 0 or m == 0:
        raise ValueError("DTW needs two non-empty sequences")
    D = np.empty((n, m))
    D[0] = np.cumsum(C[0])
    inf = np.array([np.inf])
    for i in range(1, n):
        prev = D[i - 1]
        diag = np.concatenate((inf, prev[:-1]))
        A = C[i] + np.minimum(diag, prev)
        S = np.cumsum(C[i])
        D[i] = S + np.minimum.accumulate(A - S)
    # backtrack
    i, j = n - 1, m - 1
    path = [(i, j)]
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            d, u, l = D[i - 1, j - 1], D[i - 1, j], D[i, j - 1]
            if d <= u and d <= l:
                i, j = i - 1, j - 1
            elif u <= l:
                i -= 1
            else:
                j -= 1
        path.append((i, j))
    return float(D[-1, -1]), np.asarray(path[::-1], dtype=np.int64)


def dtw_path(a: np.ndarray, b: np.ndarray, *, metric: str = "euclidean") -> np.ndarray:
    """Warping path between two frame sequences (rows are frames)."""
    return dtw(cost_matrix(a, b, metric=metric))[1]


def ref_to_deg_map(path: np.ndarray, n_ref: int) -> np.ndarray:
    """For each reference frame, the mean matched degraded frame (float, monotone)."""
    sums = np.bincount(path[:, 0], weights=path[:, 1], minlength=n_ref)
    counts = np.bincount(path[:, 0], minlength=n_ref)
    out = sums / np.maximum(counts, 1)
    return np.maximum.accumulate(out)


def warp_to_reference(deg: np.ndarray, path: np.ndarray, *, hop: int, n_ref_samples: int) -> np.ndarray:
    """Re-time ``deg`` onto the reference timeline along a DTW path, without changing pitch.

    Overlap-add of Hann-windowed grains (two hops long): reference frame ``i`` takes the grain of
    ``deg`` centred on its matched frame. Used to make PESQ/STOI comparable when durations differ
    (stretch, extra silence); the duration change itself is reported by ``duration_ratio``.
    """
    n_ref = int(path[:, 0].max()) + 1
    src = ref_to_deg_map(path, n_ref)
    win = np.hanning(2 * hop + 1)[:-1]
    half = hop
    padded = np.concatenate((np.zeros(half), np.asarray(deg, dtype=np.float64), np.zeros(2 * hop + half)))
    out = np.zeros(n_ref * hop + 2 * hop)
    norm = np.zeros_like(out)
    for i in range(n_ref):
        s = int(round(src[i] * hop))
        grain = padded[s:s + 2 * hop]
        if len(grain) < 2 * hop:
            grain = np.pad(grain, (0, 2 * hop - len(grain)))
        out[i * hop:i * hop + 2 * hop] += grain * win
        norm[i * hop:i * hop + 2 * hop] += win
    out = out[half:half + n_ref_samples]
    norm = norm[half:half + n_ref_samples]
    out = out / np.maximum(norm, 1e-3)
    if len(out) < n_ref_samples:
        out = np.pad(out, (0, n_ref_samples - len(out)))
    return np.ascontiguousarray(out)
