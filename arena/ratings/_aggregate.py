"""Rank aggregation across tasks: one ranking from several rankings or score tables whose
columns have their own scales and many missing cells.

Following Colombo et al. 2022 ("What are the best systems? New perspectives on NLP
benchmarking", NeurIPS), each task (a column) induces a ranking of the models it measured;
the rankings are aggregated by social-choice methods instead of averaging raw scores:

- **Borda count** (normalised for partial rankings): on a task with k >= 2 measured models,
  model i scores (models it beats + 0.5 x models it ties) / (k - 1) in [0, 1]; its Borda score is
  the mean over the tasks that measured it.
- **Kemeny-Young consensus**: with P[i, j] the number of tasks ranking i above j (+0.5 per tie,
  only tasks that measured both), the Kemeny ranking maximises the sum of P[i, j] over the
  ordered pairs it puts i before j, i.e. minimises the pairwise disagreements with the tasks
  (Kemeny 1959; Young & Levenglick 1978). Exact by dynamic programming over subsets (the
  Held-Karp recursion: best(S) = max over j in S of best(S - j) + sum_{i in S - j} P[i, j],
  O(2^n n) memory and time) for up to `KEMENY_EXACT_MAX` systems, by integer programming
  (Conitzer et al. 2006, HiGHS) for the point ranking up to `KEMENY_MILP_MAX`; beyond that (and in
  bootstrap replicates above `KEMENY_EXACT_MAX`) a local search:
  starting from the Borda and Copeland orders and seeded random orders, move single systems to
  their best position (insertion moves) until no move improves the objective. The local search
  is not guaranteed optimal; `kemeny_exact` says which was used.
- **Mean of normalised scores** beside them: each column z-scored over the models it measured,
  then averaged per model over its measured columns (the usual "average the benchmarks", with
  the scale problem fixed but not the missing-cells problem).

Stability by a bootstrap over tasks: columns are resampled with replacement and every method
re-run; each model's rank interval and the share of replicates that keep its rank are reported.
Pure functions over numpy arrays; no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from arena.errors import RatingError

KEMENY_EXACT_MAX = 12
"""Largest number of systems for which the Kemeny ranking is computed exactly by the subset DP
(2^12 x 12 states, milliseconds: used in every bootstrap replicate)."""

KEMENY_MILP_MAX = 40
"""Largest number of systems for which the point Kemeny ranking is solved exactly by integer
programming (n(n-1)/2 variables, n(n-1)(n-2)/6 transitivity rows; about 0.5 s for 26 real
systems, 2.5 s for 30 random ones). Bootstrap replicates beyond KEMENY_EXACT_MAX use the local search."""

METHODS = ("kemeny", "borda", "mean_normalised")


@dataclass(frozen=True, slots=True)
class ScoreTable:
    """Scores of `models` (rows) on `tasks` (columns): `scores` is (n_models, n_tasks), NaN where
    a model was not measured; higher is better in every column (negate lower-is-better ones)."""

    models: list[str]
    tasks: list[str]
    scores: np.ndarray

    def __post_init__(self) -> None:
        s = np.asarray(self.scores, float)
        if s.shape != (len(self.models), len(self.tasks)):
            raise RatingError(f"scores have shape {s.shape}, expected ({len(self.models)}, {len(self.tasks)})")
        if len(set(self.models)) != len(self.models):
            dup = next(m for m in self.models if self.models.count(m) > 1)
            raise RatingError(f"model {dup!r} appears twice")
        if np.isinf(s).any():
            raise RatingError("scores must be finite numbers or missing (NaN)")


def table_from_rankings(rankings: dict[str, Sequence[str]]) -> ScoreTable:
    """A ScoreTable from task -> models best first (a model absent from a ranking is missing there).

    Raises RatingError when a ranking names a model twice."""
    models: list[str] = []
    seen: dict[str, int] = {}
    for task, order in rankings.items():
        if len(set(order)) != len(order):
            dup = next(m for m in order if list(order).count(m) > 1)
            raise RatingError(f"ranking {task!r} names model {dup!r} twice")
        for m in order:
            if m not in seen:
                seen[m] = len(models)
                models.append(m)
    scores = np.full((len(models), len(rankings)), np.nan)
    for t, order in enumerate(rankings.values()):
        for pos, m in enumerate(order):
            scores[seen[m], t] = -pos
    return ScoreTable(models, list(rankings), scores)


def table_from_scores(scores: dict[str, dict[str, float]]) -> ScoreTable:
    """A ScoreTable from task -> {model: score} (higher better; a model absent from a task is missing there)."""
    models: list[str] = []
    for vals in scores.values():
        models += [m for m in vals if m not in models]
    pos = {m: k for k, m in enumerate(models)}
    s = np.full((len(models), len(scores)), np.nan)
    for t, vals in enumerate(scores.values()):
        for m, x in vals.items():
            s[pos[m], t] = float(x)
    return ScoreTable(models, list(scores), s)


def _usable(table: ScoreTable) -> ScoreTable:
    """Drop tasks measuring fewer than 2 models, then models measured nowhere; raise if < 2 left."""
    s = np.asarray(table.scores, float)
    keep_t = (~np.isnan(s)).sum(axis=0) >= 2
    s = s[:, keep_t]
    keep_m = (~np.isnan(s)).any(axis=1)
    models = [m for m, k in zip(table.models, keep_m) if k]
    tasks = [t for t, k in zip(table.tasks, keep_t) if k]
    if len(models) < 2 or not tasks:
        raise RatingError(f"aggregation needs at least 2 models and one task measuring 2 of them; got {len(models)} models, {len(tasks)} tasks")
    return ScoreTable(models, tasks, s[keep_m])


def pairwise_preferences(scores: np.ndarray) -> np.ndarray:
    """P[i, j] = number of columns ranking i above j, + 0.5 per tie, over columns measuring both.

    `scores` is (n_models, n_tasks) with NaN for missing; returns (n_models, n_models)."""
    s = np.asarray(scores, float)
    present = ~np.isnan(s)
    filled = np.where(present, s, 0.0)
    both = present[:, None, :] & present[None, :, :]
    diff = filled[:, None, :] - filled[None, :, :]
    win = ((diff > 0) & both).sum(axis=2) + 0.5 * ((diff == 0) & both).sum(axis=2)
    np.fill_diagonal(win, 0.0)
    return win.astype(float)


def borda_scores(scores: np.ndarray) -> np.ndarray:
    """Normalised Borda score per model (n_models,): mean over measured columns of the share of
    the column's other models it beats (ties half). NaN for a model measured in no usable column."""
    s = np.asarray(scores, float)
    present = ~np.isnan(s)
    filled = np.where(present, s, 0.0)
    k = present.sum(axis=0)  # models per column
    beats = np.zeros_like(s)
    for t in range(s.shape[1]):
        if k[t] < 2:
            continue
        col, pr = filled[:, t], present[:, t]
        d = col[:, None] - col[None, :]
        b = ((d > 0) & pr[None, :]).sum(axis=1) + 0.5 * (((d == 0) & pr[None, :]).sum(axis=1) - 1)
        beats[:, t] = np.where(pr, b / (k[t] - 1), 0.0)
    used = present & (k >= 2)[None, :]
    n = used.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (beats * used).sum(axis=1) / np.maximum(n, 1), np.nan)


