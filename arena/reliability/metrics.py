"""Judge-reliability metrics: pure functions over per-pair arrays, with clustered bootstrap intervals.

Every metric is a function of additive per-pair statistics (`parts`, shape (n, k)) summed over the
pairs: a ratio of two sums, a difference of two ratios, or Cohen's kappa of a confusion matrix.
That makes the bootstrap a matrix product: a (B, n) matrix of multinomial resampling counts times
the (n, k) parts gives every replicate's sums at once, and pairs (not games) are the resampled
unit, so the two games of one pair stay together.

Codes of a game's pick, from the original order's point of view: A = 1, B = -1, TIE = 0,
UNPARSED = 2, ERROR = 3, ABSENT = 4 (the game was not played). Gold is 1 (a), -1 (b) or 0 (tie).
Column 0 of `picks` is the game in the original order (a shown first), column 1 the swapped one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from arena.reliability.formats import GameRecord, Pair

A, B, TIE, UNPARSED, ERROR, ABSENT = 1, -1, 0, 2, 3, 4
PICK_CODE = {"a": A, "b": B, "tie": TIE, "unparsed": UNPARSED, "error": ERROR}
GOLD_CODE = {"a": A, "b": B, "tie": TIE}
BOOTSTRAP_REPLICATES = 1000
CI_LEVEL = 0.95


@dataclass(frozen=True)
class Observations:
    """What the metrics need of a judge's games on n labelled pairs."""

    pair_ids: list[str]
    gold: np.ndarray  # (n,) int8 in {1, -1, 0}
    picks: np.ndarray  # (n, 2) int8 codes; column 0 original order (AB), column 1 swapped (BA)
    longer: np.ndarray  # (n,) int8: 1 if a is longer (characters), -1 if b, 0 if equal
    category: np.ndarray  # (n,) object: category or ""
    calls: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (n,) completion calls
    input_tokens: np.ndarray = field(default_factory=lambda: np.zeros(0))
    output_tokens: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cost_usd: np.ndarray = field(default_factory=lambda: np.zeros(0))  # nan where unknown
    latency_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cached_calls: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n(self) -> int:
        return len(self.pair_ids)

    def subset(self, mask: np.ndarray) -> Observations:
        idx = np.flatnonzero(mask)
        return Observations(
            [self.pair_ids[i] for i in idx],
            self.gold[idx],
            self.picks[idx],
            self.longer[idx],
            self.category[idx],
            self.calls[idx],
            self.input_tokens[idx],
            self.output_tokens[idx],
            self.cost_usd[idx],
            self.latency_s[idx],
            self.cached_calls[idx],
        )


def observations(pairs: Sequence[Pair], games: Sequence[GameRecord]) -> Observations:
    """Arrange pairs and their games (joined by pair id) into arrays; a missing game is ABSENT."""
    index = {p.pair_id: i for i, p in enumerate(pairs)}
    n = len(pairs)
    picks = np.full((n, 2), ABSENT, dtype=np.int8)
    calls = np.zeros(n)
    tin = np.zeros(n)
    tout = np.zeros(n)
    cost = np.zeros(n)
    lat = np.zeros(n)
    cached = np.zeros(n)
    for g in games:
        i = index[g.pair_id]
        picks[i, 0 if g.order == "AB" else 1] = PICK_CODE[g.pick]
        calls[i] += g.calls
        tin[i] += g.input_tokens
        tout[i] += g.output_tokens
        cost[i] += np.nan if g.cost_usd is None else g.cost_usd
        lat[i] += g.latency_s
        cached[i] += g.cached_calls
    gold = np.array([GOLD_CODE[p.gold] for p in pairs], dtype=np.int8)
    longer = np.array([np.sign(len(p.a) - len(p.b)) for p in pairs], dtype=np.int8)
    category = np.array([p.category or "" for p in pairs], dtype=object)
    return Observations([p.pair_id for p in pairs], gold, picks, longer, category, calls, tin, tout, cost, lat, cached)


# -- per-pair building blocks ------------------------------------------------------------------


def _played(o: Observations) -> np.ndarray:
    return o.picks != ABSENT


def _decisive(o: Observations) -> np.ndarray:
    return (o.picks == A) | (o.picks == B)


def _parsed(o: Observations) -> np.ndarray:
    return _decisive(o) | (o.picks == TIE)


