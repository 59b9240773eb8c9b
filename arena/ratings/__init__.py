"""Ratings from battles: Bradley-Terry (ties half or Davidson) on the Elo scale, online Elo,
clustered or battle bootstrap intervals vectorised across replicates, rank intervals, style
control, agreement metrics, and rank aggregation across tasks (Kemeny, Borda), Plackett-Luce from sample-level measurements. Pure functions over records and numpy arrays; no I/O."""

from arena.ratings._aggregate import (
    KEMENY_EXACT_MAX,
    AggregateResult,
    AggregateRow,
    ScoreTable,
    aggregate_rankings,
    borda_scores,
    kemeny_order,
    mean_normalised_scores,
    pairwise_preferences,
    table_from_rankings,
    table_from_scores,
)
from arena.ratings._agreement import agreement
from arena.ratings._battles import (
    BattleArrays,
    PairStats,
    StyleFeatures,
    battles_from_verdicts,
    compile_battles,
    pair_stats,
)
from arena.ratings._benchagree import MIN_OVERLAP, NARROW_SHARE, WARN_OVERLAP, reference_agreement
from arena.ratings._bt import DEFAULT_PRIOR, ELO_INIT, ELO_SCALE, bt_fit, to_elo
from arena.ratings._elo import elo_online
from arena.ratings._graph import components, diagnose
from arena.ratings._leaderboard import Leaderboard, ModelRating, fit_ratings, rank_upper_bound
from arena.ratings._plackett_luce import (
    PL_PRIOR,
    Choices,
    PLResult,
    PLRow,
    SampleMeasurements,
    choices_from_samples,
    fit_pl,
    fit_plackett_luce,
)
from arena.ratings._quality import QUALITY_METRICS, Estimate, PoolQuality, pool_quality
from arena.ratings._style import STYLE_NAMES, style_counts, style_features, style_from_counts
from arena.ratings._variance import checkpoint_monotonicity, prompts_to_separate, self_agreement, variance_sources

__all__ = [
    "MIN_OVERLAP",
    "NARROW_SHARE",
    "WARN_OVERLAP",
    "reference_agreement",
    "checkpoint_monotonicity",
    "prompts_to_separate",
    "self_agreement",
    "variance_sources",
    "PL_PRIOR",
    "Choices",
    "PLResult",
    "PLRow",
    "SampleMeasurements",
    "choices_from_samples",
    "fit_pl",
    "fit_plackett_luce",
    "AggregateResult",
    "AggregateRow",
    "KEMENY_EXACT_MAX",
    "ScoreTable",
    "aggregate_rankings",
    "borda_scores",
    "kemeny_order",
    "mean_normalised_scores",
    "pairwise_preferences",
    "table_from_rankings",
    "table_from_scores",
    "BattleArrays",
    "DEFAULT_PRIOR",
    "Estimate",
    "ELO_INIT",
    "ELO_SCALE",
    "Leaderboard",
    "ModelRating",
    "PairStats",
    "PoolQuality",
    "QUALITY_METRICS",
    "StyleFeatures",
    "agreement",
    "battles_from_verdicts",
    "bt_fit",
    "compile_battles",
    "components",
    "diagnose",
    "elo_online",
    "fit_ratings",
    "pair_stats",
    "pool_quality",
    "rank_upper_bound",
    "STYLE_NAMES",
    "style_counts",
    "style_features",
    "style_from_counts",
    "to_elo",
]
