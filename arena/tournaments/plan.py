"""Plan before you pay: matches, judge calls, tokens and dollars of a tournament, before any call.

`plan_tournament` is pure apart from token counting (the judge's `call_estimates`, which uses
the judge model's tokenizer through litellm) and price look-up (litellm's price table, loaded
only when some estimate names a model).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from arena.answers import Answers, as_answers
from arena.errors import SpecError
from arena.estimate import CallSample, TokenMemo, sample_calls
from arena.records import Match, Output, PoolView, Prompt
from arena.tournaments import make_scheduler
from arena.tournaments._base import DisconnectedPlan, Scheduler, keyed_rng, match_id
from arena.tournaments._schedulers import _Fixed
from arena.tournaments.spec import TournamentSpec, select_models, select_prompts

SAMPLE_CONTEXTS = 40
"""Matches whose judge calls are token-counted; the rest are extrapolated from their mean, with
the sampling error stated (`Plan.input_tokens_error`). Counting is tiktoken's (no litellm import),
so a plan of 100,000 calls costs the same as one of 100."""


@dataclass(slots=True)
class Plan:
    """What a tournament will cost. Costs are None when a judge model's price is unknown."""

    name: str
    pool: str
    scheduler: str
    judge: str
    models: int
    prompts: int
    matches: int  # exact when the schedule is fixed, else the expected number (rounded)
    matches_exact: int | None
    matches_expected: float
    matches_worst: int
    forfeits: int
    calls_per_match: int
    max_calls_per_match: int  # re-asks included
    judge_calls: int  # expected, after the max_calls cap
    judge_calls_worst: int
    input_tokens: int  # expected
    input_tokens_worst: int
    output_tokens_expected: int
    output_tokens_worst: int
    cost_usd_expected: float | None
    cost_usd_worst: float | None
    price_known: bool
    judge_models: list[str] = field(default_factory=list)
    unknown_price_models: list[str] = field(default_factory=list)
    sampled_matches: int = 0
    input_tokens_error: int = 0  # 95% margin of `input_tokens` from sampling the calls (0: every call counted)
    connected: bool = True
    over_input_limit: int = 0  # judge calls whose prompt exceeds the judge model's input limit
    largest_input_tokens: int = 0  # the largest judge prompt found
    input_limits: dict = field(default_factory=dict)  # judge model -> its input limit (litellm), where known
    warnings: list[str] = field(default_factory=list)
    cascade: dict | None = None  # a cascade judge's stages, pilot, expected and worst-case calls
    batch_rates: dict = field(default_factory=dict)  # judge model -> its Batch API rate and source (mode = "batch")
    shard: str | None = None  # "K/N": this plan is one shard's share of the tournament (`arena.tournaments.shard`)

    def to_dict(self) -> dict:
        return asdict(self)


def check_connected(pairs: set[tuple[str, str]] | Sequence[tuple[str, str]], models: Sequence[str], what: str = "the plan") -> None:
    """Raise `DisconnectedPlan` naming the components when the comparison graph is not connected.

    Components by union-find with path halving (Tarjan 1975) over the pairs: linear in the pairs, and
    no graph library to import before a run's first call."""
    parent = {m: m for m in models}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[ra] = rb
    groups: dict[str, list[str]] = {}
    for m in parent:
        groups.setdefault(root(m), []).append(m)
    if len(models) < 2 or len(groups) <= 1:
        return
    comps = sorted((sorted(c) for c in groups.values()), key=lambda c: (-len(c), c))
    shown = "; ".join("{" + ", ".join(c) + "}" for c in comps[:6]) + ("; ..." if len(comps) > 6 else "")
    raise DisconnectedPlan(
        f"{what}: the comparison graph has {len(comps)} separate groups, so their ratings cannot be compared: {shown} "
        "(give the models more prompts in common, or choose other models)"
    )


