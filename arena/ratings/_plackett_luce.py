"""Plackett-Luce ratings from sparse sample-level measurements (ONEBench-style).

Ghosh et al. 2024 ("ONEBench to Test Them All: Sample-Level Benchmarking Over Open-Ended
Capabilities") aggregate heterogeneous per-sample measurements (a score, a pass/fail, a ranking
of several models) over an incomplete model x sample matrix by turning each sample into the
ordinal comparisons it implies and fitting a Plackett-Luce model. Here:

- a sample's measurements are ordered into tie groups G1 > G2 > ... > Gk (higher score first;
  a ranking gives one model per group; pass/fail gives two groups). Each model w of a group Gt
  (t < k) becomes one *choice*: w chosen from {w} united with every model of the lower groups.
  For a strict ranking these choices are exactly the Plackett-Luce likelihood of the ranking
  (each position chosen among the models not yet placed); ties are broken symmetrically, the
  rank-breaking of Khetan & Oh 2016 ("Data-driven rank breaking for efficient rank aggregation").
  A sample whose models all tie, or with one model, carries no information and is dropped.
- P(w chosen from S) = gamma_w / sum_{k in S} gamma_k. The strengths are fitted by Hunter's
  MM algorithm (2004, "MM algorithms for generalized Bradley-Terry models"). As in arena's
  Bradley-Terry fit, each model also plays `prior` virtual draws (half a win each) against a
  virtual model at the mean strength, which keeps every strength finite when a model never
  wins or never loses; with the strengths normalised to geometric mean 1 after each step:
      gamma_i <- (prior / 2 + W_i) / (prior / (gamma_i + 1) + sum_{c: i in S_c} 1 / sum_{k in S_c} gamma_k)
  with W_i the choices model i won. At prior 0 it is the maximum-likelihood estimate, checked
  against choix's `ilsr_top1` in the tests.
- Ratings on the Elo scale: 1000 + 400 / ln(10) x (log gamma_i - mean log gamma).
- Intervals by a bootstrap that resamples samples (the prompt is the cluster), all replicates
  iterated together as one (B, n) array of strengths.
- Identifiability: with "w beat l" edges the MLE exists iff the comparison graph is strongly
  connected (Hunter 2004, Assumption 1); disconnected groups of models are not comparable at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from arena.errors import RatingError
from arena.ratings._bt import ELO_INIT, ELO_SCALE

PL_PRIOR = 1.0
"""Default prior: one virtual draw per model against a model at the mean strength."""


@dataclass(frozen=True, slots=True)
class SampleMeasurements:
    """Long-format measurements: entry k says model `model[k]` got `score[k]` on sample
    `sample[k]` (higher is better; pass/fail as 1/0; a ranking as minus the position).
    Arrays have equal length; `models` and `samples` name the indices."""

    models: list[str]
    samples: list[str]
    sample: np.ndarray
    model: np.ndarray
    score: np.ndarray

    def __post_init__(self) -> None:
        if not (len(self.sample) == len(self.model) == len(self.score)):
            raise RatingError("sample, model and score arrays must have the same length")


@dataclass(frozen=True, slots=True)
class Choices:
    """Choice events: event e was won by `winner[e]` from the set of models listed by the
    entries k with `entry_event[k] == e` (`entry_model[k]`); `event_sample[e]` is its sample."""

    n_models: int
    winner: np.ndarray
    event_sample: np.ndarray
    entry_event: np.ndarray
    entry_model: np.ndarray
    dropped_samples: int


def choices_from_samples(data: SampleMeasurements) -> Choices:
    """Break each sample into Plackett-Luce choices (module docstring). Raises RatingError when
    a sample names a model twice."""
    sm = np.lexsort((data.model, data.sample))
    dup = np.flatnonzero((np.diff(data.sample[sm]) == 0) & (np.diff(data.model[sm]) == 0))
    if len(dup):
        k = sm[dup[0]]
        raise RatingError(f"sample {data.samples[data.sample[k]]!r} measures model {data.models[data.model[k]]!r} twice")
    order = np.lexsort((-data.score, data.sample))
    s, m, x = data.sample[order], data.model[order], data.score[order]
    n = len(s)
    # sorted by sample, best score first: a tie group is a run of equal scores within a sample
    new_sample = np.r_[True, s[1:] != s[:-1]]
    new_group = new_sample | np.r_[True, x[1:] != x[:-1]]
    group_end = np.r_[np.flatnonzero(new_group)[1:], n][np.cumsum(new_group) - 1]
    sample_end = np.r_[np.flatnonzero(new_sample)[1:], n][np.cumsum(new_sample) - 1]
    groups_per_sample = np.bincount((np.cumsum(new_sample) - 1)[new_group])
    dropped = int(np.sum(groups_per_sample < 2))
    # entry k wins one choice from itself and every entry of its sample below its tie group
    win = np.flatnonzero(group_end < sample_end)
    if not len(win):
        raise RatingError("no sample orders two models: nothing to rate")
    sizes = 1 + sample_end[win] - group_end[win]
    starts = np.cumsum(sizes) - sizes
    within = np.arange(int(sizes.sum())) - np.repeat(starts, sizes)
    pos = np.where(within == 0, np.repeat(win, sizes), np.repeat(group_end[win], sizes) + within - 1)
    return Choices(len(data.models), m[win], s[win], np.repeat(np.arange(len(win)), sizes), m[pos], dropped)


def fit_pl(ch: Choices, weights: np.ndarray | None = None, *, prior: float = PL_PRIOR, tol: float = 1e-7, max_iter: int = 10000) -> np.ndarray:
    """Plackett-Luce log-strengths by MM with a Gamma prior (module docstring).

    `weights`: (n_events,) or (B, n_events) event weights (bootstrap replicates); returns
    log-strengths centred at mean 0, (n_models,) or (B, n_models). Raises RatingError when
    MM does not converge within `max_iter` iterations (at prior 0 on data whose MLE does not exist)."""
    from scipy.sparse import csr_matrix

    n, n_ev = ch.n_models, len(ch.winner)
    a = csr_matrix((np.ones(len(ch.entry_event)), (ch.entry_event, ch.entry_model)), shape=(n_ev, n))
    at = a.T.tocsr()
    w = np.ones((1, n_ev)) if weights is None else np.atleast_2d(np.asarray(weights, float))
    squeeze = weights is None or np.ndim(weights) == 1
    b = w.shape[0]
    wins = np.zeros((b, n))
    for r in range(b):
        wins[r] = np.bincount(ch.winner, weights=w[r], minlength=n)
    gamma = np.ones((b, n))
    for _ in range(max_iter):
        denom_ev = (a @ gamma.T).T  # (B, E): sum of strengths in each choice set
        expo = (at @ (w / denom_ev).T).T  # (B, n)
        # `prior` virtual draws (half a win each) against a virtual model at the geometric mean (1)
        new = (0.5 * prior + wins) / (prior / (gamma + 1.0) + expo)
        new = np.where(expo + prior > 0, new, gamma)
        new /= np.exp(np.mean(np.log(np.maximum(new, 1e-300)), axis=1, keepdims=True))
        delta = np.max(np.abs(np.log(np.maximum(new, 1e-300)) - np.log(np.maximum(gamma, 1e-300))))
        gamma = new
        if delta < tol:
            break
    else:
        raise RatingError(f"Plackett-Luce MM did not converge in {max_iter} iterations (use a prior > 0)")
    theta = np.log(gamma)
    theta -= theta.mean(axis=1, keepdims=True)
    return theta[0] if squeeze else theta


@dataclass(slots=True)
class PLRow:
    """One model: Elo-scale rating with its bootstrap interval, the samples that measured it,
    the choices it won and the choice sets it was in."""

    model: str
    rating: float
    ci_low: float
    ci_high: float
    rank: int
    samples: int
    won: int
    choices: int


@dataclass(slots=True)
class PLResult:
    """A Plackett-Luce leaderboard (best first). `components` are the groups of models
    connected by comparisons (more than one: not comparable across groups); `warnings` explain
    identifiability problems."""

    rows: list[PLRow]
    n_samples: int
    dropped_samples: int
    n_choices: int
    bootstrap: int
    level: float
    prior: float
    components: list[list[str]]
    warnings: list[str] = field(default_factory=list)
    boot: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def to_records(self) -> list[dict]:
        """JSON-ready rows, best first."""
        return [
            {"model": r.model, "rating": round(r.rating, 2), "ci_low": round(r.ci_low, 2), "ci_high": round(r.ci_high, 2), "rank": r.rank, "samples": r.samples, "won": r.won, "choices": r.choices}
            for r in self.rows
        ]


def _identifiability(ch: Choices, models: list[str]) -> tuple[list[list[str]], list[str]]:
    from arena.ratings._graph import _scc

    n = ch.n_models
    # winner -> each other member of the choice set
    other = ch.entry_model != ch.winner[ch.entry_event]
    wi = ch.winner[ch.entry_event[other]]
    lo = ch.entry_model[other]
    seen = np.zeros(n, bool)
    seen[ch.entry_model] = True
    k, labels = _scc(n, wi, lo, directed=False)
    comps = [sorted(models[i] for i in np.flatnonzero((labels == c) & seen)) for c in range(k)]
    comps = sorted((c for c in comps if c), key=lambda c: (-len(c), c))
    warnings = []
    if len(comps) > 1:
        warnings.append(
            f"the comparison graph is not connected ({len(comps)} groups): ratings are comparable only within a group: "
            + " | ".join("{" + ", ".join(c) + "}" for c in comps)
        )
    won = np.bincount(ch.winner, minlength=n)
    lost = np.bincount(lo, minlength=n)
    never_won = [models[i] for i in range(n) if seen[i] and won[i] == 0]
    never_lost = [models[i] for i in range(n) if seen[i] and lost[i] == 0]
    if never_won:
        warnings.append("never ranked above another model (rating set by the prior): " + ", ".join(never_won))
    if never_lost:
        warnings.append("never ranked below another model (rating set by the prior): " + ", ".join(never_lost))
    if len(comps) == 1 and not never_won and not never_lost:
        ks, _ = _scc(n, wi, lo, directed=True)
        if ks - int((~seen).sum()) > 1:
            warnings.append("the comparison graph is not strongly connected: some group of models never loses to the rest (maximum likelihood is infinite; the prior keeps ratings finite)")
    return comps, warnings


def fit_plackett_luce(data: SampleMeasurements, *, bootstrap: int = 200, level: float = 0.95, seed: int = 0, prior: float = PL_PRIOR) -> PLResult:
    """Plackett-Luce leaderboard from sample-level measurements with prompt-clustered bootstrap
    intervals and identifiability diagnostics.

    Parameters: `data` (long format, any number of missing cells); `bootstrap` replicates
    resampling samples with replacement (0: no intervals); `level` of the percentile intervals;
    `seed` of the `np.random.Generator`; `prior` the virtual draws per model (> 0 keeps ratings finite).
    Returns a PLResult; models that no informative sample compares are left out (with a
    warning). Raises RatingError when no sample orders two models, a sample measures a
    model twice, or the arguments are out of range. Method and sources: module docstring."""
    if bootstrap < 0 or not 0.5 <= level < 1 or prior < 0:
        raise RatingError("bootstrap must be >= 0, level in [0.5, 1), prior >= 0")
    ch = choices_from_samples(data)
    models = data.models
    theta = fit_pl(ch, prior=prior)
    to_elo = ELO_SCALE  # 400 / ln 10 Elo points per unit of log-strength
    ratings = ELO_INIT + to_elo * theta
    boot = np.zeros((0, len(models)))
    if bootstrap:
        rng = np.random.default_rng(seed)
        n_s = len(data.samples)
        counts = rng.multinomial(n_s, np.full(n_s, 1.0 / n_s), size=bootstrap).astype(float)
        boot = ELO_INIT + to_elo * fit_pl(ch, counts[:, ch.event_sample], prior=max(prior, 1e-3))
    comps, warnings = _identifiability(ch, models)
    n = len(models)
    n_samples_per = np.zeros(n, int)
    pairs = np.unique(np.stack([data.sample, data.model], axis=1), axis=0)
    np.add.at(n_samples_per, pairs[:, 1], 1)
    won = np.bincount(ch.winner, minlength=n)
    sets = np.bincount(ch.entry_model, minlength=n)
    rated = np.zeros(n, bool)
    rated[ch.entry_model] = True
    if not rated.all():
        warnings.append("not rated (no sample orders them against another model): " + ", ".join(m for m, r in zip(models, rated) if not r))
    order = np.array([i for i in np.argsort(-ratings, kind="stable") if rated[i]])
    alpha = (1 - level) / 2
    rows = []
    for rank, i in enumerate(order, 1):
        lo, hi = (np.quantile(boot[:, i], [alpha, 1 - alpha]) if bootstrap else (ratings[i], ratings[i]))
        rows.append(PLRow(models[i], float(ratings[i]), float(min(lo, ratings[i])), float(max(hi, ratings[i])), rank, int(n_samples_per[i]), int(won[i]), int(sets[i])))
    return PLResult(rows, len(data.samples), ch.dropped_samples, len(ch.winner), bootstrap, level, prior, comps, warnings, boot[:, order] if bootstrap else boot)


def simulate_measurements(n_models: int, n_samples: int, observed: float, rng: np.random.Generator, *, binary_share: float = 0.5) -> tuple[np.ndarray, SampleMeasurements]:
    """Synthetic sparse sample-level data with known strengths, for tests and benchmarks.

    True log-strengths theta ~ N(0, 1) (returned, (n_models,)). Each model x sample cell is
    observed with probability `observed`; samples observing fewer than two models are redrawn
    out (left empty and not listed). A share `binary_share` of the samples are pass/fail
    (P(pass) = logistic(theta - difficulty), difficulty ~ N(0, 1)); the others are scores
    theta + Gumbel noise, whose order is exactly a Plackett-Luce draw."""
    theta = rng.normal(0.0, 1.0, n_models)
    mask = rng.random((n_samples, n_models)) < observed
    keep = mask.sum(axis=1) >= 2
    mask = mask[keep]
    s_idx, m_idx = np.nonzero(mask)
    binary = rng.random(mask.shape[0]) < binary_share
    difficulty = rng.normal(0.0, 1.0, mask.shape[0])
    t = theta[m_idx]
    pass_p = 1.0 / (1.0 + np.exp(-(t - difficulty[s_idx])))
    score = np.where(binary[s_idx], (rng.random(len(t)) < pass_p).astype(float), t + rng.gumbel(size=len(t)))
    data = SampleMeasurements([f"model-{i:03d}" for i in range(n_models)], [f"sample-{i}" for i in range(mask.shape[0])], s_idx, m_idx, score)
    return theta, data