def mean_normalised_scores(scores: np.ndarray) -> np.ndarray:
    """Mean over measured columns of each column's z-score (over the models it measured; a
    constant column contributes 0). (n_models,), NaN for a model measured nowhere."""
    s = np.asarray(scores, float)
    present = ~np.isnan(s)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.nanmean(np.where(present, s, np.nan), axis=0)
        sd = np.nanstd(np.where(present, s, np.nan), axis=0)
        z = np.where(present, (s - mu) / np.where(sd > 0, sd, 1.0), 0.0)
        z = np.where(present & (sd > 0)[None, :], z, 0.0)
        n = present.sum(axis=1)
        return np.where(n > 0, z.sum(axis=1) / np.maximum(n, 1), np.nan)


def kemeny_objective(order: Sequence[int], pref: np.ndarray) -> float:
    """Agreements of an order (indices best first) with P: sum of P[i, j] over i placed before j."""
    o = np.asarray(order)
    perm = pref[np.ix_(o, o)]
    return float(np.triu(perm, 1).sum())


def _kemeny_exact(pref: np.ndarray) -> list[int]:
    """Exact Kemeny order by the subset dynamic programme (module docstring); n <= KEMENY_EXACT_MAX."""
    n = pref.shape[0]
    full = 1 << n
    # col[S, j] = sum_{i in S} P[i, j], built block by block on the highest bit
    col = np.zeros((full, n))
    for j in range(n):
        col[1 << j : 1 << (j + 1)] = col[: 1 << j] + pref[j]
    subsets = np.arange(full)
    bits = (subsets[:, None] >> np.arange(n)[None, :]) & 1
    popcount = bits.sum(axis=1)
    best = np.full(full, -np.inf)
    best[0] = 0.0
    last = np.full(full, -1, dtype=np.int64)
    for size in range(1, n + 1):
        layer = subsets[popcount == size]
        lb = bits[layer].astype(bool)  # (L, n)
        prev = layer[:, None] ^ (1 << np.arange(n))[None, :]  # S - j
        cand = np.where(lb, best[prev] + col[prev, np.arange(n)[None, :]], -np.inf)
        j = np.argmax(cand, axis=1)
        best[layer] = cand[np.arange(len(layer)), j]
        last[layer] = j
    order = []
    s = full - 1
    while s:
        j = int(last[s])
        order.append(j)
        s ^= 1 << j
    return order[::-1]


