"""Ratings from battles: Bradley-Terry (ties half or Davidson) on the Elo scale, online Elo,
clustered or battle bootstrap intervals vectorised across replicates, rank intervals, style
control and agreement metrics. Pure functions over records and numpy arrays; no I/O."""

from arena.ratings._agreement import agreement
from arena.ratings._battles import (
    BattleArrays,
    PairStats,
    StyleFeatures,
    battles_from_verdicts,
    compile_battles,
    pair_stats,
)
from arena.ratings._bt import DEFAULT_PRIOR, ELO_INIT, ELO_SCALE, bt_fit, to_elo
from arena.ratings._elo import elo_online
from arena.ratings._graph import components, diagnose
from arena.ratings._leaderboard import Leaderboard, ModelRating, fit_ratings, rank_upper_bound
from arena.ratings._style import STYLE_NAMES, style_counts, style_features, style_from_counts

__all__ = [
    "BattleArrays",
    "DEFAULT_PRIOR",
    "ELO_INIT",
    "ELO_SCALE",
    "Leaderboard",
    "ModelRating",
    "PairStats",
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
    "rank_upper_bound",
    "STYLE_NAMES",
    "style_counts",
    "style_features",
    "style_from_counts",
    "to_elo",
]
