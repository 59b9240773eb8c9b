"""How well a ranking agrees with a reference ranking: rank correlations, and the confidence-
aware metrics of Arena-Hard (Li et al. 2024, "From Crowdsourced Data to High-Quality
Benchmarks"): separability with confidence, agreement with confidence, pair-rank Brier score."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from arena.errors import RatingError


def _unpack(obj: Any) -> tuple[dict[str, float], dict[str, tuple[float, float]] | None, dict[str, np.ndarray] | None]:
    """(ratings, CIs or None, bootstrap columns or None) from a Leaderboard or a dict."""
    from arena.ratings._leaderboard import Leaderboard

    if isinstance(obj, Leaderboard):
        ratings = {r.model: r.rating for r in obj.rows}
        has_ci = obj.boot.shape[0] > 0
        cis = {r.model: (r.ci_low, r.ci_high) for r in obj.rows} if has_ci else None
        boot = {m: obj.boot[:, k] for k, m in enumerate(obj.models)} if has_ci else None
        return ratings, cis, boot
    if not isinstance(obj, dict):
        raise RatingError("agreement needs a Leaderboard or a dict of model -> rating")
    ratings: dict[str, float] = {}
    cis: dict[str, tuple[float, float]] = {}
    for m, v in obj.items():
        if isinstance(v, dict):
            ratings[m] = float(v["rating"])
            if "ci_low" in v and "ci_high" in v:
                cis[m] = (float(v["ci_low"]), float(v["ci_high"]))
        elif isinstance(v, (tuple, list)):
            lo, mid, hi = (float(x) for x in v)
            ratings[m], cis[m] = mid, (lo, hi)
        else:
            ratings[m] = float(v)
    return ratings, (cis if len(cis) == len(ratings) and cis else None), None


def agreement(leaderboard_or_ratings: Any, reference: Any, *, level: float = 0.95) -> dict:
    """Compare a ranking with a reference on the models both contain.

    Either side is a `Leaderboard`, a dict model -> rating, a dict model -> {rating, ci_low,
    ci_high}, or model -> (ci_low, rating, ci_high). Returns `n_models`, `spearman`, `kendall`
    (tau-b; None when either side is all tied) and, when the first side has confidence intervals:

    - `separability`: share of model pairs whose intervals do not overlap;
    - `agreement_with_confidence`: mean over all pairs of +1 when both sides separate the pair
      confidently and in the same order, -1 when both separate it confidently in opposite
      orders, 0 otherwise (a reference without intervals separates every pair it does not tie);
    - `brier`: pair-rank Brier score, the mean over pairs the reference orders of
      (P(model i ranks above j) - [i above j in the reference])^2, with P the share of
      bootstrap replicates (or, given only intervals, a normal approximation from them).
    """
    from scipy.stats import kendalltau, norm, spearmanr

    r1, ci1, boot1 = _unpack(leaderboard_or_ratings)
    r2, ci2, _ = _unpack(reference)
    common = [m for m in r1 if m in r2]
    if len(common) < 2:
        raise RatingError(f"agreement needs at least 2 models in common, got {len(common)}")
    x = np.array([r1[m] for m in common])
    y = np.array([r2[m] for m in common])
    out: dict[str, Any] = {"n_models": len(common)}
    defined = bool(np.ptp(x) and np.ptp(y))  # all tied on either side: no rank correlation
    out["spearman"] = float(spearmanr(x, y).statistic) if defined else None
    out["kendall"] = float(kendalltau(x, y).statistic) if defined else None
    if ci1 is None:
        return out
    pairs = list(combinations(range(len(common)), 2))

    def sep(ci, r, i, j):  # +1 i confidently above j, -1 below, 0 overlapping
        if ci is None:
            return int(np.sign(r[common[i]] - r[common[j]]))
        (li, hi_), (lj, hj) = ci[common[i]], ci[common[j]]
        return 1 if li > hj else (-1 if lj > hi_ else 0)

    s1 = [sep(ci1, r1, i, j) for i, j in pairs]
    s2 = [sep(ci2, r2, i, j) for i, j in pairs]
    out["separability"] = float(np.mean([s != 0 for s in s1]))
    out["agreement_with_confidence"] = float(
        np.mean([(1 if a == b else -1) if (a != 0 and b != 0) else 0 for a, b in zip(s1, s2)])
    )
    losses = []
    z = norm.ppf(0.5 + level / 2)
    for i, j in pairs:
        mi, mj = common[i], common[j]
        if r2[mi] == r2[mj]:
            continue
        truth = 1.0 if r2[mi] > r2[mj] else 0.0
        if boot1 is not None:
            d = boot1[mi] - boot1[mj]
            p = float(np.mean(d > 0) + 0.5 * np.mean(d == 0))
        else:
            si = (ci1[mi][1] - ci1[mi][0]) / (2 * z)
            sj = (ci1[mj][1] - ci1[mj][0]) / (2 * z)
            sd = float(np.hypot(si, sj))
            diff = r1[mi] - r1[mj]
            p = float(norm.cdf(diff / sd)) if sd > 0 else float(np.sign(diff) / 2 + 0.5)
        losses.append((p - truth) ** 2)
    out["brier"] = float(np.mean(losses)) if losses else None
    return out