def _insertion_search(order: list[int], pref: np.ndarray) -> list[int]:
    """Move single systems to their best position until no move gains (a local optimum)."""
    order = list(order)
    n = len(order)
    improved = True
    while improved:
        improved = False
        for item in list(order):
            rest = [x for x in order if x != item]
            r = np.asarray(rest)
            # gain of inserting `item` at position p: items before p contribute P[r, item], after P[item, r]
            before = np.concatenate([[0.0], np.cumsum(pref[r, item])])
            after = np.concatenate([np.cumsum(pref[item, r][::-1])[::-1], [0.0]])
            gains = before + after
            p = int(np.argmax(gains))
            cur = order.index(item)
            if gains[p] > gains[cur] + 1e-12:
                rest.insert(p, item)
                order = rest
                improved = True
    assert len(order) == n
    return order


def _kemeny_milp(pref: np.ndarray, time_limit: float) -> list[int] | None:
    """Exact Kemeny order by the integer programme of Conitzer, Davenport & Kalagnanam 2006
    ("Improved bounds for computing Kemeny rankings"): x_ij = 1 when i precedes j (i < j),
    maximise sum P[i,j] x_ij + P[j,i] (1 - x_ij) subject to 0 <= x_ij + x_jk - x_ik <= 1 for
    every triple (transitivity), solved by HiGHS through scipy.optimize.milp. None when the
    solver does not prove optimality within `time_limit` seconds."""
    from itertools import combinations as comb

    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    n = pref.shape[0]
    iu, ju = np.triu_indices(n, 1)
    idx = np.full((n, n), -1)
    idx[iu, ju] = np.arange(len(iu))
    if n < 3:
        return [0, 1] if n == 2 and pref[0, 1] >= pref[1, 0] else list(range(n))[::-1]
    tri = np.array(list(comb(range(n), 3)))
    i, j, k = tri[:, 0], tri[:, 1], tri[:, 2]
    rows = np.repeat(np.arange(len(tri)), 3)
    cols = np.stack([idx[i, j], idx[j, k], idx[i, k]], axis=1).ravel()
    vals = np.tile([1.0, 1.0, -1.0], len(tri))
    a = coo_matrix((vals, (rows, cols)), shape=(len(tri), len(iu)))
    c = -(pref[iu, ju] - pref[ju, iu])
    res = milp(c, constraints=LinearConstraint(a, 0, 1), integrality=np.ones(len(iu)), bounds=Bounds(0, 1), options={"time_limit": time_limit})
    if res.status != 0 or res.x is None:
        return None
    x = np.round(res.x)
    ahead = np.zeros(n)  # number of systems placed before each one
    np.add.at(ahead, ju, x)
    np.add.at(ahead, iu, 1 - x)
    return [int(m) for m in np.argsort(ahead, kind="stable")]