def game_points(o: Observations) -> np.ndarray:
    """(n, 2): +1 a game agrees with gold, -1 it picks against gold, 0 tie/unparsed/error/absent.

    With a tie as gold, a tie agrees and picking either answer is against it.
    """
    agree = _parsed(o) & (o.picks == o.gold[:, None])
    against = _decisive(o) & ~agree
    return agree.astype(np.int64) - against.astype(np.int64)


def pair_verdict(o: Observations) -> np.ndarray:
    """(n,): the pair's combined pick: the sign of the sum of its parsed games' picks (1 a, -1 b,
    0 tie); UNPARSED when no game of the pair parsed (unresolved)."""
    vals = np.where(_parsed(o), o.picks, 0).astype(np.int64)
    out = np.sign(vals.sum(axis=1))
    return np.where(_parsed(o).any(axis=1), out, UNPARSED).astype(np.int8)


# -- metric definitions ------------------------------------------------------------------------------


def _ratio(t: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(t[..., 1] > 0, t[..., 0] / np.where(t[..., 1] > 0, t[..., 1], 1), np.nan)


def _diff_of_ratios(t: np.ndarray) -> np.ndarray:
    return _ratio(t[..., 0:2]) - _ratio(t[..., 2:4])


KAPPA_JUDGE = (A, B, TIE, UNPARSED)
KAPPA_GOLD = (A, B, TIE)


def cohen_kappa(m: np.ndarray) -> np.ndarray:
    """Cohen's kappa of confusion counts m[..., rater1 class, rater2 class]; the first
    min(rows, columns) classes of both raters are the same classes, in the same order.

    kappa = (p_o - p_e) / (1 - p_e), p_o = sum_k m_kk / N, p_e = sum_k (row_k / N)(col_k / N).
    """
    k = min(m.shape[-1], m.shape[-2])
    total = m.sum(axis=(-1, -2))
    with np.errstate(invalid="ignore", divide="ignore"):
        po = sum(m[..., i, i] for i in range(k)) / total
        rows = m.sum(axis=-1)[..., :k] / total[..., None]
        cols = m.sum(axis=-2)[..., :k] / total[..., None]
        pe = (rows * cols).sum(axis=-1)
        return np.where((total > 0) & (pe < 1), (po - pe) / np.where(pe < 1, 1 - pe, 1), np.nan)


def _kappa(t: np.ndarray) -> np.ndarray:
    """Cohen's kappa of the pair verdict with gold from flattened counts (judge class x gold class)."""
    return cohen_kappa(t.reshape(t.shape[:-1] + (len(KAPPA_JUDGE), len(KAPPA_GOLD))))


def _kappa_orders(t: np.ndarray) -> np.ndarray:
    return cohen_kappa(t.reshape(t.shape[:-1] + (3, 3)))


def _stack(*cols: np.ndarray) -> np.ndarray:
    return np.stack([np.asarray(c, dtype=float) for c in cols], axis=1)


def _p_judgebench(o: Observations) -> np.ndarray:
    return _stack(game_points(o).sum(axis=1) > 0, np.ones(o.n))


def _p_accuracy_order(col: int) -> Callable[[Observations], np.ndarray]:
    def parts(o: Observations) -> np.ndarray:
        return _stack(game_points(o)[:, col] > 0, _played(o)[:, col])

    return parts


def _p_accuracy(o: Observations) -> np.ndarray:
    return _stack((game_points(o) > 0).sum(axis=1), _played(o).sum(axis=1))


def _p_both_correct(o: Observations) -> np.ndarray:
    both = _played(o).all(axis=1)
    return _stack(both & (game_points(o) > 0).all(axis=1), both)


def _p_agreement(o: Observations) -> np.ndarray:
    return _stack(pair_verdict(o) == o.gold, np.ones(o.n))


def _p_kappa(o: Observations) -> np.ndarray:
    v = pair_verdict(o)
    cells = [(v == j) & (o.gold == g) for j in KAPPA_JUDGE for g in KAPPA_GOLD]
    return _stack(*cells)


def _p_consistency(o: Observations) -> np.ndarray:
    both = _parsed(o).all(axis=1)
    return _stack(both & (o.picks[:, 0] == o.picks[:, 1]), both)


def _p_order_kappa(o: Observations) -> np.ndarray:
    both = _parsed(o).all(axis=1)
    cls = (A, B, TIE)
    return _stack(*[both & (o.picks[:, 0] == i) & (o.picks[:, 1] == j) for i in cls for j in cls])


def _p_first_slot(o: Observations) -> np.ndarray:
    # the answer shown first: a in the original order (column 0), b in the swapped one (column 1)
    first = (o.picks[:, 0] == A).astype(int) + (o.picks[:, 1] == B).astype(int)
    return _stack(first, _decisive(o).sum(axis=1))


def _p_rate(code: int) -> Callable[[Observations], np.ndarray]:
    def parts(o: Observations) -> np.ndarray:
        return _stack((o.picks == code).sum(axis=1), _played(o).sum(axis=1))

    return parts


def _p_judge_longer(o: Observations) -> np.ndarray:
    counted = _decisive(o) & (o.longer != 0)[:, None]
    return _stack((counted & (o.picks == o.longer[:, None])).sum(axis=1), counted.sum(axis=1))


def _p_gold_longer(o: Observations) -> np.ndarray:
    counted = (o.gold != 0) & (o.longer != 0)
    return _stack(counted & (o.gold == o.longer), counted)


def _p_length_bias(o: Observations) -> np.ndarray:
    return np.concatenate([_p_judge_longer(o), _p_gold_longer(o)], axis=1)


@dataclass(frozen=True)
class Metric:
    key: str
    title: str
    definition: str
    parts: Callable[[Observations], np.ndarray]
    value: Callable[[np.ndarray], np.ndarray] = _ratio
    kind: str = "rate"  # "rate" (shown as a percentage), "kappa" or "diff" (percentage points)


METRICS: tuple[Metric, ...] = (
    Metric(
        "judgebench_score",
        "JudgeBench score",
        "each of a pair's games scores +1 if it agrees with gold, -1 if it picks the other answer (against a tie "
        "gold: any answer), 0 for a tie, unparsed or error; a pair is correct if the sum is positive; share of pairs",
        _p_judgebench,
    ),
    Metric(
        "accuracy",
        "accuracy, both games",
        "games whose pick (a, b or tie) equals gold, over all games played (unparsed and errors count as wrong); "
        "with two games per pair this is the average of the two orders",
        _p_accuracy,
    ),
    Metric("accuracy_ab", "accuracy, original order", "games in the original order (a shown first) that agree with gold, over those games", _p_accuracy_order(0)),
    Metric("accuracy_ba", "accuracy, swapped order", "games in the swapped order (b shown first) that agree with gold, over those games", _p_accuracy_order(1)),
    Metric("both_correct", "both games correct", "pairs whose two games both agree with gold, over pairs with two games", _p_both_correct),
    Metric(
        "agreement",
        "agreement with gold (three-way)",
        "the pair verdict (sign of the sum of its parsed games' picks: a, b or tie; unresolved when none parsed) "
        "equals gold (a, b or tie), over all pairs",
        _p_agreement,
    ),
    Metric(
        "kappa",
        "Cohen's kappa",
        "chance-corrected agreement of the pair verdict with gold over classes a, b, tie (unresolved is a class "
        "gold never uses): (p_o - p_e) / (1 - p_e)",
        _p_kappa,
        _kappa,
        "kappa",
    ),
    Metric(
        "consistency",
        "position consistency",
        "pairs whose two games pick the same (a, b or tie) with the answers in either order, over pairs with both games parsed",
        _p_consistency,
    ),
    Metric(
        "order_kappa",
        "kappa between orders",
        "Cohen's kappa of the picks (a, b, tie) of the original-order game against the swapped-order game, over "
        "pairs with both games parsed",
        _p_order_kappa,
        _kappa_orders,
        "kappa",
    ),
    Metric(
        "first_slot",
        "first-slot win share",
        "decisive games won by the answer shown first, over decisive games (0.5 = no position preference)",
        _p_first_slot,
    ),
    Metric("tie_rate", "tie rate", "games labelled a tie, over games played", _p_rate(TIE)),
    Metric("unparsed_rate", "unparsed rate", "games with no readable verdict, over games played", _p_rate(UNPARSED)),
    Metric("error_rate", "error rate", "games that failed (call error after retries), over games played", _p_rate(ERROR)),
    Metric(
        "length_bias",
        "length bias",
        "share of decisive games (answers of unequal length) where the judge picks the longer answer, minus the "
        "share of decisive-gold pairs where gold is the longer answer",
        _p_length_bias,
        _diff_of_ratios,
        "diff",
    ),
    Metric("picks_longer", "judge picks longer", "decisive games (unequal lengths) won by the longer answer, over those games", _p_judge_longer),
    Metric("gold_longer", "gold picks longer", "decisive-gold pairs (unequal lengths) where gold is the longer answer, over those pairs", _p_gold_longer),
)
METRIC_BY_KEY = {m.key: m for m in METRICS}


@dataclass(frozen=True)
class Estimate:
    value: float  # nan where undefined (no denominator)
    lo: float
    hi: float
    n: int  # the denominator (games, pairs) behind the value

    def as_dict(self) -> dict:
        def f(x: float) -> float | None:
            return None if x is None or not np.isfinite(x) else float(x)

        return {"value": f(self.value), "lo": f(self.lo), "hi": f(self.hi), "n": self.n}


def resample_counts(n: int, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """(replicates, n) multinomial counts: each row is a bootstrap resample of the n pairs."""
    if n == 0:
        return np.zeros((replicates, 0))
    return rng.multinomial(n, np.full(n, 1.0 / n), size=replicates).astype(float)


def estimate(metric: Metric, o: Observations, weights: np.ndarray, level: float = CI_LEVEL) -> Estimate:
    """Point value and percentile bootstrap interval of one metric; `weights` from resample_counts."""
    parts = metric.parts(o)
    total = parts.sum(axis=0)
    value = float(metric.value(total))
    if metric.value is _ratio:
        n = int(total[1])
    elif metric.value is _diff_of_ratios:
        n = int(total[1])
    else:
        n = int(total.sum())
    if o.n == 0 or not np.isfinite(value):
        return Estimate(value, float("nan"), float("nan"), n)
    reps = metric.value(weights @ parts)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return Estimate(value, float("nan"), float("nan"), n)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(reps, [alpha, 1 - alpha])
    return Estimate(value, float(lo), float(hi), n)


def evaluate(
    o: Observations,
    *,
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = 0,
    metrics: Sequence[Metric] = METRICS,
) -> dict[str, Estimate]:
    """Every metric with its seeded bootstrap interval (pairs resampled with replacement)."""
    rng = np.random.default_rng(seed)
    weights = resample_counts(o.n, replicates, rng)
    return {m.key: estimate(m, o, weights) for m in metrics}


def by_category(o: Observations, *, replicates: int = BOOTSTRAP_REPLICATES, seed: int = 0) -> dict[str, dict[str, Estimate]]:
    """`evaluate` on each category's pairs (empty when no pair has a category)."""
    cats = sorted({c for c in o.category if c})
    return {c: evaluate(o.subset(o.category == c), replicates=replicates, seed=seed) for c in cats}


def usage(o: Observations) -> dict:
    """Calls, tokens and cost per pair (cost None when any game's cost is unknown)."""
    n = max(o.n, 1)
    cost_known = bool(o.n) and bool(np.all(np.isfinite(o.cost_usd)))
    cost = float(np.sum(o.cost_usd)) if cost_known else None
    return {
        "pairs": o.n,
        "calls": int(o.calls.sum()),
        "cached_calls": int(o.cached_calls.sum()),
        "calls_per_pair": float(o.calls.sum() / n),
        "input_tokens_per_pair": float(o.input_tokens.sum() / n),
        "output_tokens_per_pair": float(o.output_tokens.sum() / n),
        "cost_usd": cost,
        "cost_per_pair_usd": None if cost is None else cost / n,
        "cost_per_1000_pairs_usd": None if cost is None else 1000 * cost / n,
        "latency_s_per_pair": float(o.latency_s.sum() / n),
    }


def counts(o: Observations) -> dict:
    played = _played(o)
    return {
        "pairs": o.n,
        "games": int(played.sum()),
        "gold": {"a": int((o.gold == A).sum()), "b": int((o.gold == B).sum()), "tie": int((o.gold == TIE).sum())},
        "games_by_pick": {
            name: int((o.picks == code).sum()) for name, code in (("a", A), ("b", B), ("tie", TIE), ("unparsed", UNPARSED), ("error", ERROR))
        },
        "pairs_with_both_games": int(played.all(axis=1).sum()),
    }
