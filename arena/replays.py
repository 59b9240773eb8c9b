"""Re-judging a sample of a run's matches (`arena.rejudge`), to measure the judge's noise (`arena report RUN --rejudge N`).

A replay judges a decided match again with the run's own judge (or the same judge at another
sampling temperature) and keeps the result in the store's `replays` table: the run's games,
verdicts and call-cache entries are never touched, so its ratings stay those of the run.

- Which matches: the first N of a fixed permutation of the run's decided matches (keyed by the
  run's seed), so asking for more later extends the same sample.
- Never paying twice: a match already replayed under the same setting is skipped, and the
  replays' completions are cached under their own namespace (`ReplayCache`): the original
  verdict's cached answer is not served to a replay (that would be no second reading), and a
  replay interrupted after its calls were paid is answered from that namespace when it resumes.
- The plan (matches, judge calls, tokens, dollars) is made before any call, by the cost
  estimator of `arena tournament plan` (`arena.estimate`).

The statistics (self-agreement, the variance split) are pure functions in
`arena.ratings._variance`; this module does the I/O around them.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from dataclasses import dataclass, field

from arena.callcache import CachedCall
from arena.errors import BadInput
from arena.records import Match, Usage

AS_RUN = "as run"
PLAN_SAMPLE = 200  # contexts token-counted for the price estimate (scaled to the whole sample)


class ReplayCache:
    """The call cache (`arena.callcache.CallCache`) seen through a namespace: the keys of a replay's
    completions are hashed with `namespace`, so they neither read nor overwrite the run's entries."""

    def __init__(self, store, namespace: str) -> None:
        self.store = store
        self.namespace = namespace

    def _key(self, key: str) -> str:
        return hashlib.sha256(f"{self.namespace}\x1f{key}".encode()).hexdigest()

    def cache_get(self, key: str) -> CachedCall | None:
        return self.store.cache_get(self._key(key))

    def cache_put(self, key: str, model: str, response: str, input_tokens: int, output_tokens: int, cost_usd: float | None) -> None:
        self.store.cache_put(self._key(key), model, response, input_tokens, output_tokens, cost_usd)

    def cache_forget(self, key: str) -> None:
        self.store.cache_forget(self._key(key))

    def claim_call(self, key: str, owner: str, timeout_s: float) -> bool:
        """The store's in-flight registry, under the same namespaced key as the cache."""
        return self.store.claim_call(self._key(key), owner, timeout_s)

    def release_call(self, key: str, owner: str) -> None:
        self.store.release_call(self._key(key), owner)


@dataclass(slots=True)
class RejudgePlan:
    """What re-judging will do, before any call. Costs in US dollars, None when a price is unknown.

    `requested`: matches in the sample; `done`: already replayed under this `setting` (free);
    `matches`: still to judge; `judge_calls` = matches x the judge's calls per match (before
    re-asks and retries); `deterministic`: the judge makes no completion call (offline, e.g. the
    surrogate), so a replay reproduces its verdict and the judge noise is zero by construction."""

    run_id: str
    setting: str
    judge: str
    requested: int
    done: int
    matches: int
    judge_calls: int
    input_tokens: int
    output_tokens_expected: int
    output_tokens_worst: int
    cost_usd_expected: float | None
    cost_usd_worst: float | None
    deterministic: bool
    decided_matches: int
    unknown_price_models: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]


@dataclass(slots=True)
class RejudgeResult:
    """What `arena.rejudge` returns: the plan, the replays judged now, their usage (this call) and
    the usage of all the run's replays under this setting, and how many failed (retried next time)."""

    plan: RejudgePlan
    judged: int
    failed: int
    usage: Usage
    total_usage: Usage


def setting_name(temperature: float | None) -> str:
    return AS_RUN if temperature is None else f"temperature={temperature:g}"


@dataclass(slots=True)
class _Prepared:
    plan: RejudgePlan
    judge: object
    view: object
    todo: list[Match]
    concurrency: int


