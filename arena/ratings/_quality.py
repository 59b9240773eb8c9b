"""The quality of a benchmark (a prompt pool as judged in one run), with intervals.

The metrics are Arena-Hard's (Li et al. 2024, "From Crowdsourced Data to High-Quality
Benchmarks: Arena-Hard and BenchBuilder Pipeline", section 4): separability with confidence,
agreement with confidence and the pair-rank Brier score against a reference ranking (computed by
`arena.ratings.agreement`), plus the mean width of the models' rating intervals and that width
scaled to a common budget of judge calls (intervals shrink as 1/sqrt(calls), so
width * sqrt(calls / 1000) compares pools judged with different numbers of calls).

The metrics' own intervals come from an outer bootstrap over prompts: each outer replicate
resamples the run's prompts with replacement, refits the ratings with their own (inner)
bootstrap, and recomputes every metric; the interval is the central 95% of the replicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from arena.errors import RatingError
from arena.records import Battle

QUALITY_METRICS: tuple[str, ...] = (
    "separability",
    "agreement_with_confidence",
    "brier",
    "spearman",
    "mean_ci_width",
    "ci_width_at_1000_calls",
)


@dataclass(frozen=True, slots=True)
class Estimate:
    """A metric's value with the central `level` interval of its outer bootstrap (None when not computable)."""

    value: float | None
    low: float | None
    high: float | None


@dataclass(slots=True)
class PoolQuality:
    """Benchmark-quality metrics of one run: `metrics[name]` for each of QUALITY_METRICS."""

    models: list[str]
    prompts: int
    battles: int
    judge_calls: int
    metrics: dict[str, Estimate]
    reference: str | None = None


def _metrics(battles: Sequence[Battle], models: list[str], reference: dict[str, float] | None, calls: int, n_boot: int, seed: int) -> dict[str, float | None]:
    from arena.ratings._agreement import agreement
    from arena.ratings._leaderboard import fit_ratings

    board = fit_ratings(battles, bootstrap=n_boot, seed=seed, models=models)
    widths = [r.ci_high - r.ci_low for r in board.rows]
    width = float(np.mean(widths))
    out: dict[str, float | None] = {
        "mean_ci_width": width,
        "ci_width_at_1000_calls": width * float(np.sqrt(calls / 1000)) if calls else None,
    }
    # separability needs no reference: the board against itself
    own = agreement(board, {r.model: r.rating for r in board.rows})
    out["separability"] = own.get("separability")
    if reference is not None:
        agr = agreement(board, reference)
        out["agreement_with_confidence"] = agr.get("agreement_with_confidence")
        out["brier"] = agr.get("brier")
        out["spearman"] = agr.get("spearman")
    else:
        out["agreement_with_confidence"] = out["brier"] = out["spearman"] = None
    return out


def pool_quality(
    battles: Sequence[Battle],
    *,
    judge_calls: int,
    reference: dict[str, float] | None = None,
    reference_name: str | None = None,
    models: Sequence[str] | None = None,
    n_outer: int = 50,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> PoolQuality:
    """Separability, agreement with `reference` (model -> rating or score, higher better), Brier
    score, Spearman, mean 95% CI width (Elo points) and that width at 1,000 judge calls, each with
    an interval from `n_outer` prompt-resampling replicates (each refit with `n_boot` inner
    bootstrap replicates). `judge_calls`: the calls the run spent (for the scaled width).
    Raises RatingError for fewer than 2 models or no battles, or a reference sharing fewer than
    2 models."""
    battles = list(battles)
    if not battles:
        raise RatingError("no battles to measure")
    names = sorted({b.model_a for b in battles} | {b.model_b for b in battles}) if models is None else list(models)
    if len(names) < 2:
        raise RatingError(f"pool quality needs at least 2 models, got {len(names)}")
    if reference is not None:
        shared = [m for m in names if m in reference]
        if len(shared) < 2:
            raise RatingError(f"the reference ranking shares {len(shared)} models with the run (need at least 2)")
    point = _metrics(battles, names, reference, judge_calls, n_boot, seed)
    by_prompt: dict[str, list[Battle]] = {}
    for b in battles:
        by_prompt.setdefault(b.prompt_id, []).append(b)
    prompt_ids = sorted(by_prompt)
    rng = np.random.default_rng(seed)
    reps: dict[str, list[float]] = {k: [] for k in QUALITY_METRICS}
    for r in range(n_outer):
        draw = rng.integers(0, len(prompt_ids), size=len(prompt_ids))
        sample = []
        for k, i in enumerate(draw):  # a prompt drawn twice is two prompts of the replicate
            sample.extend(Battle(f"{prompt_ids[i]}#{k}", b.model_a, b.model_b, b.outcome, b.weight, b.judge) for b in by_prompt[prompt_ids[i]])
        try:
            m = _metrics(sample, names, reference, judge_calls, n_boot, seed + 1 + r)
        except RatingError:
            continue
        for k, v in m.items():
            if v is not None and np.isfinite(v):
                reps[k].append(float(v))
    alpha = (1 - level) / 2
    metrics = {}
    for k in QUALITY_METRICS:
        v = point.get(k)
        if v is None or not np.isfinite(v) or not reps[k]:
            metrics[k] = Estimate(None if v is None or not np.isfinite(v) else float(v), None, None)
            continue
        lo, hi = np.quantile(reps[k], [alpha, 1 - alpha])
        metrics[k] = Estimate(float(v), float(min(lo, v)), float(max(hi, v)))
    return PoolQuality(names, len(prompt_ids), len(battles), int(judge_calls), metrics, reference_name)
