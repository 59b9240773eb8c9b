"""`fit_ratings`: point fit, bootstrap intervals, rank intervals and matrices as one typed record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from arena.errors import RatingError
from arena.ratings._battles import BattleArrays, StyleFeatures, compile_battles, pair_stats
from arena.ratings._bootstrap import By, bootstrap_theta
from arena.ratings._bt import DEFAULT_PRIOR, ELO_INIT, ELO_SCALE, Ties, _anchor_index, check_prior, fit_theta, to_elo
from arena.ratings._graph import diagnose
from arena.records import Battle

BOOT_PRIOR_FLOOR = 1e-3
"""Bootstrap replicates of a `prior=0` fit use this prior, as a replicate may lose a model's only win."""

MIN_BATTLES = 10
"""A model with fewer battles than this is marked `insufficient_data` in every leaderboard output."""

MIN_CLUSTERS = 10
"""A model whose battles fall in fewer resampling units (prompts, or battles with `by="battle"`)
than this, or that never won or never lost, or whose bootstrap interval has a side of zero width (every
replicate agrees: a deterministic judge ordering the models perfectly), has a bootstrap that cannot
vary enough: its interval is widened to at least the Laplace interval of the penalised fit (see
`laplace_sd`)."""


def laplace_sd(ps, ties: Ties, prior: float, theta: np.ndarray, gamma: float | None, anchor_index: int | None) -> np.ndarray:
    """Standard deviations (n,) in Elo of each rating (relative to the anchor, or to the mean) from
    the Laplace approximation: the inverse of the negative Hessian of the prior-penalised
    log-likelihood at the point estimate (the prior described in `arena.ratings._bt` keeps it finite
    under perfect separation and for a model with one battle). The anchor's is 0."""
    from arena.ratings._bt import problem_from_stats

    n = len(theta)
    if len(ps.i) == 0:
        return np.zeros(n)
    problem = problem_from_stats(ps, ties, prior)
    x = theta if gamma is None else np.append(theta, gamma)
    _, H = problem.grad_hess(x[None, :], problem.stats)
    cov = np.linalg.pinv(H[0])[:n, :n]
    C = np.eye(n) - (np.eye(n)[anchor_index][None, :] if anchor_index is not None else np.full((n, n), 1.0 / n))
    var = np.einsum("ij,jk,ik->i", C, cov, C)
    return ELO_SCALE * np.sqrt(np.maximum(var, 0.0))


def _clusters_per_model(arrays: BattleArrays, by: str) -> np.ndarray:
    n = arrays.n_models
    unit = arrays.prompt if by == "prompt" else np.arange(len(arrays))
    out = np.zeros(n, dtype=np.int64)
    for i in range(n):
        out[i] = len(np.unique(unit[(arrays.a == i) | (arrays.b == i)]))
    return out


@dataclass(slots=True)
class ModelRating:
    """One leaderboard row. Ratings on the Elo scale; `rank` 1 is best.

    `rank_ub` = 1 + the number of models whose lower CI bound is above this model's upper bound;
    `rank_lo`..`rank_hi` is the central `level` range of the ranks this model takes in the
    bootstrap replicates, widened to hold `rank` and, where the rating's interval got its Laplace
    floor, every rank that interval allows (`rank_ub` to n - the models whose upper bound is
    below this model's lower bound). `battles`, `wins`, `losses` and `ties` count battles (wins + losses +
    ties = battles); `score` is the weighted score (a strong win counts its weight, a tie half a
    battle's weight) and `win_rate` the weighted score over the weighted total, ties half;
    `insufficient_data` is true below `MIN_BATTLES` battles; `pred_win_rate` the model-predicted win probability against each other model,
    averaged uniformly over the field (ties count half); `pred_vs_anchor` against the anchor
    model (without one, against a model at the mean rating). With an anchor (the baseline),
    `vs_baseline` is that predicted win rate and `vs_baseline_low`..`vs_baseline_high` its
    central `level` interval over the bootstrap replicates (Arena-Hard-Auto's headline number:
    `show_result.py` maps the ratings and their percentile bounds through the Bradley-Terry
    win probability against the baseline fixed at 1000); all three are None without an anchor.
    """

    model: str
    rating: float
    ci_low: float
    ci_high: float
    rank: int
    rank_ub: int
    rank_lo: int
    rank_hi: int
    battles: int
    wins: int
    losses: int
    ties: int
    win_rate: float
    pred_win_rate: float
    pred_vs_anchor: float = 0.5
    vs_baseline: float | None = None
    vs_baseline_low: float | None = None
    vs_baseline_high: float | None = None
    score: float = 0.0
    insufficient_data: bool = False


