"""Benchmark agreement testing done right (Perlitz et al. 2024, "Do these LLM benchmarks agree?
Fixing benchmark evaluation with BenchBench"): compare a ranking with several reference
rankings at once, not one.

For each reference column (and for an aggregate of them) on the models it shares with the run:

- Spearman and Kendall (tau-b) correlation, `None` when undefined (all ratings tied);
- an interval over model subsets: `bootstrap` random subsets of `ceil(subset_share x n)` of the
  shared models (at least 3), drawn without replacement, and the central `level` range of the
  correlations on them; how much the agreement depends on which models happen to be compared;
- the **aggregate reference**: the normalised Borda score over all reference columns (each
  column ranks the models it measured; scale-free and robust to missing cells), which BenchBench
  recommends over any single benchmark;
- a **z-score**: the run's Spearman with the aggregate, against the distribution of each
  reference column's Spearman with the aggregate of the *other* columns (leave-one-out) on the
  same models: z = (rho_run - mean) / sd. Near or above 0: the run agrees with the references
  about as well as they agree with each other. Needs at least 3 reference columns.

Warnings (documented thresholds): fewer than `WARN_OVERLAP` shared models (correlations on few
models swing by chance), or shared models spanning less than `NARROW_SHARE` of a reference
column's full range (agreement on near-ties says little). Fewer than `MIN_OVERLAP` shared
models with every reference is an error. Pure functions; no I/O.
"""

from __future__ import annotations

import math

import numpy as np

from arena.errors import RatingError
from arena.ratings._aggregate import ScoreTable, borda_scores

MIN_OVERLAP = 3
"""Fewest models a reference must share with the run to be compared at all."""
WARN_OVERLAP = 7
"""Below this many shared models a warning says the correlation is fragile (BenchBench: few models, large variance)."""
NARROW_SHARE = 0.25
"""A warning when the shared models span less than this share of a reference column's range."""


def _corr(x: np.ndarray, y: np.ndarray) -> tuple[float | None, float | None]:
    from scipy.stats import kendalltau, spearmanr

    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None, None
    return float(spearmanr(x, y).statistic), float(kendalltau(x, y).statistic)


def _subset_interval(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, bootstrap: int, share: float, level: float) -> dict:
    n = len(x)
    k = max(MIN_OVERLAP, math.ceil(share * n))
    if bootstrap == 0 or k >= n:
        return {}
    rs, ks = [], []
    for _ in range(bootstrap):
        idx = rng.choice(n, size=k, replace=False)
        r, t = _corr(x[idx], y[idx])
        if r is not None:
            rs.append(r)
            ks.append(t)
    if not rs:
        return {}
    a = (1 - level) / 2
    return {
        "subset_size": k,
        "spearman_ci": [float(np.quantile(rs, a)), float(np.quantile(rs, 1 - a))],
        "kendall_ci": [float(np.quantile(ks, a)), float(np.quantile(ks, 1 - a))],
    }


def reference_agreement(
    ratings: dict[str, float],
    references: ScoreTable,
    *,
    bootstrap: int = 500,
    subset_share: float = 0.7,
    level: float = 0.95,
    seed: int = 0,
) -> dict:
    """Agreement of `ratings` (model -> rating, higher better) with every column of `references`
    (models x columns, NaN missing, higher better), with the aggregate reference and a z-score
    (module docstring for the methods and thresholds).

    Returns a JSON-ready dict: `references` (one entry per column: column, n_models, spearman,
    kendall, subset intervals, range_share), `aggregate` (the same against the Borda aggregate),
    `z_score` (or None with `z_note`), `warnings`. Raises RatingError when no column shares
    `MIN_OVERLAP` models with `ratings`."""
    rng = np.random.default_rng(seed)
    s = np.asarray(references.scores, float)
    rated = np.array([m in ratings for m in references.models])
    run = np.array([ratings.get(m, np.nan) for m in references.models])
    out: dict = {"references": [], "warnings": [], "min_overlap": MIN_OVERLAP, "warn_overlap": WARN_OVERLAP}
    if rated.any() and np.ptp(run[rated]) == 0:
        out["warnings"].append("all ratings are tied: rank correlations are undefined")
    usable_cols = []
    for c, name in enumerate(references.tasks):
        col = s[:, c]
        shared = rated & ~np.isnan(col)
        n = int(shared.sum())
        if n < MIN_OVERLAP:
            out["warnings"].append(f"reference {name!r}: {n} model(s) in common with the run (at least {MIN_OVERLAP} needed): skipped")
            continue
        usable_cols.append(c)
        x, y = run[shared], col[shared]
        rho, tau = _corr(x, y)
        full = np.nanmax(col) - np.nanmin(col)
        share = float(np.ptp(y) / full) if full > 0 else 0.0
        entry = {"column": name, "n_models": n, "models": [m for m, k in zip(references.models, shared) if k], "spearman": rho, "kendall": tau, "range_share": share}
        entry.update(_subset_interval(x, y, rng, bootstrap, subset_share, level))
        out["references"].append(entry)
        if n < WARN_OVERLAP:
            out["warnings"].append(f"reference {name!r}: only {n} models in common (fewer than {WARN_OVERLAP}): the correlation is fragile")
        if share < NARROW_SHARE:
            out["warnings"].append(f"reference {name!r}: the shared models span {100 * share:.0f}% of its range (less than {100 * NARROW_SHARE:.0f}%): they are near-ties there")
    if not usable_cols:
        best = int(max(((rated & ~np.isnan(s[:, c])).sum() for c in range(s.shape[1])), default=0))
        raise RatingError(f"the references share at most {best} model(s) with the run (at least {MIN_OVERLAP} needed)")
    sub = s[:, usable_cols]
    agg = borda_scores(sub)
    shared = rated & ~np.isnan(agg)
    x, y = run[shared], agg[shared]
    rho, tau = _corr(x, y)
    entry = {"column": f"aggregate of {len(usable_cols)} reference(s) (Borda)", "n_models": int(shared.sum()), "spearman": rho, "kendall": tau}
    entry.update(_subset_interval(x, y, rng, bootstrap, subset_share, level))
    out["aggregate"] = entry
    out["z_score"], out["z_note"] = None, None
    if len(usable_cols) < 3:
        out["z_note"] = f"needs at least 3 reference columns, got {len(usable_cols)}"
    elif rho is None:
        out["z_note"] = "the run's ratings are all tied"
    else:
        loo = []
        for k in range(len(usable_cols)):
            rest = borda_scores(np.delete(sub, k, axis=1))
            ok = shared & ~np.isnan(sub[:, k]) & ~np.isnan(rest)
            if ok.sum() >= MIN_OVERLAP:
                r, _ = _corr(sub[ok, k], rest[ok])
                if r is not None:
                    loo.append(r)
        if len(loo) >= 3 and np.std(loo, ddof=1) > 0:
            out["z_score"] = float((rho - np.mean(loo)) / np.std(loo, ddof=1))
            out["references_agreement"] = {"mean": float(np.mean(loo)), "sd": float(np.std(loo, ddof=1)), "n": len(loo)}
        else:
            out["z_note"] = "the references' agreement with each other could not be measured on these models"
    return out