def _sample_matches(sched: Scheduler, prompts: Sequence[Prompt], models: Sequence[str], seed: int, k: int) -> list[Match]:
    """Matches to token-count: from the fixed plan, else random pairs of answerers on random prompts."""
    rng = keyed_rng(seed, "plan-sample")
    if isinstance(sched, _Fixed):  # k positions of the release order, each match built on its own
        n = int(sched.judged_counts().sum())
        return sched.matches_at(range(n) if n <= k else sorted(rng.choice(n, size=k, replace=False)))
    out = []
    usable = [p for p in prompts if len(sched.answered.get(p.prompt_id, ())) >= 2]
    if not usable:
        return []
    for _ in range(k):
        p = usable[int(rng.integers(len(usable)))]
        who = sorted(sched.answered[p.prompt_id])
        i, j = rng.choice(len(who), size=2, replace=False)
        out.append(Match(match_id(p.prompt_id, 0, who[i], who[j]), p.prompt_id, who[i], who[j], 0))
    return out


def _turn_share(judge, sched: Scheduler, prompts: Sequence[Prompt]) -> float:
    """Expected judge calls of a match as a share of `judge.calls_per_match()`, which counts the most
    turns of a conversation in the pool: with `turn = "each"` a match costs its own prompt's turns (a
    single-turn prompt one, MT-Bench's two). Exact for a fixed schedule (its planned matches), the mean
    over the prompts two models answer for a dynamic one; 1.0 for every other judge."""
    if (judge.turn_choice() if hasattr(judge, "turn_choice") else None) != "each":
        return 1.0
    turns = {p.prompt_id: p.n_turns if p.is_conversation else 1 for p in prompts}
    top = max(turns.values(), default=1)
    if top <= 1:
        return 1.0
    if isinstance(sched, _Fixed):  # each prompt weighed by its judged matches
        counts = sched.judged_counts().tolist()
        total = sum(counts)
        return sum(turns.get(pid, 1) * c for pid, c in zip(sched.prompt_ids, counts)) / (top * total) if total else 1.0
    ids = [pid for pid in turns if len(sched.answered.get(pid, ())) >= 2]
    return sum(turns.get(pid, 1) for pid in ids) / (top * len(ids)) if ids else 1.0


