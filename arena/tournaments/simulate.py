"""The simulator: synthetic arenas with known Bradley-Terry strengths and a noisy synthetic judge,
run through the real schedulers (`make_scheduler`) and the real rating code (`arena.ratings`).

Synthetic judge (`SyntheticJudge`), per match between models with true ratings r_A, r_B:

1. The truly better answer on this prompt is A's with the Bradley-Terry probability
   p = 1 / (1 + 10^((r_B - r_A) / 400)) (answer quality varies from prompt to prompt).
2. The judge plays two games (AB and BA order, 2 calls) unless `orders = 1` (one game, random
   order). In each game, with probability `position_bias` it picks whichever answer is shown
   first; otherwise it picks the truly better answer with probability `accuracy`
   ("judge accuracy" = P(the judge picks the truly better answer) when position plays no part),
   and the worse one otherwise.
3. Games that agree give a win; games that disagree give a tie (as `combine_games` does).

The judge's noise shrinks rating gaps: CI coverage is measured against the ratings the judge
implies (`implied_ratings`), rank correlations against the true order (the same order).

So the probability that a match goes to the truly stronger model is the BT probability scaled
by the judge's accuracy: a perfect judge (accuracy 1, bias 0) reproduces BT outcomes.

Budgets are in judge calls. A budget-limited run of a per-prompt scheduler (single-elimination,
round-robin, anchored) is its matches taken prompt by prompt (that is the same schedule on
fewer prompts); of a sequential one (swiss, adaptive), the prefix of its waves. Adaptive runs
with `target = "none"` and `max_matches` = the largest budget, so one run gives every budget.
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from arena.errors import BadInput, naming_options
from arena.records import Match, Prompt, Verdict
from arena.tournaments import SchedulerSpec, make_scheduler
from arena.tournaments.spec import SCHEDULERS

DEFAULT_SCHEDULERS = (
    "single-elimination",
    "round-robin:pairs_per_prompt=1,sampling=uniform",
    "anchored",
    "swiss",
    "adaptive",
)


class SimulationError(BadInput):
    """A simulation was asked for with impossible settings."""


# how a refusal names each setting: the Python argument of `simulate`, the option of `arena tournament simulate`
_OPT = {"models": ("n_models", "--models"), "prompts": ("n_prompts", "--prompts"), "schedulers": ("schedulers", "--schedulers"),
        "accuracy": ("accuracy", "--judge-accuracy"), "position_bias": ("position_bias", "--position-bias"), "trials": ("trials", "--trials"),
        "budgets": ("budgets", "--budgets"), "cheap_accuracy": ("cheap_accuracy", "--cheap-accuracy"),
        "cheap_confident": ("cheap_confident", "--cheap-confident")}


@dataclass(frozen=True, slots=True)
class SyntheticJudge:
    """A noisy judge of known accuracy and position bias (see the module docstring)."""

    accuracy: float = 0.8
    position_bias: float = 0.1
    orders: int = 2

    def calls_per_match(self) -> int:
        return self.orders

    def decide(self, r_a: np.ndarray, r_b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Outcomes ('a', 'b', 'tie') for matches with true ratings r_a vs r_b (vectorised)."""
        n = len(r_a)
        p = 1 / (1 + 10 ** ((np.asarray(r_b) - np.asarray(r_a)) / 400))
        a_better = rng.random(n) < p

        def game(a_first: np.ndarray) -> np.ndarray:  # True: the game picks A
            biased = rng.random(n) < self.position_bias
            right = rng.random(n) < self.accuracy
            return np.where(biased, a_first, np.where(right, a_better, ~a_better))

        if self.orders == 1:
            g = game(rng.random(n) < 0.5)
            return np.where(g, "a", "b")
        g1 = game(np.ones(n, bool))
        g2 = game(np.zeros(n, bool))
        return np.where(g1 & g2, "a", np.where(~g1 & ~g2, "b", "tie"))


    def expected_score(self, r_a: np.ndarray, r_b: np.ndarray) -> np.ndarray:
        """E[score of A] (win 1, tie 1/2) of a match, exactly, under this judge."""
        p = 1 / (1 + 10 ** ((np.asarray(r_b, float) - np.asarray(r_a, float)) / 400))
        acc, beta = self.accuracy, self.position_bias
        if self.orders == 1:
            pick_a = p * acc + (1 - p) * (1 - acc)
            return beta * 0.5 + (1 - beta) * pick_a
        g1 = (beta + (1 - beta) * acc, beta + (1 - beta) * (1 - acc))  # A shown first: P(picks A | A better, B better)
        g2 = ((1 - beta) * acc, (1 - beta) * (1 - acc))  # B shown first
        win = p * g1[0] * g2[0] + (1 - p) * g1[1] * g2[1]
        loss = p * (1 - g1[0]) * (1 - g2[0]) + (1 - p) * (1 - g1[1]) * (1 - g2[1])
        return win + 0.5 * (1 - win - loss)


