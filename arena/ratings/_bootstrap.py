"""Bootstrap replicates of the Bradley-Terry fit, vectorised across replicates.

Battles collapse into a cluster-by-pair matrix of sufficient statistics C (one row per prompt,
or per distinct battle for battle resampling). A replicate draws clusters with replacement,
i.e. multinomial counts w over the rows of C, so its statistics are w @ C: all replicates at
once are one matrix product (n_boot, n_clusters) @ (n_clusters, n_stats * n_pairs). The
replicates are then solved together by a batched Newton iteration started at the point
estimate.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import numpy as np

from arena.ratings._battles import BattleArrays, _dense_unique, _pair_keys, split_outcomes
from arena.ratings._bt import Ties, _Problem, blas_threads, chord

By = Literal["prompt", "battle"]

_DENSE_LIMIT = 4e7  # cells of C held dense (float32) at most


def _stats_per_battle(s: np.ndarray, w: np.ndarray, ties: Ties) -> dict[str, np.ndarray]:
    win, loss, tie = split_outcomes(s, w)
    if ties == "half":
        return {"score": win + 0.5 * tie, "total": w}
    return {"diff": win - loss, "tie": tie, "total": w}


class Clusters(NamedTuple):
    C: Any  # (n_clusters, n_stats * n_pairs): dense float32 array or scipy sparse matrix
    probs: np.ndarray  # probability of drawing each cluster
    n_draws: int  # clusters drawn per replicate
    pi: np.ndarray
    pj: np.ndarray
    names: list[str]  # the statistics, in column-block order
    cell_of_draw: np.ndarray | None  # battle resampling: each battle's cell


def cluster_matrix(arrays: BattleArrays, ties: Ties, by: By) -> Clusters:
    """The cluster-by-(stat, pair) matrix C and how replicates draw its rows.

    C has one row per cluster and one column per (stat, pair); replicates draw `n_draws`
    clusters with the given probabilities.
    """
    pi, pj, inv, s, _ = _pair_keys(arrays)
    P = len(pi)
    stats = _stats_per_battle(s, arrays.weight, ties)
    names = list(stats)
    if by == "prompt":
        uniq, cl = _dense_unique(arrays.prompt, int(arrays.prompt.max()) + 1)
        n_cl = len(uniq)
        if len(arrays.prompts) > int(uniq[-1]):
            # clusters in the order of the prompt ids, so a seed gives the same replicates
            # however the battles were ordered or the prompts indexed
            order = np.argsort(np.array([arrays.prompts[i] for i in uniq], dtype=object), kind="stable")
            rank = np.empty(n_cl, dtype=np.int64)
            rank[order] = np.arange(n_cl)
            cl = rank[cl]
        probs = np.full(n_cl, 1.0 / n_cl)
        n_draws = n_cl
        cell_of_draw = None
    elif by == "battle":
        # identical battles (same pair, score, weight) form one cell; the cell is drawn with
        # probability multiplicity / n, which is exactly resampling battles
        keyw = np.unique(arrays.weight, return_inverse=True)[1].reshape(-1)
        keys = np.unique(s, return_inverse=True)[1].reshape(-1)
        key = (inv * (keys.max(initial=0) + 1) + keys) * (keyw.max(initial=0) + 1) + keyw
        _, first, cl, mult = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
        cl = cl.reshape(-1)
        cell_of_draw = cl
        n_cl = len(first)
        probs = mult / mult.sum()
        n_draws = len(arrays)
        # one row per cell with the statistics of ONE battle of the cell
        stats = {k: v[first] for k, v in stats.items()}
        inv = inv[first]
        cl = np.arange(n_cl)
    else:
        raise ValueError(f"by must be 'prompt' or 'battle', got {by!r}")
    k = len(names)
    if n_cl * k * P <= _DENSE_LIMIT:
        C = np.empty((n_cl, k * P), dtype=np.float32)
        cell = cl * P + inv
        for t_, nm in enumerate(names):
            C[:, t_ * P : (t_ + 1) * P] = np.bincount(cell, weights=stats[nm], minlength=n_cl * P).reshape(n_cl, P)
    else:
        from scipy.sparse import csr_matrix

        rows = np.concatenate([cl] * k)
        cols = np.concatenate([inv + t_ * P for t_ in range(k)])
        vals = np.concatenate([stats[nm] for nm in names])
        C = csr_matrix((vals, (rows, cols)), shape=(n_cl, k * P))
        C.sum_duplicates()
    return Clusters(C, probs, n_draws, pi, pj, names, cell_of_draw)


def draw_weights(
    rng: np.random.Generator, n_boot: int, probs: np.ndarray, n_draws: int, cell_of_draw: np.ndarray | None = None
) -> np.ndarray:
    """(n_boot, n_clusters) multinomial counts: how often each cluster is drawn in each replicate.

    `cell_of_draw` (battle resampling) maps each of the `n_draws` battles to its cell; small
    problems then draw battles directly, large ones draw the cell counts multinomially."""
    n_cl = len(probs)
    out = np.empty((n_boot, n_cl), dtype=np.float32)
    uniform = np.allclose(probs, probs[0]) and n_draws == n_cl
    direct = cell_of_draw is not None and n_boot * n_draws <= 2e7 and 4 * n_cl > n_draws
    # rows in blocks of about WEIGHT_BLOCK_CELLS draws: the same numbers from `rng` as one draw of
    # every row (each row's draws follow the previous row's), without its int64 temporaries (three
    # copies of n_boot x n_clusters: 300 MB for 250 replicates of 50,000 prompts)
    block = max(1, int(WEIGHT_BLOCK_CELLS // max(n_cl, n_draws if direct else 0, 1)))
    for r0 in range(0, n_boot, block):
        r = min(block, n_boot - r0)
        if uniform:
            idx = rng.integers(0, n_cl, size=(r, n_cl))
        elif direct:
            idx = cell_of_draw[rng.integers(0, n_draws, size=(r, n_draws))]
        else:
            out[r0 : r0 + r] = rng.multinomial(n_draws, probs, size=r)
            continue
        flat = (idx + (np.arange(r) * n_cl)[:, None]).reshape(-1)
        out[r0 : r0 + r] = np.bincount(flat, minlength=r * n_cl).reshape(r, n_cl)
    return out


WEIGHT_BLOCK_CELLS = 1 << 21
"""Draws made at once by `draw_weights` (2M: 16 MB per int64 temporary)."""


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
    tol: float = 1e-6,
) -> np.ndarray:
    """(n_boot, n_models [+1 for Davidson's log nu]) log-strengths of the bootstrap replicates,
    each solved to `tol` in log-odds (1e-6 is under 0.001 Elo)."""
    n = arrays.n_models
    m = len(theta0)
    out = np.empty((n_boot, m))
    if n_boot == 0:
        return out
    C, probs, n_draws, pi, pj, names, cell_of_draw = cluster_matrix(arrays, ties, by)
    P = len(pi)
    dense = isinstance(C, np.ndarray)
    # the chord method's shared matrix: the negative Hessian at the point estimate under the
    # expected replicate statistics (which are the original statistics)
    mean = (probs * n_draws) @ C if dense else np.asarray(C.T @ (probs * n_draws)).reshape(-1)
    point = _Problem(n, pi, pj, ties, prior, **{nm: mean[None, t * P : (t + 1) * P].astype(float) for t, nm in enumerate(names)})
    with blas_threads(1):
        _, H0 = point.grad_hess(np.asarray(theta0, dtype=float)[None, :], point.stats)
        hinv = np.linalg.inv(H0[0])
    problem = point
    for start in range(0, n_boot, chunk):
        R = min(chunk, n_boot - start)
        W = draw_weights(rng, R, probs, n_draws, cell_of_draw)
        S = (W @ C) if dense else np.asarray((C.T @ W.T).T)
        S = np.asarray(S, dtype=np.float64)
        problem.stats = {nm: S[:, t * P : (t + 1) * P] for t, nm in enumerate(names)}
        with blas_threads(1):  # small products: one thread is fastest, above all on a busy machine
            out[start : start + R] = chord(problem, theta0, hinv, tol=tol)
    return out
