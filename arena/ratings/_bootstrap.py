"""Bootstrap replicates of the Bradley-Terry fit, vectorised across replicates.

Battles collapse into a cluster-by-pair matrix of sufficient statistics C (one row per prompt,
or per distinct battle for battle resampling). A replicate draws clusters with replacement,
i.e. multinomial counts w over the rows of C, so its statistics are w @ C: all replicates at
once are one matrix product (n_boot, n_clusters) @ (n_clusters, n_stats * n_pairs). The
replicates are then solved together by a batched Newton iteration started at the point
estimate.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from arena.ratings._battles import BattleArrays, _pair_keys, split_outcomes
from arena.ratings._bt import Ties, _Problem, newton

By = Literal["prompt", "battle"]

_DENSE_LIMIT = 4e7  # cells of C held dense (float32) at most


def _stats_per_battle(s: np.ndarray, w: np.ndarray, ties: Ties) -> dict[str, np.ndarray]:
    win, loss, tie = split_outcomes(s, w)
    if ties == "half":
        return {"score": win + 0.5 * tie, "total": w}
    return {"diff": win - loss, "tie": tie, "total": w}


def cluster_matrix(arrays: BattleArrays, ties: Ties, by: By):
    """(C, cluster_probabilities, n_draws, pairs i, pairs j, stat names).

    C has one row per cluster and one column per (stat, pair); replicates draw `n_draws`
    clusters with the given probabilities.
    """
    pi, pj, inv, s, _ = _pair_keys(arrays)
    P = len(pi)
    stats = _stats_per_battle(s, arrays.weight, ties)
    names = list(stats)
    if by == "prompt":
        uniq, cl = np.unique(arrays.prompt, return_inverse=True)
        n_cl = len(uniq)
        probs = np.full(n_cl, 1.0 / n_cl)
        n_draws = n_cl
    elif by == "battle":
        # identical battles (same pair, score, weight) form one cell; the cell is drawn with
        # probability multiplicity / n, which is exactly resampling battles
        keyw = np.unique(arrays.weight, return_inverse=True)[1].reshape(-1)
        keys = np.unique(s, return_inverse=True)[1].reshape(-1)
        key = (inv * (keys.max(initial=0) + 1) + keys) * (keyw.max(initial=0) + 1) + keyw
        _, first, cl, mult = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
        cl = cl.reshape(-1)
        n_cl = len(first)
        probs = mult / mult.sum()
        n_draws = len(arrays)
        # one row per cell with the statistics of ONE battle of the cell
        stats = {k: v[first] for k, v in stats.items()}
        inv = inv[first]
        cl = np.arange(n_cl)
    else:
        raise ValueError(f"by must be 'prompt' or 'battle', got {by!r}")
    from scipy.sparse import csr_matrix

    k = len(names)
    rows = np.concatenate([cl] * k)
    cols = np.concatenate([inv + t * P for t in range(k)])
    vals = np.concatenate([stats[nm] for nm in names])
    C = csr_matrix((vals, (rows, cols)), shape=(n_cl, k * P))
    C.sum_duplicates()
    if n_cl * k * P <= _DENSE_LIMIT and C.nnz > 0.05 * n_cl * k * P:
        C = C.toarray().astype(np.float32)
    return C, probs, n_draws, pi, pj, names


def draw_weights(rng: np.random.Generator, n_boot: int, probs: np.ndarray, n_draws: int) -> np.ndarray:
    """(n_boot, n_clusters) multinomial counts: how often each cluster is drawn in each replicate."""
    n_cl = len(probs)
    if np.allclose(probs, probs[0]) and n_draws == n_cl:
        idx = rng.integers(0, n_cl, size=(n_boot, n_cl))
        flat = (idx + (np.arange(n_boot) * n_cl)[:, None]).reshape(-1)
        return np.bincount(flat, minlength=n_boot * n_cl).reshape(n_boot, n_cl).astype(np.float32)
    return rng.multinomial(n_draws, probs, size=n_boot).astype(np.float32)


def bootstrap_theta(
    arrays: BattleArrays,
    theta0: np.ndarray,
    *,
    n_boot: int,
    by: By = "prompt",
    ties: Ties = "half",
    prior: float,
    rng: np.random.Generator,
    chunk: int = 250,
) -> np.ndarray:
    """(n_boot, n_models [+1 for Davidson's log nu]) log-strengths of the bootstrap replicates."""
    n = arrays.n_models
    m = len(theta0)
    out = np.empty((n_boot, m))
    if n_boot == 0:
        return out
    C, probs, n_draws, pi, pj, names = cluster_matrix(arrays, ties, by)
    P = len(pi)
    dense = isinstance(C, np.ndarray)
    problem = None
    for start in range(0, n_boot, chunk):
        R = min(chunk, n_boot - start)
        W = draw_weights(rng, R, probs, n_draws)
        S = (W @ C) if dense else np.asarray((C.T @ W.T).T)
        S = np.asarray(S, dtype=np.float64)
        st = {nm: S[:, t * P : (t + 1) * P] for t, nm in enumerate(names)}
        if problem is None:
            problem = _Problem(n, pi, pj, ties, prior, **st)
        else:
            problem.stats = st
        out[start : start + R] = newton(problem, theta0)
    return out