@dataclass(frozen=True, slots=True)
class CascadeSyntheticJudge:
    """A cheap judge in front of `expensive` (arena.judges.cascade, simulated): on a share `confident`
    of matches (its confidence profile: the share that reaches its calibrated threshold) the cheap
    judge decides alone, one game with no position bias, right with probability `accuracy`; the
    rest escalate to `expensive`. Calls count the expensive judge's only (the cheap one is offline),
    so a match costs (1 - confident) x the expensive judge's calls on average."""

    expensive: SyntheticJudge
    accuracy: float = 0.95
    confident: float = 0.7

    def calls_per_match(self) -> float:
        return (1 - self.confident) * self.expensive.calls_per_match()

    def decide(self, r_a: np.ndarray, r_b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(r_a)
        cheap = rng.random(n) < self.confident
        p = 1 / (1 + 10 ** ((np.asarray(r_b) - np.asarray(r_a)) / 400))
        a_better = rng.random(n) < p
        pick_a = np.where(rng.random(n) < self.accuracy, a_better, ~a_better)
        return np.where(cheap, np.where(pick_a, "a", "b"), self.expensive.decide(r_a, r_b, rng))

    def expected_score(self, r_a: np.ndarray, r_b: np.ndarray) -> np.ndarray:
        p = 1 / (1 + 10 ** ((np.asarray(r_b, float) - np.asarray(r_a, float)) / 400))
        cheap = p * self.accuracy + (1 - p) * (1 - self.accuracy)
        return self.confident * cheap + (1 - self.confident) * self.expensive.expected_score(r_a, r_b)


def implied_ratings(truth: np.ndarray, judge: SyntheticJudge) -> np.ndarray:
    """The ratings this judge's verdicts estimate: the Bradley-Terry fit (mean 1000) to the exact
    expected scores of every pair. The judge's noise shrinks the true gaps, so CI coverage is
    measured against these, and rank correlations against the true order (the same order)."""
    from arena.ratings import BattleArrays, bt_fit

    n = len(truth)
    iu, ju = np.triu_indices(n, 1)
    s = judge.expected_score(truth[iu], truth[ju])
    a = np.concatenate([iu, iu])
    b = np.concatenate([ju, ju])
    score = np.concatenate([np.ones(len(iu)), np.zeros(len(iu))])
    weight = np.concatenate([s, 1 - s]) * 1000
    arrays = BattleArrays([str(i) for i in range(n)], a, b, score, weight, np.arange(len(a)))
    return np.asarray(bt_fit(arrays, prior=0.0), float)


def true_ratings(n: int, spread: float = 300.0, shape: str = "normal") -> np.ndarray:
    """n true ratings (best first) spanning `spread` Elo points, mean 1000.

    `normal`: at the normal quantiles (denser in the middle, as real leaderboards are);
    `linear`: evenly spaced.
    """
    if n < 2:
        raise naming_options(SimulationError, "<m>: need at least 2 models", m=_OPT["models"])
    if shape == "linear":
        x = np.linspace(1, -1, n)
    else:
        from scipy.special import ndtri

        q = ndtri((np.arange(n)[::-1] + 0.5) / n)
        x = q / q.max()
    return 1000 + x * spread / 2


def parse_scheduler(text: str) -> tuple[str, SchedulerSpec]:
    """`kind` or `kind:key=value,key=value` -> (label, SchedulerSpec)."""
    kind, _, rest = text.partition(":")
    params: dict = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise naming_options(SimulationError, f"<s> {text!r}: expected key=value after ':' (got {item!r})", s=_OPT["schedulers"])
        params[key.strip()] = _parse_value(value.strip())
    kind = kind.strip().lower().replace("_", "-")
    if kind not in SCHEDULERS:
        raise naming_options(SimulationError, f"<s> {text!r}: expected one of {', '.join(SCHEDULERS)}", s=_OPT["schedulers"])
    from pydantic import ValidationError

    try:
        spec = SchedulerSpec(kind=kind, **params)
    except ValidationError as e:
        from arena.tournaments.spec import _describe_error

        key, what = _describe_error(e.errors()[0])
        raise naming_options(SimulationError, f"<s> {text!r}: {key}: {what}", s=_OPT["schedulers"]) from None
    return text, spec


def _parse_value(v: str):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(v.lower(), v)


@dataclass(slots=True)
class SimRow:
    scheduler: str
    budget: int  # judge calls allowed
    calls: float  # judge calls used (mean over trials)
    spearman: float
    kendall: float
    ci_width: float | None
    coverage: float | None
    trials: int
    slope: float | None = None  # least-squares slope of fitted on judge-implied ratings (> 1: gaps inflated)


@dataclass(slots=True)
class SimResult:
    rows: list[SimRow]
    reach: dict[str, float | None]  # scheduler -> judge calls to reach the target mean Spearman
    target: float
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"params": self.params, "target_spearman": self.target, "calls_to_target": self.reach, "rows": [asdict(r) for r in self.rows]}