@dataclass(slots=True)
class Leaderboard:
    """Ratings with intervals. Matrices are (n_models, n_models) in the order of `models`
    (row model against column model); `boot` holds the replicates' Elo ratings (n_boot, n_models)."""

    rows: list[ModelRating]
    models: list[str]
    boot: np.ndarray
    win_matrix: np.ndarray
    pred_matrix: np.ndarray
    count_matrix: np.ndarray
    warnings: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    style_coefs: dict | None = None
    tie_param: float | None = None

    @property
    def ratings(self) -> dict[str, float]:
        return {r.model: r.rating for r in self.rows}

    def row(self, model: str) -> ModelRating:
        for r in self.rows:
            if r.model == model:
                return r
        raise KeyError(model)

    def to_records(self) -> list[dict]:
        """JSON-ready rows, best first."""
        out = []
        for r in self.rows:
            out.append(
                {
                    "model": r.model,
                    "rating": round(r.rating, 2),
                    "ci_low": round(r.ci_low, 2),
                    "ci_high": round(r.ci_high, 2),
                    "rank": r.rank,
                    "rank_ub": r.rank_ub,
                    "rank_lo": r.rank_lo,
                    "rank_hi": r.rank_hi,
                    "battles": r.battles,
                    "wins": r.wins,
                    "losses": r.losses,
                    "ties": r.ties,
                    "score": round(r.score, 3),
                    "win_rate": None if r.win_rate != r.win_rate else round(r.win_rate, 4),
                    "insufficient_data": r.insufficient_data,
                    "pred_win_rate": round(r.pred_win_rate, 4),
                    "pred_vs_anchor": round(r.pred_vs_anchor, 4),
                    **(
                        {}
                        if r.vs_baseline is None
                        else {
                            "win_rate_vs_baseline": round(r.vs_baseline, 4),
                            "win_rate_vs_baseline_low": round(r.vs_baseline_low, 4),
                            "win_rate_vs_baseline_high": round(r.vs_baseline_high, 4),
                        }
                    ),
                }
            )
        return out


def rank_upper_bound(ci_low: np.ndarray, ci_high: np.ndarray) -> np.ndarray:
    """1 + the number of models whose lower bound is above this model's upper bound."""
    return 1 + (ci_low[None, :] > ci_high[:, None]).sum(axis=1)


def _rank_range(rlo, rhi, rank, rank_ub, lo, hi, thin) -> tuple[np.ndarray, np.ndarray]:
    """The bootstrap rank range (`rlo`..`rhi`, shape (n,)) widened to hold the point `rank`, and
    where the rating's interval was floored (`thin`), every rank that interval allows: from
    `rank_ub` to n - the number of models whose upper bound is below this model's lower bound."""
    rlo, rhi = np.minimum(rlo, rank), np.maximum(rhi, rank)
    worst = len(rank) - (hi[None, :] < lo[:, None]).sum(axis=1)
    return np.where(thin, np.minimum(rlo, rank_ub), rlo), np.where(thin, np.maximum(rhi, worst), rhi)


def ranks_desc(values: np.ndarray) -> np.ndarray:
    """Competition ranks along the last axis, 1 = highest: 1 + number of strictly higher values."""
    v = np.asarray(values)
    if v.ndim == 1:
        return 1 + (v[None, :] > v[:, None]).sum(axis=1)
    order = np.sort(v, axis=-1)  # ascending
    n = v.shape[-1]
    # number strictly greater = n - (index of first element > v)
    higher = n - np.stack([np.searchsorted(order[r], v[r], side="right") for r in range(v.shape[0])])
    return 1 + higher