def kemeny_order(
    pref: np.ndarray,
    *,
    start: Sequence[Sequence[int]] = (),
    restarts: int = 8,
    rng: np.random.Generator | None = None,
    exact_max: int = KEMENY_EXACT_MAX,
    milp_max: int = 0,
    time_limit: float = 30.0,
) -> tuple[list[int], bool]:
    """A Kemeny-Young consensus order (indices best first) of the preference matrix `pref`
    (n, n) and whether it is proven optimal.

    Exact by the subset dynamic programme when n <= `exact_max`; by an integer programme
    (`_kemeny_milp`) when n <= `milp_max` and HiGHS proves optimality within `time_limit`;
    otherwise the best local optimum of insertion moves from the `start` orders, the Copeland
    order and `restarts` random orders drawn from `rng`. Source: Kemeny 1959; the DP is
    Held-Karp's, as used for Kemeny rank aggregation by Betzler et al. 2009 ("Fixed-parameter
    algorithms for Kemeny rankings"); insertion moves as in Ali & Meila 2012 ("Experiments with
    Kemeny ranking: What works when?")."""
    pref = np.asarray(pref, float)
    n = pref.shape[0]
    if n <= 1:
        return list(range(n)), True
    if n <= exact_max:
        return _kemeny_exact(pref), True
    if n <= milp_max:
        order = _kemeny_milp(pref, time_limit)
        if order is not None:
            return order, True
    rng = rng if rng is not None else np.random.default_rng(0)
    copeland = np.argsort(-(np.sign(pref - pref.T)).sum(axis=1), kind="stable")
    starts = [list(s) for s in start] + [list(copeland)] + [list(rng.permutation(n)) for _ in range(restarts)]
    best, best_v = None, -np.inf
    for s in starts:
        o = _insertion_search(s, pref)
        v = kemeny_objective(o, pref)
        if v > best_v + 1e-12:
            best, best_v = o, v
    return best, False


def ranks_from_scores(values: np.ndarray) -> np.ndarray:
    """1-based competition ranks ("1224"), higher value better; NaN stays NaN."""
    v = np.asarray(values, float)
    out = np.full(len(v), np.nan)
    ok = ~np.isnan(v)
    vv = v[ok]
    out[ok] = 1 + (vv[None, :] > vv[:, None]).sum(axis=1)
    return out


def _ranks_from_order(order: Sequence[int], n: int) -> np.ndarray:
    r = np.empty(n)
    r[np.asarray(order)] = np.arange(1, n + 1)
    return r


def _all_methods(scores: np.ndarray, rng: np.random.Generator, exact_max: int, milp_max: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], bool]:
    """(method -> value per model, method -> rank per model, kemeny exact?) on one table."""
    b = borda_scores(scores)
    mn = mean_normalised_scores(scores)
    pref = pairwise_preferences(scores)
    n = scores.shape[0]
    measured = ~np.isnan(b)
    idx = np.flatnonzero(measured)
    borda_start = idx[np.argsort(-b[idx], kind="stable")]
    sub = pref[np.ix_(idx, idx)]
    pos = {int(m): k for k, m in enumerate(idx)}
    order_sub, exact = kemeny_order(sub, start=[[pos[int(m)] for m in borda_start]], restarts=2, rng=rng, exact_max=exact_max, milp_max=milp_max)
    kem_rank = np.full(n, np.nan)
    kem_rank[idx] = _ranks_from_order(order_sub, len(idx))
    values = {"kemeny": -kem_rank, "borda": b, "mean_normalised": mn}
    ranks = {"kemeny": kem_rank, "borda": ranks_from_scores(b), "mean_normalised": ranks_from_scores(mn)}
    return values, ranks, exact


@dataclass(slots=True)
class AggregateRow:
    """One model of an aggregate ranking. `ranks[method]` is 1-based; `rank_lo`/`rank_hi` the
    central interval of its rank over the task bootstrap; `p_same` the share of replicates in
    which it kept that rank."""

    model: str
    tasks: int
    ranks: dict[str, int]
    values: dict[str, float]
    rank_lo: dict[str, float] = field(default_factory=dict)
    rank_hi: dict[str, float] = field(default_factory=dict)
    p_same: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class AggregateResult:
    """One ranking from several tasks by Kemeny, Borda and mean of normalised scores.

    `rows` are sorted by the Kemeny rank (ties by Borda). `disagreements` lists the pairs
    (model_a, model_b, {method: "a" | "b" | "tie"}) that the methods order differently.
    `kemeny_agreement` is the Kemeny objective: the share of pairwise task preferences the
    consensus agrees with."""

    tasks: list[str]
    rows: list[AggregateRow]
    kemeny_exact: bool
    kemeny_agreement: float
    disagreements: list[tuple[str, str, dict[str, str]]]
    bootstrap: int
    level: float
    dropped_tasks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "tasks": self.tasks,
            "dropped_tasks": self.dropped_tasks,
            "kemeny_exact": self.kemeny_exact,
            "kemeny_agreement": self.kemeny_agreement,
            "bootstrap": self.bootstrap,
            "level": self.level,
            "rows": [
                {"model": r.model, "tasks": r.tasks, "ranks": r.ranks, "values": r.values, "rank_lo": r.rank_lo, "rank_hi": r.rank_hi, "p_same": r.p_same}
                for r in self.rows
            ],
            "disagreements": [{"model_a": a, "model_b": b, "order": o} for a, b, o in self.disagreements],
            "warnings": self.warnings,
        }


