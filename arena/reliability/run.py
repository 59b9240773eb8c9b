"""Run a judge over labelled pairs, in both orders, through the store (cached and resumable).

Each pair is one match of a run named `judge-eval:<judge>:<pairs file>`; the judge plays it as it
plays tournament matches (same backends, call cache, limits). A judge that returns games in one
order only (an `orders = "random"` preset, an antisymmetric surrogate) is asked again with the
answers swapped, so every pair has a game in each order. Games and verdicts are written to the
store as each pair completes; running the same evaluation again reads the decided pairs back
and judges only the rest (and the call cache answers any call already paid).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

from arena.answers import MemoryAnswers
from arena.estimate import sample_calls
from arena.judges import Judge, JudgeResult, check_env, combine_games, load_judge, load_preset
from arena.records import Game, Match, MatchContext, Output, Prompt, RunStatus, cached_part, swap_label
from arena.reliability.formats import LABEL_PICK, GameRecord, Pair, PairSet
from arena.runner import FixedMatches, PreparedRun, RunEvent, Runner, find_run_to_resume

RUN_PREFIX = "judge-eval"


@dataclass
class EvalRun:
    """What an evaluation produced: the games of every pair, and how the run went."""

    run_id: str
    run_name: str
    judge_name: str
    judge_kind: str
    judge_model: str | None
    judge_description: str
    games: list[GameRecord]
    elapsed_s: float  # wall time of this invocation
    total_elapsed_s: float  # summed over the invocations that built the run
    judged: int  # pairs judged in this invocation
    resumed: int  # pairs read back from the store
    extra: dict = field(default_factory=dict)


def context(pair: Pair, *, swapped: bool = False) -> MatchContext:
    """The match a judge sees for a pair (answers exchanged when `swapped`)."""
    a, b = (pair.b, pair.a) if swapped else (pair.a, pair.b)
    ma, mb = ("b", "a") if swapped else ("a", "b")
    return MatchContext(pair.pair_id, pair.pair_id, pair.prompt, ma, mb, a, b, pair.category, None)


def records_from_games(pair_id: str, judge_name: str, games: Sequence[Game]) -> list[GameRecord]:
    """One GameRecord per order from a match's games (labels from the original A's point of view).

    When a judge returns several games for one order (a panel's members, say), its own games
    (named like the judge) stand for the order if there are any; otherwise the order's games are
    combined as verdicts are. Calls, tokens, cost and latency add up over all of them.
    """
    out: list[GameRecord] = []
    for order in ("AB", "BA"):
        gs = [g for g in games if g.order == order]
        if not gs:
            continue
        own = [g for g in gs if g.judge == judge_name] or gs
        label = own[0].label if len(own) == 1 else combine_games(pair_id, own).label
        pick = LABEL_PICK.get(label, "unparsed")
        costs = [g.cost_usd for g in gs]
        out.append(
            GameRecord(
                pair_id,
                order,  # type: ignore[arg-type]
                pick,
                calls=sum(int(g.calls or 0) for g in gs),
                input_tokens=sum(int(g.input_tokens or 0) for g in gs),
                output_tokens=sum(int(g.output_tokens or 0) for g in gs),
                cost_usd=None if any(c is None for c in costs) else float(sum(costs)),
                latency_s=float(sum(g.latency_s or 0.0 for g in gs)),
                cached_calls=sum(cached_part(g)[0] for g in gs),
            )
        )
    return out


def _swap_games(games: Sequence[Game]) -> list[Game]:
    """Games played on the swapped context, seen from the original order."""
    out = []
    for g in games:
        h = Game(**{k: getattr(g, k) for k in Game.__dataclass_fields__})
        h.order = "BA" if g.order == "AB" else "AB"
        h.label = swap_label(g.label)
        out.append(h)
    return out


async def judge_pair(judge: Judge, pair: Pair) -> list[Game]:
    """The judge's games on `pair`, with a game in each order (asking again, swapped, if needed)."""
    games = await _judge_safely(judge, context(pair))
    orders = {g.order for g in games}
    if not {"AB", "BA"} <= orders:
        more = _swap_games(await _judge_safely(judge, context(pair, swapped=True)))
        games = games + [g for g in more if g.order not in orders]
    return games


async def _judge_safely(judge: Judge, ctx: MatchContext) -> list[Game]:
    try:
        result: JudgeResult = await judge.judge(ctx)
        return list(result.games)
    except Exception as e:  # the Judge contract says judge() never raises; record it if one does
        return [Game(ctx.match_id, judge.name, "AB", "error", error=f"{type(e).__name__}: {e}", calls=0)]


class _PairJudge:
    """A judge seen by the run engine on labelled pairs: each match is a pair, played in both
    orders (asked again with the answers swapped when the judge played only one)."""

    def __init__(self, judge: Judge, pairs: dict[str, Pair]) -> None:
        self.inner, self.pairs = judge, pairs
        self.name, self.description = judge.name, judge.description

    def calls_per_match(self) -> int:
        return self.inner.calls_per_match()

    def max_calls_per_match(self) -> int:
        # a judge that plays one order is asked again swapped: at most twice its own worst case
        return 2 * self.inner.max_calls_per_match()

    def worst_call_estimates(self, ctx: MatchContext) -> list:
        return 2 * list(self.inner.worst_call_estimates(ctx))

    async def judge(self, ctx: MatchContext) -> JudgeResult:
        games = await judge_pair(self.inner, self.pairs[ctx.match_id])
        return JudgeResult(games, combine_games(ctx.match_id, games))


def run_name(judge: str, pairs_path: str) -> str:
    return f"{RUN_PREFIX}:{judge}:{pairs_path}"


def _spec_hash(preset: dict, pairs: PairSet, content_sha: str, judge_fingerprint: dict | None = None) -> str:
    parts = [preset, pairs.format, content_sha] + ([judge_fingerprint] if judge_fingerprint else [])
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


async def evaluate_judge_async(
    judge: Judge,
    pairs: PairSet,
    *,
    store,
    preset: dict | None = None,
    judge_label: str | None = None,
    concurrency: int = 16,
    on_pair: Callable[[int, int], None] | None = None,
) -> EvalRun:
    """Judge every pair (both orders) and store games and verdicts under a resumable run."""
    preset = preset or {}
    label = judge_label or judge.name
    name = run_name(label, str(pairs.path))
    content_sha = file_sha256(pairs.path)
    from arena.judges._conversation import fingerprint_for

    spec_hash = _spec_hash(preset, pairs, content_sha, fingerprint_for(judge.fingerprint(), ()))  # pairs are single-turn
    run = find_run_to_resume(store, name, spec_hash)
    if run is None:
        run_id = "je-" + uuid.uuid4().hex[:12]
        spec = {"mode": "judge-eval", "judge": label, "preset": preset, "pairs": str(pairs.path), "format": pairs.format, "sha256": content_sha}
        store.create_run(run_id, name, spec, spec_hash, 0)
        previous_elapsed = 0.0
    else:
        run_id = run.run_id
        previous_elapsed = float((run.summary.extra if run.summary is not None else {}).get("total_elapsed_s") or 0.0)
    by_id = {p.pair_id: p for p in pairs.pairs}
    records: dict[str, list[GameRecord]] = {}
    total = len(pairs.pairs)

    def on_event(event: RunEvent) -> None:
        if event.decided is None:
            return
        pid = event.decided.match.match_id
        records[pid] = records_from_games(pid, judge.name, event.decided.games)
        if on_pair is not None and not event.decided.resumed:
            on_pair(len(records), total)

    # one engine with tournaments: resume from stored verdicts, `concurrency` pairs in flight, status
    engine_spec = SimpleNamespace(name=name, seed=0, concurrency=concurrency, max_calls=None, max_cost_usd=None)
    prompts = [Prompt(p.pair_id, p.prompt, p.category) for p in pairs.pairs]
    outputs = [Output(p.pair_id, m, text) for p in pairs.pairs for m, text in (("a", p.a), ("b", p.b))]
    prepared = PreparedRun(
        run_id, run is not None, engine_spec, "", prompts, MemoryAnswers(outputs), ["a", "b"], spec_hash, status=run.status if run is not None else RunStatus.RUNNING
    )
    runner = Runner(store, prepared, _PairJudge(judge, by_id), FixedMatches([Match(p.pair_id, p.pair_id, "a", "b") for p in pairs.pairs]), on_event=on_event)
    started = time.perf_counter()
    try:
        stats = await runner.run()
    finally:
        elapsed = time.perf_counter() - started
        all_games = [g for p in pairs.pairs for g in records.get(p.pair_id, [])]
        errors = sum(g.pick == "error" for g in all_games)
        store.set_run_status(
            run_id,
            "done" if len(records) == total and not errors else "errors",
            {"total_elapsed_s": previous_elapsed + elapsed, "pairs": total, "error_games": errors},
        )
    resumed = stats.matches_resumed
    return EvalRun(
        run_id,
        name,
        label,
        getattr(judge, "kind", preset.get("kind", "")),
        preset.get("model"),
        judge.description,
        all_games,
        elapsed,
        previous_elapsed + elapsed,
        stats.matches_done - resumed,
        resumed,
    )


def evaluate_judge(
    preset_name: str,
    pairs: PairSet,
    *,
    store,
    concurrency: int = 16,
    no_cache: bool = False,
    on_pair: Callable[[int, int], None] | None = None,
    **judge_options,
) -> EvalRun:
    """Load a judge preset (shipped name or path) and evaluate it on `pairs` (sync wrapper)."""
    preset, path = load_preset(preset_name)
    options = dict(judge_options)
    options["store"] = store
    if no_cache:
        options["no_cache"] = True
    judge = load_judge(preset_name, **options)
    check_env(judge, str(judge.preset_path or preset_name))

    async def main() -> EvalRun:
        try:
            return await evaluate_judge_async(
                judge, pairs, store=store, preset=preset, judge_label=path.stem, concurrency=concurrency, on_pair=on_pair
            )
        finally:
            await judge.aclose()

    return asyncio.run(main())


def plan_eval(judge: Judge, pairs: PairSet, *, sample: int = 50) -> dict:
    """What evaluating `judge` on `pairs` would cost, without calling it: calls, tokens and, where
    the price table knows the model, dollars. Tokens are averaged over the first `sample` pairs."""
    n = len(pairs.pairs)
    per_match = judge.calls_per_match()
    shown = pairs.pairs[:sample]
    scale = n / max(len(shown), 1)
    counted = sample_calls(judge, (context(p) for p in shown))
    est = counted.scaled(scale, scale)
    cost = est.cost_usd_expected if counted.calls else None
    input_tokens, output_expected, output_max = est.input_tokens, est.output_tokens_expected, est.output_tokens_worst
    return {
        "pairs": n,
        "calls_per_pair": per_match,
        "calls": per_match * n,
        "input_tokens": int(input_tokens),
        "output_tokens_expected": int(output_expected),
        "output_tokens_max": int(output_max),
        "cost_usd_expected": cost,
        "note": "a judge that plays one order per match is asked again with the answers swapped (twice the calls)",
    }
