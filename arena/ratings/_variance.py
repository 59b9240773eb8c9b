"""How much of a difference is noise (after Madaan et al. 2024, "Quantifying Variance in
Evaluation Benchmarks"): how many prompts would separate each adjacent pair of a leaderboard,
and whether a series of one model's checkpoints is ranked monotonically in training step.

Both read the prompt-clustered bootstrap replicates of a `Leaderboard` (`boot`, (B, n_models)):
its spread is the variance from sampling prompts, judge noise included (each battle is one noisy
judge reading). Pure functions; no I/O.

- Prompts to separate a pair: with n prompts the bootstrap standard deviation of the rating
  difference d is sd_n; it shrinks as 1 / sqrt(n), so a two-sided `level` test separates the pair
  once z sd_n sqrt(n / m) < |d|, i.e. with m = n (z sd_n / d)^2 prompts (the usual power-free
  sample-size rule; Madaan et al. Sec. 4 use the same scaling).
- Checkpoint monotonicity: the share of bootstrap replicates in which the ratings increase
  strictly along the series, each adjacent step's probability of improving, and Spearman between
  step order and rating with its bootstrap interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from arena.errors import RatingError


def prompts_to_separate(board, n_prompts: int, *, level: float = 0.95) -> list[dict]:
    """For each adjacent pair of `board.rows` (best first): the rating difference, the bootstrap
    sd of the difference, whether the pair is separated now at `level`, and the prompts needed to
    separate it (`None` for an exact tie or without bootstrap replicates).

    `n_prompts` is the number of prompts behind the battles. Returns a list of dicts."""
    from scipy.stats import norm

    if board.boot.shape[0] < 2:
        return []
    z = float(norm.ppf(0.5 + level / 2))
    col = {m: k for k, m in enumerate(board.models)}
    out = []
    for a, b in zip(board.rows, board.rows[1:]):
        diff = board.boot[:, col[a.model]] - board.boot[:, col[b.model]]
        d = a.rating - b.rating
        sd = float(np.std(diff, ddof=1))
        needed = None if d <= 0 else (max(1, math.ceil(n_prompts * (z * sd / d) ** 2)) if sd > 0 else n_prompts)
        out.append({"model_a": a.model, "model_b": b.model, "difference": float(d), "sd": sd, "separated": bool(sd > 0 and z * sd < d) or (sd == 0 and d > 0), "prompts_needed": needed})
    return out


def checkpoint_monotonicity(board, series: Sequence[str], *, level: float = 0.95) -> dict:
    """Whether a series of checkpoints (earliest first) is ranked in training order.

    Returns `monotone` (the point ratings increase strictly), `p_monotone` (share of bootstrap
    replicates in which they do), `steps` (each adjacent pair with the rating change and
    P(later > earlier)), `spearman` of rating vs position in the series with its bootstrap
    interval. Raises RatingError for fewer than 2 checkpoints or one missing from the board."""
    series = list(series)
    if len(series) < 2:
        raise RatingError("checkpoints: expected at least 2 models, earliest first")
    missing = [m for m in series if m not in board.models]
    if missing:
        raise RatingError(f"checkpoints: {missing[0]!r} is not among the rated models")
    from scipy.stats import spearmanr

    col = [board.models.index(m) for m in series]
    point = np.array([board.ratings[m] for m in series])
    out: dict = {"series": series, "ratings": point.tolist(), "monotone": bool(np.all(np.diff(point) > 0))}
    boot = board.boot[:, col] if board.boot.shape[0] else np.zeros((0, len(series)))
    steps = []
    for k in range(len(series) - 1):
        p = float(np.mean(boot[:, k + 1] > boot[:, k])) if len(boot) else None
        steps.append({"from": series[k], "to": series[k + 1], "change": float(point[k + 1] - point[k]), "p_improves": p})
    out["steps"] = steps
    pos = np.arange(len(series))
    out["spearman"] = float(spearmanr(pos, point).statistic) if np.ptp(point) > 0 else None
    if len(boot):
        out["p_monotone"] = float(np.mean(np.all(np.diff(boot, axis=1) > 0, axis=1)))
        rhos = [spearmanr(pos, r).statistic for r in boot if np.ptp(r) > 0]
        a = (1 - level) / 2
        out["spearman_ci"] = [float(np.quantile(rhos, a)), float(np.quantile(rhos, 1 - a))] if rhos else None
    else:
        out["p_monotone"], out["spearman_ci"] = None, None
    return out
