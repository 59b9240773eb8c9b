"""Compare two runs: rating deltas with bootstrap CIs, rank changes, and pairs whose order flipped."""

from __future__ import annotations


def compare_runs(store, run_a: str, run_b: str, *, bootstrap: int | None = None) -> dict:
    """Runs `run_a` -> `run_b` model by model: ratings, ranks, `delta` = rating B - rating A with
    its interval (`delta_ci_low`..`delta_ci_high`: percentiles of the difference of the two runs'
    independent bootstrap replicates, widened to at least each side's rating interval combined in
    quadrature, so a deterministic judge's identical replicates do not give a zero-width interval),
    the pairs whose order flipped and the Spearman correlation of the two rankings."""
    import math

    import numpy as np
    from scipy.stats import spearmanr

    from arena.ratings import fit_ratings
    from arena.verdicts import run_battles

    boards = []
    ids = []
    for rid in (run_a, run_b):
        run = store.get_run(rid)
        spec = run.spec.get("spec", {})
        n_boot = int(bootstrap if bootstrap is not None else 1000 if spec.get("bootstrap") is None else spec["bootstrap"])  # a spec's 0 is no bootstrap
        battles = run_battles(store, run.run_id, spec)  # row weights and Arena-Hard's per-game counting included
        boards.append(fit_ratings(battles, bootstrap=n_boot, seed=run.seed))
        ids.append(run.run_id)
    a, b = boards
    models = sorted(set(a.models) | set(b.models), key=lambda m: -(b.ratings.get(m, a.ratings.get(m, 0))))
    rows = []
    for m in models:
        ra = a.row(m) if m in a.models else None
        rb = b.row(m) if m in b.models else None
        row = {
            "model": m,
            "rating_a": ra.rating if ra else None,
            "rating_b": rb.rating if rb else None,
            "rank_a": ra.rank if ra else None,
            "rank_b": rb.rank if rb else None,
            "delta": None,
            "delta_ci_low": None,
            "delta_ci_high": None,
        }
        if ra and rb:
            # independent runs: the difference of independent bootstrap replicates
            ia, ib = a.models.index(m), b.models.index(m)
            n = min(len(a.boot), len(b.boot))
            if n:
                d = b.boot[:n, ib] - a.boot[:n, ia]
                row["delta_ci_low"], row["delta_ci_high"] = (float(x) for x in np.percentile(d, [2.5, 97.5]))
            delta = row["delta"] = rb.rating - ra.rating
            # never narrower than the two ratings' own intervals combined (independent runs: the
            # variances add; the intervals include the Laplace floor where the bootstrap cannot vary,
            # e.g. a deterministic judge whose replicates all agree)
            low = delta - math.hypot(rb.rating - rb.ci_low, ra.ci_high - ra.rating)
            high = delta + math.hypot(rb.ci_high - rb.rating, ra.rating - ra.ci_low)
            row["delta_ci_low"] = low if not n else min(row["delta_ci_low"], low)
            row["delta_ci_high"] = high if not n else max(row["delta_ci_high"], high)
        rows.append(row)
    common = [m for m in models if m in a.models and m in b.models]
    flipped = []
    for i, x in enumerate(common):
        for y in common[i + 1 :]:
            if (a.ratings[x] - a.ratings[y]) * (b.ratings[x] - b.ratings[y]) < 0:
                flipped.append((x, y))
    rho = None
    if len(common) >= 3:
        rho = float(spearmanr([a.ratings[m] for m in common], [b.ratings[m] for m in common]).statistic)
    return {"run_a": ids[0], "run_b": ids[1], "models": rows, "flipped_pairs": flipped, "spearman": rho}