def _battle_counts(arrays: BattleArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Battles each model won, lost and tied (counts, whatever the battles' weights)."""
    n = arrays.n_models
    out = [np.zeros(n, dtype=np.int64) for _ in range(3)]
    s = arrays.score_a
    for k, (ma, mb) in enumerate(((s == 1.0, s == 0.0), (s == 0.0, s == 1.0), (s == 0.5, s == 0.5))):
        np.add.at(out[k], arrays.a[ma], 1)
        np.add.at(out[k], arrays.b[mb], 1)
    return out[0], out[1], out[2]


def _predicted(theta: np.ndarray, ties: Ties, gamma: float | None) -> np.ndarray:
    """P(row beats column), ties half (Davidson: P(win) + P(tie) / 2)."""
    return _vs_reference(theta[:, None] - theta[None, :], ties, gamma)


def _vs_reference(d: np.ndarray, ties: Ties, gamma: float | None) -> np.ndarray:
    """P(win) + P(tie) / 2 at log-odds differences `d` (any shape) against a reference model."""
    if ties == "davidson" and gamma is not None:
        e = np.exp(gamma)
        return (np.exp(0.5 * d) + 0.5 * e) / (np.exp(0.5 * d) + np.exp(-0.5 * d) + e)
    return 1.0 / (1.0 + np.exp(-d))


def _vs_interval(boot: np.ndarray, ai: int | None, ties: Ties, gamma: float | None, point: np.ndarray, alpha: float, elo=None):
    """Percentile bounds of each model's predicted win rate against the anchor over the bootstrap
    replicates `boot` (n_boot, n) on the Elo scale; (None, None) without an anchor. The point lies
    inside its bounds, and with `elo` = (ratings, ci_low, ci_high) the bounds are never narrower
    than the rating's own interval (its Laplace floor included) mapped through the win probability
    against the anchor, as Arena-Hard-Auto's `show_result.py` maps the rating bounds: a
    deterministic judge's identical replicates do not give a zero-width win-rate interval."""
    if ai is None:
        return None, None
    lo, hi = point, point
    if len(boot):
        wb = _vs_reference((boot - boot[:, [ai]]) / ELO_SCALE, ties, gamma)
        lo, hi = np.quantile(wb, [alpha, 1 - alpha], axis=0)
    lo, hi = np.minimum(lo, point), np.maximum(hi, point)
    if elo is not None:
        rating, r_lo, r_hi = elo
        lo = np.minimum(lo, _vs_reference((r_lo - rating[ai]) / ELO_SCALE, ties, gamma))
        hi = np.maximum(hi, _vs_reference((r_hi - rating[ai]) / ELO_SCALE, ties, gamma))
    return lo, hi


def fit_ratings(
    battles: Sequence[Battle] | BattleArrays,
    *,
    anchor: str | None = None,
    bootstrap: int = 1000,
    by: By = "prompt",
    ties: Ties = "half",
    level: float = 0.95,
    seed: int | np.random.Generator = 0,
    style: StyleFeatures | None = None,
    prior: float = DEFAULT_PRIOR,
    models: Sequence[str] | None = None,
    anchor_rating: float = ELO_INIT,
) -> Leaderboard:
    """Bradley-Terry ratings with bootstrap confidence intervals, rank intervals and matrices.

    `by="prompt"` resamples prompts (clustered bootstrap: battles on one prompt share its
    difficulty); `by="battle"` resamples battles as Chatbot Arena does. Intervals are the
    central `level` percentile intervals of `bootstrap` replicates drawn from `seed`; the
    replicates are solved together (see `arena.ratings._bootstrap`). `style` (per-battle
    feature differences aligned with the battles) fits a contextual Bradley-Terry model and
    reports ratings with style held equal plus `style_coefs`. `prior` is the virtual-draw prior
    described in `bt_fit`. The `anchor` model (or the mean, without one) sits at `anchor_rating`
    (1000). `models` fixes the model order. Models that make the plain maximum-likelihood estimate infinite
    (disconnected graph, never winning, never losing) are named in `warnings`.
    """
    if not 0 < level < 1:
        raise RatingError(f"level must be between 0 and 1, got {level}")
    if bootstrap < 0:
        raise RatingError(f"bootstrap must be >= 0, got {bootstrap}")
    if by not in ("prompt", "battle"):
        raise RatingError(f"by must be 'prompt' or 'battle', got {by!r}")
    if ties not in ("half", "davidson"):
        raise RatingError(f"ties must be 'half' or 'davidson', got {ties!r}")
    arrays = compile_battles(battles, models)
    if len(arrays) == 0:
        raise RatingError("no battles to rate")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    ai = _anchor_index(arrays.models, anchor)
    n = arrays.n_models
    ps = pair_stats(arrays)
    warnings = diagnose(ps, arrays.models)
    if warnings and prior > 0:
        warnings.append(
            f"ratings stay finite through the prior ({prior:g} virtual draws per model against an average model); "
            "treat the affected ratings and intervals as weakly determined"
        )
    no_battles = [arrays.models[i] for i in range(n) if not ((arrays.a == i).any() or (arrays.b == i).any())]
    if no_battles:
        warnings.append("no battles for: " + ", ".join(no_battles) + " (rating set by the prior alone)")
    check_prior(ps, ties, prior, arrays.models)
    boot_prior = prior if prior > 0 else BOOT_PRIOR_FLOOR
    style_coefs = None
    gamma = None
    if style is not None:
        from arena.ratings._style import fit_style

        if ties != "half":
            raise RatingError("style control supports ties='half' only")
        theta, beta, theta_b, beta_b = fit_style(arrays, style, prior=prior, boot_prior=boot_prior, n_boot=bootstrap, by=by, rng=rng)
        alpha = (1 - level) / 2
        style_coefs = {}
        for k, name in enumerate(style.names):
            c = {"coef": float(beta[k])}
            if bootstrap:
                c["ci_low"], c["ci_high"] = (float(v) for v in np.quantile(beta_b[:, k], [alpha, 1 - alpha]))
            style_coefs[name] = c
    else:
        theta, gamma = fit_theta(ps, ties, prior)
        x0 = theta if gamma is None else np.append(theta, gamma)
        xb = bootstrap_theta(arrays, x0, n_boot=bootstrap, by=by, ties=ties, prior=boot_prior, rng=rng)
        theta_b = xb[:, :n]
    rating = to_elo(theta, ai, anchor_rating)
    boot = to_elo(theta_b, ai, anchor_rating) if bootstrap else np.empty((0, n))
    alpha = (1 - level) / 2
    if bootstrap:
        lo, hi = np.quantile(boot, [alpha, 1 - alpha], axis=0)
        # the point estimate lies inside its interval even for tiny bootstrap counts
        lo, hi = np.minimum(lo, rating), np.maximum(hi, rating)
        branks = ranks_desc(boot)
        rlo = np.floor(np.quantile(branks, alpha, axis=0, method="lower")).astype(int)
        rhi = np.ceil(np.quantile(branks, 1 - alpha, axis=0, method="higher")).astype(int)
    else:
        lo = hi = rating.copy()
        rlo = rhi = ranks_desc(rating)
    # where the bootstrap cannot vary (one battle, one prompt, perfect separation) or was not run,
    # the interval is at least the Laplace interval of the penalised fit: never zero-width but the anchor's
    from scipy.stats import norm

    wins_w = np.zeros(n)
    losses_w = np.zeros(n)
    np.add.at(wins_w, ps.i, ps.wins)
    np.add.at(wins_w, ps.j, ps.losses)
    np.add.at(losses_w, ps.i, ps.losses)
    np.add.at(losses_w, ps.j, ps.wins)
    # (a side of zero width: every replicate agrees, as with a deterministic judge whose verdicts
    # order the models perfectly, or one or two replicates that all fall on one side of the rating;
    # the anchor's Laplace sd is 0 and stays fixed)
    one_sided = (hi - rating <= 1e-6) | (rating - lo <= 1e-6)
    thin = (_clusters_per_model(arrays, by) < MIN_CLUSTERS) | (wins_w == 0) | (losses_w == 0) | (bootstrap == 0) | one_sided
    if thin.any() and style is None:
        sd = laplace_sd(ps, ties, prior if prior > 0 else boot_prior, theta, gamma, ai)
        z = float(norm.ppf(1 - alpha))
        lo = np.where(thin, np.minimum(lo, rating - z * sd), lo)
        hi = np.where(thin, np.maximum(hi, rating + z * sd), hi)
    rank = ranks_desc(rating)
    rank_ub = rank_upper_bound(lo, hi)
    rlo, rhi = _rank_range(rlo, rhi, rank, rank_ub, lo, hi, thin)
    # matrices (row vs column)
    count = np.zeros((n, n))
    np.add.at(count, (ps.i, ps.j), ps.count)
    np.add.at(count, (ps.j, ps.i), ps.count)
    sc = np.zeros((n, n))
    np.add.at(sc, (ps.i, ps.j), ps.score)
    np.add.at(sc, (ps.j, ps.i), ps.total - ps.score)
    tot = np.zeros((n, n))
    np.add.at(tot, (ps.i, ps.j), ps.total)
    np.add.at(tot, (ps.j, ps.i), ps.total)
    with np.errstate(invalid="ignore", divide="ignore"):
        win_matrix = np.where(tot > 0, sc / tot, np.nan)
    pred = _predicted(theta, ties, gamma)
    np.fill_diagonal(pred, 0.5)
    wins, losses, tiesv = _battle_counts(arrays)
    played = count.sum(axis=1)
    wtot = tot.sum(axis=1)
    ref_theta = theta[ai] if ai is not None else theta.mean()
    vs_anchor = _predicted(np.append(theta, ref_theta), ties, gamma)[:n, n]
    vs_lo, vs_hi = _vs_interval(boot, ai, ties, gamma, vs_anchor, alpha, (rating, lo, hi))
    rows = []
    for i in range(n):
        others = [j for j in range(n) if j != i]
        rows.append(
            ModelRating(
                model=arrays.models[i],
                rating=float(rating[i]),
                ci_low=float(lo[i]),
                ci_high=float(hi[i]),
                rank=int(rank[i]),
                rank_ub=int(rank_ub[i]),
                rank_lo=int(rlo[i]),
                rank_hi=int(rhi[i]),
                battles=int(played[i]),
                wins=int(wins[i]),
                losses=int(losses[i]),
                ties=int(tiesv[i]),
                score=float(sc[i].sum()),
                insufficient_data=bool(played[i] < MIN_BATTLES),
                win_rate=float(sc[i].sum() / wtot[i]) if wtot[i] > 0 else float("nan"),
                pred_win_rate=float(pred[i, others].mean()) if others else 0.5,
                pred_vs_anchor=float(vs_anchor[i]),
                vs_baseline=None if ai is None else float(vs_anchor[i]),
                vs_baseline_low=None if vs_lo is None else float(vs_lo[i]),
                vs_baseline_high=None if vs_hi is None else float(vs_hi[i]),
            )
        )
    order = sorted(range(n), key=lambda i: (-rating[i], arrays.models[i]))
    return Leaderboard(
        rows=[rows[i] for i in order],
        models=list(arrays.models),
        boot=boot,
        win_matrix=win_matrix,
        pred_matrix=pred,
        count_matrix=count,
        warnings=warnings,
        params={
            "anchor": anchor,
            "anchor_rating": anchor_rating,
            "level": level,
            "by": by,
            "ties": ties,
            "bootstrap": bootstrap,
            "seed": seed if isinstance(seed, int) else None,
            "prior": prior,
            "style": list(style.names) if style is not None else None,
            "elo_scale": float(ELO_SCALE),
            "elo_init": ELO_INIT,
        },
        style_coefs=style_coefs,
        tie_param=float(np.exp(gamma)) if gamma is not None else None,
    )