def _per_prompt_size(spec: SchedulerSpec, models: list[str], seed: int) -> int:
    p = [Prompt("p0", "")]
    return make_scheduler(spec, p, {"p0": set(models)}, models, seed).size().worst


def run_schedule(
    spec: SchedulerSpec,
    ratings: dict[str, float],
    n_prompts: int,
    judge: SyntheticJudge,
    *,
    seed: int,
    rng: np.random.Generator,
    max_matches: int,
) -> list[tuple[Match, str]]:
    """Drive a real scheduler against the synthetic judge; decided matches in budget order."""
    models = list(ratings)
    sched = SCHEDULERS[spec.kind]
    if not sched.sequential:
        per = max(_per_prompt_size(spec, models, seed), 1)
        n_prompts = min(n_prompts, math.ceil(max_matches / per))
    prompts = [Prompt(f"p{i:05d}", "") for i in range(n_prompts)]
    answered = {p.prompt_id: set(models) for p in prompts}
    s = make_scheduler(spec, prompts, answered, models, seed)
    decided: list[tuple[tuple, Match, str]] = []
    rank = {p.prompt_id: i for i, p in enumerate(prompts)}
    todo = s.start()
    wave = 0
    while todo:
        ra = np.array([ratings[m.model_a] for m in todo])
        rb = np.array([ratings[m.model_b] for m in todo])
        outs = judge.decide(ra, rb, rng)
        verdicts = []
        for i, (m, o) in enumerate(zip(todo, outs)):
            o = str(o)
            key = (wave, i) if sched.sequential else (rank[m.prompt_id], m.round, i)
            decided.append((key, m, o))
            verdicts.append((m, Verdict(m.match_id, o, 0 if o == "tie" else 1, True)))
        if sched.sequential and len(decided) >= max_matches:
            break
        todo = s.update(verdicts)
        wave += 1
    decided.sort(key=lambda t: t[0])
    return [(m, o) for _, m, o in decided[:max_matches]]


