"""How much of a difference is noise (after Madaan et al. 2024, "Quantifying Variance in
Evaluation Benchmarks"): how many prompts would separate each adjacent pair of a leaderboard,
whether a series of one model's checkpoints is ranked monotonically in training step, and how
much of a rating's variance is judge noise.

The last part splits that variance into its two sources, prompt sampling and judge noise, from
re-judged matches (`self_agreement`, `variance_sources`; see `variance_sources` for the method).

The first two read the prompt-clustered bootstrap replicates of a `Leaderboard` (`boot`, (B, n_models)):
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

    A pair is separated when the difference exceeds z * sd AND the two ratings' intervals do not
    overlap (the upper one's `ci_low` above the lower one's `ci_high`): the rule of `rank_ub`, so
    "separated" never contradicts the rank intervals, also where the bootstrap cannot vary (a
    deterministic judge, perfect separation: sd 0) and the intervals are the Laplace floor's.
    Prompts needed: both criteria shrink as 1/sqrt(prompts), so the larger of
    `n_prompts * (z sd / d)^2` and `n_prompts * ((a.rating - a.ci_low + b.ci_high - b.rating) / d)^2`.

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
        facing = max(0.0, a.rating - a.ci_low) + max(0.0, b.ci_high - b.rating)  # the intervals' facing halves
        ratio = max(z * sd, facing) / d if d > 0 else math.inf  # < 1: separated by both criteria
        needed = None if d <= 0 else (max(1, math.ceil(n_prompts * ratio**2)) if ratio > 0 else n_prompts)
        separated = bool(d > 0 and ratio < 1 and a.ci_low > b.ci_high)
        out.append({"model_a": a.model, "model_b": b.model, "difference": float(d), "sd": sd, "separated": separated, "prompts_needed": needed})
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


# -- where the variance comes from: prompt sampling and judge noise --------------------------------


def self_agreement(original: Sequence[str], replay: Sequence[str], *, level: float = 0.95) -> dict:
    """The judge's self-agreement: the share of re-judged matches whose outcome (`a`, `b`, `tie`)
    is the same as the original verdict's, with a Wilson score interval at `level`.

    Returns `n`, `agree`, `rate` (None when n = 0) and `ci` ([low, high] or None). Raises
    RatingError when the two sequences differ in length."""
    if len(original) != len(replay):
        raise RatingError(f"self-agreement: {len(original)} original verdicts but {len(replay)} replays")
    n = len(original)
    agree = sum(1 for a, b in zip(original, replay) if a == b)
    if n == 0:
        return {"n": 0, "agree": 0, "rate": None, "ci": None}
    from scipy.stats import binomtest

    ci = binomtest(agree, n).proportion_ci(confidence_level=level, method="wilson")
    return {"n": n, "agree": agree, "rate": agree / n, "ci": [float(ci.low), float(ci.high)]}


def _gauge(n: int, anchor_index: int | None) -> np.ndarray:
    """The linear map from log-strengths to Elo offsets: centring (mean at 0) or the anchor at 0."""
    g = np.eye(n)
    if anchor_index is None:
        return g - 1.0 / n
    g[:, anchor_index] -= 1.0
    return g


def variance_sources(
    board,
    battles,
    replayed: Sequence[int],
    replay_score: Sequence[float],
    replay_weight: Sequence[float],
    *,
    judged: Sequence[bool] | None = None,
    prior: float | None = None,
    anchor: str | None = None,
    level: float = 0.95,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict:
    """Split each rating's bootstrap variance into prompt sampling and judge noise.

    The two-source decomposition (law of total variance; Miller 2024, "Adding Error Bars to
    Evals", Sec. 2.3; the framing of Madaan et al. 2024, "Quantifying Variance in Evaluation
    Benchmarks", which set seed variance beside bootstrap variance):

        Var(rating) = Var_prompts(E[rating | prompts]) + E_prompts[Var(rating | prompts)]
                    =       prompt sampling           +          judge noise

    The prompt-clustered bootstrap (`board.boot`, (B, n_models)) resamples prompts with their
    observed, noisy verdicts, so its variance estimates the total. The judge-noise term is
    computed from re-judged matches:

    - battle i contributes u_i = w_i (y_i - p_i) to the score equations of the Bradley-Terry fit
      (y_i in {0, 1/2, 1} from A's side, w_i its weight, p_i the fitted win probability);
    - a replay of the same match gives u'_i; (u_i - u'_i)^2 / 2 estimates the judge's variance
      of u_i with the prompt held fixed (two independent readings, as in test-retest reliability);
    - one noise parameter kappa = sum_R (u_i - u'_i)^2 / 2 / sum_R w_i^2 p_i (1 - p_i) over the
      re-judged sample R: the judge's noise as a share of the Bernoulli variance the ratings imply
      (kappa = 0: a deterministic judge; kappa = 1: each verdict a fresh coin flip at p_i);
    - the judge-noise covariance of the log-strengths is the sandwich H^-1 M H^-1 with
      H = sum_i w_i p_i (1 - p_i) x_i x_i^T (+ the prior's curvature) and
      M = kappa sum_i w_i^2 p_i (1 - p_i) x_i x_i^T, x_i = e_a - e_b, mapped to the Elo scale
      and the board's gauge (mean 1000 or the anchor);
    - prompt sampling = total - judge noise (floored at 0, flagged when the judge part exceeds
      the total, which happens by chance with few replays).

    The interval of kappa (and so of every judge-noise figure, which is linear in kappa) is the
    central `level` range over `bootstrap` resamples of the re-judged matches.

    Parameters: `board` a `Leaderboard` fitted on `battles` (`BattleArrays` in `board.models`
    order); `replayed` indices of re-judged battles; `replay_score` / `replay_weight` their
    replay's y' and w'; `judged` (one per battle, default all) marks the battles a judge decided:
    the others (forfeits) weigh in H but carry no judge noise. Returns `kappa`, `kappa_ci`, `n_replayed`, `models` (per model:
    `total_var`, `judge_var`, `prompt_var`, `judge_share`, `judge_var_ci`) and `pairs` (each
    adjacent pair of the leaderboard, the same for the rating difference, and `prompts_needed`
    if the judge were noiseless). Variances in Elo points squared. Raises RatingError without
    replays, bootstrap replicates or with mismatched lengths."""
    from arena.ratings._bt import DEFAULT_PRIOR, ELO_SCALE

    idx = np.asarray(replayed, dtype=np.int64)
    ys = np.asarray(replay_score, dtype=np.float64)
    ws = np.asarray(replay_weight, dtype=np.float64)
    if not (len(idx) == len(ys) == len(ws)):
        raise RatingError("variance sources: replayed indices, scores and weights differ in length")
    if len(idx) == 0:
        raise RatingError("variance sources: no re-judged matches")
    if board.boot.shape[0] < 2:
        raise RatingError("variance sources: the leaderboard has no bootstrap replicates")
    prior = DEFAULT_PRIOR if prior is None else float(prior)
    models = list(board.models)
    n = len(models)
    theta = np.array([board.ratings[m] for m in models]) / ELO_SCALE
    d = theta[battles.a] - theta[battles.b]
    p = 1.0 / (1.0 + np.exp(-d))
    v = battles.weight**2 * p * (1 - p)  # Bernoulli variance of u_i
    u = battles.weight * (battles.score_a - p)
    u_replay = ws * (ys - p[idx])
    s2 = (u[idx] - u_replay) ** 2 / 2
    denom = v[idx].sum()
    kappa = float(s2.sum() / denom) if denom > 0 else 0.0
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(idx), size=(max(bootstrap, 0), len(idx)))
    if bootstrap > 0:
        dens = v[idx][draws].sum(axis=1)
        kb = np.where(dens > 0, s2[draws].sum(axis=1) / np.where(dens > 0, dens, 1.0), 0.0)
        a = (1 - level) / 2
        kappa_ci = [float(np.quantile(kb, a)), float(np.quantile(kb, 1 - a))]
    else:
        kappa_ci = None

    def outer_sum(wt: np.ndarray) -> np.ndarray:
        m = np.zeros((n, n))
        np.add.at(m, (battles.a, battles.a), wt)
        np.add.at(m, (battles.b, battles.b), wt)
        np.add.at(m, (battles.a, battles.b), -wt)
        np.add.at(m, (battles.b, battles.a), -wt)
        return m

    H = outer_sum(battles.weight * p * (1 - p))
    if prior:
        t = np.tanh(0.5 * theta)
        H[np.diag_indices(n)] += 0.25 * prior * (1 - t * t)
    Hinv = np.linalg.pinv(H)
    noisy = v if judged is None else v * np.asarray(judged, dtype=np.float64)
    base = Hinv @ outer_sum(noisy) @ Hinv  # judge-noise covariance at kappa = 1
    g = _gauge(n, models.index(anchor) if anchor is not None else None) * ELO_SCALE
    base = g @ base @ g.T
    judge_cov = kappa * base
    total_cov = np.cov(board.boot, rowvar=False, ddof=1)

    def split(c: np.ndarray) -> dict:
        total, judge = float(c @ total_cov @ c), float(c @ judge_cov @ c)
        unit = float(c @ base @ c)
        return {
            "total_var": total,
            "judge_var": judge,
            "prompt_var": max(0.0, total - judge),
            "judge_share": (min(1.0, judge / total) if total > 0 else None),
            "judge_var_ci": [kappa_ci[0] * unit, kappa_ci[1] * unit] if kappa_ci else None,
            "judge_exceeds_total": judge > total,
        }

    per_model = []
    for k, m in enumerate(models):
        e = np.zeros(n)
        e[k] = 1.0
        per_model.append({"model": m, **split(e)})
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2))
    n_prompts = len(np.unique(battles.prompt))
    col = {m: k for k, m in enumerate(models)}
    pairs = []
    for ra, rb in zip(board.rows, board.rows[1:]):
        c = np.zeros(n)
        c[col[ra.model]], c[col[rb.model]] = 1.0, -1.0
        part = split(c)
        diff = ra.rating - rb.rating
        need = None
        if diff > 0 and part["prompt_var"] > 0:
            need = max(1, math.ceil(n_prompts * z * z * part["prompt_var"] / diff**2))
        pairs.append({"model_a": ra.model, "model_b": rb.model, "difference": float(diff), **part, "prompts_needed_noiseless_judge": need})
    shares = [r["judge_share"] for r in per_model if r["judge_share"] is not None]
    return {
        "kappa": kappa,
        "kappa_ci": kappa_ci,
        "n_replayed": int(len(idx)),
        "judge_share_mean": float(np.mean(shares)) if shares else None,
        "models": per_model,
        "pairs": pairs,
    }