def plan_tournament(
    spec: TournamentSpec,
    prompts: Sequence[Prompt],
    outputs: Sequence[Output] | Answers,
    judge,
    *,
    sample: int = SAMPLE_CONTEXTS,
    scheduler: Scheduler | None = None,
) -> Plan:
    """Size and price a tournament without calling its judge.

    `outputs`: the pool's answers, as `Output` records or an `arena.answers.Answers` (a run's
    `StoredAnswers` reads only the sampled matches' texts). `scheduler`: the run's own scheduler,
    not started yet, built over these prompts and models (a fixed schedule is then built once,
    for the plan and the run); None, or a sharded spec, builds one from the spec.

    Matches come from the scheduler's `size()` (exact for fixed schedules, expected and worst
    for dynamic ones); judge calls = matches x `judge.calls_per_match()`, capped by
    `spec.max_calls`; tokens from `judge.call_estimates(ctx)` on up to `sample` matches,
    extrapolated; prices from litellm's table for each judge model (None = unknown, never $0).
    Raises `DisconnectedPlan` when the comparison graph cannot connect all models.
    """
    answers = as_answers(outputs)
    models = select_models(spec, answers.models)
    chosen = select_prompts(spec, prompts)
    wanted = set(models)
    answered = {pid: who & wanted for pid, who in answers.answered.items()}
    where = str(spec.path) if spec.path else spec.name
    check_baseline(spec, models, where)
    # a shard's run scheduler sees only its prompts; the plan checks the whole tournament's graph first
    sched = scheduler if scheduler is not None and spec.shard_of() is None else make_scheduler(spec.scheduler, chosen, answered, models, spec.seed)
    if hasattr(judge, "check_prompts"):  # a judge refuses prompts it cannot judge (conversations) before any call
        judge.check_prompts(chosen, str(getattr(judge, "preset_path", None) or spec.judge))
    check_connected(sched.comparison_pairs(), models, where)  # the whole tournament's graph, also for a shard
    if hasattr(judge, "check_plan"):  # a recorded judge that answers none of the planned matches: one line, no run
        judge.check_plan(chosen, sched.comparison_pairs(), str(getattr(judge, "preset_path", None) or spec.judge))
    shard = spec.shard_of()
    if shard is not None:  # one shard's matches, calls and cost (arena.tournaments.shard)
        from arena.tournaments.shard import check_shard_has_prompts, shard_items

        check_shard_has_prompts(shard, len(chosen), where)
        chosen = shard_items(chosen, shard)
        sched.restrict_to({p.prompt_id for p in chosen})
    size = sched.size()
    warnings: list[str] = []
    cpm = int(judge.calls_per_match())
    mcpm = int(judge.max_calls_per_match()) if hasattr(judge, "max_calls_per_match") else cpm
    calls_exp = size.expected * cpm * _turn_share(judge, sched, chosen)
    calls_worst = size.worst * mcpm
    if spec.max_calls is not None and calls_worst > spec.max_calls:
        warnings.append(f"the schedule needs up to {calls_worst:,.0f} judge calls; max_calls = {spec.max_calls:,} stops it earlier")
        calls_exp = min(calls_exp, spec.max_calls)
        calls_worst = spec.max_calls
    cascade = None
    if hasattr(judge, "plan_info"):  # a cascade: the pilot must fit the plan; expected calls below the worst case
        if judge.cfg.pilot > size.worst:
            raise SpecError(f"{spec.judge}: key 'pilot': {judge.cfg.pilot} matches is larger than the plan ({int(size.worst)} matches)")
        cascade = judge.plan_info(size.expected, size.worst)
        calls_exp = min(cascade["calls_expected"], calls_exp)
    missing = sum(len(models) - len(answered.get(p.prompt_id, ())) for p in chosen)
    if missing:
        warnings.append(f"{missing} (prompt, model) answers are missing: those models forfeit or sit out there")

    counted = CallSample()
    tokens = TokenMemo()
    over = 0
    n_sampled = 0
    if cpm > 0 and calls_worst > 0:
        view = PoolView(chosen, answers)
        sampled = _sample_matches(sched, chosen, models, spec.seed, sample)
        counted = sample_calls(judge, (view.context(m) for m in sampled), tokens)
        n_sampled = len(sampled)
    calls_sampled = counted.calls
    in_tok = out_exp = out_max = 0.0
    cost_exp: float | None = 0.0
    cost_worst: float | None = 0.0
    unknown: list[str] = []
    batch_rates: dict[str, str] = {}
    if cpm > 0 and calls_worst > 0 and not calls_sampled:
        cost_exp = cost_worst = None
        unknown.append(getattr(judge, "name", spec.judge))
        warnings.append("the judge gives no token estimates: tokens and cost unknown")
    if calls_sampled:
        # scale the sampled calls to the plan's calls; each judge model keeps its share of calls
        # the worst case scales the worst-case calls (re-asks at their largest input) to the plan's worst
        est = counted.scaled(calls_exp / calls_sampled, calls_worst / max(counted.worst_calls, 1))
        in_tok, out_exp, out_max = est.input_tokens, est.output_tokens_expected, est.output_tokens_worst
        cost_exp, cost_worst, unknown = est.cost_usd_expected, est.cost_usd_worst, est.unknown_price_models
        batch_rates = est.batch_rates
        if unknown:
            warnings.append(f"no known price for {', '.join(unknown)}: cost unknown")
        in_worst = int(round(est.input_tokens_worst))
        in_err = _sampling_error(counted.per_context, calls_exp / cpm)
        if counted.limits:
            per_match = {m: v[3] / max(n_sampled, 1) for m, v in counted.per_model.items()}
            over, big = _over_input_limit(sched, chosen, answers, counted, per_match, tokens)
            counted.largest = max(counted.largest, big)
        if over:
            lim = ", ".join(f"{m} {v:,}" for m, v in sorted(counted.limits.items()))
            at_most = "" if isinstance(sched, _Fixed) else "up to "
            warnings.append(
                f"{at_most}{over:,} judge calls have a prompt above the judge model's input limit ({lim} tokens; the largest has"
                f" {counted.largest:,}): they are recorded as permanent errors without being sent"
            )
    else:
        in_worst = 0
        in_err = 0
    if cost_worst is not None and spec.max_cost_usd is not None and cost_worst > spec.max_cost_usd:
        warnings.append(f"worst-case cost ${cost_worst:,.2f} is above max_cost_usd = ${spec.max_cost_usd:,.2f}: the run stops at the limit")
        cost_worst = float(spec.max_cost_usd)  # the runner reserves each match's worst case: the cap is never passed
    return Plan(
        name=spec.name,
        pool=spec.pool,
        scheduler=spec.scheduler.kind,
        judge=getattr(judge, "name", spec.judge),
        models=len(models),
        prompts=len(chosen),
        matches=size.exact if size.exact is not None else int(round(size.expected)),
        matches_exact=size.exact,
        matches_expected=float(size.expected),
        matches_worst=int(size.worst),
        forfeits=size.forfeits,
        calls_per_match=cpm,
        max_calls_per_match=mcpm,
        judge_calls=int(math.ceil(calls_exp)),
        judge_calls_worst=int(calls_worst),
        input_tokens=int(round(in_tok)),
        input_tokens_worst=in_worst,
        output_tokens_expected=int(round(out_exp)),
        output_tokens_worst=int(round(out_max)),
        cost_usd_expected=cost_exp,
        cost_usd_worst=cost_worst,
        price_known=not unknown,
        judge_models=sorted(counted.per_model),
        unknown_price_models=unknown,
        sampled_matches=n_sampled,
        input_tokens_error=in_err,
        over_input_limit=int(over),
        largest_input_tokens=int(counted.largest),
        input_limits=dict(counted.limits),
        warnings=warnings,
        cascade=cascade,
        batch_rates=batch_rates,
        shard=spec.shard,
    )