def aggregate_rankings(table: ScoreTable, *, bootstrap: int = 200, level: float = 0.95, seed: int = 0, exact_max: int = KEMENY_EXACT_MAX, milp_max: int = KEMENY_MILP_MAX) -> AggregateResult:
    """Aggregate the rankings the columns of `table` induce (module docstring for the methods).

    Parameters: `table` (models x tasks, NaN missing, higher better); `bootstrap` replicates
    resampling tasks with replacement (0: none); `level` of the rank intervals; `seed` of the
    `np.random.Generator`; `exact_max` the largest n solved by the DP (also in replicates),
    `milp_max` by integer programming (point ranking only).
    Returns an AggregateResult. Raises RatingError with fewer than 2 models or no task
    measuring two of them. Tasks measuring fewer than 2 models are dropped (listed)."""
    if not 0.5 <= level < 1:
        raise RatingError(f"level must be in [0.5, 1), got {level}")
    if bootstrap < 0:
        raise RatingError(f"bootstrap must be >= 0, got {bootstrap}")
    usable = _usable(table)
    dropped = [t for t in table.tasks if t not in usable.tasks]
    s = usable.scores
    n, t = s.shape
    rng = np.random.default_rng(seed)
    values, ranks, exact = _all_methods(s, rng, exact_max, milp_max)
    pref = pairwise_preferences(s)
    kem_order = list(np.argsort(ranks["kemeny"], kind="stable"))
    total = float(np.triu(pref + pref.T, 1).sum())
    agree = kemeny_objective(kem_order, pref) / total if total else 1.0
    boot_ranks = {m: np.full((bootstrap, n), np.nan) for m in METHODS}
    for r in range(bootstrap):
        cols = rng.integers(0, t, size=t)
        _, rr, _ = _all_methods(s[:, cols], rng, exact_max)
        for m in METHODS:
            boot_ranks[m][r] = rr[m]
    counts = (~np.isnan(s)).sum(axis=1)
    rows = []
    alpha = (1 - level) / 2
    for i, model in enumerate(usable.models):
        row = AggregateRow(model, int(counts[i]), {m: int(ranks[m][i]) for m in METHODS}, {m: float(values[m][i]) for m in METHODS})
        if bootstrap:
            for m in METHODS:
                col = boot_ranks[m][:, i]
                col = col[~np.isnan(col)]
                if len(col):
                    row.rank_lo[m] = float(np.quantile(col, alpha, method="lower"))
                    row.rank_hi[m] = float(np.quantile(col, 1 - alpha, method="higher"))
                    row.p_same[m] = float(np.mean(col == ranks[m][i]))
        rows.append(row)
    rows.sort(key=lambda r: (r.ranks["kemeny"], r.ranks["borda"], r.model))
    disagreements = []
    for i, j in combinations(range(n), 2):
        order = {m: ("a" if ranks[m][i] < ranks[m][j] else "b" if ranks[m][i] > ranks[m][j] else "tie") for m in METHODS}
        if len(set(order.values())) > 1:
            disagreements.append((usable.models[i], usable.models[j], order))
    warnings = []
    if dropped:
        warnings.append(f"dropped {len(dropped)} task(s) measuring fewer than 2 models: " + ", ".join(dropped))
    thin = [m for m, c in zip(usable.models, counts) if c == 1]
    if thin:
        warnings.append(f"{len(thin)} model(s) measured on one task only; their aggregate rank rests on it: " + ", ".join(thin))
    if not exact:
        warnings.append(f"{n} systems: Kemeny by local search (exact up to {max(exact_max, milp_max)}); not guaranteed optimal")
    elif bootstrap and n > exact_max:
        warnings.append(f"{n} systems: the Kemeny ranking is exact; its bootstrap replicates use the local search (exact DP up to {exact_max})")
    return AggregateResult(usable.tasks, rows, exact, agree, disagreements, bootstrap, level, dropped, warnings)