def prepare(store, run_id: str, n: int, *, temperature: float | None = None) -> _Prepared:
    """Check the request, rebuild the run's judge, pick the sample and price it; writes nothing.

    Raises BadInput for N out of range, a bad temperature, a judge kind without a temperature,
    or a run whose judge, pool or spec changed since it ran (replays would judge another
    judge's matches); NotFound for an unknown run."""
    from arena.judges import load_judge, load_preset
    from arena.pools import PoolData, pool_fingerprint
    from arena.records import PoolView
    from arena.runner import select, spec_identity
    from arena.tournaments._base import keyed_rng
    from arena.tournaments.spec import spec_from_dict

    record = store.get_run(run_id)
    run_id = record.run_id
    stored = record.spec or {}
    if not isinstance(stored.get("spec"), dict):
        raise BadInput(f"rejudge: run {run_id!r} is not a tournament run (nothing to re-judge)")
    if isinstance(n, bool) or not isinstance(n, int):
        raise BadInput(f"rejudge: expected a whole number of matches, got {n!r}")
    if temperature is not None and not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and 0 <= temperature <= 2):
        raise BadInput(f"temperature: expected a number from 0 to 2, got {temperature!r}")
    spec = spec_from_dict(stored["spec"], source=f"run {run_id}")
    verdicts = store.verdicts(run_id)
    decided = sorted(v.match_id for v in verdicts if v.outcome in ("a", "b", "tie"))
    if not decided:
        raise BadInput(f"rejudge: run {run_id!r} has no decided matches to re-judge")
    if not 1 <= n <= len(decided):
        raise BadInput(f"rejudge: expected 1 to {len(decided)} (the run's decided matches), got {n}")
    preset, _ = load_preset(spec.judge)
    if temperature is not None and preset.get("kind") != "llm":
        raise BadInput(
            f"temperature: the {preset.get('kind')} judge of run {run_id} has no single sampling temperature; re-judge it as run (without a temperature)"
        )
    pool = stored.get("pool") or spec.pool
    prompts, outputs, _ = select(spec, store.prompts(pool), store.outputs(pool))
    setting = setting_name(temperature)
    options = {} if temperature is None else {"temperature": float(temperature)}
    judge = load_judge(spec.judge, store=ReplayCache(store, f"replay\x1f{run_id}\x1f{setting}"), **options)
    from arena.judges._conversation import fingerprint_for

    ident = spec_identity(spec, pool_fingerprint(PoolData(prompts, outputs)), preset, fingerprint_for(judge.fingerprint(), prompts))
    if ident != record.spec_hash:
        _close(judge)
        raise BadInput(
            f"rejudge: the judge preset {spec.judge!r}, its files or the pool {pool!r} changed since run {run_id}; replays would measure another judge"
        )
    judge.check_prompts(prompts, spec.judge)  # calls per match of a conversation pool (turn = "each")
    order = keyed_rng(spec.seed, "rejudge", run_id).permutation(len(decided))
    sample = [decided[i] for i in order[:n]]
    already = {r.match_id for r in store.replays(run_id, setting) if r.outcome in ("a", "b", "tie")}
    rows = {m.match_id: m for m in store.matches(run_id)}
    todo = [rows[mid].match for mid in sample if mid not in already]
    view = PoolView(prompts, outputs)
    plan = _price(judge, view, todo, run_id=run_id, setting=setting, requested=n, done=n - len(todo), decided=len(decided))
    return _Prepared(plan, judge, view, todo, spec.concurrency)


def _price(judge, view, todo: list[Match], *, run_id: str, setting: str, requested: int, done: int, decided: int) -> RejudgePlan:
    from arena.estimate import sample_calls

    cpm = judge.calls_per_match()
    calls = cpm * len(todo)
    sampled = todo[:PLAN_SAMPLE]
    counted = sample_calls(judge, (view.context(m) for m in sampled)) if calls else None
    if counted is not None and counted.calls:
        f = len(todo) / len(sampled)
        est = counted.scaled(f, f)
        tokens = (int(round(est.input_tokens)), int(round(est.output_tokens_expected)), int(round(est.output_tokens_worst)))
        cost, unknown = (est.cost_usd_expected, est.cost_usd_worst), est.unknown_price_models
    else:
        tokens, cost, unknown = (0, 0, 0), ((None, None) if calls else (0.0, 0.0)), []
    return RejudgePlan(
        run_id, setting, getattr(judge, "description", judge.name), requested, done, len(todo), calls, *tokens, *cost,
        deterministic=cpm == 0, decided_matches=decided, unknown_price_models=unknown,
    )


async def _replay(store, prepared: _Prepared, run_id: str) -> tuple[int, int, Usage]:
    """Judge the sample with at most `concurrency` matches in flight; each replay is stored as it completes."""
    from arena.records import Usage as _Usage
    from arena.runner import judge_failure

    plan = prepared.plan
    sem = asyncio.Semaphore(max(1, prepared.concurrency))
    judged = failed = 0
    usage = _Usage()

    async def one(m: Match):
        async with sem:
            try:
                result = await prepared.judge.judge(prepared.view.context(m))
            except Exception as e:  # noqa: BLE001 - a judge failure is this replay's error, retried next time
                return judge_failure(m.match_id, prepared.judge.name, e)
            return result.verdict, result.games

    try:
        for fut in asyncio.as_completed([one(m) for m in prepared.todo]):
            verdict, games = await fut
            store.record_replay(run_id, plan.setting, verdict, games)
            judged += 1
            failed += verdict.outcome == "unresolved"
            usage = usage + sum((g.usage for g in games), _Usage())
    finally:
        await prepared.judge.aclose()
    return judged, failed, usage


def run(store, prepared: _Prepared) -> RejudgeResult:
    """Judge the prepared sample (blocking); returns what was done."""
    run_id = prepared.plan.run_id
    judged, failed, usage = asyncio.run(_replay(store, prepared, run_id)) if prepared.todo else (0, 0, Usage())
    if not prepared.todo:
        _close(prepared.judge)
    return RejudgeResult(prepared.plan, judged, failed, usage, store.replay_usage(run_id, prepared.plan.setting))


def _close(judge) -> None:
    try:
        asyncio.run(judge.aclose())
    except RuntimeError:  # already inside an event loop: the caller closes it
        pass