def _sampling_error(sample: Sequence[float], total: float, level: float = 0.95) -> int:
    """Margin (at `level`) of a total estimated as `total` x the mean of `sample`, the matches
    sampled (a match's calls are one cluster: its two orders have nearly the same tokens). Simple
    random sampling without replacement: t s / sqrt(n) x sqrt(1 - n / N), times N (Cochran,
    Sampling Techniques, ch. 2). 0 when every match was counted."""
    n = len(sample)
    if n < 2 or total <= n:
        return 0
    mean = sum(sample) / n
    var = sum((x - mean) ** 2 for x in sample) / (n - 1)
    q = t_quantile(0.5 + level / 2, n - 1)
    return int(round(q * math.sqrt(var / n) * math.sqrt(1 - n / total) * total))


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile. For df >= 10 the Cornish-Fisher expansion around the normal quantile
    (Abramowitz & Stegun 26.7.5, four terms: off by under 1e-4 at df = 10, 1e-7 at df = 39, the
    plan's usual sample), from the standard library: importing scipy.special costs a run's start-up
    a few hundred milliseconds. Below df = 10, scipy's `stdtrit`."""
    if df < 10:
        from scipy.special import stdtrit

        return float(stdtrit(df, p))
    from statistics import NormalDist

    z = NormalDist().inv_cdf(p)
    z3, z5, z7, z9 = z**3, z**5, z**7, z**9
    return (
        z
        + (z3 + z) / (4 * df)
        + (5 * z5 + 16 * z3 + 3 * z) / (96 * df**2)
        + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df**3)
        + (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / (92160 * df**4)
    )


def _over_input_limit(sched, chosen, answers: Answers, counted: CallSample, per_match: dict, tokens: TokenMemo) -> tuple[int, int]:
    """(judge calls whose prompt exceeds their model's input limit, the largest such prompt) over every
    match of a fixed schedule, or every pair of answerers of each prompt for a dynamic one (an upper
    bound). A call's prompt is the judge's measured overhead plus the prompt and both answers; texts
    whose UTF-8 bytes (at least one per token) cannot reach the limit are not token-counted (nor read:
    the sizes come from the store), and a prompt whose text and two largest answers cannot reach it
    is skipped without listing its pairs. A conversation counts every message and every turn."""
    size = {(pid, model): n for pid, model, n in answers.sizes()}
    by_id = {p.prompt_id: "\n".join(m.content for m in p.messages) if p.messages else p.text for p in chosen}
    conversations = {p.prompt_id for p in chosen if p.is_conversation}
    if isinstance(sched, _Fixed):
        pairs_of = sched.judged_pairs
    else:
        from itertools import combinations

        def pairs_of(pid: str) -> list[tuple[str, str]]:
            return list(combinations(sorted(sched.answered.get(pid, ())), 2))

    # bytes of each prompt plus its two largest answers: a bound on any of its calls but the overhead
    bound = {}
    for pid, prompt in by_id.items():
        top2 = heapq.nlargest(2, (size.get((pid, m), 0) for m in sched.answered.get(pid, ())))
        bound[pid] = len(prompt.encode("utf-8")) + sum(top2)
    over = largest = 0
    for model, limit in counted.limits.items():
        extra = counted.overhead.get(model, 0)
        for pid, prompt in by_id.items():
            if extra + bound[pid] <= limit:
                continue
            nbytes = len(prompt.encode("utf-8"))
            for a, b in pairs_of(pid):
                if extra + nbytes + size.get((pid, a), 0) + size.get((pid, b), 0) <= limit:
                    continue
                texts = (answers.pair(pid, a, b) if pid not in conversations
                         else ["\n".join(o.all_turns) for o in answers.outputs(pid, [a, b]).values()])
                n = extra + tokens(model, prompt) + sum(tokens(model, t) for t in texts)
                if n > limit:
                    over += int(round(per_match.get(model, 1)))
                    largest = max(largest, n)
    return over, largest


def check_baseline(spec: TournamentSpec, models: Sequence[str], where: str) -> None:
    """`SpecError` when the spec's `baseline` (the model ratings are anchored on and win rates are
    taken against) is none of the tournament's `models`: a typo would otherwise cost the whole run
    and end in a report anchored on the mean. `tournament plan` and `tournament run` (also a
    resumed run) both refuse here, before any judge call."""
    if spec.baseline is not None and spec.baseline not in models:
        shown = ", ".join(models[:10]) + (", ..." if len(models) > 10 else "")
        raise SpecError(f"{where}: key 'baseline': {spec.baseline!r} is not one of the tournament's models ({shown or 'none'})")


def check_budget(plan: Plan, spec: TournamentSpec, *, allow_unknown_price: bool = False) -> None:
    """Refuse a run whose `max_cost_usd` cannot be enforced: a judge model without a known price
    (litellm's table) and no `max_calls` to bound it. Raises `BadInput` (exit 2) naming the model,
    unless `allow_unknown_price`."""
    from arena.errors import BadInput, naming_options

    if spec.max_cost_usd is None or plan.price_known or spec.max_calls is not None or allow_unknown_price:
        return
    where = str(spec.path) if spec.path else spec.name
    models = ", ".join(plan.unknown_price_models) or plan.judge
    raise naming_options(
        BadInput,
        f"{where}: max_cost_usd: no known price for the judge model {models}, so the cost cap cannot be enforced;"
        " set max_calls as well, or pass <allow>",
        allow=("allow_unknown_price=True", "--allow-unknown-price"),
    )


def format_cost(value: float | None) -> str:
    """`$1.23`, `$0.0042`, or `unknown` (never `$0` for an unknown price)."""
    if value is None:
        return "unknown"
    if value == 0:
        return "$0.00"
    return f"${value:,.2f}" if value >= 0.01 else f"${value:.4f}"