def _arrays(decided: list[tuple[Match, str]], models: list[str]):
    """Decided matches as rating arrays (one battle each, prompts as bootstrap clusters)."""
    from arena.ratings import BattleArrays

    index = {m: i for i, m in enumerate(models)}
    score = {"a": 1.0, "b": 0.0, "tie": 0.5}
    pidx: dict[str, int] = {}
    a = np.array([index[m.model_a] for m, _ in decided], np.int64)
    b = np.array([index[m.model_b] for m, _ in decided], np.int64)
    s = np.array([score[o] for _, o in decided], float)
    p = np.array([pidx.setdefault(m.prompt_id, len(pidx)) for m, _ in decided], np.int64)
    return BattleArrays(list(models), a, b, s, np.ones(len(a)), p, list(pidx))


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def _kendall(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(x, y).statistic)


def simulate(
    *,
    n_models: int = 16,
    n_prompts: int = 500,
    accuracy: float = 0.8,
    position_bias: float = 0.1,
    schedulers: Sequence[str] = DEFAULT_SCHEDULERS,
    budgets: Sequence[int] = (500, 1000, 2000, 4000),
    trials: int = 20,
    seed: int = 0,
    spread: float = 300.0,
    shape: str = "normal",
    orders: int = 2,
    bootstrap: int = 0,
    level: float = 0.95,
    target: float = 0.95,
    baseline: str = "median",
    progress=None,
    cheap_accuracy: float | None = None,
    cheap_confident: float = 0.7,
) -> SimResult:
    """For each scheduler and budget (judge calls): mean Spearman and Kendall with the true order,
    mean CI width and CI coverage (when `bootstrap` > 0) and the slope of fitted on judge-implied ratings
    over `trials` synthetic arenas.

    Each trial shuffles which model name holds which true rating. `baseline` for anchored
    schedulers without one: "median" (the model of median true rating), "best" or "worst"; a
    scheduler may also say `anchored:baseline=@best` (or @median, @worst).
    `cheap_accuracy`: put a cheap judge stage in front (`CascadeSyntheticJudge`), deciding the share
    `cheap_confident` of matches with that accuracy; budgets then count the expensive judge's calls.
    """
    from arena.ratings import bt_fit, fit_ratings

    if not 0 <= position_bias < 1 or not 0 <= accuracy <= 1:
        raise naming_options(SimulationError, "<a> must be in [0, 1] and <p> in [0, 1)", a=_OPT["accuracy"], p=_OPT["position_bias"])
    if trials < 1 or n_prompts < 1:
        raise naming_options(SimulationError, "<t> and <n> must be at least 1", t=_OPT["trials"], n=_OPT["prompts"])
    budgets = sorted({int(b) for b in budgets})
    if not budgets or budgets[0] < 1:
        raise naming_options(SimulationError, "<b>: expected positive numbers of judge calls", b=_OPT["budgets"])
    judge = SyntheticJudge(accuracy, position_bias, orders)
    if cheap_accuracy is not None:
        if not 0 <= cheap_accuracy <= 1 or not 0 <= cheap_confident < 1:
            raise naming_options(SimulationError, "<a> must be in [0, 1] and <c> in [0, 1)", a=_OPT["cheap_accuracy"], c=_OPT["cheap_confident"])
        judge = CascadeSyntheticJudge(judge, cheap_accuracy, cheap_confident)  # type: ignore[assignment]
    cpm = judge.calls_per_match()
    specs = [parse_scheduler(s) for s in schedulers]
    truth = true_ratings(n_models, spread, shape)
    implied = implied_ratings(truth, judge)
    names = [f"m{i:02d}" for i in range(n_models)]
    max_matches = int(budgets[-1] // cpm)
    acc: dict[tuple[str, int], list[list[float]]] = {}
    for t in range(trials):
        perm = np.random.default_rng([seed, t, 1]).permutation(n_models)
        ratings = {names[perm[i]]: float(truth[i]) for i in range(n_models)}
        true_vec = np.array([ratings[m] for m in names])
        implied_vec = np.empty(n_models)
        implied_vec[perm] = implied
        for label, spec in specs:
            params = spec.params
            if spec.kind == "anchored":
                want = str(params.get("baseline") or "@" + baseline)
                if want.startswith("@"):  # @median, @best, @worst: by true rating, in this trial
                    pick = {"@median": n_models // 2, "@best": 0, "@worst": n_models - 1}.get(want)
                    if pick is None:
                        raise naming_options(SimulationError, f"<s> {label!r}: baseline {want!r}: expected @median, @best, @worst or a model name",
                                             s=_OPT["schedulers"])
                    params = {**params, "baseline": names[perm[pick]]}
            if spec.kind == "adaptive":
                params = {"target": "none", **params, "max_matches": min(params.get("max_matches") or max_matches, max_matches)}
            run_spec = SchedulerSpec(kind=spec.kind, **params)
            rng = np.random.default_rng([seed, t, 2, zlib.crc32(label.encode())])
            decided = run_schedule(run_spec, ratings, n_prompts, judge, seed=seed * 1000 + t, rng=rng, max_matches=max_matches)
            battles = _arrays(decided, names)
            for b in budgets:
                part = battles.subset(np.arange(len(battles)) < b // cpm)
                cell = acc.setdefault((label, b), [])
                if not part:
                    cell.append([0.0, np.nan, np.nan, np.nan, np.nan, np.nan])
                    continue
                if bootstrap:
                    lb = fit_ratings(part, bootstrap=bootstrap, level=level, seed=t, models=names)
                    est = np.array([lb.row(m).rating for m in names])
                    lo = np.array([lb.row(m).ci_low for m in names])
                    hi = np.array([lb.row(m).ci_high for m in names])
                    width = float(np.mean(hi - lo))
                    cover = float(np.mean((implied_vec >= lo) & (implied_vec <= hi)))
                else:
                    est = bt_fit(part)
                    width = cover = np.nan
                slope = float(np.polyfit(implied_vec, est, 1)[0])
                cell.append([len(part) * cpm, _spearman(est, true_vec), _kendall(est, true_vec), width, cover, slope])
        if progress is not None:
            progress(t + 1, trials)
    rows = []
    for label, _ in specs:
        for b in budgets:
            arr = np.array(acc[(label, b)], float)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (no CI asked) stay NaN
                mean = np.nanmean(arr, axis=0)
            rows.append(
                SimRow(
                    label,
                    b,
                    float(mean[0]),
                    float(mean[1]),
                    float(mean[2]),
                    None if not bootstrap else float(mean[3]),
                    None if not bootstrap else float(mean[4]),
                    trials,
                    float(mean[5]),
                )
            )
    reach = {label: calls_to_reach([r for r in rows if r.scheduler == label], target) for label, _ in specs}
    params = dict(
        models=n_models, prompts=n_prompts, judge_accuracy=accuracy, position_bias=position_bias, orders=orders,
        trials=trials, seed=seed, spread=spread, shape=shape, bootstrap=bootstrap, baseline=baseline,
        cheap_accuracy=cheap_accuracy, cheap_confident=cheap_confident if cheap_accuracy is not None else None,
    )
    return SimResult(rows, reach, target, params)


def calls_to_reach(rows: Sequence[SimRow], target: float) -> float | None:
    """Judge calls at which the mean Spearman first reaches `target`, interpolated linearly in
    log(calls) between budgets; None when no budget reaches it."""
    prev = None
    for r in sorted(rows, key=lambda r: r.budget):
        if np.isfinite(r.spearman) and r.spearman >= target:
            if prev is None or not np.isfinite(prev.spearman):
                return float(r.calls)
            f = (target - prev.spearman) / (r.spearman - prev.spearman)
            return float(math.exp(math.log(max(prev.calls, 1)) + f * (math.log(r.calls) - math.log(max(prev.calls, 1)))))
        prev = r
    return None
